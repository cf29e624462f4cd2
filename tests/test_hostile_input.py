"""Article input that is hostile or broken, and damaged index files: warned about, never fatal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embeddings import Embedder
from retrieval import IndexDamaged, Library
from retrieval import corpus as corpus_module
from retrieval.corpus import MAX_PARAGRAPH_CHARS, read_corpus
from retrieval.index import BUILDS, CACHE, STORE, Index, build_index
from tests.conftest import BUNDLED_FILE, ROOT, cli_env, deadline


def test_a_50_mb_single_paragraph_is_not_indexed_but_its_neighbours_are(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "dump.txt"
    with path.open("w") as fh:
        fh.write("A real first paragraph about whales singing.\n\n")
        fh.write("x" * (50 * 1024 * 1024))
        fh.write("\n\nA real third paragraph about dolphins.\n")
    started = time.monotonic()
    corpus = read_corpus([path])
    (article,) = corpus.articles
    assert article.paragraphs[1] == "" and article.paragraphs[2].startswith("A real third")  # numbering kept
    assert any("paragraph 2" in w and f"{MAX_PARAGRAPH_CHARS:,}" in w for w in corpus.warnings)
    report = build_index([path], tmp_path / "index", embedder)
    assert report.passages == 2
    assert time.monotonic() - started < 120  # bounded: nowhere near a hang


def test_deeply_nested_folders(tmp_path: Path) -> None:
    folder = str(tmp_path)
    for _ in range(1200):  # deeper than a recursive walk can go (recursion limit 1000)
        folder += "/d"
        os.mkdir(folder)
    folder = Path(folder)
    (folder / "deep.txt").write_text("At the bottom of the folders.")
    try:
        (article,) = read_corpus([tmp_path]).articles
        assert article.article_id.endswith("/deep")
    finally:  # pytest's own (recursive) clean-up of old temp dirs cannot remove a tree this deep
        subprocess.run(["rm", "-rf", str(tmp_path / "d")], check=True)


def test_unreadable_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    (tmp_path / "secret.txt").write_text("x")
    (tmp_path / "secret.txt").chmod(0)
    (tmp_path / "ok.txt").write_text("Readable.")
    corpus = read_corpus([tmp_path])
    assert [a.article_id for a in corpus.articles] == ["ok"] and "cannot read" in corpus.warnings[0]


def test_index_file_swapped_for_another_builds(tmp_path: Path, embedder: Embedder) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    build_index([BUNDLED_FILE], one, embedder)
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nA different article entirely, about glaciers.\n")
    build_index([other], two, embedder)
    target = one / os.readlink(one / "current") / STORE
    shutil.copy(two / os.readlink(two / "current") / STORE, target)
    with pytest.raises(IndexDamaged, match=STORE):
        Index.open(one, embedder)


def test_damaged_embedding_cache_only_costs_re_embedding(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(BUNDLED_FILE, corpus)
    build_index([corpus], tmp_path / "index", embedder)
    cache = tmp_path / "index" / os.readlink(tmp_path / "index" / "current") / CACHE
    cache.write_bytes(b"garbage" * 100)
    (corpus / "new.md").write_text("# New\n\nA new article about comets.\n")
    report = build_index([corpus], tmp_path / "index", embedder)
    assert report.embedded == report.passages  # nothing reusable, everything embedded again
    assert Library(tmp_path / "index", query_embedder).answer("Who is the mayor of Sievierodonetsk?").answered


def test_two_builds_at_once_one_waits_its_turn_or_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(BUNDLED_FILE, corpus)
    shutil.copy(ROOT / "tests/data/squad-sample/articles.jsonl", corpus)  # a build of several seconds
    command = [sys.executable, "-m", "bot", "index", str(corpus), "--index", str(tmp_path / "index"), "-q"]
    first = subprocess.Popen(
        command, cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "index" / BUILDS).glob(".tmp-*")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        # Frozen while it holds the lock, however slow the second is to start: it was once a
        # race between the second's start-up and the first build finishing, lost on busy machines.
        first.send_signal(signal.SIGSTOP)
        try:
            second = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=120)
        finally:
            first.send_signal(signal.SIGCONT)
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0
    assert second.returncode == 1 and "another `citebot index` is building" in second.stderr
    assert len([line for line in second.stderr.splitlines() if line.strip()]) == 1


@pytest.mark.slow
def test_a_hundred_thousand_tiny_files(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    for i in range(100_000):
        folder = corpus / f"{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:06d}.txt").write_text(f"Note {i}: item {i * 7 % 1009} is on shelf {i % 97}.")
    report = build_index([corpus], tmp_path / "index", embedder)
    assert report.articles == 100_000 and report.passages == 100_000


def test_a_link_to_a_file_outside_the_folder_is_not_indexed(tmp_path: Path, embedder: Embedder) -> None:
    """``notes.txt -> ../outside/.env`` once put a password into answers."""
    outside, corpus = tmp_path / "outside", tmp_path / "corpus"
    outside.mkdir()
    corpus.mkdir()
    (outside / ".env").write_text("DB_PASSWORD is hunter2, the database password.\n")
    (corpus / "notes.txt").symlink_to("../outside/.env")
    (corpus / "real.md").write_text("# Real\n\nA real article about lighthouses.\n")
    (corpus / "alias.md").symlink_to("real.md")  # a link that stays inside is fine
    read = read_corpus([corpus])
    assert sorted(a.article_id for a in read.articles) == ["alias", "real"]
    assert any("notes.txt" in w and "outside" in w for w in read.warnings)
    build_index([corpus], tmp_path / "index", embedder)
    store = Index.open(tmp_path / "index", embedder).store
    assert not any("hunter2" in (store.paragraph_text(a.article_id, 1) or "") for a in store.articles())


def test_a_fifo_or_growing_file_swapped_in_after_listing_cannot_hang_or_flood(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing checked the file, reading trusted the path: a FIFO put there in between hung the build."""
    fifo = tmp_path / "swapped.txt"
    os.mkfifo(fifo)
    warnings: list[str] = []
    with deadline(10):
        assert corpus_module._read_bytes(fifo, warnings) is None
    assert "not a regular file" in warnings[-1]
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    monkeypatch.setattr(corpus_module, "MAX_FILE_BYTES", 1000)  # as if it grew after it was listed
    assert corpus_module._read_bytes(big, warnings) is None and "larger than" in warnings[-1]
    link = tmp_path / "link.txt"
    link.symlink_to(big)  # a file replaced by a link after listing is not followed
    assert corpus_module._read_bytes(link, warnings) is None and "became a link" in warnings[-1]


