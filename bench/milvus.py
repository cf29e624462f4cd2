"""The Milvus store against the local one: the same answers, their latency, and build throughput.

- Parity on SQuAD v1.1 dev (``../shared/eval/squad-v1.1-dev``, 48 articles, all questions):
  R@1, first quote right and answered, each store, and the share of questions whose first
  quote is the same sentence in both; and on 500 of them, how much the two BM25s' top-50
  candidates share, and whether the fused top 5 after them is the same.
- Latency, question text to ``Answer``, bundled article and 100k passages (the corpus of
  ``bench/latency.py``), local store and Milvus Lite, after a warm-up.
- Build: writing 100k passages into Milvus Lite with every vector already cached (so
  embedding is not counted), passages per second, and bytes per passage on disk.

Milvus builds here start from the local build's embedding cache (as a folder switched from
``local`` to Milvus does), so nothing is embedded twice.

    python bench/milvus.py [--questions 500] [--large 100000] [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import time
from pathlib import Path

from common import build_dataset_index, machine, percentile, squad_questions, synthetic_articles, work_dir
from folds import SHARED
from latency import BUNDLED_QUESTIONS

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.corpus import bundled_corpus
from retrieval.evaluate import evaluate, read_questions
from retrieval.index import build_index, claim_index_dir


def latency(library: Library, questions: list[str]) -> dict[str, float]:
    for q in questions[:20]:
        library.answer(q)
    times = []
    for q in questions:
        started = time.perf_counter()
        library.answer(q)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}


def milvus_copy(local_dir: Path, corpus: list[Path], work: Path, name: str, indexer: Embedder) -> tuple[Path, float]:
    """A Milvus Lite index of ``corpus`` in a folder of its own, seeded with the local build's cache."""
    folder = work / f"milvus-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    claim_index_dir(folder)
    shutil.copy((local_dir / "current").resolve() / "embeddings.sqlite", folder / "embeddings.sqlite")
    started = time.perf_counter()
    db = work / f"milvus-{name}.db"
    db.unlink(missing_ok=True)
    report = build_index(corpus, folder, indexer, store=f"milvus:{db}", progress=True)
    assert report.embedded == 0, report
    return folder, time.perf_counter() - started


def parity(work: Path, indexer: Embedder, asker: Embedder) -> dict:
    folder = SHARED / "squad-v1.1-dev"
    articles = [json.loads(line) for line in (folder / "articles.jsonl").open()]
    local_dir = build_dataset_index(articles, work / "squad", indexer)
    milvus_dir, _ = milvus_copy(local_dir, [work / "squad.jsonl"], work, "squad", indexer)
    questions = read_questions(folder / "questions.jsonl")
    out: dict = {"questions": len(questions)}
    firsts = {}
    for name, index_dir in (("local", local_dir), ("milvus", milvus_dir)):
        predictions = io.StringIO()  # each question's answer, from the same pass
        (row,) = evaluate(Library(index_dir, asker).answerer, questions, modes=("fused",), out=predictions)
        out[name] = {"recall_at_1": row.recall_at_1, "first_quote_right": row.first_quote_right,
                     "answered": row.answered}  # fmt: skip
        firsts[name] = [_first(json.loads(line)["answer"]) for line in predictions.getvalue().splitlines()]
    out["same_first_quote"] = sum(a == b for a, b in zip(*firsts.values(), strict=True)) / len(questions)
    return out


def candidates(work: Path, asker: Embedder, count: int = 500) -> dict:
    """How far the two BM25s differ: their top-50 candidates, and the fused top 5 after them (SQuAD)."""
    local, remote = Library(work / "squad", asker), Library(work / "milvus-squad", asker)
    shared, first, top5 = [], 0, []
    questions = squad_questions(count)
    for q in questions:
        terms_local, terms_remote = local.index.store.query_terms(q), remote.index.store.query_terms(q)
        assert terms_local.idf == terms_remote.idf  # the same term weights: only BM25's candidates differ
        a, b = set(local.index.store.lexical(terms_local, 50)), set(remote.index.store.lexical(terms_remote, 50))
        shared.append(len(a & b) / max(len(a), 1))
        ha, hb = local.answerer.searcher.search(q, 5), remote.answerer.searcher.search(q, 5)
        first += ha[0].passage.passage_id == hb[0].passage.passage_id
        top5.append(len({h.passage.passage_id for h in ha} & {h.passage.passage_id for h in hb}) / 5)
    n = len(questions)
    return {"questions": n, "bm25_top50_shared": sum(shared) / n, "fused_top1_same": first / n,
            "fused_top5_shared": sum(top5) / n}  # fmt: skip


