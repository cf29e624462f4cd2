"""What citebot says back to one message, for every front end.

Commands are parsed here once, so ``/help`` in the terminal and in Telegram are the same
conversation; front ends only render the ``Reply`` records. The language of a reply is decided
here once per message (the front end's preference, else the message's own language, else
English) and travels in its ``lang``, so every renderer says the same thing in the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from bot.i18n import DEFAULT, N_, choose, supported, words
from bot.memory import Memory
from retrieval import Answer, ArticleInfo, IndexInfo, Library, QuestionError
from retrieval.collections import Added, CollectionError, Collections
from retrieval.errors import Count
from retrieval.followup import Turn
from retrieval.records import Article
from retrieval.stores import StoreError

log = logging.getLogger(__name__)
UNAVAILABLE = N_("Sorry, I can't answer right now. Please try again later.")

# Every reply carries ``lang``: the language its renderers use for citebot's own words (quotes
# and titles are the articles' and stay as they are).


@dataclass(frozen=True)
class HelpReply:
    articles: tuple[ArticleInfo, ...]
    examples: tuple[str, ...]
    lang: str = DEFAULT


@dataclass(frozen=True)
class SourcesReply:
    articles: tuple[ArticleInfo, ...]
    added: tuple[ArticleInfo, ...] = ()  # this chat's own documents, numbered from 1 for /remove
    lang: str = DEFAULT


@dataclass(frozen=True)
class AboutReply:
    info: IndexInfo
    lang: str = DEFAULT


@dataclass(frozen=True)
class AnswerReply:
    answer: Answer
    reading: str | None = None  # the question as it was read, when a follow-up was resolved
    lang: str = DEFAULT


@dataclass(frozen=True)
class _Said:
    """A sentence kept as its English template and parameters; ``message`` is it in ``lang``."""

    template: str
    params: Mapping[str, object] = field(default_factory=dict)
    lang: str = DEFAULT

    @property
    def message(self) -> str:
        return words(self.lang).text(self.template, self.params)


@dataclass(frozen=True)
class ProblemReply(_Said):
    """A polite one-line refusal: the input, not the bot, is the problem."""


@dataclass(frozen=True)
class NoticeReply(_Said):
    """What was done (a document added or removed), in one or two sentences."""


Reply = HelpReply | SourcesReply | AboutReply | AnswerReply | ProblemReply | NoticeReply

COMMANDS = {
    "start": N_("what citebot is and what it knows"),
    "help": N_("how to ask, with examples"),
    "sources": N_("the articles it answers from"),
    "about": N_("model, index size and build time"),
    "ask": N_("ask a question (in groups: /ask your question)"),
    "remove": N_("admins: remove a document added in this chat (/remove 2)"),
    "new": N_("start afresh: forget the earlier questions"),
}
FRESH = N_("Starting afresh: I have forgotten the earlier questions.")


class Conversation:
    """Turns one incoming text into one ``Reply``.

    ``chat`` names the conversation's own collection (documents added there, answering only
    there); None (the terminal) answers from the shared library alone. ``lang`` is the front
    end's preference (Telegram's ``language_code``, ``--lang``): used when it has a catalog,
    else the message's own language is, else English.
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
        lang: str | None = None,
    ) -> Reply:
        """A command's reply, or the answer to a question.

        ``who`` keys the conversation's memory (None: every message stands alone); ``reply``
        says the message answers the bot's last message, so it continues the conversation.
        """
        said = language(text, lang)
        return _guarded(lambda: self._reply(text, top=top, chat=chat, who=who, reply=reply, lang=said), said)

    def ask(
        self,
        question: str,
        *,
        top: int | None = None,
        chat: int | None = None,
        who: Hashable | None = None,
        reply: bool = False,
        lang: str | None = None,
    ) -> Reply:
        """The answer to ``question``, even if it looks like a command."""
        said = choose(lang, question)
        return _guarded(lambda: self._answer(question, top=top, chat=chat, who=who, reply=reply, lang=said), said)

    def forget(self, who: Hashable) -> None:
        self.memory.forget(who)

    def _answer(
        self, text: str, *, top: int | None, chat: int | None, who: Hashable | None, reply: bool, lang: str
    ) -> Reply:
        history = self.memory.recall(who) if who is not None else []
        answer, reading = self.collections.answer_in_context(text, history, chat, top=top, reply=reply)
        if who is not None:
            self.memory.remember(who, Turn(text, reading or text, answer))
        return AnswerReply(answer, reading, lang)

    def _reply(
        self,
        text: str,
        *,
        top: int | None,
        chat: int | None,
        who: Hashable | None = None,
        reply: bool = False,
        lang: str = DEFAULT,
    ) -> Reply:
        command, _, rest = text.strip().partition(" ")
        if command.startswith("/") and len(command) > 1:
            name = command[1:].split("@", 1)[0].lower()
            if name == "new":
                if who is not None:
                    self.forget(who)
                return NoticeReply(FRESH, lang=lang)
            if name in ("start", "help"):
                return HelpReply(tuple(self.library.sources()), tuple(self.library.examples()), lang)
            if name == "sources":
                return SourcesReply(tuple(self.library.sources()), tuple(self.collections.sources(chat)), lang)
            if name == "about":
                return AboutReply(self.library.about(), lang)
            if name == "ask":
                if not rest.strip():
                    return ProblemReply("Add your question after /ask, for example: /ask who said what?", lang=lang)
                return self._answer(rest, top=top, chat=chat, who=who, reply=reply, lang=lang)
            return ProblemReply("I don't know the command /{name}. Try /help.", {"name": name[:32]}, lang)
        return self._answer(text, top=top, chat=chat, who=who, reply=reply, lang=lang)

    # --- a chat's own documents (the front end checks who may) ------------------------------
    # ``lang`` here is the front end's preference only: a document's words never choose the language.

    def add_document(self, chat: int, data: bytes, kind: str, name: str, *, lang: str | None = None) -> Reply:
        said = supported(lang) or DEFAULT
        return _guarded(lambda: _added(self.collections.add_document(chat, data, kind, name), said), said)

    def add_link(self, chat: int, url: str, *, lang: str | None = None) -> Reply:
        said = supported(lang) or DEFAULT
        return _guarded(lambda: _added(self.collections.add_link(chat, url), said), said)

    def add_article(self, chat: int, article: Article, *, lang: str | None = None) -> Reply:
        """A forwarded post, already made into an article by the front end."""
        said = supported(lang) or DEFAULT
        return _guarded(lambda: _added(self.collections.add(chat, article), said), said)

    def remove(self, chat: int, argument: str, *, lang: str | None = None) -> Reply:
        said = supported(lang) or DEFAULT

        def remove() -> Reply:
            if not argument.strip().isdigit():
                return ProblemReply("Say which document: /remove 2 removes the second one /sources lists.", lang=said)
            gone = self.collections.remove(chat, int(argument.strip()))
            return NoticeReply("Removed “{title}”: it no longer answers here.", {"title": gone.title}, said)

        return _guarded(remove, said)


