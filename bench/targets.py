"""The quality targets (issue 11) measured on the shipped defaults, in one table.

Builds (and caches under --work) one index per set, asks every question through
``Answerer.trace`` (the path a user's question takes) and prints, per set, the figures the
targets name. Sets:

- ``wikiqa``: ../shared/eval/wikiqa-test-half-a, all 309 summaries in one index; real
  search-engine questions (never trained on: evaluation only).
- ``bundled-paraphrased`` / ``bundled-blind``: the bundled article with bench/data/bundled's
  sets (paraphrased after reading / written blind, before reading; see that folder's README).
- ``squad``: SQuAD v1.1 dev, all 48 articles in one index; ``squad-heldout`` is the same run
  restricted to the articles of the fold no scorer was fitted on (``bench/folds.py``).
- ``squad-v2``: the SQuAD 2.0 dev half (3,168 unanswerable questions).
- ``out-of-corpus``: the fitted fold's articles indexed, 1,000 questions about the held-out
  fold's articles asked: all should be declined.
- ``languages``: questions in other languages (issue 23). The bundled article's two sets in
  Ukrainian, Russian and German (bench/data/multilingual, never fitted on); XQuAD's 1,190
  questions in English and in German, Spanish, Russian and Chinese asked of the English SQuAD
  articles (labelled with the English question's answer; German and Spanish are fitted on in the
  fitted fold, so only the held-out fold is shown for them; Russian and Chinese never); and an
  original Ukrainian article asked in English, Ukrainian and Russian.

    python bench/targets.py [--sets wikiqa,squad,...] [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

from common import ROOT, build_dataset_index, machine, work_dir
from folds import SHARED, heldout_articles

from embeddings import INDEX_BACKEND, QUERY_BACKEND, Embedder
from retrieval import Library
from retrieval.evaluate import EvalQuestion, evaluate, read_questions
from retrieval.index import build_index

BUNDLED = ROOT / "bench/data/bundled"
SETS = ("wikiqa", "bundled-paraphrased", "bundled-blind", "squad", "squad-v2", "out-of-corpus", "languages")
MULTILINGUAL = ROOT / "bench/data/multilingual"


def _articles(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _measure(library: Library, questions: list[EvalQuestion]) -> dict:
    (row,) = evaluate(library.answerer, questions, modes=("fused",), progress=sys.stderr.isatty())
    return {k: v for k, v in row.__dict__.items() if k != "mode"}


def run(name: str, work: Path, indexer: Embedder, asker: Embedder) -> list[tuple[str, dict]]:
    if name == "wikiqa":
        folder = SHARED / "wikiqa-test-half-a"
        index = build_dataset_index(_articles(folder / "articles.jsonl"), work / "wikiqa", indexer)
        return [(name, _measure(Library(index, asker), read_questions(folder / "questions.jsonl")))]
    if name.startswith("bundled"):
        index = work / "bundled"
        build_index([BUNDLED / "article.jsonl"], index, indexer)
        which = "paraphrased" if name == "bundled-paraphrased" else "blind"
        return [(name, _measure(Library(index, asker), read_questions(BUNDLED / f"{which}.jsonl")))]
    if name == "squad":
        folder = SHARED / "squad-v1.1-dev"
        index = build_dataset_index(_articles(folder / "articles.jsonl"), work / "squad", indexer)
        questions = read_questions(folder / "questions.jsonl")
        held = heldout_articles()
        library = Library(index, asker)
        return [
            ("squad", _measure(library, questions)),
            ("squad-heldout", _measure(library, [q for q in questions if q.article_id in held])),
        ]
    if name == "squad-v2":
        folder = SHARED / "squad-v2-dev-half"
        index = build_dataset_index(_articles(folder / "articles.jsonl"), work / "squad-v2", indexer)
        return [(name, _measure(Library(index, asker), read_questions(folder / "questions.jsonl")))]
    if name == "out-of-corpus":
        folder = SHARED / "squad-v1.1-dev"
        held = heldout_articles()
        fitted = [a for a in _articles(folder / "articles.jsonl") if a["id"] not in held]
        index = build_dataset_index(fitted, work / "squad-fitted-fold", indexer)
        others = [q for q in read_questions(folder / "questions.jsonl") if q.article_id in held]
        asked = [EvalQuestion(q.qid, q.article_id, q.question, answerable=False) for q in others]
        return [(name, _measure(Library(index, asker), random.Random(7).sample(asked, 1000)))]
    if name == "languages":
        return languages(work, indexer, asker)
    raise SystemExit(f"unknown set {name!r}; known: {', '.join(SETS)}")


def languages(work: Path, indexer: Embedder, asker: Embedder) -> list[tuple[str, dict]]:
    rows = []
    build_index([BUNDLED / "article.jsonl"], work / "bundled", indexer)
    bundled = Library(work / "bundled", asker)
    for which in ("paraphrased", "blind"):
        for lang in ("uk", "ru", "de"):
            questions = read_questions(MULTILINGUAL / f"bundled-{which}.{lang}.jsonl")
            rows.append((f"bundled-{which}, {lang}", _measure(bundled, questions)))
    folder = SHARED / "squad-v1.1-dev"
    squad = Library(build_dataset_index(_articles(folder / "articles.jsonl"), work / "squad", indexer), asker)
    english = {q.qid: q for q in read_questions(folder / "questions.jsonl")}
    held = heldout_articles()
    for lang in ("en", "de", "es", "ru", "zh"):
        asked = [
            replace(english[r["id"]], question=r["question"])
            for r in map(json.loads, (SHARED / "xquad" / lang / "questions.jsonl").open(encoding="utf-8"))
            if r["id"] in english
        ]
        if lang in ("en", "ru", "zh"):
            rows.append((f"xquad-{lang}", _measure(squad, asked)))
        rows.append((f"xquad-{lang}, held-out fold", _measure(squad, [q for q in asked if q.article_id in held])))
    build_index([MULTILINGUAL / "uk-article.jsonl"], work / "uk-article", indexer)
    ukrainian = Library(work / "uk-article", asker)
    for lang in ("en", "uk", "ru"):
        questions = read_questions(MULTILINGUAL / f"uk-article-questions.{lang}.jsonl")
        rows.append((f"uk article, asked in {lang}", _measure(ukrainian, questions)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--work", type=Path, default=work_dir("targets"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    indexer, asker = Embedder(backend=INDEX_BACKEND), Embedder(backend=QUERY_BACKEND)
    results = [row for name in args.sets.split(",") for row in run(name.strip(), args.work, indexer, asker)]
    if args.json:
        print(json.dumps({"machine": machine(), "sets": dict(results)}))
        return
    print(f"machine: {machine()}\n")
    keys = [
        ("answerable", "{:,}"), ("unanswerable", "{:,}"), ("recall_at_1", "{:.3f}"), ("first_quote_right", "{:.3f}"),
        ("answered", "{:.3f}"), ("declined", "{:.3f}"), ("answered_right_paragraph", "{:.3f}"),
        ("precision", "{:.3f}"), ("recall", "{:.3f}"), ("f1", "{:.3f}"),
    ]  # fmt: skip
    print("| set | " + " | ".join(k for k, _ in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in results:
        cells = ["—" if r.get(k) is None else fmt.format(r[k]) for k, fmt in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
