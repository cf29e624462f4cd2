"""Fit how the reranker's reading is used: which sentence to quote, and when to decline.

On the dev quarter of the fitted fold (bench/folds.py; the reranker never trained on it), every
question goes through ``Answerer.trace`` with the reranker reading the first stage's best
``--read`` sentences, and each sentence read is labelled right or wrong (bench/scorer_data.py).
Questions: SQuAD 1.1, the written natural ones (answerable and on-topic unanswerable), SQuAD
2.0's unanswerable ones, and out-of-corpus ones (dev questions asked of an index without their
articles).

Fitted, with 3-fold cross-validation by article for the figures printed:
- ``quote``: P(sentence answers) from the reranker's logit and the first stage's log-odds;
- how many sentences the reranker must read (``reranked``), by quote accuracy;
- ``confidence``: P(the quoted sentence is right) from retrieval/confidence.py's evidence;
- ``threshold``: where answering gives the best answer-triggering F1 over the dev questions.

``--ship`` copies the reranker and its tokenizer into retrieval/models, writes its card
(reranker.json: sha256s, training, figures) and scorer.json (the weights, what they were fitted
on, the cross-validated figures). Nothing else writes those files.

    python bench/fit_scorer.py --reranker /tmp/reranker [--read 8] [--ship]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from common import fitted_dir, fitted_scorer, work_dir
from folds import dev_articles, fitted_articles
from scorer_data import TrainQuestion, build_dataset_index, ensure_indexes, load
from tqdm import tqdm

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval.answer import Answerer, quote_features
from retrieval.confidence import FEATURES as CONFIDENCE_FEATURES
from retrieval.confidence import MAX_MARGIN, evidence, with_interactions
from retrieval.errors import QuestionError
from retrieval.index import Index
from retrieval.quotes import to_read
from retrieval.reranker import CARD, RERANKER, TOKENIZER, Reranker, models_dir
from retrieval.search import Searcher
from retrieval.weights import SCORER, Logistic, ScorerWeights, parse

SOURCES = ("squad11", "natural", "squad2", "natural-uk", "natural-ru", "xquad-de", "xquad-es")
ROWS_FORMAT = 2  # of the cached rows; 2: each reranker pair scored alone (batches moved logits by ~0.1)
QUOTE_FEATURES = ("reranker", "first_stage", "dense", "cross", "reranker_cross")


def collect(answerer: Answerer, questions: list[TrainQuestion], out_of_corpus: bool) -> list[dict]:
    """Per question: each sentence read, with its features, evidence and whether it is right."""
    rows = []
    for q in tqdm(questions, disable=not sys.stderr.isatty(), unit="q"):
        try:
            trace = answerer.trace(q.question)
        except QuestionError:
            continue
        read = [c for c in trace.candidates if c.reranker is not None]
        sentences = []
        for c in read:
            right = not out_of_corpus and q.answered_by(c)
            single = evidence(trace.query, c, None)
            sentences.append(
                {
                    **quote_features(c, c.reranker),
                    "evidence": {k: v for k, v in single.items() if k not in ("quote", "margin")},
                    "right": right,
                }
            )
        rows.append(
            {
                "article": q.article_id,
                "source": "out-of-corpus" if out_of_corpus else q.source,
                "answerable": q.answerable and not out_of_corpus,
                "read": sentences,
                "order": [i for i, _ in sorted(enumerate(read), key=lambda ic: ic[1].first_stage, reverse=True)],
            }
        )
    return rows


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -60, 60)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, names: tuple[str, ...], c: float = 1.0) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000).fit(x, y, sample_weight=weight)
    return Logistic(float(model.intercept_[0]), {n: float(w) for n, w in zip(names, model.coef_[0], strict=True)})


def source_weights(rows: list[dict]) -> dict[str, float]:
    """Per source, the weight of one of its questions: the written natural questions, few but the
    kind users ask, weigh as much in all as the SQuAD ones do."""
    counts = {src: sum(r["source"] == src for r in rows) for src in {r["source"] for r in rows}}
    weights = dict.fromkeys(counts, 1.0)
    if counts.get("natural") and counts.get("squad11"):
        weights["natural"] = counts["squad11"] / counts["natural"]
        for source in counts:  # the translated natural questions weigh as the English ones do
            if source.startswith("natural-"):
                weights[source] = weights["natural"]
    return weights


def reading(row: dict, k: int) -> list[dict]:
    """The sentences of ``row`` the reranker reads at ``k``, chosen exactly as the answerer does."""
    return to_read([row["read"][i] for i in row["order"]], k, lambda s: s["dense"])


def quote_matrix(rows: list[dict], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    weights = source_weights(rows)
    for r in rows:
        for s in reading(r, k):
            xs.append([s[n] for n in QUOTE_FEATURES])
            ys.append(s["right"])
            ws.append(weights[r["source"]])
    return np.array(xs), np.array(ys), np.array(ws)


def fit_quote(rows: list[dict], k: int) -> Logistic:
    """P(sentence answers) from QUOTE_FEATURES: the direction by a conditional logit over each
    question's read sentences (what matters is which of them ranks first, and a pointwise fit
    let SQuAD's many easy negatives set it), then scale and bias by a pointwise logistic."""
    from scipy.optimize import minimize
    from sklearn.linear_model import LogisticRegression

    weights = source_weights(rows)
    groups = []
    for r in rows:
        read = reading(r, k)
        y = np.array([float(s["right"]) for s in read])
        if y.sum() > 0 and len(read) > 1:
            groups.append((np.array([[s[n] for n in QUOTE_FEATURES] for s in read]), y / y.sum(), weights[r["source"]]))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.01 * float(w @ w), 0.02 * w
        for x, target, weight in groups:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            total -= weight * float(target @ np.log(p + 1e-12))
            grad = grad - weight * (x.T @ (target - p))
        return total, grad

    direction = minimize(loss, np.ones(len(QUOTE_FEATURES)), jac=True, method="L-BFGS-B").x
    x, y, w = quote_matrix(rows, k)
    scale = LogisticRegression(max_iter=5000).fit((x @ direction)[:, None], y, sample_weight=w)
    a, b = float(scale.coef_[0][0]), float(scale.intercept_[0])
    return Logistic(b, {n: a * float(d) for n, d in zip(QUOTE_FEATURES, direction, strict=True)})


