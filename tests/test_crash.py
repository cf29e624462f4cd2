"""Builds that die: killed at every stage, at random moments, or out of disk space.

Whatever happens to a build, the previous index keeps answering exactly as before, and the
next build succeeds and leaves no debris.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embeddings import Embedder
from retrieval import Library
from retrieval.index import BUILDS, CRASH_ENV, build_index
from tests.conftest import BUNDLED_FILE, ROOT, SAMPLE, cli_env

QUESTIONS = ["Who is the mayor of Sievierodonetsk?", "Who had the numerical advantage?", "How do I cook borscht?"]
STAGES = ["chunked", "embedded", "faiss", "sqlite", "written", "renamed", "swapped"]


def answers(index_dir: Path, embedder: Embedder) -> list:
    library = Library(index_dir, embedder)
    return [library.answer(q) for q in QUESTIONS]


def no_debris(index_dir: Path) -> None:
    serving = os.readlink(index_dir / "current").split("/")[-1]
    assert [p.name for p in (index_dir / BUILDS).iterdir()] == [serving]
    assert not list(index_dir.glob(".current-*"))


@pytest.fixture()
def served(tmp_path: Path, embedder: Embedder, query_embedder: Embedder) -> tuple[Path, Path, list]:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(BUNDLED_FILE, corpus)
    build_index([corpus], index_dir, embedder)
    return corpus, index_dir, answers(index_dir, query_embedder)


def run_index(corpus: Path, index_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "index", str(corpus), "--index", str(index_dir), "-q"],
        cwd=ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("stage", STAGES)
def test_killed_at_every_stage(
    served: tuple[Path, Path, list], embedder: Embedder, query_embedder: Embedder, stage: str
) -> None:
    corpus, index_dir, before = served
    serving = os.readlink(index_dir / "current")
    (corpus / "owls.md").write_text("# Owls\n\nBarn owls hunt mice and voles at night.\n")
    result = run_index(corpus, index_dir, **{CRASH_ENV: stage})
    assert result.returncode == -signal.SIGKILL
    if stage == "swapped":  # died after the swap: the new build serves, whole
        assert os.readlink(index_dir / "current") != serving
        assert Library(index_dir, query_embedder).answer("What do barn owls hunt?").answered
    else:
        assert os.readlink(index_dir / "current") == serving
        assert answers(index_dir, query_embedder) == before
    report = build_index([corpus], index_dir, embedder)  # the next build succeeds and tidies up
    assert report.articles == 2
    no_debris(index_dir)
    assert Library(index_dir, query_embedder).answer("What do barn owls hunt?").answered


@pytest.mark.slow
def test_killed_at_random_moments(tmp_path: Path, embedder: Embedder, query_embedder: Embedder) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(BUNDLED_FILE, corpus)
    build_index([corpus], index_dir, embedder)
    before = answers(index_dir, query_embedder)
    serving = os.readlink(index_dir / "current")
    shutil.copy(SAMPLE / "articles.jsonl", corpus / "sample.jsonl")  # a build of ~15 s to interrupt
    rng = random.Random(11)
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "index", str(corpus), "--index", str(index_dir), "-q"],
            cwd=ROOT,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 12.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if os.readlink(index_dir / "current") != serving:
            break  # the build finished before the kill: nothing more to interrupt
        assert answers(index_dir, query_embedder) == before
    build_index([corpus], index_dir, embedder)
    no_debris(index_dir)


def test_full_disk_is_a_clean_error(served: tuple[Path, Path, list], query_embedder: Embedder) -> None:
    corpus, index_dir, before = served
    shutil.copy(SAMPLE / "articles.jsonl", corpus / "sample.jsonl")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "bot", "index", str(corpus), "--index", str(index_dir), "-q"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "disk full" in lines[0] and "Traceback" not in result.stderr
    assert answers(index_dir, query_embedder) == before
    assert not list((index_dir / BUILDS).glob(".tmp-*"))
