"""The one place an ``Answer`` is made: search, weigh the sentences, read the best closely, decide.

Every sentence of the best passages gets a cheap first look (``quotes.py``); the few it ranks
highest are read together with the question by the reranker (``reranker.py``), whose logit,
with the first look's, gives each the probability that it answers. The most probable is
quoted if ``confidence.py`` is sure enough, else the answer is declined with it as the closest
match. A further quote is added only when its own probability is at least
``extra_quote_ratio`` of the best's, so a confident answer stays one sentence and an uncertain
one hedges with up to three. Quotes are exact slices of the stored paragraph, so every quote
can be checked against its citation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from retrieval.confidence import evidence, log_odds
from retrieval.question import check_question, search_text
from retrieval.quotes import CROSS, Candidate, candidates, to_read
from retrieval.records import Answer, Citation, Quote
from retrieval.reranker import Reranker, fitted_model, shipped_reranker
from retrieval.search import Mode, Retrieved, Searcher
from retrieval.store import QueryTerms
from retrieval.topics import topic_of
from retrieval.weights import ScorerWeights, shipped


@dataclass(frozen=True)
class AnswerSettings:
    max_quotes: int = 3
    quote_passages: int = 3  # the top passages that always supply candidate sentences
    candidate_sentences: int = 12  # further passages (up to max_passages) supply them until there are this many
    max_passages: int = 8
    extra_quote_ratio: float = 0.5  # a further quote needs this share of the best one's probability
    max_quote_chars: int = 600  # no further quotes once the answer is this long
    overview_quotes: int = 2  # quotes (from different paragraphs) for "what do the articles say about X?"
    overview_passages: int = 10  # passages searched for them (the lead paragraph may not rank first)
    overview_coverage: float = 0.5  # share of the topic's terms (by rarity) a sentence must name


@dataclass(frozen=True)
class Trace:
    """One question's way through the pipeline: what was searched, retrieved and weighed, and the answer.

    Evaluation, the benchmarks and the fitting scripts read traces, so what they measure is
    exactly what ships.
    """

    question: str  # as asked (stripped)
    searched: str  # what was searched for: the question without markup
    retrieved: Retrieved
    query: QueryTerms
    candidates: tuple[Candidate, ...]  # every sentence weighed, most likely to answer first
    answer: Answer
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (encode … reranker, quoting)


def quote_features(c: Candidate, reranker: float) -> dict[str, float]:
    """What the quote probability weighs: the reranker's logit, the first look's log-odds, the cosine,
    and whether the question is in another language than the sentence (and the reranker's logit then)."""
    cross = c.features[CROSS]
    return {
        "reranker": reranker,
        "first_stage": log_odds(c.first_stage),
        "dense": c.match.dense,
        "cross": cross,
        "reranker_cross": reranker * cross,
    }


class Answerer:
    """Turns a question into an ``Answer`` using one ``Searcher``: the only question pipeline."""

    def __init__(
        self,
        searcher: Searcher,
        settings: AnswerSettings | None = None,
        *,
        weights: ScorerWeights | None = None,
        reranker: Reranker | None = None,
    ):
        self.searcher = searcher
        self.settings = settings or AnswerSettings()
        self.weights = weights or shipped(fitted_model(searcher.embedder.spec.name))
        self.reranker = reranker or (shipped_reranker(self.weights.reranker) if self.weights.reranked else None)

    def answer(self, question: str, *, top: int | None = None, mode: Mode = "fused") -> Answer:
        return self.trace(question, top=top, mode=mode).answer

    def encode(self, searched: str) -> np.ndarray:
        """The question's vector, encoded alone as in service (int8 scales depend on the batch)."""
        return self.searcher.embedder.encode([searched], query=True)[0]

    def trace(
        self, question: str, *, top: int | None = None, mode: Mode = "fused", vector: np.ndarray | None = None
    ) -> Trace:
        """Answer ``question`` and keep everything that led there.

        ``vector`` is the question's vector from ``encode`` when the caller has it already (an
        evaluation trying several retrieval modes encodes each question once).
        """
        text = check_question(question)
        searched = search_text(text)
        topic = topic_of(searched)
        looked_for = topic or searched
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if vector is None:
            vector = self.encode(looked_for)
        timings["encode"] = time.perf_counter() - started
        k = self.settings.overview_passages if topic else max(self.settings.max_passages, 5)
        retrieved = self.searcher.retrieve_vector(looked_for, vector, k, mode, timings=timings)
        quoting = time.perf_counter()
        query = retrieved.terms
        if topic is not None:
            ranked = self._about(query, retrieved)
            answer = self._overview(text, ranked)
        else:
            ranked = self._rank(searched, query, retrieved, timings)
            answer = self._decide(text, query, ranked, top)
        timings["quoting"] = time.perf_counter() - quoting - timings.setdefault("reranker", 0.0)
        return Trace(text, searched, retrieved, query, tuple(ranked), answer, timings)

    def _about(self, topic: QueryTerms, retrieved: Retrieved) -> list[Candidate]:
        """Sentences of the best passages for a topic: naming most of it first, then in article order."""
        found = candidates("", topic, retrieved, len(retrieved.hits), self.weights.first_stage)
        rank = {h.passage.passage_id: i for i, h in enumerate(retrieved.hits)}
        lead = retrieved.hits[0].passage.article_id if retrieved.hits else None
        scored = [replace(c, probability=topic.coverage(c.terms)) for c in found]
        return sorted(
            scored,
            key=lambda c: (
                -round(c.probability, 6),
                c.hit.passage.article_id != lead,
                c.hit.passage.paragraph,
                c.match.start,
                rank[c.hit.passage.passage_id],
            ),
        )

    def _overview(self, question: str, ranked: list[Candidate]) -> Answer:
        """The passages most about the topic; declined when no sentence names it well enough."""
        if not ranked:
            return Answer(question, answered=False, confidence=0.0)
        best = ranked[0]
        if best.probability < self.settings.overview_coverage:
            return Answer(question, False, best.probability, closest=self._quote(best))
        chosen, paragraphs = [], set()
        for c in ranked:
            key = (c.hit.passage.article_id, c.hit.passage.paragraph)
            if c.probability >= best.probability and key not in paragraphs:
                chosen.append(c)
                paragraphs.add(key)
            if len(chosen) == self.settings.overview_quotes:
                break
        return Answer(question, True, best.probability, tuple(self._quote(c) for c in chosen))

    def _rank(
        self, searched: str, query: QueryTerms, retrieved: Retrieved, timings: dict[str, float]
    ) -> list[Candidate]:
        """Candidates, best first: the few the reranker read (by final probability), then the rest."""
        w = self.weights
        ranked = candidates(searched, query, retrieved, self._pool(retrieved), w.first_stage)
        read = to_read(ranked, w.reranked, lambda c: c.match.dense) if self.reranker is not None else []
        if not read:
            return ranked
        ids = sorted({c.hit.passage.article_id for c in read})
        titles = {aid: meta[0] for aid, meta in self.searcher.index.store.article_meta(ids).items()}
        started = time.perf_counter()
        logits = self.reranker.logits(searched, [f"{titles[c.hit.passage.article_id]}: {c.text}" for c in read])
        timings["reranker"] = time.perf_counter() - started
        scored = [
            replace(c, reranker=float(z), probability=w.quote.probability(quote_features(c, float(z))))
            for c, z in zip(read, logits, strict=True)
        ]
        scored.sort(key=lambda c: -c.probability)
        taken = {id(c) for c in read}
        return scored + [c for c in ranked if id(c) not in taken]

    def _pool(self, retrieved: Retrieved) -> int:
        """How many of the best passages supply candidate sentences.

        Three long encyclopaedia paragraphs hold a dozen sentences; three one-sentence news
        paragraphs hold three, and a reader's paraphrase often ranks its paragraph fourth or
        sixth. Passages are added until there are enough sentences for the reranker to choose from.
        """
        s = self.settings
        total = 0
        for n, hit in enumerate(retrieved.hits[: s.max_passages], 1):
            total += len(retrieved.sentences.get(hit.passage.passage_id, ()))
            if n >= s.quote_passages and total >= s.candidate_sentences:
                return n
        return min(len(retrieved.hits), s.max_passages)

    def _decide(self, question: str, query: QueryTerms, ranked: list[Candidate], top: int | None) -> Answer:
        s, w = self.settings, self.weights
        if not ranked:
            return Answer(question, answered=False, confidence=0.0)
        best = ranked[0]
        contenders = [c for c in ranked[1:] if c.reranker is not None] if best.reranker is not None else ranked[1:]
        sure = w.confidence.probability(evidence(query, best, contenders[0] if contenders else None))
        if sure < w.threshold:
            return Answer(question, False, sure, closest=self._quote(best))
        limit = max(1, min(top or s.max_quotes, s.max_quotes))
        chosen = [best]
        length = len(best.text)
        for c in contenders:
            if (
                len(chosen) >= limit
                or length >= s.max_quote_chars
                or c.probability < s.extra_quote_ratio * best.probability
            ):
                break
            chosen.append(c)
            length += len(c.text)
        return Answer(question, True, sure, tuple(self._quote(c) for c in chosen))

    def _quote(self, c: Candidate) -> Quote:
        passage = c.hit.passage
        title, date, url = self.searcher.index.store.article_meta([passage.article_id])[passage.article_id]
        citation = Citation(passage.article_id, title, date, passage.paragraph, url, passage.page)
        return Quote(c.text, citation, c.match.start, c.match.end, c.probability)
