"""Fit the answer/decline confidence on real questions, cross-validated by article halves.

For each half H of the articles in a SQuAD-style set: index H alone; questions about H are
"in corpus" (should be answered), questions about the other half are "out of corpus" (should
be declined). Features come from ``retrieval.confidence.evidence`` on the sentence citebot
would quote; a logistic regression is fitted on one half's run and scored on the other's, so
the reported figures are for unseen articles.

    python bench/calibrate.py bench/data/squad-v1.1-dev [--work DIR]

Prints the cross-validated answer / decline rates and ROC AUC, the shipped weights' figures,
and weights fitted on both halves (to paste into retrieval/confidence.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import build_dataset_index, halves

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval.answer import Answerer
from retrieval.confidence import CONFIDENCE_WEIGHTS, FEATURES, evidence
from retrieval.evaluate import read_questions
from retrieval.index import Index
from retrieval.question import search_text
from retrieval.search import Searcher


def features(index_dir: Path, embedder: Embedder, questions: list, indexed: set[str]) -> tuple[np.ndarray, np.ndarray]:
    answerer = Answerer(Searcher(Index.open(index_dir, embedder), embedder))
    texts = [search_text(q.question) for q in questions]
    vectors = embedder.encode(texts)
    rows, labels = [], []
    for q, text, vector in zip(questions, texts, vectors, strict=True):
        query = answerer.searcher.index.store.query_terms(text)
        ranked = answerer.candidates(text, answerer.searcher.retrieve_vector(text, vector, 5), query)
        if ranked:
            rows.append(evidence(query, ranked[0]).as_tuple())
            labels.append(q.article_id in indexed)
    return np.array(rows), np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, default=None, help="keep indexes here between runs")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    work = args.work or Path(tempfile.mkdtemp(prefix="citebot-calib-"))
    embedder, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    articles = [json.loads(line) for line in (args.dataset / "articles.jsonl").open()]
    questions = [q for q in read_questions(args.dataset / "questions.jsonl") if not q.impossible]
    runs = []
    for h, ids in enumerate(halves(articles)):
        index_dir = build_dataset_index([a for a in articles if a["id"] in ids], work / f"half{h}", embedder)
        runs.append(features(index_dir, asker, questions, ids))

    def report(name: str, y: np.ndarray, p: np.ndarray) -> None:
        print(
            f"{name}: AUC {roc_auc_score(y, p):.3f}  answered in-corpus {(p[y] >= args.threshold).mean():.3f}  "
            f"declined out-of-corpus {(p[~y] < args.threshold).mean():.3f}  (n={len(y)})"
        )

    def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        # balanced: in- and out-of-corpus questions count equally whatever their numbers
        return LogisticRegression(class_weight="balanced", C=10.0, max_iter=1000).fit(x, y)

    for train, test in ((0, 1), (1, 0)):
        model = fit(*runs[train])
        report(f"fit on half {train}, scored on half {test}", runs[test][1], model.predict_proba(runs[test][0])[:, 1])
    x = np.vstack([r[0] for r in runs])
    y = np.concatenate([r[1] for r in runs])
    shipped = np.array([CONFIDENCE_WEIGHTS[f] for f in FEATURES])
    report("shipped weights, both halves", y, 1 / (1 + np.exp(-(CONFIDENCE_WEIGHTS["bias"] + x @ shipped))))
    model = fit(x, y)
    weights = {"bias": round(float(model.intercept_[0]), 3)}
    weights.update({f: round(float(w), 3) for f, w in zip(FEATURES, model.coef_[0], strict=True)})
    print("weights fitted on both halves:", json.dumps(weights))


if __name__ == "__main__":
    main()
