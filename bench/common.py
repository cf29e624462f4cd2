"""Helpers shared by the benchmarks: machine description and percentiles."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def build_dataset_index(articles: list[dict], index_dir: Path, embedder: object) -> Path:
    """Index the given JSONL article records (incremental: reruns reuse the embeddings)."""
    import json

    from retrieval.index import build_index

    index_dir.mkdir(parents=True, exist_ok=True)
    corpus = index_dir.parent / f"{index_dir.name}.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in articles))
    build_index([corpus], index_dir, embedder, progress=sys.stderr.isatty())  # type: ignore[arg-type]
    return index_dir


def halves(articles: list[dict]) -> tuple[set[str], set[str]]:
    """Article ids split in two by sorted position: the cross-validation folds."""
    ids = sorted(a["id"] for a in articles)
    return set(ids[0::2]), set(ids[1::2])
