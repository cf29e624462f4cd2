"""The one place an ``Answer`` is made: search, pick the sentences to quote, decide.

Quotes are exact slices of the stored paragraph, so every quote can be checked against its
citation. The best candidate sentence is always quoted; a further one only when its own
probability of holding the answer is at least ``extra_quote_ratio`` of the best's, so a
confident answer stays one sentence and an uncertain one hedges with up to three.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.confidence import confidence, evidence
from retrieval.question import check_question, search_text
from retrieval.quotes import Candidate, candidates
from retrieval.records import Answer, Citation, Quote
from retrieval.search import Mode, Retrieved, Searcher
from retrieval.store import QueryTerms


@dataclass(frozen=True)
class AnswerSettings:
    max_quotes: int = 3
    quote_passages: int = 3  # how many top passages may supply quotes
    extra_quote_ratio: float = 0.5  # a further quote needs this share of the best one's probability
    max_quote_chars: int = 600  # no further quotes once the answer is this long
    threshold: float = 0.5  # answer when confidence reaches this, else decline


class Answerer:
    """Turns a question into an ``Answer`` using one ``Searcher``."""

    def __init__(self, searcher: Searcher, settings: AnswerSettings | None = None):
        self.searcher = searcher
        self.settings = settings or AnswerSettings()

    def answer(self, question: str, *, top: int | None = None, mode: Mode = "fused") -> Answer:
        text = check_question(question)
        retrieved = self.searcher.retrieve(search_text(text), k=max(self.settings.quote_passages, 5), mode=mode)
        return self.from_retrieved(text, retrieved, top=top)

    def candidates(self, question: str, retrieved: Retrieved, query: QueryTerms | None = None) -> list[Candidate]:
        text = search_text(question)
        query = query or self.searcher.index.store.query_terms(text)
        return candidates(text, query, retrieved, self.settings.quote_passages)

    def from_retrieved(self, question: str, retrieved: Retrieved, *, top: int | None = None) -> Answer:
        s = self.settings
        query = self.searcher.index.store.query_terms(search_text(question))
        ranked = self.candidates(question, retrieved, query)
        if not ranked:
            return Answer(question, answered=False, confidence=0.0)
        best = ranked[0]
        sure = confidence(evidence(query, best))
        if sure < s.threshold:
            return Answer(question, False, sure, closest=self._quote(best))
        limit = max(1, min(top or s.max_quotes, s.max_quotes))
        chosen = [best]
        length = len(best.text)
        for c in ranked[1:]:
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
        citation = Citation(passage.article_id, title, date, passage.paragraph, url)
        return Quote(c.text, citation, c.match.start, c.match.end, c.probability)
