"""Shared fixtures: the real model, real FAISS and SQLite, and the citebot CLI as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.corpus import bundled_corpus
from retrieval.index import build_index

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "squad-sample"
BUNDLED_FILE = bundled_corpus() / "sievierodonetsk-2022-06-07.txt"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """Builds indexes, as `citebot index` does (exact fp32 vectors)."""
    return Embedder(backend=INDEX_BACKEND)


@pytest.fixture(scope="session")
def query_embedder() -> Embedder:
    """Answers questions, as `citebot ask` and the bot do (int8 ONNX)."""
    return Embedder(backend=QUERY_BACKEND)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("bundled") / "index"
    build_index([bundled_corpus()], index_dir, embedder)
    return index_dir


@pytest.fixture(scope="session")
def library(bundled_index: Path, query_embedder: Embedder) -> Library:
    return Library(bundled_index, query_embedder)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(extra)
    return env


def citebot(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot ARGS`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        cwd=ROOT,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the run failed with exactly one line on stderr and no traceback; return it."""
    assert result.returncode != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail, instead of hanging the suite, when the block runs longer than ``seconds``.

    For tests of former hangs; SIGALRM interrupts Python loops and blocking system calls alike.
    """

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
