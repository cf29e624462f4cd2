"""What citebot says back to one message, for every front end.

Commands are parsed here once, so ``/help`` in the terminal and in Telegram are the same
conversation; front ends only render the ``Reply`` records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from retrieval import Answer, ArticleInfo, IndexInfo, Library, QuestionError

log = logging.getLogger(__name__)
UNAVAILABLE = "Sorry, I can't answer right now. Please try again later."


@dataclass(frozen=True)
class HelpReply:
    articles: tuple[ArticleInfo, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class SourcesReply:
    articles: tuple[ArticleInfo, ...]


@dataclass(frozen=True)
class AboutReply:
    info: IndexInfo


@dataclass(frozen=True)
class AnswerReply:
    answer: Answer


@dataclass(frozen=True)
class ProblemReply:
    """A polite one-line refusal: the input, not the bot, is the problem."""

    message: str


Reply = HelpReply | SourcesReply | AboutReply | AnswerReply | ProblemReply

COMMANDS = {
    "start": "what citebot is and what it knows",
    "help": "how to ask, with examples",
    "sources": "the articles it answers from",
    "about": "model, index size and build time",
    "ask": "ask a question (in groups: /ask your question)",
}


class Conversation:
    """Turns one incoming text into one ``Reply``."""

    def __init__(self, library: Library):
        self.library = library

    def reply(self, text: str, *, top: int | None = None) -> Reply:
        """A command's reply, or the answer to a question."""
        return _guarded(lambda: self._reply(text, top=top))

    def ask(self, question: str, *, top: int | None = None) -> Reply:
        """The answer to ``question``, even if it looks like a command."""
        return _guarded(lambda: AnswerReply(self.library.answer(question, top=top)))

    def _reply(self, text: str, *, top: int | None) -> Reply:
        command, _, rest = text.strip().partition(" ")
        if command.startswith("/") and len(command) > 1:
            name = command[1:].split("@", 1)[0].lower()
            if name in ("start", "help"):
                return HelpReply(tuple(self.library.sources()), tuple(self.library.examples()))
            if name == "sources":
                return SourcesReply(tuple(self.library.sources()))
            if name == "about":
                return AboutReply(self.library.about())
            if name == "ask":
                if not rest.strip():
                    return ProblemReply("Add your question after /ask, for example: /ask who said what?")
                return AnswerReply(self.library.answer(rest, top=top))
            return ProblemReply(f"I don't know the command /{name[:32]}. Try /help.")
        return AnswerReply(self.library.answer(text, top=top))


def _guarded(make: Callable[[], Reply]) -> Reply:
    """``make()``, with a bad question as a polite problem and any failure as a private one."""
    try:
        return make()
    except QuestionError as exc:
        return ProblemReply(str(exc))
    except Exception:
        # the detail (paths, files, traces) is for the operator's log, not for whoever asked
        log.exception("reply failed")
        return ProblemReply(UNAVAILABLE)
