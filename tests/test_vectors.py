"""The vector index: exact when small, approximate with measured recall when large."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from embeddings import Embedder
from retrieval import Library
from retrieval import vectors as vector_index
from retrieval.index import MANIFEST, build_index


def clustered(n: int, dim: int = 64, centers: int = 50, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centers, dim))
    points = middle[rng.integers(0, centers, n)] + 0.5 * rng.normal(size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_small_corpora_are_exact() -> None:
    choice = vector_index.make_index(clustered(500), approximate_from=1000)
    assert choice.kind == "Flat" and choice.nprobe is None


def test_large_corpora_get_ivf_with_the_recall_it_reports(tmp_path: Path) -> None:
    everything = clustered(6500)
    data, held_out = everything[:6000], everything[6000:]  # questions are not in the corpus
    choice = vector_index.make_index(data, approximate_from=1000)
    assert choice.kind.startswith("IVF") and choice.nprobe is not None
    assert choice.recall_at_10 is not None and choice.recall_at_10 >= vector_index.TARGET_RECALL
    vector_index.write(choice.index, tmp_path / "v.faiss")
    loaded = vector_index.read(tmp_path / "v.faiss", choice.nprobe)
    queries = held_out
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    found = np.array([vector_index.search(loaded, q, 10)[0] for q in queries])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)])
    assert recall >= 0.9  # held-out queries: close to what the build measured
    ids = [5, 17, 4000]
    assert np.allclose(vector_index.vectors_of(loaded, ids), data[ids], atol=1e-6)


def test_an_approximate_index_answers_end_to_end(
    tmp_path: Path, embedder: Embedder, query_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector_index, "APPROXIMATE_FROM", 50)
    corpus = tmp_path / "corpus.jsonl"
    facts = [f"Station {i} records a rainfall of {i * 7} millimetres in the month of study." for i in range(80)]
    facts[42] = "The lighthouse keeper Ingrid Sollberg painted the tower red in 1911."
    corpus.write_text(json.dumps({"id": "a", "title": "Notes", "paragraphs": facts}) + "\n")
    build_index([corpus], tmp_path / "index", embedder)
    manifest = json.loads((tmp_path / "index" / os.readlink(tmp_path / "index" / "current") / MANIFEST).read_text())
    assert manifest["index_type"].startswith("IVF") and manifest["recall_at_10"] >= 0.9
    answer = Library(tmp_path / "index", query_embedder).answer("Who painted the lighthouse tower red?")
    assert answer.answered and answer.quotes[0].citation.paragraph == 43
