"""Sentence vectors: pooled from the paragraph's tokens (late chunking, what citebot stores) or encoded alone.

For each answerable WikiQA question (half a; evaluation only, never fitted on), the document's
sentences are ranked by cosine to the question, and the first is checked against the answer
sentences: late chunking, each sentence encoded alone, and the mean of the two. No fusion, no
reranker: how much the sentence vectors alone can pick.

    python bench/sentence_vectors.py [--model NAME]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from folds import SHARED

from embeddings import INDEX_BACKEND, Embedder
from retrieval.text import split_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="default: $CITEBOT_MODEL, else the default model")
    args = parser.parse_args()
    folder = SHARED / "wikiqa-test-half-a"
    articles = {a["id"]: a for a in map(json.loads, (folder / "articles.jsonl").open(encoding="utf-8"))}
    questions = [
        q for q in map(json.loads, (folder / "questions.jsonl").open(encoding="utf-8")) if q["answer_sentences"]
    ]
    embedder = Embedder(args.model, backend=INDEX_BACKEND)
    right = {"late": 0, "alone": 0, "mean": 0}
    for q in questions:
        text = " ".join(articles[q["article_id"]]["paragraphs"])
        spans = split_sentences(text)
        sentences = [text[i:j] for i, j in spans]
        question = embedder.encode([q["question"]], query=True)[0]
        _, pooled = embedder.encode_with_spans([text], [spans])
        late, alone = pooled[0] @ question, embedder.encode(sentences) @ question
        answers = [any(s in a or a.strip() in s for a in q["answer_sentences"]) for s in sentences]
        for name, scores in (("late", late), ("alone", alone), ("mean", (late + alone) / 2)):
            right[name] += answers[int(np.argmax(scores))]
    figures = ", ".join(f"{name} {n / len(questions):.3f}" for name, n in right.items())
    print(f"{embedder.spec.name}: first sentence right, {len(questions)} questions: {figures}")


if __name__ == "__main__":
    main()
