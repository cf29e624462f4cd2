"""Building, swapping and opening the index directory.

Layout of ``--index DIR``::

    DIR/current -> builds/<build id>     the serving build (a symlink, replaced atomically)
    DIR/builds/<build id>/manifest.json  written last: a build without it never served
                          corpus.sqlite  articles, paragraphs, passages, sentences, FTS5
                          passages.faiss passage vectors
                          sentences.npy  sentence vectors (float16), row = sentence id
                          embeddings.sqlite  content-hash cache for the next build
    DIR/.lock                            held while a build runs
    DIR/.citebot-index                   marks the folder as citebot's to manage

A build writes a new directory beside the serving one and swaps the ``current`` link with
one ``rename``; a crash or Ctrl-C at any point leaves the previous build serving, and the
next build removes what the failed one left behind. Only entries citebot made are ever
removed, and never a build that a running process still serves: each open ``Index`` holds
a shared ``flock`` on its manifest (its lease), and a build is deleted only under an
exclusive one.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings import Embedder, EmbeddingCache, model_label
from retrieval import vectors
from retrieval.corpus import KINDS, read_corpus
from retrieval.errors import CorpusError, IndexBusy, IndexDamaged, IndexMissing, ModelMismatch, NotAnIndex
from retrieval.records import Article, IndexInfo
from retrieval.store import Store, StoreWriter
from retrieval.stores import choose_store, record_store, recorded_store
from retrieval.text import chunk_paragraphs, salient_names

if TYPE_CHECKING:
    from retrieval.milvus import MilvusIndex

log = logging.getLogger(__name__)

FORMAT = 3  # 2: no sentence FTS table (sentences are scored in Python); 3: author, paragraph pages
INDEX_ENV = "CITEBOT_INDEX"
CURRENT, BUILDS, LOCK = "current", "builds", ".lock"
MANIFEST, STORE, FAISS, SENTENCES, CACHE = (
    "manifest.json",
    "corpus.sqlite",
    "passages.faiss",
    "sentences.npy",
    "embeddings.sqlite",
)
_TMP_PREFIX = ".tmp-"
MARKER = ".citebot-index"
BUILD_ID = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}", re.ASCII)  # what _build_locked names builds
_LINK_LEFTOVER = re.compile(r"\.current-[0-9a-f]{8}", re.ASCII)
MAX_MANIFEST_BYTES = 1 << 20


def default_index_dir() -> Path:
    """``$CITEBOT_INDEX``, else the per-user data folder (e.g. ~/.local/share/citebot/index)."""
    if os.environ.get(INDEX_ENV):
        return Path(os.environ[INDEX_ENV]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("citebot") / "index"


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the one-paragraph summary ``citebot index`` prints."""

    path: str
    unchanged: bool
    articles: int
    added: int
    changed: int
    removed_articles: int
    passages: int
    sentences: int
    embedded: int
    reused: int
    removed: int  # passages; -1 when the store does not tell (Milvus)
    seconds: float
    warnings: tuple[str, ...] = ()

    @classmethod
    def up_to_date(
        cls, path: str, articles: int, manifest: dict[str, Any], started: float, warnings: Sequence[str]
    ) -> BuildReport:
        """The report of a build that found the serving one already made from these articles."""
        counts = manifest["passages"], manifest["sentences"]
        return cls(path, True, articles, 0, 0, 0, *counts, 0, 0, 0, time.perf_counter() - started, tuple(warnings))


def article_digest(article: Article) -> str:
    a = article
    payload = [a.title, a.date, a.place, a.url, a.source, a.author, list(a.paragraphs), list(a.pages or ())]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def _corpus_digest(digests: dict[str, str], vector_id: str, window: int) -> str:
    payload = json.dumps([FORMAT, vector_id, window, sorted(digests.items())])
    return hashlib.sha256(payload.encode()).hexdigest()


CRASH_ENV = "CITEBOT_CRASH_AT"  # test hook: SIGKILL this process at a named build stage


