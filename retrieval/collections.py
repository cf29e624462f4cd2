"""Each chat's own documents: added from the chat, answering only there, beside the shared library.

A chat's collection is a small index of its own (``<library index>/chats/<chat id>/``), built
with the same atomic rules as the library: an add or a removal builds a new version and swaps
it in, so a kill mid-add leaves the collection as it was. The collection's store is its own
source of truth (every article's paragraphs, pages and citation fields are in it), so nothing
else on disk can disagree with it, and a rebuild of the shared library never touches it.

A question in a chat is answered from the library and from the chat's collection; the more
confident answer wins (an answer beats a decline). With a library on Milvus the chats'
documents are in Milvus too (``retrieval/milvus_chats.py``), filtered by chat.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from embeddings import INDEX_BACKEND, Embedder
from retrieval.corpus import read_document, read_link
from retrieval.errors import Count, ModelMismatch, TranslatableError
from retrieval.followup import Turn, resolve
from retrieval.index import article_digest, build_articles, current_build_id, manifest_model, rebuild_with
from retrieval.library import Library
from retrieval.milvus_chats import ChatLibrary, ChatShelf, TooLong
from retrieval.question import check_question
from retrieval.records import Answer, Article, ArticleInfo, Citation
from retrieval.stores import recorded_store

log = logging.getLogger(__name__)

CHATS = "chats"
# What a chat may add. Embedding runs at about 20,000 characters a second on 2 cores, and while a
# document is added the CPU is shared with every chat's questions: a 20 MB upload took ~18 minutes.
MAX_DOCUMENTS = 200  # per chat
MAX_DOCUMENT_CHARS = 250_000  # per document (about 40,000 words, ~13 s to add); longer: `citebot index`
MAX_PARAGRAPHS = 5_000  # per document (a paragraph is at least one passage)
MAX_CHAT_CHARS = 2_000_000  # all of a chat's documents together
MAX_CHAT_PARAGRAPHS = 20_000
OPEN_COLLECTIONS = 32  # chats whose collection stays open between questions


class CollectionError(TranslatableError):
    """A document could not be added or removed; the message is for the person who tried."""


@dataclass(frozen=True)
class Added:
    article: ArticleInfo
    number: int  # its number in the chat's list (``/remove N``)
    seconds: float  # from bytes in hand to citable


class Collections:
    """The library plus every chat's collection: what a question in a given chat is answered from."""

    def __init__(self, library: Library):
        self.library = library
        self.root = library.index_dir / CHATS
        self._open: OrderedDict[int, Library] = OrderedDict()
        self._locks: dict[int, threading.RLock] = {}  # re-entrant: an add may reopen the collection it holds
        self._guard = threading.Lock()
        self._builder: Embedder | None = None
        spec = recorded_store(library.index_dir)
        # with a Milvus library, chats' documents live in Milvus too (any serving process sees them)
        self._shelf = ChatShelf(library.index_dir, spec) if spec.kind == "milvus" else None

    # --- answering ----------------------------------------------------------------------

    def answer(self, question: str, chat: int | None = None, *, top: int | None = None) -> Answer:
        shared = self.library.answer(question, top=top)
        own = self._collection(chat)
        if own is None:
            return shared
        return better(shared, own.answer(question, top=top))

    def answer_in_context(
        self,
        text: str,
        history: Sequence[Turn],
        chat: int | None = None,
        *,
        top: int | None = None,
        reply: bool = False,
    ) -> tuple[Answer, str | None]:
        """The answer to ``text`` read with the conversation's earlier turns, and the reading used.

        The reading is None when the message was read as typed. A resolved reading that is
        declined gives way to the message as typed when that one is answered.
        """
        check_question(text)  # before the conversation is read: nothing reads an overlong message
        reading = resolve(text, history, reply=reply)
        if reading is None:
            return self.answer(text, chat, top=top), None
        resolved = replace(self.answer(reading, chat, top=top), question=text)
        if not resolved.answered:
            typed = self.answer(text, chat, top=top)
            if typed.answered:
                return typed, None
        return resolved, reading

    def sources(self, chat: int | None) -> list[ArticleInfo]:
        """The chat's added documents, in the order they were added (numbered from 1 for /remove)."""
        own = self._collection(chat)
        return own.sources() if own is not None else []

    def paragraph(self, chat: int | None, article_id: str, number: int) -> tuple[Citation, str] | None:
        """A paragraph, with its citation, from the chat's own documents or the library (ids never clash)."""
        for holder in (self._collection(chat), self.library):
            text = holder.paragraph(article_id, number) if holder is not None else None
            if holder is not None and text is not None:
                return holder.citation(article_id, number), text
        return None

    # --- adding and removing ------------------------------------------------------------

    def add_document(self, chat: int, data: bytes, kind: str, name: str) -> Added:
        """Read a document's bytes (``kind``: its suffix) and add it; ``CollectionError`` says why not."""
        started, warnings = time.perf_counter(), []
        return self.add(chat, _only(read_document(data, kind, name, name, name, warnings), warnings), started=started)

    def add_link(self, chat: int, url: str) -> Added:
        """Fetch the article at ``url`` (as ``citebot index URL`` does) and add it."""
        started, warnings = time.perf_counter(), []
        return self.add(chat, _only(read_link(url, warnings), warnings), started=started)

    def add(self, chat: int, article: Article, *, started: float | None = None) -> Added:
        """Add ``article`` to the chat's collection; serialised per chat, atomic on disk."""
        started = time.perf_counter() if started is None else started
        with self._lock(chat):
            current = self._articles(chat)
            digest = article_digest(article)  # of the content: ids and origins are not part of it
            for n, old in enumerate(current, 1):
                if article_digest(old) == digest:
                    raise CollectionError("That document is already here, as number {number} in /sources.", number=n)
            _check_size(article, current)
            article = replace(article, article_id=_article_id(chat, article, digest), origin=None)
            if self._shelf is not None:
                try:
                    self._shelf.add(chat, article, digest, self._encoder())
                except TooLong as exc:
                    # TRANSLATORS: {detail} is the store's own English ("12,345 sentences"); it may be left out
                    raise CollectionError(
                        "That document is too long to add from a chat ({detail}).",
                        detail=str(exc),
                    ) from None
            else:
                self._build(chat, [*current, article])
            return Added(_info(article), len(current) + 1, time.perf_counter() - started)

    def remove(self, chat: int, number: int) -> ArticleInfo:
        """Remove the chat's document ``number`` (as /sources numbers them)."""
        with self._lock(chat):
            current = self._articles(chat)
            if not 1 <= number <= len(current):
                if not current:
                    raise CollectionError("This chat has no added documents.")
                raise CollectionError(
                    "There is no document {number} here: /sources lists {count}.", number=number, count=len(current)
                )
            rest = current[: number - 1] + current[number:]
            if self._shelf is not None:
                self._shelf.remove(chat, current[number - 1].article_id)
            elif rest:
                self._build(chat, rest)
            else:
                self._drop(chat)
            return _info(current[number - 1])

    def warm_up(self) -> None:
        """Load the passage encoder (~4 s) and start a page reader now, so that the first add takes a fraction
        of a second."""
        self._encoder().encode(["warm up"])
        read_document(b"<p>warm up</p>", ".html", "warm-up", "warm-up", "warm-up", [])

    # --- inside -------------------------------------------------------------------------

    def _encoder(self) -> Embedder:
        with self._guard:
            if self._builder is None:  # passages are embedded as the library's were (fp32)
                self._builder = Embedder(manifest_model(self.library.index_dir), backend=INDEX_BACKEND)
            return self._builder

    def _dir(self, chat: int) -> Path:
        return self.root / str(int(chat))

    def _lock(self, chat: int) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(chat, threading.RLock())

    def _collection(self, chat: int | None) -> Library | None:
        """The chat's opened collection, or None when it has none."""
        if chat is None:
            return None
        if self._shelf is not None and self._shelf.version(chat) is None:
            return None
        with self._guard:
            own = self._open.get(chat)
            if own is not None:
                self._open.move_to_end(chat)
                return own
        if self._shelf is not None:
            own = ChatLibrary(self._shelf, chat, self.library.embedder)
        elif current_build_id(self._dir(chat)) is None:
            return None
        else:
            try:
                own = Library(self._dir(chat), self.library.embedder)
            except ModelMismatch:  # built before the library moved to another model: re-embed its own articles
                with self._lock(chat):
                    rebuild_with(self._dir(chat), self._encoder())
                own = Library(self._dir(chat), self.library.embedder)
        with self._guard:
            self._open[chat] = own
            while len(self._open) > OPEN_COLLECTIONS:
                self._open.popitem(last=False)
        return own

    def _articles(self, chat: int) -> list[Article]:
        own = self._collection(chat)
        return own.index.store.full_articles() if own is not None else []

    def _build(self, chat: int, articles: list[Article]) -> None:
        self.root.mkdir(mode=0o700, exist_ok=True)
        build_articles(articles, self._dir(chat), self._encoder(), store="local")  # not $CITEBOT_STORE: see _shelf
        log.info("chat collection rebuilt", extra={"chat": chat, "articles": len(articles)})

    def _drop(self, chat: int) -> None:
        """Remove the chat's collection: renamed away in one step, then deleted."""
        with self._guard:
            self._open.pop(chat, None)
        folder = self._dir(chat)
        trash = self.root / f".removed-{chat}-{uuid.uuid4().hex[:8]}"
        folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


