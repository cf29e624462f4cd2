"""The FAISS half of an index: passage vectors, searched by inner product (= cosine).

Small corpora get an exact flat index. Above ``APPROXIMATE_FROM`` passages an exact scan
costs too much per question (about 20 ms at 100k vectors, 220 ms at 1M on 2 cores), so the
build makes an inverted-file index (IVF) and picks how many lists to probe by measuring
recall@10 against exact search on a sample of the corpus itself; the choice and the measured
recall are recorded in the manifest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FLAT = "Flat"
APPROXIMATE_FROM = 50_000
TARGET_RECALL = 0.96  # on perturbed corpus vectors; real questions measured a little higher
RECALL_SAMPLE = 300


@dataclass(frozen=True)
class IndexChoice:
    index: Any
    kind: str  # e.g. "Flat", "IVF2048,Flat"
    nprobe: int | None = None
    recall_at_10: float | None = None  # measured against exact search at build time


def _faiss() -> Any:
    import faiss

    return faiss


def make_index(vectors: np.ndarray, *, approximate_from: int | None = None, seed: int = 0) -> IndexChoice:
    """An index over unit vectors: exact when small, IVF with measured recall when large."""
    faiss = _faiss()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if n < (approximate_from if approximate_from is not None else APPROXIMATE_FROM):
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
        return IndexChoice(index, FLAT)
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))  # 1,024 lists at 50k-100k, 4,096 at 1M
    nlist = max(1, min(nlist, n // 39))  # k-means wants at least 39 points per list
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    train = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    index.train(train)
    index.add(vectors)
    index.make_direct_map()  # lets a BM25-only candidate's vector be looked up
    nprobe, recall = _choose_nprobe(index, vectors, rng)
    index.nprobe = nprobe
    return IndexChoice(index, f"IVF{nlist},Flat", nprobe, recall)


def _choose_nprobe(index: Any, vectors: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
    """The smallest power-of-two nprobe whose recall@10 reaches the target.

    Queries are corpus vectors pushed away from themselves (cosine about 0.7 to where they
    started, as a question is to its passage): a corpus vector itself would find its own
    list at once and overstate the recall real questions get.
    """
    picked = vectors[rng.choice(len(vectors), size=min(RECALL_SAMPLE, len(vectors)), replace=False)]
    noise = rng.normal(size=picked.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    sample = picked + noise
    sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    exact = _exact_top10(sample, vectors)
    # How far questions sit from the corpus varies by collection, so the measurement alone can
    # under-probe (measured: 1M clustered vectors, nprobe 2 gave real questions recall 0.84);
    # never probe fewer than 1/128 of the lists (there: recall 0.999 in 3 ms).
    nprobe, recall = max(1, index.nlist // 128), 0.0
    while nprobe <= index.nlist:
        index.nprobe = nprobe
        _, found = index.search(sample, 10)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)]))
        if recall >= TARGET_RECALL:
            break
        nprobe *= 2
    return min(nprobe, index.nlist), recall


def _exact_top10(queries: np.ndarray, vectors: np.ndarray, step: int = 50_000) -> np.ndarray:
    """Exact top-10 ids by brute force, a block of vectors at a time (bounded memory)."""
    best_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 10), dtype=np.int64)
    for start in range(0, len(vectors), step):
        scores = queries @ vectors[start : start + step].T
        k = min(10, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        merged_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        merged_ids = np.hstack([best_ids, top + start])
        order = np.argsort(-merged_scores, axis=1)[:, :10]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def write(index: Any, path: Path) -> None:
    _faiss().write_index(index, str(path))


def read(path: Path, nprobe: int | None = None) -> Any:
    """Open an index for answering questions (one thread: lowest latency for one query).

    FAISS reports a damaged file as RuntimeError, which the caller turns into a message.
    """
    faiss = _faiss()
    faiss.omp_set_num_threads(1)
    # memory-mapped: opening is instant, and only the lists a question probes are paged in
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    if nprobe is not None:
        index.nprobe = nprobe
        if not getattr(index, "direct_map", None) or index.direct_map.type == 0:
            index.make_direct_map()
    return index


def search(index: Any, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and cosines of the ``k`` nearest passages, best first (ids of -1 dropped)."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return ids[0][keep], scores[0][keep]


def vectors_of(index: Any, ids: list[int]) -> np.ndarray:
    """Stored vectors for ``ids`` (exact for flat and IVF-flat indexes)."""
    if not ids:
        return np.zeros((0, index.d), np.float32)
    return index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
