"""Question latency: question text to ``Answer``, on the bundled corpus and on 100k passages.

500 questions each, answered one at a time as a chat would, after a warm-up. Reports
p50/p95/p99 of the whole path and the p50 of each stage (encode, dense search, lexical
search, fusion, quoting). The reference, measured in the same run, is what a plain
sentence-transformers bot spends on the encode alone (torch, one question).

The 100k corpus is made by ``common.synthetic_articles`` (new paragraphs from real SQuAD
sentences); it is indexed once into --work and reused by later runs (about 10 minutes).

    python bench/latency.py [--questions 500] [--large 100000] [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import machine, percentile, squad_questions, synthetic_articles, work_dir

from embeddings import INDEX_BACKEND, MINILM_MODEL, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.corpus import bundled_corpus
from retrieval.index import build_index

BUNDLED_QUESTIONS = [
    "Who is the mayor of Sievierodonetsk?", "Who had the numerical advantage?", "What does Russia call its war?",
    "Where did Zelenskyy travel on Sunday?", "When did the invasion begin?", "Which provinces make up the Donbas?",
    "How many casualties were there?", "What was Zelenskyy wearing?", "What did the Luhansk governor say?",
    "Which city is the largest remaining Ukrainian-held city in Luhansk?",
]  # fmt: skip
STAGES = ("encode", "dense", "lexical", "fusion", "reranker", "quoting")


def index_mb(index_dir: Path) -> float:
    """Size on disk of the serving build, embedding cache included."""
    return sum(f.stat().st_size for f in (index_dir / "current").resolve().iterdir()) / 2**20


def measure(library: Library, questions: list[str]) -> dict:
    answerer = library.answerer
    for q in questions[:20]:
        library.answer(q)
    totals, stages = [], {s: [] for s in STAGES}
    for q in questions:
        started = time.perf_counter()
        trace = answerer.trace(q)  # the path a user's question takes, stage by stage
        totals.append((time.perf_counter() - started) * 1000)
        for s in STAGES:
            stages[s].append(trace.timings[s] * 1000)
    return {
        "questions": len(questions),
        "p50_ms": percentile(totals, 50),
        "p95_ms": percentile(totals, 95),
        "p99_ms": percentile(totals, 99),
        **{f"{s}_p50_ms": statistics.median(stages[s]) for s in STAGES},
        "passages": library.about().passages,
        "index_type": library.about().index_type,
        "index_mb": index_mb(Path(library.about().path)),
    }


def torch_reference(questions: list[str], model: str | None = None) -> float:
    """p50 ms of sentence-transformers' own torch encode of one question (``model``: default the one measured)."""
    embedder = Embedder(model, backend="torch", threads=1)
    embedder.encode(questions[:10])
    times = []
    for q in questions[:200]:
        started = time.perf_counter()
        embedder.encode([q], query=True)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--large", type=int, default=100_000, help="passages in the large corpus (0: skip)")
    parser.add_argument("--work", type=Path, default=work_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    squad = squad_questions(args.questions)
    rows = []
    bundled_dir = args.work / "bundled"
    build_index([bundled_corpus()], bundled_dir, indexer)
    questions = (BUNDLED_QUESTIONS * 3 + squad)[: args.questions]
    rows.append({"corpus": "bundled article", **measure(Library(bundled_dir, asker), questions)})
    if args.large:
        large_dir = args.work / f"synthetic-{args.large}"
        corpus = args.work / f"synthetic-{args.large}.jsonl"
        if not corpus.exists():
            corpus.parent.mkdir(parents=True, exist_ok=True)
            corpus.write_text("".join(json.dumps(a) + "\n" for a in synthetic_articles(args.large)))
        build_index([corpus], large_dir, indexer, progress=True)
        rows.append({"corpus": f"{args.large:,} passages", **measure(Library(large_dir, asker), squad)})
    reference = torch_reference(squad)
    minilm = torch_reference(squad, MINILM_MODEL)
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine(),
                    "model": asker.spec.name,
                    "reference_torch_encode_p50_ms": reference,
                    "minilm_torch_encode_p50_ms": minilm,
                    "rows": rows,
                }
            )
        )
        return
    print(f"machine: {machine()}; model {asker.spec.name}")
    print(f"reference: sentence-transformers (torch, 1 thread) encode of one question, p50 {reference:.1f} ms")
    print(f"the same with {MINILM_MODEL}: p50 {minilm:.1f} ms\n")
    print("| corpus | index | on disk MB | p50 ms | p95 ms | p99 ms | " + " | ".join(STAGES) + " |")
    print("|---" * (6 + len(STAGES)) + "|")
    for r in rows:
        print(
            f"| {r['corpus']} | {r['index_type']} | {r['index_mb']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | " + " | ".join(f"{r[f'{s}_p50_ms']:.2f}" for s in STAGES) + " |"
        )


if __name__ == "__main__":
    main()
