"""The terminal conversation: the same replies as Telegram, rendered for a terminal.

With no terminal attached (stdin is a pipe) it reads one question per line and answers each,
flushing as it goes, so it can be scripted; with ``--json`` each answer is one JSON line (the
``ask --json`` schema plus ``"reading"``), and an empty line starts a new conversation.
The lines of one conversation are read with its earlier turns, as in Telegram. Each reply is
in the language of its line (or in ``--lang``'s, when given).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from typing import TextIO

import click

from bot.conversation import AnswerReply, Conversation, ProblemReply, Reply
from bot.i18n import choose, words
from bot.i18n import warm_up as load_detector
from bot.render import answer_json, terminal

QUIT = {"/quit", "/exit", "/q"}
WHO = "terminal"  # the one conversation of this process (its memory key)


def _warm_up(conversation: Conversation) -> None:
    with contextlib.suppress(Exception):  # without it, replies are in English (or --lang's)
        load_detector()
    with contextlib.suppress(Exception):  # a broken model is reported by the first question
        conversation.library.warm_up()


def run_chat(
    conversation: Conversation,
    *,
    stdin: TextIO | None = None,
    interactive: bool | None = None,
    as_json: bool = False,
    lang: str | None = None,
) -> None:
    """``lang``: answer in this language (``--lang``); None: in each line's own language."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty() if interactive is None else interactive
    as_json = as_json and not interactive
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        # load the model while the person reads and types, not after they press Enter
        threading.Thread(target=_warm_up, args=(conversation,), daemon=True).start()
        click.echo(terminal(conversation.reply("/start", lang=lang)))
        click.echo(click.style(words(choose(lang))._("Type a question, or /quit."), dim=True))
    while True:
        try:
            line = input(click.style("\n› ", fg="cyan", bold=True)) if interactive else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            if interactive:
                click.echo()
            return
        if not interactive and line == "":
            return
        text = line.strip()
        if not text:
            if as_json:
                conversation.forget(WHO)
            continue
        if text.lower() in QUIT:
            return
        reply = conversation.reply(text, who=WHO, lang=lang)
        if as_json:
            click.echo(_json_line(text, reply))
        else:
            click.echo(terminal(reply))
            if not interactive:
                click.echo()
        sys.stdout.flush()


def _json_line(text: str, reply: Reply) -> str:
    """One answer as ``ask --json`` prints it, plus ``"reading"``; anything else as ``{"question", "error"}``."""
    if isinstance(reply, AnswerReply):
        return answer_json(reply.answer, reading=reply.reading)
    message = reply.message if isinstance(reply, ProblemReply) else words(reply.lang)._("not a question")
    return json.dumps({"question": text, "error": message}, ensure_ascii=False)
