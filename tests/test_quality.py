"""Quality regression: eight SQuAD v1.1 dev articles indexed alone, with all their questions.

Fails if the shipped search's passage Recall@1 or first-quote hit rate falls more than 0.03
below the figures recorded here, or if abstention stops working. To re-record after a
deliberate change: ``pytest tests/test_quality.py -s`` prints the measured figures.
"""

from __future__ import annotations

import json
import random

import pytest

from embeddings import Embedder
from retrieval.answer import Answerer
from retrieval.evaluate import evaluate, read_questions
from retrieval.index import Index, build_index
from retrieval.search import Searcher
from tests.conftest import ROOT, SAMPLE

RECORDED = {"recall_at_1": 0.824, "first_quote_right": 0.797}  # measured 2026-12-04, third round
TOLERANCE = 0.03


@pytest.fixture(scope="module")
def answerer(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, query_embedder: Embedder) -> Answerer:
    index_dir = tmp_path_factory.mktemp("sample") / "index"
    build_index([SAMPLE / "articles.jsonl"], index_dir, embedder)  # as `citebot index` builds it
    return Answerer(Searcher(Index.open(index_dir, query_embedder), query_embedder))  # as questions are asked


def test_sample_quality_has_not_regressed(answerer: Answerer) -> None:
    questions = read_questions(SAMPLE / "questions.jsonl")
    rows = {r.mode: r for r in evaluate(answerer, questions)}
    shipped = rows["fused"]
    print(
        f"\nsample: R@1 {shipped.recall_at_1:.3f}  quote@1 {shipped.first_quote_right:.3f}  "
        f"quote@any {shipped.any_quote_right:.3f}  answered {shipped.answered:.3f}"
    )
    assert shipped.answerable == len(questions) == 2609
    assert shipped.recall_at_1 >= RECORDED["recall_at_1"] - TOLERANCE
    assert shipped.first_quote_right >= RECORDED["first_quote_right"] - TOLERANCE
    # fusion must keep beating each retriever alone
    assert shipped.recall_at_1 > max(rows["dense"].recall_at_1, rows["lexical"].recall_at_1)
    assert shipped.median_quote_chars <= 300
    assert shipped.answered >= 0.85  # the floor for answerable questions (declining more is deliberate)


def test_questions_about_other_articles_are_declined(answerer: Answerer) -> None:
    sample_ids = {json.loads(line)["id"] for line in (SAMPLE / "articles.jsonl").open()}
    others = [
        q for q in read_questions(ROOT / "bench/data/squad-v1.1-dev/questions.jsonl") if q.article_id not in sample_ids
    ]
    chosen = random.Random(7).sample(others, 400)
    declined = sum(not answerer.answer(q.question).answered for q in chosen) / len(chosen)
    print(f"\nout-of-corpus declined: {declined:.3f}")
    assert declined >= 0.85
