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

from retrieval.languages import crosses, language_of, passage_language
from retrieval.records import Hit
from retrieval.search import Retrieved, SentenceMatch
from retrieval.store import QueryTerms, terms
from retrieval.weights import Logistic

FEATURES = (
    "dense", "lexical", "coverage", "passage", "previous_coverage", "next_coverage", "log_length",
    "when_date", "quantity_number", "who_name", "first_passage", "second_passage", "phrasing", "cross",
)  # fmt: skip
CROSS = FEATURES.index("cross")  # 1: the question and the sentence's passage are in different languages

_NUMBER = re.compile(r"\d")
# Dates, and the question words that ask for a date, an amount or a person, in English and in the
# languages citebot answers most (uk, ru, de, es, fr): a question about an English article may be
# asked in any of them, and an article may be in any of them.
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})\b|\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|century|Monday|Tuesday|Wednesday|Thursday|"
    r"Friday|Saturday|Sunday)\b"
    # Ukrainian and Russian months in the forms a date takes ("7 червня", "у травні", "6 июня")
    r"|\b(?:(?:січ|берез|квіт|трав|черв|лип|серп|верес|жовт|груд)(?:ень|ня|ні)|лют(?:ий|ого|ому)|листопад[аі]?"
    r"|(?:январ|феврал|апрел|июн|июл|сентябр|октябр|ноябр|декабр)[ьяе]|ма[йяе]|(?:март|август)[аеу]?)\b"
    r"|\b(?:Januar|Februar|März|Mai|Juni|Juli|Oktober|Dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto"
    r"|septiembre|octubre|noviembre|diciembre|janvier|février|mars|avril|mai|juin|juillet|août|septembre"
    r"|octobre|novembre|décembre)\b"
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-ZА-ЯІЇЄҐЁ][a-zа-яіїєґё'’]+")
_WHEN = re.compile(
    r"^\s*(?:when|коли|когда|wann|cuándo|cuando|quand)\b|\bwhat (year|date|day|month|century|time)\b"
    r"|\bsince when\b|\b(?:в|у|з) якому році\b|\bв каком году\b|\bin welchem jahr\b|\ben qué año\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\bhow (many|much|long|old|far|big|large|tall|often)\b|\bwhat (percentage|number)\b"
    r"|\b(?:скільки|сколько|wie viele?|wieviele?|cuánt[oa]s?|combien)\b",
    re.IGNORECASE,
)
_WHO = re.compile(r"^\s*(?:who|хто|кто|wer|quién|quien|qui)\b|\bwho (is|was|were|are)\b|\bwhose\b", re.IGNORECASE)


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
    """Sentences of the top ``passages`` hits, most likely to answer first (by the first stage).

    A sentence whose passage is in another language than the question is marked (``cross``): it
    cannot share the question's words, and the fitted weights learn what to trust instead.
    """
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
    asked_in = language_of(question)
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
            float(crosses(asked_in, passage_language(hit.passage.text))),
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
