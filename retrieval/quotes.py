"""Which sentences might be quoted: the first, cheap look at every sentence of the best passages.

Its features say how well a sentence matches the question on its own (cosine, BM25, share of
the question's rare terms), how good its passage is, whether its neighbours rather than itself
carry the question's terms, and whether it holds what the question asks for (a date for "when",
a number for "how many", a name for "who"). A logistic regression (weights in
``retrieval/models/scorer.json``, fitted by ``bench/fit_quotes.py``) orders them; the best few
are then read closely by the reranker (``retrieval/answer.py``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from retrieval.records import Hit
from retrieval.search import Retrieved, SentenceMatch
from retrieval.store import QueryTerms, terms
from retrieval.weights import Logistic

FEATURES = (
    "dense", "lexical", "coverage", "passage", "previous_coverage", "next_coverage", "log_length",
    "when_date", "quantity_number", "who_name", "first_passage", "second_passage", "phrasing",
)  # fmt: skip

_NUMBER = re.compile(r"\d")
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})\b|\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|century|Monday|Tuesday|Wednesday|Thursday|"
    r"Friday|Saturday|Sunday)\b"
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
_WHEN = re.compile(r"^\s*when\b|\bwhat (year|date|day|month|century|time)\b|\bsince when\b", re.IGNORECASE)
_QUANTITY = re.compile(r"\bhow (many|much|long|old|far|big|large|tall|often)\b|\bwhat (percentage|number)\b", re.I)
_WHO = re.compile(r"^\s*who\b|\bwho (is|was|were|are)\b|\bwhose\b", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """One sentence that may be quoted, with what it was scored on."""

    hit: Hit
    match: SentenceMatch
    text: str
    terms: Counter[str]
    features: tuple[float, ...]  # the first stage's, named by FEATURES
    first_stage: float  # the first stage's probability that it answers
    reranker: float | None = None  # the reranker's logit, for the few it read
    probability: float = 0.0  # the final probability that it answers (what quotes are chosen by)


def candidates(
    question: str, query: QueryTerms, retrieved: Retrieved, passages: int, first_stage: Logistic
) -> list[Candidate]:
    """Sentences of the top ``passages`` hits, most likely to answer first (by the first stage)."""
    hits = retrieved.hits[:passages]
    pool = [
        (rank, hit, m) for rank, hit in enumerate(hits) for m in retrieved.sentences.get(hit.passage.passage_id, [])
    ]
    if not pool:
        return []
    texts = [hit.passage.text[m.start - hit.passage.start : m.end - hit.passage.start] for _, hit, m in pool]
    sentence_terms = terms(texts)
    average = sum(sum(t.values()) for t in sentence_terms) / len(sentence_terms)
    lexical = [query.bm25(t, average) for t in sentence_terms]
    best_lexical = max(lexical)
    coverage = [query.coverage(t) for t in sentence_terms]
    top_score = hits[0].score if hits[0].score > 0 else 1.0
    asks_when, asks_quantity, asks_who = (bool(p.search(question)) for p in (_WHEN, _QUANTITY, _WHO))
    out = []
    for j, ((rank, hit, m), text) in enumerate(zip(pool, texts, strict=True)):
        same_before = j > 0 and pool[j - 1][1] is hit
        same_after = j + 1 < len(pool) and pool[j + 1][1] is hit
        features = (
            m.dense,
            lexical[j] / best_lexical if best_lexical > 0 else 0.0,
            coverage[j],
            hit.score / top_score,
            coverage[j - 1] if same_before else 0.0,
            coverage[j + 1] if same_after else 0.0,
            math.log(len(text) + 1),
            float(asks_when and bool(_DATE.search(text))),
            float(asks_quantity and bool(_NUMBER.search(text))),
            float(asks_who and bool(_NAME.search(text))),
            float(rank == 0),
            float(rank == 1),
            sum(1 for t in query.phrasing if t in sentence_terms[j]) / len(query.phrasing) if query.phrasing else 0.0,
        )
        p = first_stage.probability(dict(zip(FEATURES, features, strict=True)))
        out.append(Candidate(hit, m, text, sentence_terms[j], features, p, probability=p))
    out.sort(key=lambda c: -c.first_stage)
    return out


T = TypeVar("T")


def to_read(ranked: Sequence[T], k: int, closeness: Callable[[T], float]) -> list[T]:
    """The ``k`` sentences the reranker reads: the first look's best half, then the closest in meaning.

    ``ranked`` is in the first look's order, which favours sentences sharing the question's words;
    a reader's paraphrase shares few, and its answer is often found by cosine alone. (Also used by
    bench/fit_scorer.py on its recorded rows, so the fitted choice is the shipped one.)
    """
    chosen = list(ranked[: (k + 1) // 2])
    taken = {id(c) for c in chosen}
    for c in sorted(ranked, key=lambda c: -closeness(c)):
        if len(chosen) >= k:
            break
        if id(c) not in taken:
            chosen.append(c)
            taken.add(id(c))
    return chosen