def test_fifos_and_devices_in_a_folder_are_each_one_warning(tmp_path: Path) -> None:
    """They were skipped silently, though the README promises a warning for each."""
    (tmp_path / "real.txt").write_text("A real paragraph about whales.\n")
    os.mkfifo(tmp_path / "pipe.txt")
    os.mkfifo(tmp_path / "pipe-without-suffix")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "gone.md")
    (tmp_path / "null.txt").symlink_to("/dev/null")
    with deadline(10):
        corpus = read_corpus([tmp_path])
    assert [a.title for a in corpus.articles] == ["Real"]
    skipped = sorted(w.split(": ", 1)[0].rsplit("/", 1)[-1] for w in corpus.warnings)
    assert skipped == ["dangling.md", "null.txt", "pipe-without-suffix", "pipe.txt"], corpus.warnings
    assert all("not a regular file" in w or "outside" in w for w in corpus.warnings), corpus.warnings


def test_control_and_bidirectional_characters_never_reach_a_title(tmp_path: Path) -> None:
    """An upload named "report\u202efdp.exe" showed as "reportexe.pdf" in replies, /sources and citations."""
    warnings: list[str] = []
    spoof = "report\u202efdp.exe\u0007"
    [from_name] = corpus_module.read_document(b"Some text.", ".txt", "a", spoof, "upload", warnings)
    [from_heading] = corpus_module.read_document(f"# {spoof}\n\nSome text.".encode(), ".md", "b", "x", "up", warnings)
    [from_post] = [corpus_module.post_article(f"{spoof}\nSome text.", article_id="c")]
    for article in (from_name, from_heading, from_post):
        assert "\u202e" not in article.title and "\u0007" not in article.title and "fdp.exe" in article.title
    assert from_name.title.startswith("Report")