def new_build_id() -> str:
    """When the build started, then 8 random hex digits (sorts by time; ``BUILD_ID`` matches it)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def check_model(manifest: dict[str, Any], embedder: Embedder | None) -> None:
    """``ModelMismatch`` unless ``embedder`` is the model the build was made with (None: not asking)."""
    if embedder is not None and manifest["model_id"] != embedder.model_id:
        raise ModelMismatch(
            f"the index was built with model {model_label(manifest['model'])}, but this run uses "
            f"{model_label(embedder.spec.name)}: run `citebot index` with the same --model, "
            f"or pass --model {manifest['model']}"
        )


def corpus_languages(articles: Sequence[Article]) -> dict[str, int]:
    """How many articles are in each language (``citebot about``); "?" where it cannot be told."""
    from retrieval.languages import language_of

    found = Counter(language_of(f"{a.title}. {' '.join(a.paragraphs)[:2000]}") or "?" for a in articles)
    return dict(found.most_common())


def model_fields(embedder: Embedder) -> dict[str, Any]:
    """What a manifest records of the model, so that a build is only ever asked with the same one."""
    return {
        "model": embedder.spec.name,
        "model_id": embedder.model_id,
        "model_sha256": embedder.spec.sha256,
        "vectors": embedder.vector_id,
        "dimension": embedder.dim,
        "window_tokens": embedder.window_tokens,
    }


def _checkpoint(stage: str) -> None:
    """Crash-test hook: the tests kill builds here to prove every stage is safe to die in."""
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def _out_of_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(exc).lower()  # SQLite says "database or disk is full" or "disk I/O error"
    return isinstance(exc, sqlite3.OperationalError | RuntimeError) and any(
        w in text for w in ("full", "space", "disk")
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_build(index_dir: Path) -> Path | None:
    link = index_dir / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    return (index_dir / os.readlink(link)) if link.is_symlink() else link


def private(path: Path) -> None:
    """Readable by this user only (0700 folders, 0600 files): chats' documents can be private groups' files."""
    os.chmod(path, 0o700 if path.is_dir() else 0o600)


def claim_index_dir(index_dir: Path) -> None:
    """Make sure ``index_dir`` is citebot's to write in: new, empty, or already an index.

    A build deletes old builds, so pointing ``--index`` at a folder of other things must be
    refused rather than tidied: the folder is marked when citebot first uses it.
    """
    if index_dir.exists() and not index_dir.is_dir():
        raise NotAnIndex(f"{index_dir} is a file, not an index folder: give --index a new or empty folder")
    marker = index_dir / MARKER
    if marker.is_file():
        private(index_dir)  # folders made before indexes were private become so on the next build
        return
    others = [e for e in os.scandir(index_dir) if e.name != LOCK] if index_dir.is_dir() else []
    if others and not _unmarked_index(index_dir):
        raise NotAnIndex(
            f"{index_dir} is not empty and holds no citebot index: give --index a new or empty folder "
            "(citebot manages everything in it)"
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    private(index_dir)
    marker.write_text("This folder is a citebot index: `citebot index` manages builds/ and current here.\n")


def _unmarked_index(index_dir: Path) -> bool:
    """An index made before folders were marked: ``current`` -> ``builds/<build id>`` with a manifest."""
    link = index_dir / CURRENT
    if not link.is_symlink():
        return False
    target = os.readlink(link)
    name = target.removeprefix(f"{BUILDS}/")
    return name != target and bool(BUILD_ID.fullmatch(name)) and (index_dir / target / MANIFEST).is_file()


def _lock(index_dir: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(index_dir / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise IndexBusy(f"another `citebot index` is building {index_dir}; wait for it to finish") from None
    return lock


def build_index(
    paths: Sequence[Path | str],
    index_dir: Path,
    embedder: Embedder,
    *,
    progress: bool = False,
    store: str | None = None,
) -> BuildReport:
    """(Re)build the index at ``index_dir`` from the articles under ``paths`` (and at links).

    Incremental: an unchanged corpus is detected from its digest and nothing is rebuilt;
    otherwise only passages whose text is not in the previous build's cache are embedded.
    """
    started = time.perf_counter()
    corpus = read_corpus(paths)
    if not corpus.articles:
        shown = ", ".join(str(p) for p in paths)
        why = "; ".join(corpus.warnings[:3]) + (
            f"; and {len(corpus.warnings) - 3} more" if len(corpus.warnings) > 3 else ""
        )
        raise CorpusError(
            f"no articles found in {shown} (readable {KINDS} files, or links to them)" + (f": {why}" if why else "")
        )
    return build_articles(
        corpus.articles, index_dir, embedder, warnings=corpus.warnings, progress=progress, started=started, store=store
    )


def build_articles(
    articles: list[Article],
    index_dir: Path,
    embedder: Embedder,
    *,
    warnings: Sequence[str] = (),
    progress: bool = False,
    started: float | None = None,
    store: str | None = None,
) -> BuildReport:
    """(Re)build the index at ``index_dir`` from articles already read (a chat's collection).

    ``store``: where the passages go (``retrieval.stores.parse_store``); by default the store
    this folder was built into before, else ``$CITEBOT_STORE``, else the local folder.
    """
    started = time.perf_counter() if started is None else started
    claim_index_dir(index_dir)
    lock = _lock(index_dir)
    try:
        spec = choose_store(index_dir, store)
        if spec.kind == "milvus":
            from retrieval import milvus

            report = milvus.build(articles, list(warnings), index_dir, embedder, spec, progress, started)
        else:
            report = _build_locked(articles, list(warnings), index_dir, embedder, progress, started)
        if spec != recorded_store(index_dir):
            record_store(index_dir, spec)
        return report
    finally:
        lock.release()


def rebuild_with(index_dir: Path, embedder: Embedder, *, progress: bool = False) -> BuildReport:
    """The serving build's own articles embedded again with ``embedder``: a new model needs no corpus,
    since the store keeps every article as it was indexed (chats' collections are rebuilt the same way)."""
    index = open_index(index_dir)
    try:
        articles = index.store.full_articles()
    finally:
        index.close()
    return build_articles(articles, index_dir, embedder, progress=progress)


def _build_locked(
    articles: list[Article],
    warnings: list[str],
    index_dir: Path,
    embedder: Embedder,
    progress: bool,
    started: float,
) -> BuildReport:
    builds = index_dir / BUILDS
    builds.mkdir(mode=0o700, exist_ok=True)
    previous = _current_build(index_dir)
    _remove_stale_builds(builds, keep=previous)
    digests = {a.article_id: article_digest(a) for a in articles}
    window = embedder.window_tokens
    corpus_digest = _corpus_digest(digests, embedder.vector_id, window)

    old_manifest = _read_manifest_quietly(previous)
    if old_manifest and old_manifest.get("corpus_digest") == corpus_digest and _loads(previous, embedder):
        return BuildReport.up_to_date(str(index_dir), len(articles), old_manifest, started, warnings)
    reuse = (
        bool(old_manifest)
        and old_manifest.get("model_id") == embedder.model_id
        and (old_manifest.get("window_tokens") == window)
    )
    prior = _read_previous(previous, digests, reuse_chunks=reuse)
    old_digests, old_passages = prior.digests, prior.passages

    build_id = new_build_id()
    tmp = builds / f"{_TMP_PREFIX}{build_id}"
    tmp.mkdir(mode=0o700)
    try:
        stats = _write_build(tmp, articles, digests, embedder, previous, prior, progress)
        manifest = {
            "format": FORMAT,
            "build_id": build_id,
            **model_fields(embedder),
            "index_type": stats["index_type"],
            "nprobe": stats["nprobe"],
            "recall_at_10": stats["recall_at_10"],
            "articles": len(articles),
            "passages": stats["passages"],
            "sentences": stats["sentences"],
            "languages": corpus_languages(articles),
            "corpus_digest": corpus_digest,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {name: (tmp / name).stat().st_size for name in (STORE, FAISS, SENTENCES)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        for name in (MANIFEST, STORE, FAISS, SENTENCES, CACHE):
            private(tmp / name)
            _fsync(tmp / name)
        _checkpoint("written")
        final = builds / build_id
        os.rename(tmp, final)
        _fsync(builds)
        _checkpoint("renamed")
        _swap_current(index_dir, f"{BUILDS}/{build_id}")
        _checkpoint("swapped")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if _out_of_space(exc):
            raise IndexDamaged(
                f"could not write the new index in {index_dir} (disk full, a file size limit, or a disk error: "
                f"{exc}); the previous index is untouched and still serving"
            ) from exc
        raise
    _remove_stale_builds(builds, keep=final)
    new_passages = stats["passage_keys"]
    return BuildReport(
        path=str(index_dir),
        unchanged=False,
        articles=len(articles),
        added=sum(1 for a in digests if a not in old_digests),
        changed=sum(1 for a, d in digests.items() if a in old_digests and old_digests[a] != d),
        removed_articles=sum(1 for a in old_digests if a not in digests),
        passages=stats["passages"],
        sentences=stats["sentences"],
        embedded=stats["embedded"],
        reused=stats["reused"],
        removed=len(old_passages - new_passages),
        seconds=time.perf_counter() - started,
        warnings=tuple(warnings),
    )


@dataclass
class Prepared:
    """A build's contents before they are written to any store: rows in id order, and their vectors.

    Paragraph rows are numbered from 1 across all articles in order, passages and sentences
    from 0; a passage id is its row in ``passage_vectors``, a sentence id its row in
    ``sentence_vectors``.
    """

    articles: list[Article]
    digests: dict[str, str]
    paragraph_ids: list[list[int]]  # per article, its paragraphs' row ids
    passages: list[tuple[int, int, int, int, str]]  # (passage id, paragraph row, start, end, text)
    sentences: list[tuple[int, int, int, int]]  # (sentence id, paragraph row, start, end)
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray  # float16
    examples: list[str]
    embedded: int
    reused: int

    @property
    def passage_keys(self) -> set[tuple[str, str]]:
        """(article id, passage text) of every passage, to count what a rebuild removed."""
        article_of = {
            pid: a.article_id for a, ids in zip(self.articles, self.paragraph_ids, strict=True) for pid in ids
        }
        return {(article_of[row], text) for _, row, _, _, text in self.passages}


def prepare(
    articles: list[Article],
    digests: dict[str, str],
    embedder: Embedder,
    cache: EmbeddingCache,
    *,
    chunks: dict[tuple[str, int], tuple[list[tuple[int, int]], list[tuple[int, int]]]] | None = None,
    progress: bool = False,
) -> Prepared:
    """Split the articles into sentences and passage windows and embed them (through ``cache``).

    ``chunks``: sentences and windows of paragraphs a previous build already split.
    """
    prior = chunks or {}
    texts: list[str] = []
    spans: list[list[tuple[int, int]]] = []
    passage_rows: list[tuple[int, int, int, int, str]] = []
    sentence_rows: list[tuple[int, int, int, int]] = []
    sentence_source: list[tuple[int, int]] = []  # (passage id, index of the span within it)
    paragraph_ids: list[list[int]] = []
    todo = [
        (a.article_id, n, p) for a in articles for n, p in enumerate(a.paragraphs, 1) if (a.article_id, n) not in prior
    ]
    fresh = chunk_paragraphs([p for _, _, p in todo], embedder.count_tokens, embedder.window_tokens)
    chunked = {**prior, **{(aid, n): c for (aid, n, _), c in zip(todo, fresh, strict=True)}}
    next_paragraph = 1
    for article in articles:
        ids = list(range(next_paragraph, next_paragraph + len(article.paragraphs)))
        next_paragraph += len(ids)
        paragraph_ids.append(ids)
        for number, (paragraph_id, text) in enumerate(zip(ids, article.paragraphs, strict=True), 1):
            sentences, windows = chunked.get((article.article_id, number), ([], []))
            first_sentence = len(sentence_rows)
            for a, b in sentences:
                sentence_rows.append((len(sentence_rows), paragraph_id, a, b))
            owner: dict[int, tuple[int, int]] = {}
            for first, last in windows:
                start, end = sentences[first][0], sentences[last - 1][1]
                pid = len(passage_rows)
                passage_rows.append((pid, paragraph_id, start, end, text[start:end]))
                texts.append(text[start:end])
                spans.append([(a - start, b - start) for a, b in sentences[first:last]])
                for k in range(last - first):
                    # a sentence takes its vector from the first window that holds it
                    owner.setdefault(first_sentence + first + k, (pid, k))
            sentence_source.extend(owner[sid] for sid in range(first_sentence, len(sentence_rows)))
    _checkpoint("chunked")
    passage_vectors, span_vectors = embedder.encode_with_spans(texts, spans, cache=cache, progress=progress)
    sentence_vectors = np.zeros((len(sentence_rows), embedder.dim), dtype=np.float16)
    for sid, (pid, k) in enumerate(sentence_source):
        sentence_vectors[sid] = span_vectors[pid][k]
    _checkpoint("embedded")
    names = salient_names([p for a in articles[:50] for p in a.paragraphs])
    return Prepared(
        articles,
        digests,
        paragraph_ids,
        passage_rows,
        sentence_rows,
        passage_vectors,
        sentence_vectors,
        [f"What do the articles say about {name}?" for name in names],
        cache.misses,
        cache.hits,
    )


def _write_build(
    tmp: Path,
    articles: list[Article],
    digests: dict[str, str],
    embedder: Embedder,
    previous: Path | None,
    prior: _Previous,
    progress: bool,
) -> dict[str, Any]:
    cache = EmbeddingCache(tmp / CACHE, fallback=_previous_cache(previous))
    try:
        built = prepare(articles, digests, embedder, cache, chunks=prior.chunks, progress=progress)
    finally:
        cache.close()
    writer = StoreWriter(tmp / STORE)
    for article, ids in zip(articles, built.paragraph_ids, strict=True):
        writer.add_article(article, digests[article.article_id], ids)
    writer.add_passages(built.passages)
    writer.add_sentences(built.sentences)
    with (tmp / SENTENCES).open("wb") as fh:
        np.save(fh, built.sentence_vectors)
    choice = vectors.make_index(built.passage_vectors)
    vectors.write(choice.index, tmp / FAISS)
    _checkpoint("faiss")
    writer.close(
        {
            "build_dir": tmp.name.removeprefix(_TMP_PREFIX),
            "model_id": embedder.model_id,
            "examples": json.dumps(built.examples),
        }
    )
    _checkpoint("sqlite")
    return {
        "passages": len(built.passages),
        "sentences": len(built.sentences),
        "index_type": choice.kind,
        "nprobe": choice.nprobe,
        "recall_at_10": choice.recall_at_10,
        "embedded": built.embedded,
        "reused": built.reused,
        "passage_keys": built.passage_keys,
    }


def _previous_cache(previous: Path | None) -> EmbeddingCache | None:
    """The last build's embedding cache, if it is readable; a damaged one just means re-embedding."""
    path = previous / CACHE if previous else None
    if path is None or not path.is_file():
        return None
    try:
        cache = EmbeddingCache(path, readonly=True)
        len(cache)  # touches the file: a damaged one fails here
        return cache
    except sqlite3.DatabaseError:
        log.warning("the previous embedding cache is unreadable; embedding everything again")
        return None


def _swap_current(index_dir: Path, target: str) -> None:
    link_tmp = index_dir / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
    os.symlink(target, link_tmp)
    try:
        os.replace(link_tmp, index_dir / CURRENT)  # atomic: readers see the old or the new build
    except BaseException:
        link_tmp.unlink(missing_ok=True)
        raise
    _fsync(index_dir)


def _remove_stale_builds(builds: Path, keep: Path | None) -> None:
    """Remove builds that are not serving: finished old ones and what crashed builds left.

    Only names citebot gives are touched, and a build another process still serves (it holds
    the lease) is left for a later build to remove.
    """
    keep_name = keep.resolve().name if keep else None
    for entry in os.scandir(builds):
        name = entry.name
        if name == keep_name or not entry.is_dir(follow_symlinks=False):
            continue
        if not BUILD_ID.fullmatch(name.removeprefix(_TMP_PREFIX)):
            continue  # not ours
        if name.startswith(_TMP_PREFIX):  # only a crashed build leaves one: builds hold the lock
            shutil.rmtree(entry.path, ignore_errors=True)
        elif not _remove_unless_leased(Path(entry.path)):
            log.info("old build still in use; a later build removes it", extra={"build": name})
    for link in builds.parent.iterdir():
        if _LINK_LEFTOVER.fullmatch(link.name) and link.is_symlink():
            link.unlink(missing_ok=True)


def _remove_unless_leased(build: Path) -> bool:
    try:
        fd = os.open(build / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # no manifest: it never served
        shutil.rmtree(build, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(build, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def _read_manifest_quietly(build: Path | None) -> dict[str, Any] | None:
    if build is None:
        return None
    try:
        fd = os.open(build / MANIFEST, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return read_manifest(fd, build)
    except IndexDamaged:
        return None
    finally:
        os.close(fd)


def read_manifest(fd: int, build: Path) -> dict[str, Any]:
    """The manifest read from ``fd``, checked field by field; ``IndexDamaged`` names what is wrong.

    It decides which files are checked and how they are read, so a damaged or hand-edited one
    must be refused whole rather than trusted a field at a time.
    """
    fix = "run `citebot index` again"
    where = build / MANIFEST
    try:
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
        manifest = json.loads(raw) if len(raw) <= MAX_MANIFEST_BYTES else None
    except (OSError, ValueError, RecursionError):
        manifest = None
    if not isinstance(manifest, dict):
        raise IndexDamaged(f"{where} is missing or damaged: {fix}")
    if manifest.get("format") != FORMAT or type(manifest.get("format")) is not int:
        found = str(manifest.get("format"))[:20]
        raise IndexDamaged(f"{build} has index format {found}, this citebot reads {FORMAT}: {fix}")
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexDamaged(f"{where} is damaged ({problem}): {fix}")
    return manifest


def _manifest_problem(m: dict[str, Any]) -> str | None:
    def count(key: str, low: int = 0, high: int = 1 << 40) -> bool:
        return type(m.get(key)) is int and low <= m[key] <= high

    def text(key: str, optional: bool = False) -> bool:
        value = m.get(key)
        return (optional and value is None) or (isinstance(value, str) and 0 < len(value) <= 4096)

    for key in ("model", "model_id", "vectors", "index_type", "corpus_digest", "built_at"):
        if not text(key):
            return f'"{key}" is not a string'
    if not text("model_sha256", optional=True):
        return '"model_sha256" is not a string'
    if not isinstance(m.get("build_id"), str) or not BUILD_ID.fullmatch(m["build_id"]):
        return '"build_id" is not a build id'
    for key in ("articles", "passages", "sentences"):
        if not count(key):
            return f'"{key}" is not a count'
    if not count("dimension", 1, 1 << 16) or not count("window_tokens", 1, 1 << 20):
        return '"dimension" or "window_tokens" is out of range'
    if m.get("nprobe") is not None and not count("nprobe", 1, 1 << 20):
        return '"nprobe" is not a positive integer'
    recall = m.get("recall_at_10")
    if recall is not None and (type(recall) not in (int, float) or not 0 <= recall <= 1):
        return '"recall_at_10" is not a fraction'
    languages = m.get("languages", {})
    if not isinstance(languages, dict) or len(languages) > 200 or not all(
        isinstance(k, str) and len(k) <= 8 and type(v) is int and v >= 0 for k, v in languages.items()
    ):
        return '"languages" is not a count per language'
    files = m.get("files")
    if not isinstance(files, dict) or set(files) != {STORE, FAISS, SENTENCES}:
        return f'"files" must list exactly {STORE}, {FAISS} and {SENTENCES}'
    if not all(type(size) is int and 0 <= size < 1 << 50 for size in files.values()):
        return '"files" sizes are not byte counts'
    return None


def _loads(build: Path | None, embedder: Embedder) -> bool:
    """Whether the build opens cleanly; a damaged one is rebuilt even if the corpus is unchanged."""
    try:
        Index.open_build(build, embedder).close()
        return True
    except (IndexDamaged, IndexMissing, ModelMismatch):
        return False


@dataclass
class _Previous:
    """What a build can take from the serving one: for the summary, and to skip re-splitting."""

    digests: dict[str, str] = field(default_factory=dict)
    passages: set[tuple[str, str]] = field(default_factory=set)  # (article id, passage text)
    # sentences and windows of unchanged articles' paragraphs, keyed by (article id, number)
    chunks: dict[tuple[str, int], tuple[list[tuple[int, int]], list[tuple[int, int]]]] = field(default_factory=dict)


def _read_previous(build: Path | None, digests: dict[str, str], reuse_chunks: bool) -> _Previous:
    """The previous build's contents, if readable; a damaged one only costs the shortcuts."""
    if build is None or not (build / STORE).is_file():
        return _Previous()
    try:
        store = Store(build / STORE)
        try:
            old = store.article_digests()
            rows = store.db.execute(
                """SELECT a.article_id, p.number, s.start, s."end", substr(p.text, s.start + 1, s."end" - s.start)
                   FROM passages s JOIN paragraphs p ON p.id = s.paragraph JOIN articles a ON a.id = p.article
                   ORDER BY s.id"""
            ).fetchall()
            previous = _Previous(old, {(aid, text) for aid, _, _, _, text in rows})
            if not reuse_chunks:
                return previous
            same = {a for a, d in digests.items() if old.get(a) == d}
            sentences: dict[tuple[str, int], list[tuple[int, int]]] = {}
            for aid, number, start, end in store.db.execute(
                """SELECT a.article_id, p.number, t.start, t."end" FROM sentences t
                   JOIN paragraphs p ON p.id = t.paragraph JOIN articles a ON a.id = p.article ORDER BY t.id"""
            ):
                if aid in same:
                    sentences.setdefault((aid, number), []).append((start, end))
            for aid, number, start, end, _ in rows:
                if aid in same:
                    spans = sentences.get((aid, number), [])
                    starts = {a: i for i, (a, _) in enumerate(spans)}
                    ends = {b: i for i, (_, b) in enumerate(spans)}
                    window = (starts[start], ends[end] + 1)
                    previous.chunks.setdefault((aid, number), (spans, []))[1].append(window)
            return previous
        finally:
            store.close()
    except Exception:
        return _Previous()


@dataclass
class Index:
    """An opened build: its manifest, passage vectors, sentence vectors and store."""

    path: Path
    manifest: dict[str, Any]
    faiss: Any
    store: Store
    sentence_vectors: np.ndarray
    _closed: bool = field(default=False, repr=False)
    _lease: Any = field(default=None, repr=False)  # releases the shared lock on the build

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder | None = None) -> Index:
        """Open the serving build of ``index_dir``; retries if a build swaps it meanwhile."""
        for _ in range(3):
            build = _current_build(index_dir)
            if build is None:
                raise IndexMissing(f"no index at {index_dir}: run `citebot index` first")
            if build.is_dir():
                try:
                    return cls.open_build(build, embedder)
                except IndexDamaged:
                    if _current_build(index_dir) == build:
                        raise
            time.sleep(0.05)  # the build was replaced while we looked; look again
        raise IndexDamaged(f"{index_dir}/{CURRENT} points to a missing build: run `citebot index` again")

    @classmethod
    def open_build(cls, build: Path, embedder: Embedder | None = None) -> Index:
        """Open one build and take its lease: while this ``Index`` lives, no build deletes it."""
        fix = "run `citebot index` again"
        try:
            fd = os.open(build / MANIFEST, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            raise IndexDamaged(f"{build / MANIFEST} is missing or damaged: {fix}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a build is removing it right now
                raise IndexDamaged(f"{build} is being removed: {fix}") from None
            index = cls._open_leased(build, fd, embedder)
        except BaseException:
            os.close(fd)
            raise
        index._lease = weakref.finalize(index, os.close, fd)  # released on close(), or when dropped
        return index

    @classmethod
    def _open_leased(cls, build: Path, fd: int, embedder: Embedder | None) -> Index:
        fix = "run `citebot index` again"
        manifest = read_manifest(fd, build)
        check_model(manifest, embedder)
        for name, size in manifest["files"].items():
            path = build / name
            actual = path.stat().st_size if path.is_file() else None
            if actual != size:
                raise IndexDamaged(f"{path} is missing, truncated or replaced ({actual} bytes, expected {size}): {fix}")
        passages, sentences, dim = manifest["passages"], manifest["sentences"], manifest["dimension"]
        try:
            index = vectors.read(build / FAISS, manifest["nprobe"])
        except RuntimeError:
            raise IndexDamaged(f"{build / FAISS} cannot be read: {fix}") from None
        if index.ntotal != passages or index.d != dim:
            raise IndexDamaged(f"{build / FAISS} does not match its manifest: {fix}")
        try:
            sentence_vectors = np.load(build / SENTENCES, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            raise IndexDamaged(f"{build / SENTENCES} cannot be read: {fix}") from None
        if sentence_vectors.shape != (sentences, dim):
            raise IndexDamaged(f"{build / SENTENCES} does not match its manifest: {fix}")
        store = None
        try:
            store = Store(build / STORE)
            meta = store.meta()
            counts = store.count("passages"), store.count("sentences")
        except sqlite3.DatabaseError:
            if store is not None:
                store.close()
            raise IndexDamaged(f"{build / STORE} cannot be read: {fix}") from None
        if meta.get("build_dir") != manifest["build_id"] or counts != (passages, sentences):
            store.close()
            raise IndexDamaged(f"{build / STORE} belongs to another build: {fix}")
        return cls(build, manifest, index, store, sentence_vectors)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    def dense(self, query: np.ndarray, k: int) -> dict[int, float]:
        """The ``k`` passages nearest to ``query`` as {passage id: cosine}, nearest first."""
        ids, scores = vectors.search(self.faiss, query, k)
        return dict(zip(ids.tolist(), scores.tolist(), strict=False))

    def vectors_of(self, passage_ids: Sequence[int]) -> np.ndarray:
        return vectors.vectors_of(self.faiss, list(passage_ids))

    def sentence_vectors_of(self, sentence_ids: Sequence[int]) -> np.ndarray:
        return np.asarray(self.sentence_vectors[list(sentence_ids)], dtype=np.float32)

    def info(self) -> IndexInfo:
        m = self.manifest
        return IndexInfo(
            path=str(self.path.parent.parent),
            model=model_label(m["model"]),
            dimension=m["dimension"],
            articles=m["articles"],
            passages=m["passages"],
            built_at=m["built_at"],
            index_type=m["index_type"],
            extra={"sentences": m["sentences"], "build_id": m["build_id"], "languages": m.get("languages", {})},
        )

    def close(self) -> None:
        if not self._closed:
            self.store.close()
            self._closed = True
            if self._lease is not None:
                self._lease()


def open_index(index_dir: Path, embedder: Embedder | None = None) -> Index | MilvusIndex:
    """The serving build of ``index_dir``, from whichever store it was built into."""
    spec = recorded_store(index_dir)
    if spec.kind == "milvus":
        from retrieval.milvus import MilvusIndex

        return MilvusIndex.open(index_dir, spec, embedder)
    return Index.open(index_dir, embedder)


def current_build_id(index_dir: Path) -> str | None:
    """Cheap check for a swapped index: the id of the serving build (a ``readlink``, or Milvus's pointer)."""
    spec = recorded_store(index_dir)
    if spec.kind == "milvus":
        from retrieval import milvus

        return milvus.current_build_id(spec)
    build = _current_build(index_dir)
    return build.name if build is not None else None


def manifest_model(index_dir: Path) -> str | None:
    """The model the serving build was made with, so ``ask`` can use it without ``--model``."""
    spec = recorded_store(index_dir)
    if spec.kind == "milvus":
        from retrieval import milvus

        manifest = milvus.manifest(spec)
    else:
        manifest = _read_manifest_quietly(_current_build(index_dir))
    return manifest.get("model") if manifest else None
