"""Helpers shared by the benchmarks: machine description and percentiles."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def work_dir(*parts: str) -> Path:
    """The benchmarks' cache: indexes and rows per embedding model (``$CITEBOT_MODEL`` picks it), so
    measuring one model never rebuilds another's."""
    from embeddings import default_model

    model = os.environ.get("CITEBOT_MODEL") or default_model()
    return Path.home() / ".cache" / "citebot-bench" / Path(model).name / Path(*parts)


def fitted_dir() -> Path:
    """Where the fitting scripts write: ``retrieval/models/<the model being fitted>/`` (made if missing)."""
    from embeddings import resolve_model
    from retrieval.reranker import models_dir

    folder = models_dir(resolve_model().name)
    folder.mkdir(exist_ok=True)
    return folder


def fitted_scorer() -> tuple[Path, dict]:
    """The scorer.json the fitting scripts update, and its contents: the model's own, else a copy of the
    fallback's to start from (a new model is fitted step by step: search, first look, scorer)."""
    import json

    from embeddings import resolve_model
    from retrieval.reranker import fitted_model, models_dir
    from retrieval.weights import SCORER

    path = fitted_dir() / SCORER
    source = path if path.is_file() else models_dir(fitted_model(resolve_model().name)) / SCORER
    return path, json.loads(source.read_text())


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


def print_measures(result: dict, subtitle: str, rows: list[tuple[str, str]], *, as_json: bool) -> None:
    """A benchmark's report: its ``result`` as one JSON line, or the machine and a measure | value table."""
    import json

    if as_json:
        print(json.dumps(result))
        return
    print(f"machine: {result['machine']}")
    print(f"{subtitle}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


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


DATA = ROOT / "bench" / "data"


def squad_articles() -> list[dict]:
    import json

    return [json.loads(line) for line in (DATA / "squad-v1.1-dev" / "articles.jsonl").open()]


def squad_questions(limit: int | None = None, seed: int = 0) -> list[str]:
    """Real questions (SQuAD v1.1 dev), shuffled reproducibly."""
    import json
    import random

    questions = [json.loads(line)["question"] for line in (DATA / "squad-v1.1-dev" / "questions.jsonl").open()]
    random.Random(seed).shuffle(questions)
    return questions[:limit]


def synthetic_articles(passages: int, seed: int = 0, per_article: int = 50) -> list[dict]:
    """Articles of new paragraphs made from real SQuAD v1.1 sentences.

    Half the paragraphs are runs of one to three consecutive sentences of one Wikipedia
    paragraph; the other half join two sentences of two random paragraphs. The text is real
    English with real topics and vocabulary (so BM25 and the embeddings behave as on real
    text), and there is as much of it as a benchmark needs.
    """
    import random

    from retrieval.text import split_sentences

    rng = random.Random(seed)
    paragraphs = [[p[a:b] for a, b in split_sentences(p)] for art in squad_articles() for p in art["paragraphs"]]
    paragraphs = [p for p in paragraphs if p]
    made: list[str] = []
    seen: set[str] = set()
    while len(made) < passages:
        if rng.random() < 0.5:
            para = rng.choice(paragraphs)
            start = rng.randrange(len(para))
            text = " ".join(para[start : start + rng.randint(1, 3)])
        else:
            text = f"{rng.choice(rng.choice(paragraphs))} {rng.choice(rng.choice(paragraphs))}"
        if text not in seen:
            seen.add(text)
            made.append(text)
    return [
        {
            "id": f"synthetic-{i // per_article:05d}",
            "title": f"Synthetic article {i // per_article}",
            "paragraphs": made[i : i + per_article],
        }
        for i in range(0, passages, per_article)
    ]


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    benchmark stage started by a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stop(proc: object, timeout: float = 60) -> None:
    """SIGTERM a child process, and SIGKILL it if it has not gone within ``timeout``."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    try:
        proc.wait(timeout)  # type: ignore[attr-defined]
    except subprocess.TimeoutExpired:
        proc.kill()  # type: ignore[attr-defined]
