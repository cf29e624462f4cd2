"""Fit the first stage of quoting (retrieval/quotes.py): which sentences the reranker reads.

Every question of the fitted fold (SQuAD 1.1 and the written natural questions; bench/folds.py)
goes through ``Answerer.trace``; each sentence of the best passages, with the first stage's
features, is labelled by whether it holds the answer (bench/scorer_data.py). A logistic
regression is fitted on two thirds of the articles and scored on the rest, and the printed
figure is what matters downstream: how often the right sentence is among the first ``--read``
the reranker reads. ``--write`` puts weights fitted on all of it into
retrieval/models/scorer.json (first_stage); refit the scorer afterwards (bench/fit_scorer.py),
since what the reranker sees has changed.

    python bench/fit_quotes.py [--read 5] [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from common import fitted_scorer, work_dir
from scorer_data import ensure_indexes, load
from tqdm import tqdm

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval.answer import Answerer
from retrieval.errors import QuestionError
from retrieval.index import Index
from retrieval.quotes import FEATURES, to_read
from retrieval.reranker import fitted_model
from retrieval.search import Searcher
from retrieval.weights import ScorerWeights, parse, shipped

SOURCES = ("squad11", "natural", "natural-uk", "natural-ru", "xquad-de", "xquad-es")


def collect(work: Path) -> list[dict]:
    """Per answerable question: the first stage's features of every sentence weighed, and which are right."""
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    indexes = ensure_indexes(SOURCES, work, indexer)
    base = shipped(fitted_model(asker.spec.name))
    first_stage_only = ScorerWeights(base.first_stage, 0, base.quote, base.confidence, base.threshold)
    answerers = {
        s: Answerer(Searcher(Index.open(p, asker), asker), weights=first_stage_only) for s, p in indexes.items()
    }
    groups = []
    for q in tqdm([q for q in load(SOURCES) if q.answerable], disable=not sys.stderr.isatty(), unit="q"):
        try:
            trace = answerers[q.source].trace(q.question)
        except QuestionError:
            continue
        right = [q.answered_by(c) for c in trace.candidates]
        if trace.candidates:
            x = np.array([c.features for c in trace.candidates])
            groups.append({"article": q.article_id, "x": x, "y": np.array(right)})
    return groups


def read_rate(groups: list[dict], weights: np.ndarray, bias: float, read: int) -> tuple[float, float]:
    """Share of questions whose right sentence is first, and among the ``read`` the reranker reads."""
    dense = FEATURES.index("dense")
    first = within = 0
    for g in groups:
        order = np.argsort(-(bias + g["x"] @ weights), kind="stable").tolist()
        first += bool(g["y"][order[0]])
        within += bool(g["y"][to_read(order, read, lambda i, x=g["x"]: x[i, dense])].any())
    return first / len(groups), within / len(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--read", type=int, default=5)
    parser.add_argument("--work", type=Path, default=work_dir("targets"))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    groups = collect(args.work)
    part = {g["article"]: int(hashlib.sha1(g["article"].encode()).hexdigest(), 16) % 3 for g in groups}
    _, scorer = fitted_scorer()
    shipped_weights = parse(scorer).first_stage
    current = np.array([shipped_weights.weights.get(f, 0.0) for f in FEATURES])  # a new feature: 0 until fitted
    print(f"shipped: first {read_rate(groups, current, shipped_weights.bias, args.read)}")

    def fit(part_groups: list[dict]) -> LogisticRegression:
        x = np.vstack([g["x"] for g in part_groups])
        y = np.concatenate([g["y"] for g in part_groups])
        return LogisticRegression(C=1.0, max_iter=5000).fit(x, y)

    for f in range(3):
        model = fit([g for g in groups if part[g["article"]] != f])
        held = [g for g in groups if part[g["article"]] == f]
        first, within = read_rate(held, model.coef_[0], model.intercept_[0], args.read)
        print(f"fitted without third {f}, scored on it: right first {first:.3f}, among {args.read} read {within:.3f}")
    model = fit(groups)
    if args.write:
        path, scorer = fitted_scorer()
        scorer["first_stage"] = {
            "bias": round(float(model.intercept_[0]), 4),
            "weights": {f: round(float(w), 4) for f, w in zip(FEATURES, model.coef_[0], strict=True)},
        }
        path.write_text(json.dumps(scorer, indent=2) + "\n")
        print(f"wrote first_stage to {path}: now refit the scorer (bench/fit_scorer.py)")


if __name__ == "__main__":
    main()