def _first(answer: dict) -> tuple | None:
    quote = (answer["quotes"] or [answer["closest"]])[0]
    return (quote["article_id"], quote["paragraph"], quote["start"]) if quote else None


def speed(work: Path, indexer: Embedder, asker: Embedder, large: int, count: int) -> list[dict]:
    squad = squad_questions(count)
    rows = []
    bundled_dir = work / "bundled"
    build_index([bundled_corpus()], bundled_dir, indexer)
    milvus_bundled, _ = milvus_copy(bundled_dir, [bundled_corpus()], work, "bundled", indexer)
    questions = (BUNDLED_QUESTIONS * 3 + squad)[:count]
    for store, folder in (("local", bundled_dir), ("Milvus Lite", milvus_bundled)):
        rows.append({"corpus": "bundled article", "store": store, **latency(Library(folder, asker), questions)})
    if large:
        corpus = work / f"synthetic-{large}.jsonl"
        if not corpus.exists():
            corpus.write_text("".join(json.dumps(a) + "\n" for a in synthetic_articles(large)))
        large_dir = work / f"synthetic-{large}"
        build_index([corpus], large_dir, indexer, progress=True)
        passages = Library(large_dir, asker).about().passages
        rows.append({"corpus": f"{passages:,} passages", "store": "local", **latency(Library(large_dir, asker), squad)})
        # measured before the Milvus build: Milvus Lite's engine keeps working on the 2 cores after it
        milvus_large, seconds = milvus_copy(large_dir, [corpus], work, f"synthetic-{large}", indexer)
        db = work / f"milvus-synthetic-{large}.db"
        library = Library(milvus_large, asker)
        rows.append({"corpus": f"{passages:,} passages", "store": "Milvus Lite", **latency(library, squad)})
        rows[-1]["build_s"] = seconds
        rows[-1]["build_per_s"] = passages / seconds
        rows[-1]["db_bytes_per_passage"] = db.stat().st_size / passages
        rows[-1]["index_type"] = Library(milvus_large, asker).about().index_type
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--large", type=int, default=100_000, help="passages in the large corpus (0: skip)")
    parser.add_argument("--work", type=Path, default=work_dir())
    parser.add_argument(
        "--only", choices=["parity", "candidates", "speed"], help="one part (minutes: parity 25, speed 8, candidates 2)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    result: dict = {"machine": machine()}
    if args.only in (None, "parity"):
        result["parity"] = parity(args.work, indexer, asker)
    if args.only in (None, "parity", "candidates"):
        result["candidates"] = candidates(args.work, asker)
    if args.only in (None, "speed"):
        result["latency"] = speed(args.work, indexer, asker, args.large, args.questions)
    if args.json:
        print(json.dumps(result))
        return
    print(f"machine: {result['machine']}\n")
    if "parity" in result:
        p = result["parity"]
        print(f"SQuAD v1.1 dev, {p['questions']} questions\n")
        print("| store | R@1 | first quote right | answered |\n|---|---|---|---|")
        for store in ("local", "milvus"):
            r = p[store]
            print(f"| {store} | {r['recall_at_1']:.3f} | {r['first_quote_right']:.3f} | {r['answered']:.3f} |")
        print(f"\nsame first quote in both: {p['same_first_quote']:.3f}\n")
    if "candidates" in result:
        c = result["candidates"]
        print(
            f"{c['questions']} SQuAD questions: BM25 top-50 candidates shared {c['bm25_top50_shared']:.3f}; "
            f"fused top 1 the same {c['fused_top1_same']:.3f}; fused top 5 shared {c['fused_top5_shared']:.3f}\n"
        )
    if "latency" not in result:
        return
    print("| corpus | store | p50 ms | p95 ms |\n|---|---|---|---|")
    for r in result["latency"]:
        print(f"| {r['corpus']} | {r['store']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
    big = result["latency"][-1]
    if "build_s" in big:
        print(
            f"\nMilvus Lite build of {big['corpus']} (vectors cached): {big['build_s']:.0f} s, "
            f"{big['build_per_s']:.0f} passages/s; {big['db_bytes_per_passage']:.0f} bytes per passage on disk "
            f"(the .db file); index {big['index_type']}"
        )


if __name__ == "__main__":
    main()
