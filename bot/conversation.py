"""What citebot says back to one message, for every front end.

Commands are parsed here once, so ``/help`` in the terminal and in Telegram are the same
conversation; front ends only render the ``Reply`` records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from bot.memory import Memory
from retrieval import Answer, ArticleInfo, IndexInfo, Library, QuestionError
from retrieval.collections import Added, CollectionError, Collections
from retrieval.followup import Turn
from retrieval.records import Article
from retrieval.stores import StoreError

log = logging.getLogger(__name__)
UNAVAILABLE = "Sorry, I can't answer right now. Please try again later."


@dataclass(frozen=True)
class HelpReply:
    articles: tuple[ArticleInfo, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class SourcesReply:
    articles: tuple[ArticleInfo, ...]
    added: tuple[ArticleInfo, ...] = ()  # this chat's own documents, numbered from 1 for /remove


@dataclass(frozen=True)
class AboutReply:
    info: IndexInfo


@dataclass(frozen=True)
class AnswerReply:
    answer: Answer
    reading: str | None = None  # the question as it was read, when a follow-up was resolved


@dataclass(frozen=True)
class ProblemReply:
    """A polite one-line refusal: the input, not the bot, is the problem."""

    message: str


@dataclass(frozen=True)
class NoticeReply:
    """What was done (a document added or removed), in one or two sentences."""

    message: str


Reply = HelpReply | SourcesReply | AboutReply | AnswerReply | ProblemReply | NoticeReply

COMMANDS = {
    "start": "what citebot is and what it knows",
    "help": "how to ask, with examples",
    "sources": "the articles it answers from",
    "about": "model, index size and build time",
    "ask": "ask a question (in groups: /ask your question)",
    "remove": "admins: remove a document added in this chat (/remove 2)",
    "new": "start afresh: forget the earlier questions",
}
FRESH = "Starting afresh: I have forgotten the earlier questions."


class Conversation:
    """Turns one incoming text into one ``Reply``.

    ``chat`` names the conversation's own collection (documents added there, answering only
    there); None (the terminal) answers from the shared library alone.
    """

    def __init__(self, library: Library, collections: Collections | None = None, memory: Memory | None = None):
        self.library = library
        self.collections = collections or Collections(library)
        self.memory = memory or Memory()

    def reply(
        self,
        text: str,
        *,
        top: int | None = None,
        chat: int | None = None,
        who: Hashable | None = None,
        reply: bool = False,
    ) -> Reply:
        """A command's reply, or the answer to a question.

        ``who`` keys the conversation's memory (None: every message stands alone); ``reply``
        says the message answers the bot's last message, so it continues the conversation.
        """
        return _guarded(lambda: self._reply(text, top=top, chat=chat, who=who, reply=reply))

    def ask(
        self,
        question: str,
        *,
        top: int | None = None,
        chat: int | None = None,
        who: Hashable | None = None,
        reply: bool = False,
    ) -> Reply:
        """The answer to ``question``, even if it looks like a command."""
        return _guarded(lambda: self._answer(question, top=top, chat=chat, who=who, reply=reply))

    def forget(self, who: Hashable) -> None:
        self.memory.forget(who)

    def _answer(self, text: str, *, top: int | None, chat: int | None, who: Hashable | None, reply: bool) -> Reply:
        history = self.memory.recall(who) if who is not None else []
        answer, reading = self.collections.answer_in_context(text, history, chat, top=top, reply=reply)
        if who is not None:
            self.memory.remember(who, Turn(text, reading or text, answer))
        return AnswerReply(answer, reading)

    def _reply(
        self, text: str, *, top: int | None, chat: int | None, who: Hashable | None = None, reply: bool = False
    ) -> Reply:
        command, _, rest = text.strip().partition(" ")
        if command.startswith("/") and len(command) > 1:
            name = command[1:].split("@", 1)[0].lower()
            if name == "new":
                if who is not None:
                    self.forget(who)
                return NoticeReply(FRESH)
            if name in ("start", "help"):
                return HelpReply(tuple(self.library.sources()), tuple(self.library.examples()))
            if name == "sources":
                return SourcesReply(tuple(self.library.sources()), tuple(self.collections.sources(chat)))
            if name == "about":
                return AboutReply(self.library.about())
            if name == "ask":
                if not rest.strip():
                    return ProblemReply("Add your question after /ask, for example: /ask who said what?")
                return self._answer(rest, top=top, chat=chat, who=who, reply=reply)
            return ProblemReply(f"I don't know the command /{name[:32]}. Try /help.")
        return self._answer(text, top=top, chat=chat, who=who, reply=reply)

    # --- a chat's own documents (the front end checks who may) ------------------------------

    def add_document(self, chat: int, data: bytes, kind: str, name: str) -> Reply:
        return _guarded(lambda: _added(self.collections.add_document(chat, data, kind, name)))

    def add_link(self, chat: int, url: str) -> Reply:
        return _guarded(lambda: _added(self.collections.add_link(chat, url)))

    def add_article(self, chat: int, article: Article) -> Reply:
        """A forwarded post, already made into an article by the front end."""
        return _guarded(lambda: _added(self.collections.add(chat, article)))

    def remove(self, chat: int, argument: str) -> Reply:
        def remove() -> Reply:
            if not argument.strip().isdigit():
                return ProblemReply("Say which document: /remove 2 removes the second one /sources lists.")
            gone = self.collections.remove(chat, int(argument.strip()))
            return NoticeReply(f"Removed “{gone.title}”: it no longer answers here.")

        return _guarded(remove)


def _added(added: Added) -> Reply:
    a = added.article
    when = f" ({a.date})" if a.date else ""
    return NoticeReply(
        f"Added “{a.title}”{when}: {a.paragraphs} paragraph{'' if a.paragraphs == 1 else 's'}, "
        f"citable now in this chat only. /remove {added.number} removes it."
    )


def _guarded(make: Callable[[], Reply]) -> Reply:
    """``make()``, with a bad question as a polite problem and any failure as a private one."""
    try:
        return make()
    except (QuestionError, CollectionError) as exc:
        return ProblemReply(str(exc))
    except StoreError as exc:  # Milvus is down or refusing: one line for the operator, the usual apology here
        log.warning("store unavailable", extra={"reason": str(exc)})
        return ProblemReply(UNAVAILABLE)
    except Exception:
        # the detail (paths, files, traces) is for the operator's log, not for whoever asked
        log.exception("reply failed")
        return ProblemReply(UNAVAILABLE)
