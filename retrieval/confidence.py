"""How sure citebot is that the articles answer a question at all.

Rank-relative scores cannot say this (the best of bad matches is still first), so the
confidence looks at absolute evidence about the chosen sentence and its passage. A question
about something the articles never mention ("France") leaves its rarest term uncovered and
its cosines low. Weights come from ``bench/calibrate.py``: a logistic regression of "the
question is about an indexed article" fitted on SQuAD with half of the articles indexed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from retrieval.quotes import Candidate
from retrieval.store import QueryTerms, terms

FEATURES = ("sentence_dense", "passage_dense", "sentence_coverage", "passage_coverage")
CONFIDENCE_WEIGHTS = {
    "bias": -10.007, "sentence_dense": 6.6, "passage_dense": 7.007, "sentence_coverage": 3.931,
    "passage_coverage": 4.57,
}  # fmt: skip


@dataclass(frozen=True)
class Evidence:
    """Absolute (not rank-relative) signals that a sentence answers the question."""

    sentence_dense: float
    passage_dense: float
    sentence_coverage: float
    passage_coverage: float

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in FEATURES)


def evidence(query: QueryTerms, best: Candidate) -> Evidence:
    (passage_terms,) = terms([best.hit.passage.text])
    return Evidence(best.match.dense, best.hit.dense, query.coverage(best.terms), query.coverage(passage_terms))


def confidence(ev: Evidence) -> float:
    z = CONFIDENCE_WEIGHTS["bias"] + sum(
        CONFIDENCE_WEIGHTS[n] * x for n, x in zip(FEATURES, ev.as_tuple(), strict=True)
    )
    return 1.0 / (1.0 + math.exp(-z))
