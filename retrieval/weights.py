"""The fitted numbers of search and the answer step, read from ``retrieval/models/<model>/scorer.json``.

They are written by the fitting scripts in ``bench/`` (never edited by hand, never pasted into
code), together with what they were fitted on and what they scored, so what is measured is
what ships. Each embedding model has its own (cosines differ in scale from model to model),
and names the folder of the reranker it was fitted with. Read once, checked strictly: a
missing or malformed file is one clear error.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

from retrieval.errors import ScorerError
from retrieval.reranker import FALLBACK, models_dir

SCORER = "scorer.json"


@dataclass(frozen=True)
class Logistic:
    """``sigmoid(bias + sum(weight * feature))`` over named features."""

    bias: float
    weights: dict[str, float]

    def log_odds(self, features: dict[str, float]) -> float:
        return self.bias + sum(w * features[name] for name, w in self.weights.items())

    def probability(self, features: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, self.log_odds(features)))))


@dataclass(frozen=True)
class ScorerWeights:
    first_stage: Logistic  # which sentences of the best passages are worth reading closely
    reranked: int  # how many of them the reranker reads
    quote: Logistic  # which of those answers the question (reranker logit + first stage)
    confidence: Logistic  # whether the chosen sentence answers it at all
    threshold: float  # answer at or above this confidence, else decline
    reranker: str = FALLBACK  # the folder under retrieval/models holding the reranker these were fitted with
    search: dict[str, float] | None = None  # SearchSettings fields fitted for this model (fusion weights)


def _logistic(raw: Any, name: str) -> Logistic:
    if not isinstance(raw, dict) or not isinstance(raw.get("weights"), dict):
        raise ScorerError(f"{SCORER}: {name!r} must be {{'bias': number, 'weights': {{name: number}}}}")
    values = [raw.get("bias"), *raw["weights"].values()]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ScorerError(f"{SCORER}: {name!r} holds a value that is not a finite number")
    return Logistic(float(raw["bias"]), {str(k): float(v) for k, v in raw["weights"].items()})


def parse(data: Any) -> ScorerWeights:
    if not isinstance(data, dict):
        raise ScorerError(f"{SCORER} is not a JSON object")
    reranked, threshold = data.get("reranked"), data.get("threshold")
    if type(reranked) is not int or not 0 <= reranked <= 32:
        raise ScorerError(f"{SCORER}: 'reranked' must be a whole number from 0 to 32")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold < 1:
        raise ScorerError(f"{SCORER}: 'threshold' must be a number between 0 and 1")
    reranker, search = data.get("reranker", FALLBACK), data.get("search")
    if not isinstance(reranker, str) or not reranker or "/" in reranker or reranker.startswith("."):
        raise ScorerError(f"{SCORER}: 'reranker' must name a folder beside it")
    if search is not None and not (
        isinstance(search, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in search.values())
    ):
        raise ScorerError(f"{SCORER}: 'search' must map setting names to numbers from 0 to 1")
    return ScorerWeights(
        _logistic(data.get("first_stage"), "first_stage"),
        reranked,
        _logistic(data.get("quote"), "quote"),
        _logistic(data.get("confidence"), "confidence"),
        float(threshold),
        reranker,
        {str(k): float(v) for k, v in search.items()} if search else None,
    )


@functools.cache
def shipped(model: str = FALLBACK) -> ScorerWeights:
    """The weights fitted for folder ``model`` (see ``reranker.fitted_model``)."""
    path = models_dir(model) / SCORER
    try:
        return parse(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ScorerError(f"{path} is missing or damaged ({exc}): reinstall citebot") from None
