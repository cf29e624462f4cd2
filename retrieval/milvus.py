"""The index on Milvus: one local process (Milvus Lite, a .db file) or a sharded cluster, one client API.

Each build writes three new collections, ``<prefix>_<build>_passages`` (text with Milvus's own
BM25, the dense vector, citation fields, the ``chat`` field), ``…_sentences`` (sentence vectors
and spans) and ``…_records`` (articles, paragraph texts, term rarity, example questions; Milvus
wants a vector in every collection, so this one carries a constant 2-d vector). A build is
served once a row naming it is inserted into the ``<prefix>`` pointer collection: readers take
the newest row, so the swap is one insert, and a build killed at any point leaves the previous
one answering. Milvus aliases would do the same on a server, but Milvus Lite 2.5 does not
implement them (UNIMPLEMENTED), and one mechanism tested here beats two.

One build at a time writes into a prefix, whichever machine runs it (the index folder's lock
guards one machine, and a copy of the folder names the same prefix): a build first takes the
prefix's lease, a row (owner, host, pid, expiry) in ``<prefix>_lease`` (``Lease``: insert, then
a Strong read; held only if its row is the only unexpired one), renews it in the background
while it runs, checks it again before the swap and before dropping anything, and deletes it at
the end. A failed build drops only its own new collections; after a swap, older builds' are
dropped only under the lease, never those of the serving build or the one before it. A killed
build's row expires (``LEASE_SECONDS``), so a crash blocks other machines' builds for ten minutes
at most; on its own machine, where its process can be seen to be gone, not at all.

Search runs in Milvus (dense and BM25 candidates); the fusion, sentence scoring and answer
scorer are citebot's own, as for the local store. Term rarity (idf) is citebot's tokenizer's,
counted at build time, so a question's term weights match the local store's exactly; only the
BM25 candidate lists differ (Milvus's english analyzer vs SQLite's Porter tokenizer).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from embeddings import Embedder, EmbeddingCache, model_label
from retrieval.errors import CitebotError, IndexMissing
from retrieval.records import Article, ArticleInfo, IndexInfo, Passage
from retrieval.store import _affordable, question_terms, terms
from retrieval.stores import TOKEN_ENV, StoreError, StoreSpec

log = logging.getLogger(__name__)

FORMAT = 1  # of the Milvus collections and the pointer's manifest
BATCH = 1000  # rows per insert: bigger batches were slower in Milvus Lite (5,000: 30x)
VARCHAR_BYTES = 65_535
FIELD_BYTES = VARCHAR_BYTES  # what a passage's text or packed sentences may take before falling back
PART_CHARS = 8_000  # of a paragraph per record (JSON-escaped, it stays under VARCHAR_BYTES)
APPROXIMATE_FROM = 50_000  # passages; below, an exact (FLAT) index, as for FAISS
TARGET_RECALL = 0.96
ID_BITS = 20  # a chat's document: passage, sentence and paragraph ids are its gen << ID_BITS + the row
CACHE_ROWS = 8_192  # passages and sentences kept in memory per opened build
POINTER_CHECK = 1.0  # seconds between looks at the pointer for a newer build
TIMEOUT = 10.0  # seconds per call to a Milvus server
LITE_STARTS = 20  # tries to start a Milvus Lite engine, 0.5 s apart
LEASE_SECONDS = 600  # a build's lease on its collection prefix; renewed while the build runs
LEASE_MARGIN = 60  # a lease is not relied on in its last minute: machines' clocks differ
LEASE_LOOK = 30.0  # seconds between the renewer's looks at the lease
_CONSTANT = [1.0, 0.0]


def _client(spec: StoreSpec) -> Any:
    """A connected ``MilvusClient``; Milvus Lite starts its engine on the .db file (~0.6 s)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # milvus_lite imports pkg_resources, which warns
            from pymilvus import MilvusClient
    except ImportError:
        raise StoreError("Milvus support is not installed: pip install 'citebot[milvus]'") from None

    for name in ("pymilvus", "pymilvus.milvus_client"):  # each failed call is logged as an ERROR, then raised
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with _calls(spec, "connect to"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.lite:
            Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
            level = os.environ.get("LOG_LEVEL")
            os.environ["LOG_LEVEL"] = "FATAL"  # the engine's own log goes to our stderr; errors reach us as exceptions
            try:
                return _lite_client(MilvusClient, spec)
            finally:
                if level is None:
                    os.environ.pop("LOG_LEVEL", None)
                else:
                    os.environ["LOG_LEVEL"] = level
        return _Bounded(MilvusClient(uri=spec.uri, token=os.environ.get(TOKEN_ENV, ""), timeout=TIMEOUT))


def _lite_client(make: Any, spec: StoreSpec) -> _Bounded:
    """A client of a Milvus Lite engine that answers: an engine whose last owner was just killed
    may hold the file for a moment, and the new engine then dies; it is started again (up to ~10 s)."""
    from milvus_lite.server_manager import server_manager_instance

    db = Path(spec.uri)
    _check_lite_file(db)
    for attempt in range(LITE_STARTS):
        try:
            client = _Bounded(make(spec.uri))
        except Exception as exc:
            if "open local milvus failed" in str(exc).lower():  # the engine stopped at once
                raise StoreError(_DAMAGED.format(db=db) if _damaged(db) else _STOPPED.format(db=db)) from None
            raise
        try:
            client.list_collections()
            return client
        except Exception:
            if attempt == LITE_STARTS - 1:
                raise
            with contextlib.suppress(Exception):
                client.close()
            server_manager_instance.release_server(spec.uri)
            time.sleep(0.5)
    raise AssertionError("unreachable")


_BUSY = (
    "{db} is open in another process (Milvus Lite allows one at a time; "
    "to serve and rebuild at once, use a Milvus server)"
)
_DAMAGED = (
    "{db} is not a Milvus Lite database, or it is damaged: "
    "move it away and run `citebot index --store milvus:{db}` again"
)
_STOPPED = (
    "Milvus Lite could not open {db} (its engine stopped at once): if the file is damaged, "
    "move it away and run `citebot index --store milvus:{db}` again"
)
_SQLITE = b"SQLite format 3\0"  # a Milvus Lite 2.5 .db file is an SQLite database


def _check_lite_file(db: Path) -> None:
    """Say what is wrong before an engine starts on ``db``: Milvus Lite answers both a held file and a
    damaged one with "Open local milvus failed", and its engine prints the reason on our stderr."""
    if _held_elsewhere(db):
        raise StoreError(_BUSY.format(db=db))
    if _damaged(db):
        raise StoreError(_DAMAGED.format(db=db))


def _held_elsewhere(db: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on ``db``: a POSIX lock on ``.NAME.lock`` beside it.

    Never asked while this process runs an engine on ``db``: closing the probe's descriptor would
    drop this process's own lock, and the engine stops when its lock goes.
    """
    from milvus_lite.server_manager import server_manager_instance

    if str(db.resolve()) in server_manager_instance._servers:
        return False
    try:
        fd = os.open(db.with_name(f".{db.name}.lock"), os.O_RDWR)
    except OSError:  # no lock file (its owner removes it when it stops), or unreadable: Milvus Lite will say
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EAGAIN)
    finally:
        os.close(fd)  # and with it the probe's lock
    return False


def _damaged(db: Path) -> bool:
    """Whether ``db`` cannot be an intact SQLite database: another header, or shorter than its header says
    (zeroed, random or truncated). An empty file is fine: Milvus Lite makes a database of it."""
    try:
        size = db.stat().st_size
        with db.open("rb") as f:
            head = f.read(100)
    except OSError:  # missing (a new store) or unreadable (Milvus Lite will say)
        return False
    if size == 0:
        return False
    if len(head) < 100 or not head.startswith(_SQLITE):
        return True
    page = int.from_bytes(head[16:18], "big")
    page = 65_536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return True
    if any(db.with_name(db.name + end).exists() for end in ("-journal", "-wal")):
        return False  # an interrupted write: SQLite completes or undoes it when the file is opened
    pages = int.from_bytes(head[28:32], "big")
    counted = pages > 0 and head[24:28] == head[92:96]  # SQLite trusts the header's page count only then
    return size % page != 0 or (counted and pages * page > size)


class _Bounded:
    """A ``MilvusClient`` whose calls give up soon: pymilvus retries a dead server 75 times (~3.5 min).

    Each call gets 3 tries; answering calls also a 10 s deadline, passed as a float, because an
    int ``timeout`` makes pymilvus retry for that many seconds instead of counting tries.
    """

    ANSWERING = frozenset({"search", "query", "has_collection", "list_collections"})
    BUILDING = frozenset({"insert", "flush", "load_collection", "create_collection", "drop_collection", "delete"})

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in self.ANSWERING | self.BUILDING:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("retry_times", 3)
            if name in self.ANSWERING:
                kwargs.setdefault("timeout", float(TIMEOUT))
            return attr(*args, **kwargs)

        return call


@contextlib.contextmanager
def _calls(spec: StoreSpec, what: str) -> Iterator[None]:
    """Any failure talking to Milvus becomes one ``StoreError`` line (never with the token)."""
    try:
        yield
    except CitebotError:
        raise
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, ConnectionError, OSError...
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        reason = " ".join(str(reason).split())[:200]
        reason = re.sub(r"//[^\s/@]*@", "//", reason.replace(spec.uri, spec.address))  # no user info
        if "auth" in reason.lower() or "token" in reason.lower() or "credential" in reason.lower():
            reason = f"refused the token in ${TOKEN_ENV} ({reason})"
        raise StoreError(f"could not {what} Milvus at {spec.address}: {reason}") from None


def _names(prefix: str, build_id: str) -> dict[str, str]:
    base = f"{prefix}_{build_id.replace('T', '_').replace('-', '_')}"
    return {"passages": f"{base}_passages", "sentences": f"{base}_sentences", "records": f"{base}_records"}


def _gen(gen: int) -> str:
    """Record keys of a chat's document start with its gen, so that removing it is one ``like``."""
    return f"g{gen}:" if gen else ""


def _article_key(article_id: str, gen: int = 0) -> str:
    return f"{_gen(gen)}article:" + hashlib.blake2b(article_id.encode(), digest_size=12).hexdigest()


def _df_key(term: str, gen: int = 0) -> str:
    return f"{_gen(gen)}df:{term}"


def _paragraph_key(row: int, gen: int = 0) -> str:
    return f"{_gen(gen)}paragraph:{row}:"


def _utf8_cut(text: str, limit: int) -> str:
    raw = text.encode()
    return text if len(raw) <= limit else raw[:limit].decode(errors="ignore")


# --- the pointer: which build serves --------------------------------------------------------


class Pointer:
    """The ``<prefix>`` collection: one row per build that served, the newest serving."""

    def __init__(self, client: Any, spec: StoreSpec):
        self.client, self.spec = client, spec

    def newest(self, *, strong: bool = False) -> tuple[int, dict[str, Any]] | None:
        """(generation, manifest) of the serving build, or None before the first build.

        ``strong``: see every row written so far (a build numbers its row after the newest one);
        readers take Milvus's default, which may be a moment behind on a server.
        """
        rows = self._rows(strong)
        if not rows:
            return None
        row = max(rows, key=lambda r: r["gen"])
        try:
            manifest = json.loads(row["manifest"])
        except ValueError:
            raise StoreError(f"the index record in Milvus ({self.spec.name}) is damaged: run `citebot index`") from None
        if manifest.get("format") != FORMAT:
            raise StoreError(
                f"the index in Milvus has format {manifest.get('format')}, this citebot reads {FORMAT}: "
                "run `citebot index` again"
            )
        return int(row["gen"]), manifest

    def _rows(self, strong: bool) -> list[dict[str, Any]]:
        level = {"consistency_level": "Strong"} if strong else {}
        with _calls(self.spec, "read the index from"):
            if not self.client.has_collection(self.spec.name):
                return []
            return self.client.query(self.spec.name, filter="gen >= 0", output_fields=["gen", "manifest"], **level)

    def named(self) -> set[str]:
        """The collections of the serving build and of the one before it (a question may still be on it):
        what no clean-up may drop. Read with Strong consistency, so a swap just made is in it."""
        names: set[str] = set()
        for row in sorted(self._rows(strong=True), key=lambda r: r["gen"])[-2:]:
            try:
                names.update(json.loads(row["manifest"])["collections"].values())
            except (ValueError, KeyError, TypeError, AttributeError):
                raise StoreError(f"the index record in Milvus ({self.spec.name}) is damaged") from None
        return names

    def swap(self, generation: int, manifest: dict[str, Any]) -> None:
        from pymilvus import DataType

        with _calls(self.spec, "record the new index in"):
            if not self.client.has_collection(self.spec.name):
                schema = self.client.create_schema(auto_id=False)
                schema.add_field("gen", DataType.INT64, is_primary=True)
                schema.add_field("manifest", DataType.VARCHAR, max_length=65_535)
                schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
                index = self.client.prepare_index_params()
                index.add_index("v", index_type="FLAT", metric_type="IP")
                self.client.create_collection(self.spec.name, schema=schema, index_params=index)
            self.client.insert(self.spec.name, [{"gen": generation, "manifest": json.dumps(manifest), "v": _CONSTANT}])
            self.client.flush(self.spec.name)

    def forget_before(self, generation: int) -> None:
        with _calls(self.spec, "clean up old index records in"):
            self.client.delete(self.spec.name, filter=f"gen < {int(generation)}")


# --- the build lease: one build at a time into a collection prefix, whichever machine -------------


def _clock() -> float:
    """Wall-clock seconds: lease expiries are compared across machines (tests move this clock)."""
    return time.time()


def _seat() -> str:
    """Where a pid names one process: this kernel's boot and pid namespace ("" where that is unknown)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}:{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _gone(row: dict[str, Any], seat: str) -> bool:
    """Whether a lease row's build was killed: judged only in its own pid space, where its pid means it
    (a reused pid looks alive, which only makes the next build wait for the row to expire)."""
    pid = int(row["pid"])
    if not seat or row["seat"] != seat or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _who(row: dict[str, Any]) -> str:
    until = datetime.fromtimestamp(int(row["until"]), UTC).strftime("%H:%M:%S")
    return f"host {row['host']}, pid {row['pid']}, until {until} UTC"


class Lease:
    """A build's lease on its collection prefix: a row (owner, host, pid, expiry) in ``<prefix>_lease``.

    The index folder's file lock guards one machine only, and a copy of the folder elsewhere names
    the same prefix. Milvus has no compare-and-swap, so a build inserts its row, then reads every
    unexpired row with Strong consistency (the read sees every insert finished before it) and holds
    the lease only if its row is the only one; otherwise it deletes its row and gives up. Of two
    contenders, the one whose insert came second reads the other's row, so never both win; both
    may lose (each reads the other's row before it is deleted), which is safe: nothing was touched.
    The holder renews by inserting a new row before the old one expires, then deleting the old, so
    it is never without a row. A killed build's row expires after ``LEASE_SECONDS``, or counts as
    released at once where its pid can be seen to be gone (same boot and pid namespace). A holder
    stops relying on its lease ``LEASE_MARGIN`` before it expires: machines' clocks differ.
    """

    def __init__(self, client: Any, spec: StoreSpec):
        self.client, self.spec = client, spec
        self.name = f"{spec.name}_lease"
        self.owner = uuid.uuid4().hex
        self.host, self.pid, self.seat = _utf8_cut(socket.gethostname(), 255), os.getpid(), _seat()
        self.until = 0  # epoch seconds; 0: not held
        self._rows_written = 0
        self._lost = False
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def take(self) -> None:
        """Hold the lease (renewed in the background until ``release``), or raise ``StoreError`` naming its holder."""
        try:
            with _calls(self.spec, "take the build lease in"):
                self._create()
                self.until = self._write()
                others = self._others()
        except BaseException:
            self.release()  # a row left behind would block every build until it expires
            raise
        if others:
            self.release()
            raise StoreError(
                f"another build into this Milvus store is running ({_who(others[0])}); try again when it ends"
            )
        self._renewer = threading.Thread(target=self._renew_while_held, name="milvus-lease", daemon=True)
        self._renewer.start()

    def held(self) -> bool:
        """Whether this build may still act on its lease, by its own clock (no call to Milvus)."""
        with self._guard:
            return not self._lost and _clock() < self.until - LEASE_MARGIN

    def check(self) -> None:
        """Raise ``StoreError`` unless this build still holds the lease: asked before the swap and before dropping."""
        with _calls(self.spec, "check the build lease in"):
            rows = self._rows()
        others = sorted((r for r in rows if r["owner"] != self.owner), key=lambda r: -r["until"])
        if others or not any(r["owner"] == self.owner for r in rows) or not self.held():
            why = f"another build took it: {_who(others[0])}" if others else "it ran out"
            raise StoreError(f"this build lost its lease on the Milvus store ({why}); run `citebot index` again")

    def release(self) -> None:
        """Stop renewing and delete this build's rows, success or failure (a row left behind just expires)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(2 * TIMEOUT)
        with self._guard:
            self.until = 0
        with contextlib.suppress(Exception):
            self.client.delete(self.name, filter=f'owner == "{self.owner}"')

    def renew(self) -> None:
        """Extend the lease once less than half of it remains; past its margin it is lost instead, for by
        then another build may hold it."""
        with self._guard:
            old = self.until
            if self._lost or old - _clock() > LEASE_SECONDS / 2:
                return
            self._lost = _clock() >= old - LEASE_MARGIN
            if self._lost:
                return
        try:
            with _calls(self.spec, "renew the build lease in"):
                until = self._write()
        except StoreError as exc:  # tried again at the next look; ``check`` refuses once it runs out
            log.warning("build lease not renewed", extra={"reason": str(exc)})
            return
        with self._guard:
            if _clock() < old - LEASE_MARGIN:
                self.until = until
            else:  # the new row may have landed after the old one expired
                self._lost = True

    def _renew_while_held(self) -> None:
        while not self._stop.wait(LEASE_LOOK) and not self._lost:
            self.renew()

    def _create(self) -> None:
        """``<prefix>_lease``, made once; a concurrent maker's collection is as good as this one."""
        from pymilvus import DataType

        if not self.client.has_collection(self.name):
            schema = self.client.create_schema(auto_id=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=80)
            schema.add_field("owner", DataType.VARCHAR, max_length=64)
            schema.add_field("host", DataType.VARCHAR, max_length=256)
            schema.add_field("pid", DataType.INT64)
            schema.add_field("seat", DataType.VARCHAR, max_length=128)  # where ``pid`` means a process
            schema.add_field("until", DataType.INT64)  # epoch seconds
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
            index = self.client.prepare_index_params()
            index.add_index("v", index_type="FLAT", metric_type="IP")
            try:
                self.client.create_collection(self.name, schema=schema, index_params=index)
            except Exception:
                if not self.client.has_collection(self.name):
                    raise
        self.client.load_collection(self.name)  # a maker killed before loading it left it unloaded

    def _write(self) -> int:
        """Insert this build's row with a new expiry, then delete its older rows; returns the expiry."""
        self._rows_written += 1
        row_id = f"{self.owner}-{self._rows_written}"
        until = int(_clock()) + LEASE_SECONDS
        row = {"id": row_id, "owner": self.owner, "host": self.host, "pid": self.pid, "seat": self.seat}
        row |= {"until": until, "v": _CONSTANT}
        self.client.insert(self.name, [row])
        self.client.delete(self.name, filter=f'owner == "{self.owner}" and id != "{row_id}"')
        return until

    def _rows(self) -> list[dict[str, Any]]:
        """Every live row: unexpired, read with Strong consistency (it sees every insert that finished
        before it), less those of killed builds, which are deleted (a courtesy: others wait for expiry)."""
        rows = self.client.query(
            self.name,
            filter=f"until > {int(_clock())}",
            output_fields=["id", "owner", "host", "pid", "seat", "until"],
            consistency_level="Strong",
        )
        gone = [r["id"] for r in rows if _gone(r, self.seat)]
        if gone:
            with contextlib.suppress(Exception):
                self.client.delete(self.name, ids=gone)
        return [r for r in rows if r["id"] not in gone]

    def _others(self) -> list[dict[str, Any]]:
        """Other builds' live rows, the longest-lasting first (the one a message names)."""
        return sorted((r for r in self._rows() if r["owner"] != self.owner), key=lambda r: -r["until"])


# --- building ---------------------------------------------------------------------------------


def create_collections(
    client: Any, spec: StoreSpec, names: dict[str, str], dim: int, nlist: int | None = None, *, chats: bool = False
) -> None:
    """The three collections of a build (``chats``: of the chats' own documents, partitioned by chat)."""
    from pymilvus import DataType, Function, FunctionType

    with _calls(spec, "write the index to"):
        c = client
        schema = c.create_schema(auto_id=False)
        schema.add_field("pid", DataType.INT64, is_primary=True)
        schema.add_field("paragraph", DataType.INT64)
        schema.add_field("article_id", DataType.VARCHAR, max_length=VARCHAR_BYTES)
        schema.add_field("number", DataType.INT64)
        schema.add_field("page", DataType.INT64)  # -1: no page
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("whole", DataType.BOOL)  # False: ``text`` was cut to fit; the paragraph holds it
        # 0: the library. The chats' collection is partitioned by chat on a server; Milvus Lite 2.5.1
        # rejects every filter on a collection with a partition key ("Invalid expr"), so there it is indexed.
        schema.add_field("chat", DataType.INT64, is_partition_key=chats and not spec.lite)
        schema.add_field("gen", DataType.INT64)  # a chat's document: which add wrote it (0 in the library)
        english = {"type": "english"}
        schema.add_field(
            "text", DataType.VARCHAR, max_length=VARCHAR_BYTES, enable_analyzer=True, analyzer_params=english
        )
        # the passage's sentences, packed (spans and float16 vectors): comes back with every search
        # hit, so no second query; "" when it would not fit, and then they are in ``…_sentences``
        schema.add_field("sentences", DataType.VARCHAR, max_length=VARCHAR_BYTES)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function("bm25", FunctionType.BM25, input_field_names="text", output_field_names="bm25"))
        index = c.prepare_index_params()
        if nlist:
            index.add_index("dense", index_type="IVF_FLAT", metric_type="IP", params={"nlist": nlist})
        else:
            index.add_index("dense", index_type="FLAT", metric_type="IP")
        index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        if chats:
            index.add_index("chat", index_type="INVERTED")
        c.create_collection(names["passages"], schema=schema, index_params=index)

        schema = c.create_schema(auto_id=False)
        schema.add_field("sid", DataType.INT64, is_primary=True)
        schema.add_field("paragraph", DataType.INT64)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = c.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        index.add_index("paragraph", index_type="INVERTED")
        c.create_collection(names["sentences"], schema=schema, index_params=index)

        schema = c.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR_BYTES)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        index = c.prepare_index_params()
        index.add_index("v", index_type="FLAT", metric_type="IP")
        c.create_collection(names["records"], schema=schema, index_params=index)


def insert_build(
    client: Any,
    spec: StoreSpec,
    names: dict[str, str],
    built: Any,  # retrieval.index.Prepared
    checkpoint: Callable[[str], None],
    progress: bool,
    *,
    chat: int = 0,
    gen: int = 0,
) -> None:
    """Insert a prepared build's rows; a chat's document gets ids offset by its ``gen``."""
    unpacked: set[int] = set()  # paragraph rows with a passage whose sentences did not fit its row
    with _calls(spec, "write the index to"):
        _insert(client, names["passages"], _passage_rows(built, chat, gen, unpacked), "passages", progress)
        checkpoint("milvus-passages")
        _insert(client, names["sentences"], _sentence_rows(built, gen, unpacked), "sentences", progress)
        _insert(client, names["records"], _record_rows(built, gen), "records", progress)
        for name in names.values():
            client.flush(name)
            client.load_collection(name)


def write_build(
    client: Any,
    spec: StoreSpec,
    built: Any,  # retrieval.index.Prepared
    build_id: str,
    dim: int,
    checkpoint: Callable[[str], None],
    progress: bool,
) -> dict[str, Any]:
    """Write a prepared build into three new collections (not yet serving); returns manifest fields."""
    names = _names(spec.name, build_id)
    n = len(built.passages)
    approximate = n >= APPROXIMATE_FROM
    nlist = max(1, min(2 ** round(np.log2(4 * np.sqrt(max(n, 1)))), n // 39)) if approximate else None
    create_collections(client, spec, names, dim, nlist)
    insert_build(client, spec, names, built, checkpoint, progress)
    checkpoint("milvus-written")
    nprobe, recall = (None, None)
    if approximate:
        nprobe, recall = _choose_nprobe(client, spec, names["passages"], built.passage_vectors)
    return {
        "collections": names,
        "index_type": f"IVF_FLAT,nlist={nlist}" if approximate else "FLAT",
        "nprobe": nprobe,
        "recall_at_10": recall,
    }


def _offset(gen: int) -> int:
    return gen << ID_BITS


def _passage_rows(built: Any, chat: int, gen: int, unpacked: set[int]) -> Iterator[dict[str, Any]]:
    base = _offset(gen)
    by_paragraph: dict[int, list[tuple[int, int, int, int]]] = {}
    for sentence in built.sentences:
        by_paragraph.setdefault(sentence[1], []).append(sentence)
    where: dict[int, tuple[str, int, int | None]] = {}
    for article, ids in zip(built.articles, built.paragraph_ids, strict=True):
        pages = article.pages or (None,) * len(ids)
        for number, (row, page) in enumerate(zip(ids, pages, strict=True), 1):
            where[row] = (article.article_id, number, page)
    for (pid, row, start, end, text), vector in zip(built.passages, built.passage_vectors, strict=True):
        article_id, number, page = where[row]
        stored = _utf8_cut(text, FIELD_BYTES)
        inside = [(sid, a, b) for sid, _, a, b in by_paragraph.get(row, ()) if a >= start and b <= end]
        packed = _pack([(base + sid, a, b) for sid, a, b in inside], built.sentence_vectors[[i for i, _, _ in inside]])
        if len(packed) > FIELD_BYTES:
            packed = ""
            unpacked.add(row)
        yield {
            "pid": base + pid,
            "paragraph": base + row,
            "article_id": _utf8_cut(article_id, VARCHAR_BYTES),
            "number": number,
            "page": -1 if page is None else page,
            "start": start,
            "end": end,
            "whole": stored == text,
            "chat": chat,
            "gen": gen,
            "text": stored,
            "sentences": packed,
            "dense": vector,
        }


def _pack(spans: list[tuple[int, int, int]], vectors: np.ndarray) -> str:
    """A passage's sentences as one string: their (id, start, end) and float16 vectors in base64."""
    raw = np.ascontiguousarray(vectors, dtype=np.float16).tobytes()
    return json.dumps({"s": spans, "v": base64.b64encode(raw).decode()}, separators=(",", ":"))


def _unpack(packed: str, dim: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    body = json.loads(packed)
    vectors = np.frombuffer(base64.b64decode(body["v"]), dtype=np.float16).reshape(-1, dim).astype(np.float32)
    return [tuple(s) for s in body["s"]], vectors  # type: ignore[misc]


def _sentence_rows(built: Any, gen: int, unpacked: set[int]) -> Iterator[dict[str, Any]]:
    """Only the sentences of paragraphs whose passages could not carry theirs (usually none)."""
    base = _offset(gen)
    for (sid, row, start, end), vector in zip(built.sentences, built.sentence_vectors, strict=True):
        if row not in unpacked:
            continue
        yield {
            "sid": base + sid,
            "paragraph": base + row,
            "start": start,
            "end": end,
            "vector": vector.astype(np.float32),
        }


def _record_rows(built: Any, gen: int = 0) -> Iterator[dict[str, Any]]:
    def record(key: str, value: Any) -> dict[str, Any]:
        return {"key": key, "value": json.dumps(value, ensure_ascii=False), "v": _CONSTANT}

    base = _offset(gen)
    if not gen:
        yield record("meta:examples", built.examples)
    for order, (article, ids) in enumerate(zip(built.articles, built.paragraph_ids, strict=True)):
        a = article
        fields = [a.article_id, a.title, a.date, a.place, a.url, a.source, a.author]
        yield record(
            _article_key(a.article_id, gen),
            {"order": order, "fields": fields, "digest": built.digests[a.article_id],
             "first": base + ids[0] if ids else 0, "paragraphs": len(ids)},
        )  # fmt: skip
        pages = a.pages or (None,) * len(ids)
        for row, text, page in zip(ids, a.paragraphs, pages, strict=True):
            for part, at in enumerate(range(0, max(len(text), 1), PART_CHARS)):
                part_text = text[at : at + PART_CHARS]
                yield record(f"{_paragraph_key(base + row, gen)}{part}", {"page": page, "text": part_text})
    df: Counter[str] = Counter()
    for _, _, _, _, text in built.passages:
        df.update(terms([text])[0].keys())
    for term, count in df.items():
        if len(term.encode()) <= 400:
            yield record(_df_key(term, gen), count)


def _insert(client: Any, name: str, rows: Iterator[dict[str, Any]], what: str, progress: bool) -> None:
    from tqdm import tqdm

    batch: list[dict[str, Any]] = []
    with tqdm(desc=f"Milvus: {what}", unit=" rows", disable=not progress, leave=False) as bar:
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                client.insert(name, batch)
                bar.update(len(batch))
                batch = []
        if batch:
            client.insert(name, batch)
            bar.update(len(batch))


def _choose_nprobe(client: Any, spec: StoreSpec, name: str, vectors: np.ndarray) -> tuple[int, float]:
    """The smallest nprobe whose recall@10 against exact search reaches ``TARGET_RECALL`` (as FAISS builds do)."""
    rng = np.random.default_rng(0)
    sample = rng.choice(len(vectors), size=min(100, len(vectors)), replace=False)
    queries = vectors[sample] + rng.normal(0, 0.03, size=(len(sample), vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = [set(np.argsort(-(vectors @ q))[:10].tolist()) for q in queries]
    recall = 0.0
    for nprobe in (8, 16, 32, 64, 128, 256):
        with _calls(spec, "measure the index in"):
            found = client.search(
                name, data=list(queries), anns_field="dense", limit=10, search_params={"params": {"nprobe": nprobe}}
            )
        recall = float(np.mean([len({h["id"] for h in hits} & e) / 10 for hits, e in zip(found, exact, strict=True)]))
        if recall >= TARGET_RECALL:
            return nprobe, recall
    return 256, recall


def drop_builds(client: Any, spec: StoreSpec, keep: Collection[str], lease: Lease) -> None:
    """Drop this index's build collections except ``keep`` (names): older builds', and what killed builds
    left. Only while ``lease`` is held, since another build's new collections look just the same."""
    ours = re.compile(re.escape(spec.name) + r"_\d{8}_\d{6}_[0-9a-f]{8}_(?:passages|sentences|records)", re.ASCII)
    with _calls(spec, "drop old collections in"):
        for name in client.list_collections():
            if ours.fullmatch(name) and name not in keep:
                if not lease.held():
                    return
                client.drop_collection(name)
                log.info("old Milvus collection dropped", extra={"collection": name})


def drop_own(client: Any, spec: StoreSpec, build_id: str) -> None:
    """Drop a failed build's own collections, and nothing else; none that the pointer names."""
    names = set(_names(spec.name, build_id).values())
    with _calls(spec, "drop this build's collections in"):
        if names & Pointer(client, spec).named():  # failed after its swap: it is serving
            return
        for name in names:
            if client.has_collection(name):
                client.drop_collection(name)


# --- reading ------------------------------------------------------------------------------------


class _Rows:
    """A bounded cache of immutable rows by id: a build's rows never change, so nothing goes stale."""

    def __init__(self, size: int = CACHE_ROWS):
        self.size = size
        self._rows: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[Any], fetch: Callable[[list[Any]], dict[Any, Any]]) -> dict[Any, Any]:
        with self._lock:
            out = {k: self._rows[k] for k in keys if k in self._rows}
        missing = [k for k in dict.fromkeys(keys) if k not in out]
        if missing:
            fetched = fetch(missing)
            self.put(fetched)
            out.update(fetched)
        return out

    def put(self, rows: dict[Any, Any]) -> None:
        with self._lock:
            for k, v in rows.items():
                self._rows[k] = v
                self._rows.move_to_end(k)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


_PASSAGE_FIELDS = ["pid", "paragraph", "article_id", "number", "page", "start", "end", "whole", "text", "sentences"]


class MilvusStore:
    """What the answer path reads about a build, from its Milvus collections (``Store``'s reading half)."""

    def __init__(
        self,
        client: Any,
        spec: StoreSpec,
        manifest: dict[str, Any],
        *,
        where: str = "chat == 0",
        documents: dict[str, int] | None = None,
    ):
        """``where``: the filter of this view's passages; ``documents``: a chat's article ids and their gens."""
        self.client, self.spec, self.manifest = client, spec, manifest
        self.where, self.documents = where, documents
        self.names: dict[str, str] = manifest["collections"]
        self.passages_rows = _Rows()
        self.vectors = _Rows()
        self.sentence_rows = _Rows()  # paragraph row -> [(sid, start, end)]
        self.sentence_vectors = _Rows(4 * CACHE_ROWS)  # sentences_of fills it for the question being answered
        self.records = _Rows()
        self.passage_count = int(manifest["passages"])

    def _query(self, name: str, **kwargs: Any) -> list[dict[str, Any]]:
        with _calls(self.spec, "read from"):
            return self.client.query(self.names[name], **kwargs)

    def _records(self, keys: Sequence[str]) -> dict[str, Any]:
        def fetch(missing: list[str]) -> dict[str, Any]:
            rows = self._query("records", ids=missing, output_fields=["key", "value"])
            return {r["key"]: json.loads(r["value"]) for r in rows}

        return self.records.get_many(keys, fetch)

    def take(self, hits: Sequence[dict[str, Any]]) -> None:
        """Keep the rows a search returned, so that the steps after it need not ask again."""
        self.passages_rows.put({h["id"]: h["entity"] for h in hits})
        vectors = {h["id"]: h["entity"].get("dense") for h in hits}
        self.vectors.put({k: np.asarray(v, np.float32) for k, v in vectors.items() if v is not None})

    def rows(self, passage_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        def fetch(missing: list[int]) -> dict[int, Any]:
            found = self._query("passages", ids=missing, output_fields=[*_PASSAGE_FIELDS, "dense"])
            self.vectors.put({r["pid"]: np.asarray(r["dense"], np.float32) for r in found})
            return {r["pid"]: r for r in found}

        return self.passages_rows.get_many(list(passage_ids), fetch)

    # the reading API of ``Store``

    def meta(self) -> dict[str, str]:
        return {"examples": json.dumps(self._records(["meta:examples"]).get("meta:examples", []))}

    def count(self, table: str) -> int:
        return int(self.manifest[table])

    def document_frequency(self, stems: Sequence[str]) -> tuple[dict[str, int], int]:
        gens = sorted(set(self.documents.values())) if self.documents is not None else [0]
        keys = {_df_key(t, g): t for t in stems for g in gens}
        df: Counter[str] = Counter()
        for key, count in self._records(list(keys)).items():
            df[keys[key]] += int(count)
        return dict(df), self.passage_count

    def query_terms(self, question: str) -> Any:
        return question_terms(question, self.document_frequency)

    def lexical(self, query: Any, limit: int) -> dict[int, float]:
        """Milvus's BM25 over the question's terms (rarest first, as the local store prunes them)."""
        words = [word for _, word in _affordable(query, query.idf)]
        if not words:
            return {}
        with _calls(self.spec, "search"):
            hits = self.client.search(
                self.names["passages"],
                data=[" ".join(words)],
                anns_field="bm25",
                limit=limit,
                filter=self.where,
                output_fields=[*_PASSAGE_FIELDS, "dense"],
                search_params={"metric_type": "BM25"},
            )[0]
        self.take(hits)
        return {int(h["id"]): float(h["distance"]) for h in hits}

    def holding(self, query: Any, passage_ids: Sequence[int]) -> dict[int, set[str]]:
        """Which of the question's content terms each passage holds, from its own text (exact, no budget)."""
        wanted = {t for t in query.content if query.df.get(t, 0)}
        texts = self.passages(passage_ids)
        return {pid: set(terms([texts[pid].text])[0]) & wanted if pid in texts else set() for pid in passage_ids}

    def passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        rows = self.rows(ids)
        out = {}
        for pid, r in rows.items():
            whole = r["text"] if r["whole"] else (self._paragraph(r["paragraph"]) or ("", None))[0]
            text = whole if r["whole"] else whole[r["start"] : r["end"]]
            page = None if r["page"] < 0 else r["page"]
            out[pid] = Passage(pid, r["article_id"], r["number"], r["start"], r["end"], text, page)
        return out

    def sentences_of(self, passage_ids: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        rows = self.rows(passage_ids)
        out: dict[int, list[tuple[int, int, int]]] = {}
        for pid, r in rows.items():
            if r["sentences"]:
                spans, vectors = _unpack(r["sentences"], self.manifest["dimension"])
                self.sentence_vectors.put({sid: v for (sid, _, _), v in zip(spans, vectors, strict=True)})
                out[pid] = spans
        rows = {pid: r for pid, r in rows.items() if pid not in out}
        if not rows:
            return out

        def fetch(paragraphs: list[int]) -> dict[int, list[tuple[int, int, int]]]:
            found = self._query(
                "sentences",
                filter=f"paragraph in {[int(p) for p in paragraphs]}",
                output_fields=["sid", "paragraph", "start", "end", "vector"],
            )
            out: dict[int, list[tuple[int, int, int]]] = {p: [] for p in paragraphs}
            for r in sorted(found, key=lambda r: r["start"]):
                out[r["paragraph"]].append((r["sid"], r["start"], r["end"]))
            self.sentence_vectors.put({r["sid"]: np.asarray(r["vector"], np.float32) for r in found})
            return out

        spans = self.sentence_rows.get_many([r["paragraph"] for r in rows.values()], fetch)
        for pid, r in rows.items():
            out[pid] = [(sid, a, b) for sid, a, b in spans.get(r["paragraph"], []) if a >= r["start"] and b <= r["end"]]
        return out

    def _key(self, article_id: str) -> str | None:
        if self.documents is None:
            return _article_key(article_id)
        gen = self.documents.get(article_id)
        return _article_key(article_id, gen) if gen is not None else None

    def article_meta(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str | None, str | None]]:
        found = self._records([k for a in article_ids if (k := self._key(a))])
        out = {}
        for record in found.values():
            aid, title, date, _place, url, _source, _author = record["fields"]
            out[aid] = (title, date, url)
        return out

    def _article_records(self) -> list[dict[str, Any]]:
        if self.documents is not None:  # a chat's: in the order they were added
            found = self._records([k for a in self.documents if (k := self._key(a))])
            order = {a: n for n, a in enumerate(self.documents)}
            return sorted(found.values(), key=lambda r: order.get(r["fields"][0], 0))
        with _calls(self.spec, "list the articles in"):
            it = self.client.query_iterator(
                self.names["records"], batch_size=1000, filter='key like "article:%"', output_fields=["key", "value"]
            )
            records = []
            while batch := it.next():
                records.extend(json.loads(r["value"]) for r in batch)
            it.close()
        return sorted(records, key=lambda r: r["order"])

    def articles(self) -> list[ArticleInfo]:
        return [
            ArticleInfo(r["fields"][0], r["fields"][1], r["fields"][2], r["paragraphs"], r["fields"][4])
            for r in self._article_records()
        ]

    def article_digests(self) -> dict[str, str]:
        return {r["fields"][0]: r["digest"] for r in self._article_records()}

    def full_articles(self) -> list[Article]:
        """Every article with its paragraphs (a chat's few documents; the library's would be too many to list)."""
        out = []
        for r in self._article_records():
            aid, title, date, place, url, source, author = r["fields"]
            paragraphs = [self._paragraph(r["first"] + k) or ("", None) for k in range(r["paragraphs"])]
            pages = tuple(p for _, p in paragraphs)
            whole = all(p is not None for p in pages) and bool(pages)
            out.append(
                Article(aid, title, tuple(t for t, _ in paragraphs), date, place, url, source, author=author,
                        pages=pages if whole else None)  # type: ignore[arg-type]
            )  # fmt: skip
        return out

    def paragraph_text(self, article_id: str, number: int) -> str | None:
        found = self._locate(article_id, number)
        return found[0] if found else None

    def paragraph_page(self, article_id: str, number: int) -> int | None:
        found = self._locate(article_id, number)
        return found[1] if found else None

    def _locate(self, article_id: str, number: int) -> tuple[str, int | None] | None:
        key = self._key(article_id)
        record = self._records([key]).get(key) if key else None
        if record is None or record["fields"][0] != article_id or not 1 <= number <= record["paragraphs"]:
            return None
        return self._paragraph(record["first"] + number - 1)

    def _paragraph(self, row: int) -> tuple[str, int | None] | None:
        key = _paragraph_key(int(row), int(row) >> ID_BITS if self.documents is not None else 0)
        with _calls(self.spec, "read from"):
            parts = self.client.query(
                self.names["records"], filter=f'key like "{key}%"', output_fields=["key", "value"]
            )
        if not parts:
            return None
        parts.sort(key=lambda r: int(r["key"].rsplit(":", 1)[1]))
        values = [json.loads(r["value"]) for r in parts]
        return "".join(v["text"] for v in values), values[0]["page"]

    def close(self) -> None:
        pass


class MilvusIndex:
    """An opened Milvus build: the same search interface as ``Index``, served by Milvus."""

    def __init__(self, index_dir: Path, spec: StoreSpec, client: Any, manifest: dict[str, Any], **view: Any):
        self.path = index_dir
        self.spec = spec
        self.client = client
        self.manifest = manifest
        self.store = MilvusStore(client, spec, manifest, **view)

    @classmethod
    def open(cls, index_dir: Path, spec: StoreSpec, embedder: Embedder | None = None) -> MilvusIndex:
        client = connection(spec)
        newest = Pointer(client, spec).newest()
        if newest is None:
            raise IndexMissing(f"no index in Milvus at {spec.address} ({spec.name}): run `citebot index` first")
        manifest = newest[1]
        from retrieval.index import check_model

        check_model(manifest, embedder)
        with _calls(spec, "open the index in"):
            for name in manifest["collections"].values():
                if not client.has_collection(name):
                    raise StoreError(f"Milvus at {spec.address} lacks the collection {name}: run `citebot index` again")
                client.load_collection(name)
        return cls(index_dir, spec, client, manifest)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    def dense(self, query: np.ndarray, k: int) -> dict[int, float]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.manifest.get("nprobe"):
            params["params"] = {"nprobe": self.manifest["nprobe"]}
        with _calls(self.spec, "search"):
            hits = self.client.search(
                self.manifest["collections"]["passages"],
                data=[np.asarray(query, np.float32)],
                anns_field="dense",
                limit=k,
                filter=self.store.where,
                output_fields=_PASSAGE_FIELDS,
                search_params=params,
            )[0]
        self.store.take(hits)
        return {int(h["id"]): float(h["distance"]) for h in hits}

    def vectors_of(self, passage_ids: Sequence[int]) -> np.ndarray:
        def fetch(missing: list[int]) -> dict[int, np.ndarray]:
            rows = self.store._query("passages", ids=missing, output_fields=["pid", "dense"])
            return {r["pid"]: np.asarray(r["dense"], np.float32) for r in rows}

        found = self.store.vectors.get_many(list(passage_ids), fetch)
        return np.stack([found[p] for p in passage_ids]) if passage_ids else np.zeros((0, self.manifest["dimension"]))

    def sentence_vectors_of(self, sentence_ids: Sequence[int]) -> np.ndarray:
        def fetch(missing: list[int]) -> dict[int, np.ndarray]:
            rows = self.store._query("sentences", ids=missing, output_fields=["sid", "vector"])
            return {r["sid"]: np.asarray(r["vector"], np.float32) for r in rows}

        found = self.store.sentence_vectors.get_many(list(sentence_ids), fetch)
        if any(s not in found for s in sentence_ids):  # evicted between sentences_of and now: ask again
            raise StoreError("a sentence vector could not be read back from Milvus; please ask again")
        return np.stack([found[s] for s in sentence_ids]) if sentence_ids else np.zeros((0, 1), np.float32)

    def info(self) -> IndexInfo:
        m = self.manifest
        return IndexInfo(
            path=str(self.path),
            model=model_label(m["model"]),
            dimension=m["dimension"],
            articles=m["articles"],
            passages=m["passages"],
            built_at=m["built_at"],
            index_type=f"Milvus {m['index_type']}",
            extra={
                "sentences": m["sentences"],
                "build_id": m["build_id"],
                "store": self.spec.label(),
                "languages": m.get("languages", {}),
            },
        )

    def close(self) -> None:
        pass


# --- one client per store per process ----------------------------------------------------------


class Recent:
    """Values looked up in Milvus at most once per ``POINTER_CHECK`` seconds a key (which build serves,
    a chat's list): one query a second, however many questions, and a new build is seen within it."""

    def __init__(self) -> None:
        self._seen: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, look: Callable[[], Any], *, fresh: bool = False) -> Any:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None and not fresh and now - seen[0] < POINTER_CHECK:
            return seen[1]
        value = look()
        self.set(key, value, now)
        return value

    def set(self, key: Any, value: Any, when: float | None = None) -> None:
        with self._lock:
            self._seen[key] = (time.monotonic() if when is None else when, value)

    def forget(self, which: Callable[[Any], bool]) -> None:
        with self._lock:
            for key in [k for k in self._seen if which(k)]:
                del self._seen[key]


_clients: dict[StoreSpec, Any] = {}
_clients_lock = threading.Lock()
_serving = Recent()  # store -> the serving build's id


def connection(spec: StoreSpec) -> Any:
    """The process's client for ``spec`` (Milvus Lite allows one engine per .db file)."""
    key = StoreSpec(spec.kind, spec.uri)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _client(spec)
        return client


def disconnect(spec: StoreSpec) -> None:
    """Close the process's client for ``spec``; Milvus Lite's engine stops, so another process may open the file."""
    key = StoreSpec(spec.kind, spec.uri)
    with _clients_lock:
        client = _clients.pop(key, None)
    _serving.forget(lambda seen: seen.uri == spec.uri)
    if client is not None:
        with contextlib.suppress(Exception):
            client.close()
    if spec.lite:
        from milvus_lite.server_manager import server_manager_instance

        server = server_manager_instance._servers.get(str(Path(spec.uri).resolve()))
        if server is not None:
            server_manager_instance.release_server(spec.uri)
            with contextlib.suppress(Exception):
                server._p.wait(10)  # the engine exits once the file lock is released


def current_build_id(spec: StoreSpec) -> str | None:
    """The serving build's id, looked up at most once per ``POINTER_CHECK`` seconds."""

    def look() -> str | None:
        newest = Pointer(connection(spec), spec).newest()
        return newest[1]["build_id"] if newest else None

    return _serving.get(spec, look)


def manifest(spec: StoreSpec) -> dict[str, Any] | None:
    newest = Pointer(connection(spec), spec).newest()
    return newest[1] if newest else None


def build(
    articles: list[Article],
    warnings_: list[str],
    index_dir: Path,
    embedder: Embedder,
    spec: StoreSpec,
    progress: bool,
    started: float,
) -> Any:
    """Build into Milvus under the prefix's build lease (``Lease``; the local folder's lock guards one
    machine only): embed (through the local cache), write new collections, swap the pointer, drop old ones."""
    with _leased(spec) as lease:
        from retrieval import index as local

        client = connection(spec)
        pointer = Pointer(client, spec)
        newest = pointer.newest(strong=True)
        old = newest[1] if newest else None
        digests = {a.article_id: local.article_digest(a) for a in articles}
        corpus_digest = local._corpus_digest(digests, embedder.vector_id, embedder.window_tokens)
        if old and old.get("corpus_digest") == corpus_digest and old.get("model_id") == embedder.model_id:
            with _calls(spec, "read the index from"):
                intact = all(client.has_collection(n) for n in old["collections"].values())
            if intact:
                where = f"{index_dir} ({spec.label()})"
                return local.BuildReport.up_to_date(where, len(articles), old, started, warnings_)
        build_id = local.new_build_id()
        # The embedding cache stays on the building machine: only builds read it, and a content-hash
        # lookup in local SQLite is far cheaper than asking Milvus for vectors by text.
        cache_path = index_dir / local.CACHE
        for leftover in index_dir.glob(f".{local.CACHE}-*"):
            leftover.unlink(missing_ok=True)
        fresh = index_dir / f".{local.CACHE}-{build_id}"
        # a folder switched from the local store starts from its last local build's cache
        fallback = (
            EmbeddingCache(cache_path, readonly=True)
            if cache_path.is_file()
            else local._previous_cache(local._current_build(index_dir))
        )
        cache = EmbeddingCache(fresh, fallback=fallback)
        try:
            built = local.prepare(articles, digests, embedder, cache, progress=progress)
        finally:
            cache.close()
        old_digests: dict[str, str] = {}
        if old:
            with contextlib.suppress(StoreError):  # only for the summary's counts
                old_digests = MilvusStore(client, spec, old).article_digests()
        try:
            fields = write_build(client, spec, built, build_id, embedder.dim, local._checkpoint, progress)
            manifest_ = {
                "format": FORMAT,
                "build_id": build_id,
                **local.model_fields(embedder),
                "articles": len(articles),
                "passages": len(built.passages),
                "sentences": len(built.sentences),
                "languages": local.corpus_languages(articles),
                "corpus_digest": corpus_digest,
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **fields,
            }
            lease.check()  # another build may have taken over while this one stalled: then it must not swap
            pointer.swap((newest[0] + 1) if newest else 1, manifest_)
            local._checkpoint("swapped")
        except BaseException:
            with contextlib.suppress(Exception):
                drop_own(client, spec, build_id)  # only its own: others' may be another build's, or serving
            fresh.unlink(missing_ok=True)
            raise
        os.replace(fresh, cache_path)
        _serving.forget(lambda seen: seen == spec)
        with contextlib.suppress(StoreError):  # tidying: the next build tries again
            lease.check()
            drop_builds(client, spec, keep=pointer.named() | set(fields["collections"].values()), lease=lease)
            if lease.held():
                pointer.forget_before(newest[0] if newest else 1)
        return local.BuildReport(
            path=f"{index_dir} ({spec.label()})",
            unchanged=False,
            articles=len(articles),
            added=sum(1 for a in digests if a not in old_digests),
            changed=sum(1 for a, d in digests.items() if a in old_digests and old_digests[a] != d),
            removed_articles=sum(1 for a in old_digests if a not in digests),
            passages=len(built.passages),
            sentences=len(built.sentences),
            embedded=built.embedded,
            reused=built.reused,
            removed=-1,
            seconds=time.perf_counter() - started,
            warnings=tuple(warnings_),
        )


@contextlib.contextmanager
def _leased(spec: StoreSpec) -> Iterator[Lease]:
    lease = Lease(connection(spec), spec)
    lease.take()
    try:
        yield lease
    finally:
        lease.release()
