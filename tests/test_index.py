"""The index on disk: incremental, atomic, and loud about damage."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from embeddings import Embedder
from retrieval import Answer, IndexDamaged, IndexMissing, Library, ModelMismatch, NotAnIndex
from retrieval.index import BUILDS, FAISS, MANIFEST, MARKER, SENTENCES, STORE, Index, build_index
from tests.conftest import BUNDLED_FILE, ROOT, SAMPLE, citebot, cli_env, one_line_error


def write_articles(folder: Path, articles: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    for name, paragraphs in articles.items():
        (folder / f"{name}.md").write_text(f"# {name.title()}\n\n" + "\n\n".join(paragraphs) + "\n")


ARTICLES = {
    "bees": [
        "Honey bees communicate the location of flowers with a waggle dance.",
        "A colony can hold tens of thousands of workers in summer.",
        "The queen lays up to two thousand eggs a day.",
    ],
    "volcanoes": [
        "Mount Etna in Sicily is one of the most active volcanoes in the world.",
        "Lava flows can reach temperatures above one thousand degrees Celsius.",
    ],
}


def test_incremental_rebuilds_embed_only_what_changed(tmp_path: Path, embedder: Embedder) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    first = build_index([corpus], index_dir, embedder)
    assert (first.articles, first.added, first.passages, first.embedded, first.reused) == (2, 2, 5, 5, 0)

    again = build_index([corpus], index_dir, embedder)
    assert again.unchanged and again.embedded == 0

    changed = dict(ARTICLES, bees=[*ARTICLES["bees"][:2], "The queen can live for several years."])
    write_articles(corpus, changed)
    second = build_index([corpus], index_dir, embedder)
    assert (second.changed, second.embedded, second.reused, second.removed) == (1, 1, 4, 1)
    answer = Library(index_dir, embedder).answer("How long does the queen live?")
    assert answer.answered and "several years" in answer.quotes[0].text

    write_articles(corpus, {"bees": changed["bees"]})
    third = build_index([corpus], index_dir, embedder)
    assert (third.removed_articles, third.embedded, third.removed, third.passages) == (1, 0, 2, 3)
    assert [a.article_id for a in Library(index_dir, embedder).sources()] == ["bees"]
    assert len(list((index_dir / BUILDS).iterdir())) == 1  # old builds are cleaned up


def test_failed_build_leaves_previous_index_serving(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    before = Library(index_dir, embedder).answer("Which volcano is in Sicily?")

    write_articles(corpus, {**ARTICLES, "new": ["A brand new paragraph about owls hunting at night."]})

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C during embedding looks like

    monkeypatch.setattr(Embedder, "encode_with_spans", boom)
    with pytest.raises(KeyboardInterrupt):
        build_index([corpus], index_dir, embedder)
    monkeypatch.undo()

    assert [p.name for p in (index_dir / BUILDS).iterdir() if p.name.startswith(".tmp")] == []
    after = Library(index_dir, embedder).answer("Which volcano is in Sicily?")
    assert after == before
    assert [a.article_id for a in Library(index_dir, embedder).sources()] == ["bees", "volcanoes"]


def test_build_killed_midway_leaves_previous_index_intact(tmp_path: Path, embedder: Embedder) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    before = Library(index_dir, embedder).answer("How many eggs does the queen lay?")
    serving = os.readlink(index_dir / "current")

    # a bigger corpus, so the build is still embedding when it is killed
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "index", str(SAMPLE / "articles.jsonl"), "--index", str(index_dir), "-q"],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
            (p / "embeddings.sqlite").exists() for p in (index_dir / BUILDS).glob(".tmp-*")
        ):
            assert proc.poll() is None, "build finished before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # at once: it is embedding now (a pause here raced the build's end)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert os.readlink(index_dir / "current") == serving
    assert Library(index_dir, embedder).answer("How many eggs does the queen lay?") == before

    report = build_index([corpus], index_dir, embedder)  # the next build succeeds and cleans up
    assert report.unchanged
    assert [p.name for p in (index_dir / BUILDS).iterdir()] == [serving.split("/")[-1]]


def test_concurrent_build_is_refused(tmp_path: Path, embedder: Embedder) -> None:
    from filelock import FileLock

    from retrieval import IndexBusy

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    index_dir.mkdir()
    with FileLock(str(index_dir / ".lock")), pytest.raises(IndexBusy, match="another `citebot index`"):
        build_index([corpus], index_dir, embedder)


@pytest.fixture()
def small_index(tmp_path: Path, embedder: Embedder) -> Path:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    return index_dir


def current(index_dir: Path) -> Path:
    return index_dir / os.readlink(index_dir / "current")


@pytest.mark.parametrize("name", [FAISS, STORE, SENTENCES])
def test_truncated_file_is_named_in_the_error(small_index: Path, embedder: Embedder, name: str) -> None:
    path = current(small_index) / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexDamaged, match=name) as err:
        Index.open(small_index, embedder)
    assert "citebot index" in str(err.value)


@pytest.mark.parametrize("name", [FAISS, STORE, SENTENCES])
def test_zeroed_file_is_named_in_the_error(small_index: Path, embedder: Embedder, name: str) -> None:
    path = current(small_index) / name
    path.write_bytes(b"\0" * path.stat().st_size)
    with pytest.raises(IndexDamaged, match=name):
        Index.open(small_index, embedder)


def test_damaged_manifest(small_index: Path, embedder: Embedder) -> None:
    (current(small_index) / MANIFEST).write_text("{not json")
    with pytest.raises(IndexDamaged, match=r"manifest\.json"):
        Index.open(small_index, embedder)


def test_damaged_index_is_rebuilt_even_if_corpus_unchanged(small_index: Path, embedder: Embedder) -> None:
    (current(small_index) / FAISS).write_bytes(b"garbage")
    report = build_index([small_index.parent / "corpus"], small_index, embedder)
    assert not report.unchanged and report.reused == report.passages
    Index.open(small_index, embedder)


def test_index_from_another_model_is_refused(small_index: Path, embedder: Embedder) -> None:
    manifest_path = current(small_index) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["model"], manifest["model_id"] = "other-model", "other-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelMismatch, match="other-model"):
        Index.open(small_index, embedder)


def test_missing_index(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(IndexMissing, match="citebot index"):
        Index.open(tmp_path / "nothing", embedder)


def test_library_follows_a_rebuilt_index(tmp_path: Path, embedder: Embedder) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    library = Library(index_dir, embedder)
    assert not library.answer("What do owls hunt at night?").answered
    write_articles(corpus, {**ARTICLES, "owls": ["Barn owls hunt mice and voles at night using their hearing."]})
    build_index([corpus], index_dir, embedder)
    answer = library.answer("What do owls hunt at night?")
    assert answer.answered and answer.quotes[0].citation.article_id == "owls"


def test_a_folder_that_is_not_an_index_is_refused_and_left_alone(tmp_path: Path, embedder: Embedder) -> None:
    """``--index .`` in a project with a ``builds/`` folder once deleted that folder."""
    corpus, project = tmp_path / "corpus", tmp_path / "project"
    write_articles(corpus, ARTICLES)
    (project / "builds" / "release").mkdir(parents=True)
    (project / "builds" / "release" / "app.bin").write_bytes(b"precious")
    (project / "README.md").write_text("a project\n")
    with pytest.raises(NotAnIndex, match="not empty and holds no citebot index"):
        build_index([corpus], project, embedder)
    result = citebot("index", str(corpus), "--index", str(project))
    assert "not empty and holds no citebot index" in one_line_error(result)
    assert (project / "builds" / "release" / "app.bin").read_bytes() == b"precious"
    assert sorted(p.name for p in project.iterdir()) == ["README.md", "builds"]  # not even a lock file


def test_only_what_citebot_made_is_removed(small_index: Path, embedder: Embedder) -> None:
    builds = small_index / BUILDS
    (builds / "notes").mkdir()  # someone else's folder inside an index
    (builds / "20200101T000000-0badc0de").mkdir()  # a build citebot left behind (no manifest)
    (small_index / "keep.txt").write_text("mine")
    write_articles(small_index.parent / "corpus", {**ARTICLES, "owls": ["Owls hunt at night."]})
    build_index([small_index.parent / "corpus"], small_index, embedder)
    assert (builds / "notes").is_dir() and (small_index / "keep.txt").read_text() == "mine"
    assert not (builds / "20200101T000000-0badc0de").exists()
    assert len([p for p in builds.iterdir() if p.name != "notes"]) == 1


def test_an_index_made_before_folders_were_marked_is_still_updated(small_index: Path, embedder: Embedder) -> None:
    (small_index / MARKER).unlink()
    write_articles(small_index.parent / "corpus", {**ARTICLES, "owls": ["Owls hunt at night."]})
    assert build_index([small_index.parent / "corpus"], small_index, embedder).added == 1
    assert (small_index / MARKER).is_file()


def test_a_build_still_served_is_kept_until_released(tmp_path: Path, embedder: Embedder) -> None:
    """A bot that could not open a new build kept serving the old one, which had already been deleted."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    library = Library(index_dir, embedder)
    first = current(index_dir)
    write_articles(corpus, {**ARTICLES, "owls": ["Barn owls hunt mice and voles at night."]})
    build_index([corpus], index_dir, embedder)
    (current(index_dir) / FAISS).write_bytes(b"damaged before the bot opened it")
    assert first.is_dir()  # still leased by the running library

    answer = _answer_in_a_new_thread(library, "How do honey bees communicate?")  # one that never opened it
    assert answer.answered and answer.quotes[0].citation.article_id == "bees"

    del library
    gc.collect()
    write_articles(corpus, ARTICLES)
    build_index([corpus], index_dir, embedder)
    assert not first.exists()  # released, so the next build removed it


