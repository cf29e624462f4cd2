"""Scale: a million passage vectors. Build time, memory, size, search latency and recall.

The corpus is synthetic but shaped like real embeddings (uniform random vectors make every
approximate index look broken): each vector lies between a real SQuAD passage or sentence
vector and one of its 16 nearest real neighbours, plus a little noise. Queries are real
SQuAD questions encoded as citebot encodes them. The index is the one citebot ships
(``retrieval.vectors.make_index``: chosen by size, IVF with measured nprobe at this scale).
Build and search each run in their own process so peak RSS is theirs alone; recall@10 is
against exact search, and the reference is an exact scan of the same vectors in this run.

    python bench/scale.py [--vectors 1000000] [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, peak_rss_mb, percentile, print_measures, squad_articles, squad_questions, work_dir


def base_vectors(work: Path) -> np.ndarray:
    """Real passage and sentence vectors of SQuAD v1.1 dev (indexed once into work)."""
    from common import build_dataset_index

    from embeddings import INDEX_BACKEND, Embedder
    from retrieval.index import Index

    index_dir = build_dataset_index(squad_articles(), work / "squad", Embedder(backend=INDEX_BACKEND))
    index = Index.open(index_dir)
    passages = index.faiss.reconstruct_n(0, index.faiss.ntotal)
    return np.vstack([passages, np.asarray(index.sentence_vectors, dtype=np.float32)])


def generate(base: np.ndarray, n: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    neighbours = np.argsort(-(base @ base.T), axis=1)[:, 1:17]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, base.shape[1]))
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        a = rng.integers(0, len(base), m)
        b = neighbours[a, rng.integers(0, 16, m)]
        t = rng.random((m, 1), dtype=np.float32)
        v = t * base[a] + (1 - t) * base[b] + rng.normal(scale=0.35 / np.sqrt(base.shape[1]), size=(m, base.shape[1]))
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    out.flush()


def stage_build(work: Path) -> dict:
    from retrieval import vectors

    data = np.load(work / "vectors.npy")
    started = time.perf_counter()
    choice = vectors.make_index(data)
    seconds = time.perf_counter() - started
    vectors.write(choice.index, work / "index.faiss")
    return {
        "build_s": seconds,
        "kind": choice.kind,
        "nprobe": choice.nprobe,
        "build_recall": choice.recall_at_10,
        "build_peak_rss_mb": peak_rss_mb(),
    }


def stage_search(work: Path, nprobe: int | None) -> dict:
    from retrieval import vectors

    queries = np.load(work / "queries.npy")
    index = vectors.read(work / "index.faiss", nprobe)
    for q in queries[:50]:
        vectors.search(index, q, 10)
    times, found = [], []
    for q in queries:
        started = time.perf_counter()
        ids, _ = vectors.search(index, q, 50)  # what a question asks of the index
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids[:10].tolist())
    return {
        "search_p50_ms": percentile(times, 50),
        "search_p95_ms": percentile(times, 95),
        "search_peak_rss_mb": peak_rss_mb(),
        "found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=work_dir("scale"))
    parser.add_argument("--stage", choices=["build", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--nprobe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.work
    if args.stage == "build":
        print(json.dumps(stage_build(work)))
        return
    if args.stage == "search":
        print(json.dumps(stage_search(work, args.nprobe)))
        return

    work.mkdir(parents=True, exist_ok=True)
    data_path = work / "vectors.npy"
    if not data_path.exists() or np.load(data_path, mmap_mode="r").shape[0] != args.vectors:
        generate(base_vectors(work), args.vectors, data_path)
    from embeddings import QUERY_BACKEND, Embedder

    np.save(work / "queries.npy", Embedder(backend=QUERY_BACKEND).encode(squad_questions(args.queries), query=True))

    def run(*extra: str) -> dict:
        done = subprocess.run(
            [sys.executable, __file__, "--work", str(work), *extra],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    built = run("--stage", "build")
    searched = run("--stage", "search", *(["--nprobe", str(built["nprobe"])] if built["nprobe"] else []))

    data = np.load(data_path, mmap_mode="r")
    queries = np.load(work / "queries.npy")
    exact, scan_times = [], []
    for q in queries:
        started = time.perf_counter()
        scores = data @ q
        top = np.argpartition(-scores, 10)[:10]
        scan_times.append((time.perf_counter() - started) * 1000)
        exact.append(set(top[np.argsort(-scores[top])].tolist()))
    recall = float(np.mean([len(e & set(f)) / 10 for e, f in zip(exact, searched["found"], strict=True)]))
    result = {
        "machine": machine(),
        "vectors": args.vectors,
        "index": built["kind"],
        "nprobe": built["nprobe"],
        "build_s": built["build_s"],
        "build_peak_rss_mb": built["build_peak_rss_mb"],
        "index_mb": (work / "index.faiss").stat().st_size / 2**20,
        "search_p50_ms": searched["search_p50_ms"],
        "search_p95_ms": searched["search_p95_ms"],
        "search_peak_rss_mb": searched["search_peak_rss_mb"],
        "recall_at_10": recall,
        "build_measured_recall_at_10": built["build_recall"],
        "reference_exact_scan_p50_ms": percentile(scan_times, 50),
    }
    r = result
    rows = [
        ("index (chosen by size)", f"{r['index']}, nprobe {r['nprobe']}"),
        ("build time", f"{r['build_s']:.0f} s (peak RSS {r['build_peak_rss_mb']:.0f} MB)"),
        ("index size on disk", f"{r['index_mb']:.0f} MB"),
        ("search p50 / p95 (k=50, 1 thread)", f"{r['search_p50_ms']:.2f} / {r['search_p95_ms']:.2f} ms"),
        (
            "recall@10 vs exact, real questions",
            f"{r['recall_at_10']:.3f} (build measured {r['build_measured_recall_at_10']:.3f})",
        ),
        ("peak RSS while searching", f"{r['search_peak_rss_mb']:.0f} MB"),
        ("reference: exact scan (numpy), p50", f"{r['reference_exact_scan_p50_ms']:.1f} ms"),
    ]
    subtitle = f"{r['vectors']:,} vectors (384-d, around real SQuAD embeddings), {len(queries)} real questions"
    print_measures(result, subtitle, rows, as_json=args.json)

if __name__ == "__main__":
    main()