def choose(row: dict, quote: Logistic, k: int) -> tuple[dict, dict]:
    """The sentence quoted among those read at ``k``, and the evidence confidence weighs for it."""
    read = reading(row, k)
    z = [quote.log_odds({n: s[n] for n in QUOTE_FEATURES}) for s in read]
    order = sorted(range(len(read)), key=lambda i: -z[i])
    margin = min(MAX_MARGIN, z[order[0]] - z[order[1]]) if len(order) > 1 else MAX_MARGIN
    best = read[order[0]]
    return best, with_interactions({"quote": z[order[0]], "margin": margin, **best["evidence"]})


def confidence_matrix(rows: list[dict], quote: Logistic, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    weights = source_weights(rows)
    for r in rows:
        if not r["read"]:
            continue
        best, features = choose(r, quote, k)
        xs.append([features[n] for n in CONFIDENCE_FEATURES])
        ys.append(best["right"])
        ws.append(weights[r["source"]])
    return np.array(xs), np.array(ys), np.array(ws)


def figures(rows: list[dict], quote: Logistic, confidence: Logistic, threshold: float, k: int) -> dict:
    """Per source: first quote right (answerable), answered, declined (unanswerable), AT P/R/F1."""
    out: dict[str, dict] = {}
    for source in [*sorted({r["source"] for r in rows}), "all"]:
        chosen = [r for r in rows if (source == "all" or r["source"] == source) and r["read"]]
        right = answered = right_answered = given = declined = unanswerable = answerable = 0
        for r in chosen:
            best, features = choose(r, quote, k)
            sure = confidence.probability(features) >= threshold
            given += sure
            if r["answerable"]:
                answerable += 1
                right += best["right"]
                answered += sure
                right_answered += sure and best["right"]
            else:
                unanswerable += 1
                declined += not sure
        p = right_answered / given if given else 0.0
        rec = right_answered / answerable if answerable else 0.0
        out[source] = {
            "questions": len(chosen),
            "first_quote_right": round(right / answerable, 3) if answerable else None,
            "answered": round(answered / answerable, 3) if answerable else None,
            "declined": round(declined / unanswerable, 3) if unanswerable else None,
            "at_f1": round(2 * p * rec / (p + rec), 3) if p + rec else None,
        }
    return out


def best_threshold(rows: list[dict], quote: Logistic, confidence: Logistic, k: int) -> float:
    """The threshold with the best answer-triggering F1 on ``rows``, among 0.05 .. 0.95."""
    grid = np.round(np.arange(0.05, 0.96, 0.025), 3)
    scores = [figures(rows, quote, confidence, float(t), k)["all"]["at_f1"] or 0.0 for t in grid]
    return float(grid[int(np.argmax(scores))])


def cross_validate(rows: list[dict], k: int, folds: int = 3) -> dict:
    """Figures pooled over held-out thirds of the articles, each scored by the fit that did not see it."""
    part = {a: int(hashlib.sha1(a.encode()).hexdigest(), 16) % folds for a in {r["article"] for r in rows}}
    totals: dict[str, dict[str, float]] = {}
    for f in range(folds):
        train = [r for r in rows if part[r["article"]] != f]
        test = [r for r in rows if part[r["article"]] == f]
        quote = fit_quote([r for r in train if r["answerable"]], k)
        confidence = fit_logistic(*confidence_matrix(train, quote, k), CONFIDENCE_FEATURES)
        threshold = best_threshold(train, quote, confidence, k)
        for source, figure in figures(test, quote, confidence, threshold, k).items():
            total = totals.setdefault(source, {})
            for key, value in figure.items():
                if value is not None:  # weighted by the questions each share is of
                    weight = 1 if key == "questions" else figure["questions"]
                    total[key] = total.get(key, 0.0) + value * weight
    return {
        source: {key: (round(v / t["questions"], 3) if key != "questions" else int(v)) for key, v in t.items()}
        for source, t in totals.items()
    }


def collect_all(args: argparse.Namespace, reranker: Reranker, collecting: ScorerWeights) -> list[dict]:
    """Every dev question traced with the reranker reading all its candidates, plus out-of-corpus ones."""
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    dev = dev_articles()
    questions = [q for q in load(SOURCES) if q.article_id in dev]
    if args.limit:
        questions = [q for s in SOURCES for q in [q for q in questions if q.source == s][: args.limit]]
    indexes = ensure_indexes(SOURCES, args.work, indexer)
    rows = []
    for source in SOURCES:
        answerer = Answerer(Searcher(Index.open(indexes[source], asker), asker), weights=collecting, reranker=reranker)
        rows += collect(answerer, [q for q in questions if q.source == source], out_of_corpus=False)
    # out of corpus: dev questions asked of the fitted fold's other articles
    others = [json.loads(line) for line in (Path(indexes["squad11"]).parent / "squad.jsonl").open()]
    others = [a for a in others if a["id"] in fitted_articles() and a["id"] not in dev]
    index = build_dataset_index(others, args.work / "squad-fitted-not-dev", indexer)
    answerer = Answerer(Searcher(Index.open(index, asker), asker), weights=collecting, reranker=reranker)
    asked = [q for q in questions if q.source in ("squad11", "natural", "natural-uk", "natural-ru")][::2]
    rows += collect(answerer, asked, out_of_corpus=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reranker", type=Path, required=True, help="a folder written by bench/train_reranker.py")
    parser.add_argument("--read", type=int, default=8, help="the most sentences per question tried")
    parser.add_argument(
        "--max-reranked",
        type=int,
        default=2,
        help="the most sentences a question may have read (6 layers: ~7 ms each on 2 cores; the bundled "
        "article's p50 target is 15 ms)",
    )
    parser.add_argument("--work", type=Path, default=work_dir("targets"))
    parser.add_argument("--ship", action="store_true")
    parser.add_argument(
        "--without-reranker", action="store_true", help="only print the figures with the reranker's logit left out"
    )
    parser.add_argument("--limit", type=int, help="at most this many questions per source (a quick trial)")
    args = parser.parse_args()
    # A folder of retrieval/models (another model's shipped reranker) is used from there, not copied.
    shared = (args.reranker / CARD).is_file() and args.reranker.resolve().parent == models_dir().parent
    model = args.reranker / (RERANKER if shared else "model.int8.onnx")
    # the tokenizer the reranker was trained with (written beside it), else the shipped one (older runs)
    tokenizer = args.reranker / TOKENIZER if (args.reranker / TOKENIZER).is_file() else models_dir() / TOKENIZER
    files = ((RERANKER, model), (TOKENIZER, tokenizer))
    sha = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files}
    if shared:
        training = json.loads((args.reranker / CARD).read_text())["training"]
    else:
        training = json.loads((args.reranker / "training.json").read_text())
    reranker = Reranker(
        model, tokenizer, {model.name: sha[RERANKER], TOKENIZER: sha[TOKENIZER]},
        max_length=int(training["settings"]["max_length"]),
    )  # fmt: skip
    _, base_scorer = fitted_scorer()
    base = parse(base_scorer)
    by_reranker = Logistic(0.0, {"reranker": 1.0})  # while collecting: any order will do
    collecting = ScorerWeights(base.first_stage, 32, by_reranker, base.confidence, base.threshold)  # read all
    # What this reranker read after this search and first stage: refits of the same are quick.
    vectors = Embedder(backend=INDEX_BACKEND).vector_id  # the indexes' passage and sentence vectors
    setup = json.dumps(
        [ROWS_FORMAT, sha[RERANKER], vectors, repr(base.search), base.first_stage.bias, base.first_stage.weights]
    )
    cached = args.work / f"fit-rows-{hashlib.sha256(setup.encode()).hexdigest()[:12]}.json"
    if cached.exists():
        rows = json.loads(cached.read_text())
    else:
        rows = collect_all(args, reranker, collecting)
        cached.write_text(json.dumps(rows))
    counts = {s: sum(r["source"] == s for r in rows) for s in sorted({r["source"] for r in rows})}
    print(f"dev questions: {counts}")

    if args.without_reranker:  # the same sentences, chosen and weighed without the cross-encoder
        global QUOTE_FEATURES
        QUOTE_FEATURES = tuple(f for f in QUOTE_FEATURES if not f.startswith("reranker"))
        for source, f in cross_validate(rows, 2).items():
            print(f"  without the reranker, cross-validated {source}: {f}")
        return
    results = {}
    for k in sorted({2, 3, 4, 5, 6, 8, args.read}):
        if k > args.read:
            continue
        cv = cross_validate(rows, k)
        results[k] = cv
        print(f"read {k}: cross-validated {json.dumps(cv['all'])}; natural {json.dumps(cv.get('natural'))}")
    affordable = [n for n in results if n <= args.max_reranked]
    k = max(affordable, key=lambda n: (results[n]["all"]["at_f1"] or 0) - 0.002 * n)
    quote = fit_quote([r for r in rows if r["answerable"]], k)
    confidence = fit_logistic(*confidence_matrix(rows, quote, k), CONFIDENCE_FEATURES)
    threshold = best_threshold(rows, quote, confidence, k)
    print(f"chosen: read {k}, threshold {threshold}; quote {quote}; confidence {confidence}")
    for source, f in results[k].items():
        print(f"  cross-validated {source}: {f}")
    if not args.ship:
        return
    target = fitted_dir()
    if not shared:
        _ship_reranker(args, target, model, tokenizer, training, sha)

    def dump(m: Logistic) -> dict:
        return {"bias": round(m.bias, 4), "weights": {n: round(w, 4) for n, w in m.weights.items()}}

    source = f"retrieval/models/{args.reranker.resolve().name}" if shared else "DIR"
    scorer = {
        **({"search": base_scorer["search"]} if "search" in base_scorer else {}),
        "reranker": args.reranker.resolve().name if shared else target.name,
        "first_stage": dump(base.first_stage),
        "reranked": k,
        "quote": dump(quote),
        "confidence": dump(confidence),
        "threshold": threshold,
        "fitted": {
            "date": datetime.date.today().isoformat(),
            "command": f"python bench/fit_scorer.py --reranker {source} --read {args.read} --ship",
            "data": counts,
            "reranker_sha256": sha[RERANKER],
            "cross_validated": results[k],
        },
    }
    (target / SCORER).write_text(json.dumps(scorer, indent=2) + "\n")
    print(f"shipped: {target / SCORER} (reranker: {scorer['reranker']}, {model.stat().st_size / 2**20:.1f} MB)")


def _ship_reranker(
    args: argparse.Namespace, target: Path, model: Path, tokenizer: Path, training: dict, sha: dict[str, str]
) -> None:
    """Copy a newly trained reranker and its tokenizer beside the weights, with its card."""
    shutil.copy(model, target / RERANKER)
    if tokenizer != target / TOKENIZER:
        shutil.copy(tokenizer, target / TOKENIZER)
    base_model = training.get("base", "all-MiniLM-L6-v2")
    card = {
        "model": f"cross-encoder fine-tuned from {base_model} ({training['settings']['layers']} layers), int8 ONNX",
        "sha256": sha,
        "max_length": int(training["settings"]["max_length"]),
        "input": "question [SEP] title: sentence",
        "training": training,
        "command": "python bench/candidates.py --out C.jsonl && python bench/train_reranker.py C.jsonl --out DIR "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in training["settings"].items()
            if k not in ("candidates", "out") and v != "None"
        )
        + f" && python bench/fit_scorer.py --reranker DIR --read {args.read} --ship",
    }
    (target / CARD).write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