def _size(articles: Sequence[Article]) -> tuple[int, int]:
    """Characters and non-empty paragraphs: what adding costs (passages follow from both)."""
    return (
        sum(len(p) for a in articles for p in a.paragraphs),
        sum(1 for a in articles for p in a.paragraphs if p.strip()),
    )


def _check_size(article: Article, current: Sequence[Article]) -> None:
    """Refuse, before any embedding, a document too big for a chat or one that would overfill it."""
    chars, paragraphs = _size([article])
    if chars > MAX_DOCUMENT_CHARS or paragraphs > MAX_PARAGRAPHS:
        raise CollectionError(
            "That document is too long to add from a chat ({chars} in {paragraphs}; the limit is {max_chars} and "
            "{max_paragraphs}): ask the operator to index it with `citebot index`.",
            chars=Count(chars, "{n} character", "{n} characters"),
            paragraphs=Count(paragraphs, "{n} paragraph", "{n} paragraphs"),
            max_chars=Count(MAX_DOCUMENT_CHARS, "{n} character", "{n} characters"),
            max_paragraphs=Count(MAX_PARAGRAPHS, "{n} paragraph", "{n} paragraphs"),
        )
    if len(current) >= MAX_DOCUMENTS:
        raise CollectionError(
            "This chat already has {documents}: /remove one first.",
            documents=Count(MAX_DOCUMENTS, "{n} document", "{n} documents"),
        )
    held_chars, held_paragraphs = _size(current)
    if held_chars + chars > MAX_CHAT_CHARS or held_paragraphs + paragraphs > MAX_CHAT_PARAGRAPHS:
        raise CollectionError(
            "This chat's documents hold {held}; with this one it would be over the {max_chars} (or {max_paragraphs}) "
            "a chat may have: /remove one first.",
            held=Count(held_chars, "{n} character", "{n} characters"),
            max_chars=Count(MAX_CHAT_CHARS, "{n} character", "{n} characters"),
            max_paragraphs=Count(MAX_CHAT_PARAGRAPHS, "{n} paragraph", "{n} paragraphs"),
        )


def _only(found: list[Article], warnings: list[str]) -> Article:
    """The one article a document gave, or ``CollectionError`` with the reader's reason."""
    if found:
        return found[0]
    reason = warnings[0].split(": ", 1)[-1].removesuffix(", skipped") if warnings else "no text"
    # TRANSLATORS: {reason} is the reader's own English ("no text layer (a scanned PDF?)")
    raise CollectionError("I could not read that document: {reason}.", reason=reason)


def _info(article: Article) -> ArticleInfo:
    return ArticleInfo(article.article_id, article.title, article.date, len(article.paragraphs), article.url)


def better(first: Answer, second: Answer) -> Answer:
    """The answer to give when two libraries answered one question: an answer beats a decline, then confidence."""
    return max((first, second), key=lambda a: (a.answered, a.confidence))


def _article_id(chat: int, article: Article, digest: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", article.title.lower()).strip("-")[:48] or "document"
    return f"chat{chat}/{slug}-{digest[:8]}"
