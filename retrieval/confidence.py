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
from retrieval.store import Store, terms

FEATURES = ("sentence_dense", "passage_dense", "sentence_coverage", "passage_coverage")
CONFIDENCE_WEIGHTS = {
    "bias": -9.96, "sentence_dense": 6.619, "passage_dense": 6.929, "sentence_coverage": 3.919,
    "passage_coverage": 4.552,
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


def evidence(question: str, best: Candidate, store: Store) -> Evidence:
    question_terms, sentence_terms, passage_terms = terms([question, best.text, best.hit.passage.text])
    weights = store.query_terms(question_terms)
    return Evidence(best.match.dense, best.hit.dense, weights.coverage(sentence_terms), weights.coverage(passage_terms))


def confidence(ev: Evidence) -> float:
    z = CONFIDENCE_WEIGHTS["bias"] + sum(
        CONFIDENCE_WEIGHTS[n] * x for n, x in zip(FEATURES, ev.as_tuple(), strict=True)
    )
    return 1.0 / (1.0 + math.exp(-z))
