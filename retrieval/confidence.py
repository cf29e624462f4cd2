"""How sure citebot is that the sentence it would quote answers the question at all.

Rank-relative scores cannot say this (the best of bad matches is still first), so confidence
looks at absolute evidence: how strongly the reranker, having read question and sentence
together, believes the chosen sentence answers (``quote``) and how clearly it beat the next
one (``margin``), and how close the sentence and its passage are to the question (cosines, and
the share of the question's rare terms they contain). A question about something the articles
never mention leaves its rare terms uncovered; one that is on topic but not answered leaves the
reranker unconvinced. The weights (``retrieval/models/scorer.json``) are fitted by
``bench/fit_scorer.py`` to the probability that the quote is right, on questions that are
answered, on topic but unanswered, and about articles that are not indexed.
"""

from __future__ import annotations

import math

from retrieval.quotes import CROSS, Candidate
from retrieval.store import QueryTerms, terms

FEATURES = (
    "quote", "margin", "sentence_dense", "passage_dense", "sentence_coverage", "passage_coverage", "cross",
    "cross_sentence_dense", "cross_passage_dense",
)  # fmt: skip
MAX_MARGIN = 6.0  # log-odds; an answer with no runner-up counts as this clear


def log_odds(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def evidence(query: QueryTerms, best: Candidate, runner_up: Candidate | None) -> dict[str, float]:
    """The named features ``confidence`` weighs, for the sentence that would be quoted."""
    (passage_terms,) = terms([best.hit.passage.text])
    quote = log_odds(best.probability)
    margin = min(MAX_MARGIN, quote - log_odds(runner_up.probability)) if runner_up is not None else MAX_MARGIN
    return with_interactions(
        {
            "quote": quote,
            "margin": margin,
            "sentence_dense": best.match.dense,
            "passage_dense": best.hit.dense,
            "sentence_coverage": query.coverage(best.terms),
            "passage_coverage": query.coverage(passage_terms),
            "cross": best.features[CROSS],  # another language than the sentence's: no shared words, yet on topic
        }
    )


def with_interactions(features: dict[str, float]) -> dict[str, float]:
    """Cosines across two languages run lower than within one: a question asked in another
    language gets its own slope for them, not only its own bias (``cross``)."""
    cross = features["cross"]
    return {
        **features,
        "cross_sentence_dense": cross * features["sentence_dense"],
        "cross_passage_dense": cross * features["passage_dense"],
    }
