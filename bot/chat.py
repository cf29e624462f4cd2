"""The terminal conversation: the same replies as Telegram, rendered for a terminal.

With no terminal attached (stdin is a pipe) it reads one question per line and answers each,
flushing as it goes, so it can be scripted.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TextIO

import click

from bot.conversation import Conversation
from bot.render import terminal

QUIT = {"/quit", "/exit", "/q"}


def _warm_up(conversation: Conversation) -> None:
    with contextlib.suppress(Exception):  # a broken model is reported by the first question
        conversation.library.warm_up()


def run_chat(conversation: Conversation, *, stdin: TextIO | None = None, interactive: bool | None = None) -> None:
    stdin = stdin or sys.stdin
    interactive = stdin.isatty() if interactive is None else interactive
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        # load the model while the person reads and types, not after they press Enter
        threading.Thread(target=_warm_up, args=(conversation,), daemon=True).start()
        click.echo(terminal(conversation.reply("/start")))
        click.echo(click.style("Type a question, or /quit.", dim=True))
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
            continue
        if text.lower() in QUIT:
            return
        click.echo(terminal(conversation.reply(text)))
        if not interactive:
            click.echo()
        sys.stdout.flush()
