"""How passages are ranked: paragraph R@1 of fusion formulas, retrieval only (bench/quality.md).

For every question, the same candidates the shipped search pools (top 50 by cosine and by BM25)
are scored by each formula below from their parts: the passage cosine, its best sentence's
cosine, BM25 over the best match's, and the idf-weighted share of the question's terms the
passage holds. Sets: the bundled article's paraphrased and blind questions (shown, never chosen
on), the written natural questions over the SQuAD articles (packets 1-6, answerable), and 2,000
SQuAD v1.1 dev questions (seed 1). Uses the indexes bench/targets.py builds.

Then the shipped formula's two weights (the share of coverage, and of the best sentence in the
dense part) are searched on a grid, by mean R@1 over the natural and SQuAD sets; ``--write``
stores the best in the model's scorer.json (``"search"``), which the search of that model reads.

    python bench/fusion.py [--work DIR] [--write]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import ROOT, fitted_scorer, work_dir
from folds import SHARED

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.evaluate import EvalQuestion, read_questions
from retrieval.index import build_index

Formula = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# (passage cosine, best sentence cosine, BM25 / best BM25, coverage) -> score
FORMULAS: dict[str, Formula] = {
    "0.5 dense + 0.5 BM25/best (first round)": lambda d, s, b, c: 0.5 * (d + s) / 2 + 0.5 * b,
    "0.8 dense + 0.2 BM25/best": lambda d, s, b, c: 0.8 * (d + s) / 2 + 0.2 * b,
    "passage cosine only": lambda d, s, b, c: d,
    "0.5 dense + 0.5 BM25/best × coverage": lambda d, s, b, c: 0.5 * (d + s) / 2 + 0.5 * b * c,
    "0.7 dense + 0.3 coverage": lambda d, s, b, c: 0.7 * (d + s) / 2 + 0.3 * c,
    "0.65 dense (sentence 0.7) + 0.35 coverage (shipped)": lambda d, s, b, c: 0.65 * (0.3 * d + 0.7 * s) + 0.35 * c,
    "0.6 dense (sentence 0.7) + 0.4 coverage": lambda d, s, b, c: 0.6 * (0.3 * d + 0.7 * s) + 0.4 * c,
}


def parts(library: Library, questions: list[EvalQuestion], embedder: Embedder) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per question: its candidates' four parts, and which candidates are a right paragraph."""
    searcher, store = library.answerer.searcher, library.index.store
    out = []
    for q in questions:
        pool = searcher.pool(q.question, embedder.encode([q.question], query=True)[0])
        gold = {(q.article_id, p) for p in q.paragraphs}
        best = max(pool.lexical.values(), default=0.0)
        passages = store.passages(pool.ids)
        x = np.array(
            [
                (
                    pool.dense[c],
                    pool.best_sentence(c),
                    pool.lexical.get(c, 0.0) / best if best > 0 else 0.0,
                    pool.terms.coverage(pool.held[c]),
                )
                for c in pool.ids
            ]
        )
        right = np.array([(passages[c].article_id, passages[c].paragraph) in gold for c in pool.ids])
        out.append((x, right))
    return out


def recall_at_1(rows: list[tuple[np.ndarray, np.ndarray]], formula: Formula) -> float:
    hits = sum(bool(len(x) and right[int(np.argmax(formula(*x.T)))]) for x, right in rows)
    return hits / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=work_dir("targets"))
    parser.add_argument("--write", action="store_true", help="store the best grid weights in the model's scorer.json")
    args = parser.parse_args()
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    bundled_dir = ROOT / "bench/data/bundled"
    build_index([bundled_dir / "article.jsonl"], args.work / "bundled", indexer)
    squad_index = args.work / "squad"
    if not (squad_index / "current").exists():
        raise SystemExit(f"{squad_index} is missing: run python bench/targets.py --sets squad first")
    natural = sorted((ROOT / "bench/data/natural").glob("squad-packet[1-6].jsonl"))
    squad = read_questions(SHARED / "squad-v1.1-dev" / "questions.jsonl")
    sets = {
        "bundled": (
            args.work / "bundled",
            [q for name in ("paraphrased", "blind") for q in read_questions(bundled_dir / f"{name}.jsonl")],
        ),
        "natural": (squad_index, [q for path in natural for q in read_questions(path)]),
        "squad sample": (squad_index, random.Random(1).sample(squad, 2000)),
    }
    rows = {}
    for name, (index, questions) in sets.items():
        answerable = [q for q in questions if q.answerable and q.paragraphs]
        rows[name] = parts(Library(index, asker), answerable, asker)
    print("| fusion | " + " | ".join(f"{n} ({len(r):,})" for n, r in rows.items()) + " |")
    print("|---" * (len(rows) + 1) + "|")
    for label, formula in FORMULAS.items():
        print(f"| {label} | " + " | ".join(f"{recall_at_1(r, formula):.3f}" for r in rows.values()) + " |")
    chosen_on = [rows["natural"], rows["squad sample"]]
    grid = {
        (lexical, sentence): float(np.mean([recall_at_1(r, shipped_formula(lexical, sentence)) for r in chosen_on]))
        for lexical in np.arange(0.0, 0.61, 0.05).round(2)
        for sentence in np.arange(0.0, 1.01, 0.1).round(2)
    }
    (lexical, sentence), best = max(grid.items(), key=lambda item: item[1])
    formula = shipped_formula(lexical, sentence)
    print(f"\nbest on natural + SQuAD: lexical_weight {lexical}, sentence_weight {sentence}: mean R@1 {best:.3f} ("
          + ", ".join(f"{n} {recall_at_1(r, formula):.3f}" for n, r in rows.items()) + ")")  # fmt: skip
    if args.write:
        path, scorer = fitted_scorer()
        scorer["search"] = {"lexical_weight": float(lexical), "sentence_weight": float(sentence)}
        path.write_text(json.dumps(scorer, indent=2) + "\n")
        print(f"wrote search weights to {path}: refit the first look and the scorer next")


def shipped_formula(lexical: float, sentence: float) -> Formula:
    """The shipped search's score with the given weights (retrieval/search.py, ``retrieve_vector``)."""
    return lambda d, s, b, c: (1 - lexical) * ((1 - sentence) * d + sentence * s) + lexical * c


if __name__ == "__main__":
    main()
