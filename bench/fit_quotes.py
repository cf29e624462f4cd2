"""Fit the quote scorer (retrieval/quotes.py) on real questions, cross-validated by article halves.

Indexes all articles of a SQuAD-style set, collects every candidate sentence of the top
passages for every question with its features and whether it contains a gold answer, fits a
logistic regression on the questions of one half of the articles and scores the other half.
Reports first-quote and any-quote hit rates and the median quoted length under the shipped
selection rule, for the shipped weights and the cross-validated fits, then prints weights
fitted on all questions (to paste into SENTENCE_WEIGHTS).

    python bench/fit_quotes.py bench/data/squad-v1.1-dev [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from common import build_dataset_index, halves

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval.answer import Answerer
from retrieval.evaluate import read_questions
from retrieval.index import Index
from retrieval.question import search_text
from retrieval.quotes import FEATURES, SENTENCE_WEIGHTS
from retrieval.search import Searcher


def collect(answerer: Answerer, questions: list) -> list[dict]:
    texts = [search_text(q.question) for q in questions]
    vectors = answerer.searcher.embedder.encode(texts)
    out = []
    for q, text, vector in zip(questions, texts, vectors, strict=True):
        ranked = answerer.candidates(text, answerer.searcher.retrieve_vector(text, vector, 5))
        if ranked:
            out.append(
                {
                    "article": q.article_id,
                    "x": np.array([c.features for c in ranked]),
                    "y": np.array([any(a in c.text for a in q.answers) for c in ranked]),
                    "length": np.array([len(c.text) for c in ranked]),
                }
            )
    return out


def score(groups: list[dict], weights: np.ndarray, bias: float, settings: Answerer) -> tuple[float, float, float]:
    """First-quote and any-quote hit rates and median chars, selecting as the Answerer does."""
    s = settings.settings
    first = anywhere = 0
    lengths = []
    for g in groups:
        p = 1 / (1 + np.exp(-(bias + g["x"] @ weights)))
        order = np.argsort(-p, kind="stable")
        chosen = [order[0]]
        for k in order[1:]:
            if len(chosen) >= s.max_quotes or g["length"][chosen].sum() >= s.max_quote_chars:
                break
            if p[k] < s.extra_quote_ratio * p[order[0]]:
                break
            chosen.append(k)
        first += g["y"][chosen[0]]
        anywhere += g["y"][chosen].any()
        lengths.append(g["length"][chosen].sum())
    return first / len(groups), anywhere / len(groups), statistics.median(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, default=None, help="keep the index here between runs")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    work = args.work or Path(tempfile.mkdtemp(prefix="citebot-quotes-"))
    embedder, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    articles = [json.loads(line) for line in (args.dataset / "articles.jsonl").open()]
    questions = [q for q in read_questions(args.dataset / "questions.jsonl") if not q.impossible]
    index_dir = build_dataset_index(articles, work / "all", embedder)
    answerer = Answerer(Searcher(Index.open(index_dir, asker), asker))
    groups = collect(answerer, questions)
    folds = halves(articles)
    shipped = np.array([SENTENCE_WEIGHTS[f] for f in FEATURES])

    def fit(part: list[dict]) -> LogisticRegression:
        x = np.vstack([g["x"] for g in part])
        y = np.concatenate([g["y"] for g in part])
        return LogisticRegression(C=1.0, max_iter=2000).fit(x, y)

    def show(name: str, result: tuple[float, float, float], n: int) -> None:
        print(f"{name}: first quote {result[0]:.3f}  any quote {result[1]:.3f}  median chars {result[2]:.0f}  (n={n})")

    for train, test in ((0, 1), (1, 0)):
        model = fit([g for g in groups if g["article"] in folds[train]])
        held_out = [g for g in groups if g["article"] in folds[test]]
        show(
            f"fit on half {train}, scored on half {test}",
            score(held_out, model.coef_[0], model.intercept_[0], answerer),
            len(held_out),
        )
    show("shipped weights, all questions", score(groups, shipped, SENTENCE_WEIGHTS["bias"], answerer), len(groups))
    model = fit(groups)
    weights = {"bias": round(float(model.intercept_[0]), 3)}
    weights.update({f: round(float(w), 3) for f, w in zip(FEATURES, model.coef_[0], strict=True)})
    print("weights fitted on all questions:", json.dumps(weights))


if __name__ == "__main__":
    main()
