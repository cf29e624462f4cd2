"""Every chat's own documents on Milvus: one set of collections, told apart by the ``chat`` field.

The library's builds come and go; the chats' documents live in ``<prefix>_chats_*``, which
no build touches, partitioned by chat (Milvus's partition key), so any number of chats share
three collections. A chat's list of documents is a versioned record (``chat:<id>:<version>``):
an add inserts the document's rows under a new *gen*, then a new version of the list naming
it, so a kill mid-add leaves rows no list names (a later add of that chat removes them) and
the chat as it was. A removal writes the list without the document, then deletes its rows.
A chat's searches filter ``chat == <id> and gen in [...]``.

Adds are serialised per chat within a process (``Collections``); two processes adding to the
same chat in the same second could each write a version, and one add would drop out of the
list (its rows are then removed as orphans).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from embeddings import Embedder, EmbeddingCache
from retrieval.answer import Answerer
from retrieval.errors import CitebotError, IndexMissing
from retrieval.library import Library
from retrieval.milvus import (
    ID_BITS,
    MilvusIndex,
    Recent,
    _calls,
    _gen,
    connection,
    create_collections,
    insert_build,
)
from retrieval.milvus import manifest as library_manifest
from retrieval.records import Article
from retrieval.stores import StoreSpec

ORPHAN_AGE = 3_600  # seconds: rows of an add no list names are removed once this old (it surely died)


class TooLong(CitebotError):
    """A document has more passages or sentences than a chat's id space holds."""


def _new_gen() -> int:
    """Seconds since the epoch, then 10 random bits: unique, ordered by time, ``<< ID_BITS`` fits 63 bits."""
    return (int(time.time()) << 10) | secrets.randbelow(1 << 10)