def _answer_in_a_new_thread(library: Library, question: str) -> Answer:
    answers: list[Answer] = []
    worker = threading.Thread(target=lambda: answers.append(library.answer(question)))
    worker.start()
    worker.join(60)
    (answer,) = answers
    return answer


MALFORMED = {
    "files is a list": {"files": []},
    "files is empty": {"files": {}},
    "files names a path outside": {"files": {"../../etc/shadow": 0}},
    "passages overflow": {"passages": 1e400},
    "passages is true": {"passages": True},
    "nprobe is text": {"nprobe": "8"},
    "nprobe is a fraction": {"nprobe": 1.5},
    "dimension is zero": {"dimension": 0},
    "format is text": {"format": "2"},
    "build id is a path": {"build_id": "../x"},
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_manifest_is_refused_and_the_previous_build_keeps_serving(
    small_index: Path, embedder: Embedder, name: str
) -> None:
    library = Library(small_index, embedder)
    good = current(small_index)
    bad = good.parent / "20990101T000000-0000abcd"
    shutil.copytree(good, bad)
    manifest = json.loads((bad / MANIFEST).read_text())
    manifest.update(MALFORMED[name])
    (bad / MANIFEST).write_text(json.dumps(manifest))  # 1e400 is written as Infinity
    with pytest.raises(IndexDamaged, match=r"manifest\.json|index format"):
        Index.open_build(bad, embedder)
    os.symlink(f"{BUILDS}/{bad.name}", small_index / "next")
    os.replace(small_index / "next", small_index / "current")
    answer = library.answer("How do honey bees communicate?")
    assert answer.answered and answer.quotes[0].citation.article_id == "bees"


def test_index_folders_and_files_are_readable_by_their_owner_only(tmp_path: Path, embedder: Embedder) -> None:
    """Chats add private groups' documents beside the library: they were written 0644 in 0755 folders."""
    import stat

    from retrieval.collections import Collections

    old = os.umask(0o022)  # the usual default, which made everything world-readable
    try:
        index_dir = tmp_path / "index"
        build_index([BUNDLED_FILE], index_dir, embedder)
        shelf = Collections(Library(index_dir, embedder))
        shelf.add_document(77, b"# Ferry\n\nThe ferry leaves at noon.\n", ".md", "ferry")
    finally:
        os.umask(old)
    build = os.path.realpath(index_dir / "current")
    assert stat.S_IMODE(index_dir.stat().st_mode) == 0o700
    for folder in (index_dir / "builds", Path(build), index_dir / "chats", index_dir / "chats" / "77"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in Path(build).iterdir():
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file
