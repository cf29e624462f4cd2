"""Sentence vectors: pooled from the paragraph's tokens (late chunking), encoded alone, or both (what e5 stores).

For each answerable question, the sentences of the text holding its answer are ranked by cosine
to the question, and the first is checked against the answer sentences: late chunking, each
sentence encoded alone, and the mean of the two cosines; the one the index stores for this model
is marked (``ModelSpec.span_vectors``: "late", or "blend", whose vectors give the mean). No fusion,
no reranker: how much the sentence vectors alone can pick. ``--set natural``: the written natural
questions about SQuAD paragraphs (bench/data/natural, packets 1-6: the fitting set the choice is
made on); ``--set wikiqa``: WikiQA half a, each question's whole summary (evaluation only).

    python bench/sentence_vectors.py [--set natural|wikiqa] [--limit N] [--model NAME]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import ROOT
from folds import SHARED

from embeddings import INDEX_BACKEND, Embedder
from retrieval.text import split_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="default: $CITEBOT_MODEL, else the default model")
    parser.add_argument("--set", choices=("natural", "wikiqa"), default="natural")
    parser.add_argument("--limit", type=int, help="a seeded sample of this many questions (a quicker look)")
    args = parser.parse_args()
    texts, questions = _natural() if args.set == "natural" else _wikiqa()
    if args.limit and args.limit < len(questions):
        questions = random.Random(0).sample(questions, args.limit)
    embedder = Embedder(args.model, backend=INDEX_BACKEND)
    late_only = Embedder(replace(embedder.spec, span_vectors="late"), backend=INDEX_BACKEND)
    right = {"late": 0, "alone": 0, "mean": 0}
    stored = {"late": "late", "blend": "mean"}[embedder.spec.span_vectors]  # tests/test_e5.py: blend == mean
    for q in questions:
        text = texts(q)
        spans = split_sentences(text)
        sentences = [text[i:j] for i, j in spans]
        question = embedder.encode([q["question"]], query=True)[0]
        _, pooled = late_only.encode_with_spans([text], [spans])
        late, alone = pooled[0] @ question, embedder.encode(sentences) @ question
        answers = [any(s in a or a.strip() in s for a in q["answer_sentences"]) for s in sentences]
        for name, scores in zip(right, (late, alone, (late + alone) / 2), strict=True):
            right[name] += answers[int(np.argmax(scores))]
    figures = ", ".join(f"{name}{' (stored)' * (name == stored)} {n / len(questions):.3f}" for name, n in right.items())
    print(f"{embedder.spec.name}, {args.set}: first sentence right, {len(questions)} questions: {figures}")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _wikiqa() -> tuple[Callable[[dict], str], list[dict]]:
    folder = SHARED / "wikiqa-test-half-a"
    articles = {a["id"]: a for a in _lines(folder / "articles.jsonl")}
    questions = [q for q in _lines(folder / "questions.jsonl") if q["answer_sentences"]]
    return (lambda q: " ".join(articles[q["article_id"]]["paragraphs"])), questions


def _natural() -> tuple[Callable[[dict], str], list[dict]]:
    articles = {a["id"]: a for a in _lines(SHARED / "squad-v1.1-dev" / "articles.jsonl")}
    packets = sorted((ROOT / "bench/data/natural").glob("squad-packet[1-6].jsonl"))
    questions = [q for path in packets for q in _lines(path) if q.get("answer_sentences")]
    return (lambda q: articles[q["article_id"]]["paragraphs"][q["paragraph_index"]]), questions


if __name__ == "__main__":
    main()