class ChatShelf:
    """The chats' own documents in one Milvus."""

    def __init__(self, index_dir: Path, spec: StoreSpec):
        self.index_dir, self.spec = index_dir, spec
        self.names = {k: f"{spec.name}_chats_{k}" for k in ("passages", "sentences", "records")}
        self._lists = Recent()  # chat -> its newest list record

    @property
    def client(self) -> Any:
        return connection(self.spec)

    # --- the list of a chat's documents --------------------------------------------------------

    def listing(self, chat: int) -> dict[str, Any] | None:
        """The chat's newest list ({"version", "documents": [{"article_id", "gen", ...}]}), None if empty."""
        found = self._record(chat)
        return found if found and found["documents"] else None

    def _record(self, chat: int, *, fresh: bool = False) -> dict[str, Any] | None:
        """The chat's newest list, even an empty one (looked up at most once a second unless ``fresh``)."""

        def look() -> dict[str, Any] | None:
            with _calls(self.spec, "read a chat's documents from"):
                if not self.client.has_collection(self.names["records"]):
                    return None
                rows = self.client.query(
                    self.names["records"], filter=f'key like "chat:{int(chat)}:%"', output_fields=["key", "value"]
                )
            return json.loads(max(rows, key=lambda r: int(r["key"].rsplit(":", 1)[1]))["value"]) if rows else None

        return self._lists.get(chat, look, fresh=fresh)

    def version(self, chat: int) -> str | None:
        listing = self.listing(chat)
        return f"chat{chat}-v{listing['version']}" if listing else None

    def _write_listing(self, chat: int, version: int, documents: list[dict[str, Any]]) -> None:
        body = {"version": version, "documents": documents}
        with _calls(self.spec, "record a chat's documents in"):
            self.client.insert(
                self.names["records"],
                [{"key": f"chat:{int(chat)}:{version}", "value": json.dumps(body), "v": [1.0, 0.0]}],
            )
            self.client.flush(self.names["records"])
            self.client.delete(
                self.names["records"], filter=f'key like "chat:{int(chat)}:%" and key != "chat:{int(chat)}:{version}"'
            )
        self._lists.set(chat, body)

    # --- adding and removing ---------------------------------------------------------------

    def add(self, chat: int, article: Article, digest: str, encoder: Embedder) -> None:
        """Embed ``article`` and make it citable in ``chat`` (atomic: a kill leaves the chat as it was)."""
        from retrieval import index as local

        listing = self._record(chat, fresh=True) or {"version": 0, "documents": []}
        cache = EmbeddingCache(Path(":memory:"))
        try:
            built = local.prepare([article], {article.article_id: digest}, encoder, cache)
        finally:
            cache.close()
        if max(len(built.passages), len(built.sentences), sum(map(len, built.paragraph_ids)) + 1) >= 1 << ID_BITS:
            raise TooLong(f"{len(built.sentences):,} sentences")
        self._ensure(encoder.dim)
        self._remove_orphans(chat, listing)
        gen = _new_gen()
        insert_build(self.client, self.spec, self.names, built, local._checkpoint, False, chat=chat, gen=gen)
        document = {"article_id": article.article_id, "gen": gen, "passages": len(built.passages),
                    "sentences": len(built.sentences)}  # fmt: skip
        self._write_listing(chat, listing["version"] + 1, [*listing["documents"], document])

    def remove(self, chat: int, article_id: str) -> None:
        listing = self._record(chat, fresh=True)
        if listing is None:
            return
        gone = [d for d in listing["documents"] if d["article_id"] == article_id]
        self._write_listing(chat, listing["version"] + 1, [d for d in listing["documents"] if d not in gone])
        for document in gone:
            self._delete_gen(chat, document["gen"])

    def _delete_gen(self, chat: int, gen: int) -> None:
        low, high = gen << ID_BITS, (gen + 1) << ID_BITS
        with _calls(self.spec, "remove a document from"):
            self.client.delete(self.names["passages"], filter=f"chat == {int(chat)} and gen == {int(gen)}")
            self.client.delete(self.names["sentences"], filter=f"sid >= {low} and sid < {high}")
            self.client.delete(self.names["records"], filter=f'key like "{_gen(gen)}%"')

    def _remove_orphans(self, chat: int, listing: dict[str, Any]) -> None:
        """Rows of adds that died before their list was written (older than ``ORPHAN_AGE``)."""
        named = [int(d["gen"]) for d in listing["documents"]]
        cutoff = (int(time.time()) - ORPHAN_AGE) << 10
        unnamed = f" and gen not in {named}" if named else ""
        with _calls(self.spec, "tidy a chat in"):
            if not self.client.has_collection(self.names["passages"]):
                return
            rows = self.client.query(
                self.names["passages"],
                filter=f"chat == {int(chat)}{unnamed} and gen < {cutoff}",
                output_fields=["gen"],
                limit=16_384,
            )
        for gen in {r["gen"] for r in rows}:
            self._delete_gen(chat, gen)

    def _ensure(self, dim: int) -> None:
        with _calls(self.spec, "create the chats' collections in"):
            if not self.client.has_collection(self.names["passages"]):
                create_collections(self.client, self.spec, self.names, dim, chats=True)

    # --- answering -------------------------------------------------------------------------

    def view(self, chat: int) -> MilvusIndex:
        """The chat's documents as an index to search (filtered to the chat and its listed documents)."""
        listing = self.listing(chat)
        library = library_manifest(self.spec)
        if listing is None or library is None:
            raise IndexMissing(f"chat {chat} has no documents")
        documents = {d["article_id"]: int(d["gen"]) for d in listing["documents"]}
        manifest = {
            **{k: library[k] for k in ("model", "model_id", "dimension", "built_at")},
            "build_id": f"chat{chat}-v{listing['version']}",
            "collections": self.names,
            "articles": len(documents),
            "passages": sum(d["passages"] for d in listing["documents"]),
            "sentences": sum(d["sentences"] for d in listing["documents"]),
            "index_type": "FLAT",
            "nprobe": None,
        }
        where = f"chat == {int(chat)} and gen in {sorted(documents.values())}"
        with _calls(self.spec, "open a chat's documents in"):
            for name in self.names.values():
                self.client.load_collection(name)
        return MilvusIndex(self.index_dir, self.spec, self.client, manifest, where=where, documents=documents)


class ChatLibrary(Library):
    """A chat's own documents on Milvus, answered like a library (and followed as the list changes)."""

    def __init__(self, shelf: ChatShelf, chat: int, embedder: Embedder):
        self.shelf, self.chat = shelf, chat
        super().__init__(shelf.index_dir, embedder)

    def _open(self) -> Answerer:
        return self._answering(self.shelf.view(self.chat))

    def _latest(self) -> str | None:
        return self.shelf.version(self.chat)
