"""The FAISS half of an index: passage vectors, searched by inner product (= cosine).

Kept apart from the build logic so the index type can be chosen by corpus size in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FLAT = "Flat"


def _faiss() -> Any:
    import faiss

    return faiss


def make_index(vectors: np.ndarray) -> tuple[Any, str]:
    """An index over unit vectors, and the name recorded in the manifest."""
    faiss = _faiss()
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, FLAT


def write(index: Any, path: Path) -> None:
    _faiss().write_index(index, str(path))


def read(path: Path) -> Any:
    """Read an index; FAISS reports damage as RuntimeError, which the caller turns into a message."""
    return _faiss().read_index(str(path))


def search(index: Any, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and cosines of the ``k`` nearest passages, best first (ids of -1 dropped)."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def vectors_of(index: Any, ids: list[int]) -> np.ndarray:
    """Stored vectors for ``ids`` (exact for flat indexes)."""
    if not ids:
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