def language(text: str, preferred: str | None) -> str:
    """The language to reply to ``text`` in: ``preferred`` if it has a catalog, else the text's own.

    A command's words are not a language: only what follows it is read (``/ask Хто мер?``).
    """
    command, _, rest = text.strip().partition(" ")
    return choose(preferred, rest if command.startswith("/") else text)


def _added(added: Added, lang: str) -> Reply:
    a = added.article
    template = (
        N_("Added “{title}” ({date}): {paragraphs}, citable now in this chat only. /remove {number} removes it.")
        if a.date
        else N_("Added “{title}”: {paragraphs}, citable now in this chat only. /remove {number} removes it.")
    )
    paragraphs = Count(a.paragraphs, "{n} paragraph", "{n} paragraphs")
    params = {"title": a.title, "date": a.date or "", "paragraphs": paragraphs, "number": str(added.number)}
    return NoticeReply(template, params, lang)


def _guarded(make: Callable[[], Reply], lang: str = DEFAULT) -> Reply:
    """``make()``, with a bad question as a polite problem and any failure as a private one."""
    try:
        return make()
    except (QuestionError, CollectionError) as exc:
        return ProblemReply(exc.template, exc.params, lang)
    except StoreError as exc:  # Milvus is down or refusing: one line for the operator, the usual apology here
        log.warning("store unavailable", extra={"reason": str(exc)})
        return ProblemReply(UNAVAILABLE, lang=lang)
    except Exception:
        # the detail (paths, files, traces) is for the operator's log, not for whoever asked
        log.exception("reply failed")
        return ProblemReply(UNAVAILABLE, lang=lang)
