"""Fit the answer/decline confidence on real questions, cross-validated by article halves.

For each half H of the articles in a SQuAD-style set: index H alone; questions about H are
"in corpus" (should be answered), questions about the other half are "out of corpus" (should
be declined). Features come from ``Answerer.evidence``; a logistic regression is fitted on one
half's run and scored on the other's, so the reported figures are for unseen articles.

    python bench/calibrate.py ../shared/eval/squad-v1.1-dev [--work /tmp/citebot-calib]

Prints the weights to paste into ``retrieval/answer.py`` (CONFIDENCE_WEIGHTS) and the
cross-validated answer / decline rates at the shipped threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings import Embedder
from retrieval.answer import CONFIDENCE_WEIGHTS, Answerer
from retrieval.evaluate import read_questions
from retrieval.index import Index, build_index
from retrieval.search import Searcher

FEATURES = ["sentence_dense", "passage_dense", "sentence_coverage", "passage_coverage"]


def features_for_half(dataset: Path, half: int, work: Path, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    articles = [json.loads(line) for line in (dataset / "articles.jsonl").open()]
    ids = sorted(a["id"] for a in articles)
    chosen = set(ids[half::2])
    corpus = work / f"half{half}.jsonl"
    corpus.write_text("".join(json.dumps(a) + "\n" for a in articles if a["id"] in chosen))
    index_dir = work / f"index{half}"
    build_index([corpus], index_dir, embedder, progress=True)
    answerer = Answerer(Searcher(Index.open(index_dir, embedder), embedder))
    questions = [q for q in read_questions(dataset / "questions.jsonl") if not q.impossible]
    vectors = embedder.encode([q.question for q in questions], progress=True)
    rows, labels = [], []
    for q, vector in zip(questions, vectors, strict=False):
        retrieved = answerer.searcher.retrieve_vector(q.question, vector, 5)
        ranked = answerer._rank_sentences(q.question, retrieved)
        if not ranked:
            continue
        _, hit, best = ranked[0]
        ev = answerer.evidence(q.question, best, hit)
        rows.append([getattr(ev, f) for f in FEATURES])
        labels.append(q.article_id in chosen)
    return np.array(rows), np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    work = args.work or Path(tempfile.mkdtemp(prefix="citebot-calib-"))
    work.mkdir(parents=True, exist_ok=True)
    embedder = Embedder()
    halves = [features_for_half(args.dataset, h, work, embedder) for h in (0, 1)]
    shipped = np.array([CONFIDENCE_WEIGHTS[f] for f in FEATURES])

    def report(name: str, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> None:
        answered_in = (p[y] >= args.threshold).mean()
        declined_out = (p[~y] < args.threshold).mean()
        print(
            f"{name}: AUC {roc_auc_score(y, p):.3f}  answered in-corpus {answered_in:.3f}  "
            f"declined out-of-corpus {declined_out:.3f}  (n={len(y)})"
        )

    for train, test in ((0, 1), (1, 0)):
        x, y = halves[train]
        # balanced: in- and out-of-corpus questions count equally whatever their numbers
        model = LogisticRegression(class_weight="balanced", C=10.0, max_iter=1000).fit(x, y)
        tx, ty = halves[test]
        report(f"fit on half {train}, scored on half {test}", tx, ty, model.predict_proba(tx)[:, 1])
    x = np.vstack([h[0] for h in halves])
    y = np.concatenate([h[1] for h in halves])
    z = CONFIDENCE_WEIGHTS["bias"] + x @ shipped
    report("shipped weights, both halves", x, y, 1 / (1 + np.exp(-z)))
    model = LogisticRegression(class_weight="balanced", C=10.0, max_iter=1000).fit(x, y)
    weights = {"bias": round(float(model.intercept_[0]), 3)}
    weights.update({f: round(float(w), 3) for f, w in zip(FEATURES, model.coef_[0], strict=False)})
    print("weights fitted on both halves:", json.dumps(weights))


if __name__ == "__main__":
    main()
