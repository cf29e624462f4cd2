"""The one place an ``Answer`` is made: pick the sentences to quote, and decide to answer.

Quotes are exact slices of the stored paragraph, so every quote can be checked against its
citation. A sentence is scored by a mix of its cosine with the question and its BM25 among
the candidate sentences: the dense side finds paraphrases, the lexical side finds the
sentence that carries the question's rare words (names, numbers).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from retrieval.errors import QuestionError
from retrieval.records import Answer, Citation, Hit, Quote
from retrieval.search import Mode, Retrieved, Searcher, SentenceMatch
from retrieval.store import match_query, stop_terms, terms

MAX_QUESTION_CHARS = 1000
_WORDS = re.compile(r"[^\W_]", re.UNICODE)
_MARKDOWN = re.compile(r"[*_`~#>|]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class AnswerSettings:
    max_quotes: int = 3
    quote_passages: int = 2  # how many top passages may supply quotes
    sentence_lexical_weight: float = 0.5
    extra_quote_ratio: float = 0.85  # a further quote must score this share of the best one
    max_quote_chars: int = 600  # further quotes stop once the answer is this long
    threshold: float = 0.5  # answer when confidence reaches this, else decline


@dataclass(frozen=True)
class Evidence:
    """Absolute (not rank-relative) signals that the best sentence answers the question."""

    sentence_dense: float
    passage_dense: float
    sentence_coverage: float
    passage_coverage: float


# Logistic regression of "the question is about the indexed articles" on ``Evidence``, fitted
# on SQuAD v1.1 dev with half of the articles indexed (questions about the other half are
# out of corpus). See README, "Quality", for how to refit.
CONFIDENCE_WEIGHTS = {
    "bias": -10.214,
    "sentence_dense": 6.56,
    "passage_dense": 6.892,
    "sentence_coverage": 4.303,
    "passage_coverage": 4.819,
}


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment, dropping tags and script/style bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def search_text(question: str) -> str:
    """What is searched for: the question without HTML tags or Markdown emphasis marks.

    People paste formatted text; ``<b>`` or ``**`` are not words they are asking about.
    """
    parser = _TextOnly()
    parser.feed(question)
    parser.close()
    return _SPACES.sub(" ", _MARKDOWN.sub(" ", "".join(parser.parts))).strip()


def check_question(question: str) -> str:
    """The question, stripped; or a ``QuestionError`` saying plainly what is wrong with it."""
    text = question.strip()
    if not text:
        raise QuestionError("Please ask a question: the message was empty.")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"That question is too long ({len(text):,} characters); please keep it under {MAX_QUESTION_CHARS:,}."
        )
    if not _WORDS.search(search_text(text)):
        raise QuestionError("I could not find any words in that question.")
    return text


class Answerer:
    """Turns a question into an ``Answer`` using one ``Searcher``."""

    def __init__(self, searcher: Searcher, settings: AnswerSettings | None = None):
        self.searcher = searcher
        self.settings = settings or AnswerSettings()

    def answer(self, question: str, *, top: int | None = None, mode: Mode = "fused") -> Answer:
        text = check_question(question)
        retrieved = self.searcher.retrieve(search_text(text), k=max(self.settings.quote_passages, 5), mode=mode)
        return self.from_retrieved(text, retrieved, top=top)

    def from_retrieved(self, question: str, retrieved: Retrieved, *, top: int | None = None) -> Answer:
        s = self.settings
        if not retrieved.hits:
            return Answer(question, answered=False, confidence=0.0)
        query = search_text(question)
        ranked = self._rank_sentences(query, retrieved)
        if not ranked:
            return Answer(question, answered=False, confidence=0.0)
        best_score, best_hit, best = ranked[0]
        confidence = self._confidence(self.evidence(query, best, best_hit))
        if confidence < s.threshold:
            return Answer(question, False, confidence, closest=self._quote(best_hit, best, best_score))
        limit = max(1, min(top or s.max_quotes, s.max_quotes))
        quotes = [self._quote(best_hit, best, best_score)]
        length = best.end - best.start
        for score, hit, match in ranked[1:]:
            if len(quotes) >= limit or length >= s.max_quote_chars or score < s.extra_quote_ratio * best_score:
                break
            quotes.append(self._quote(hit, match, score))
            length += match.end - match.start
        return Answer(question, True, confidence, tuple(quotes))

    def _rank_sentences(self, question: str, retrieved: Retrieved) -> list[tuple[float, Hit, SentenceMatch]]:
        """Sentences of the top passages, best first, scored by cosine and BM25."""
        s = self.settings
        hits = retrieved.hits[: s.quote_passages]
        pool = [(hit, m) for hit in hits for m in retrieved.sentences.get(hit.passage.passage_id, [])]
        if not pool:
            return []
        lexical: dict[int, float] = {}
        fts = match_query(question)
        if fts:
            ids = [m.sentence_id for _, m in pool]
            lexical = dict(self.searcher.index.store.lexical("sentences_fts", fts, len(ids), within=ids))
        best_lexical = max(lexical.values(), default=0.0)
        top_score = hits[0].score or 1.0
        ranked = []
        for hit, m in pool:
            lex = lexical.get(m.sentence_id, 0.0) / best_lexical if best_lexical > 0 else 0.0
            score = (1 - s.sentence_lexical_weight) * m.dense + s.sentence_lexical_weight * lex
            # a sentence from a weaker passage is discounted by how much weaker the passage is
            score *= min(1.0, hit.score / top_score) if top_score > 0 else 1.0
            ranked.append((score, hit, m))
        ranked.sort(key=lambda row: -row[0])
        return ranked

    def evidence(self, question: str, best: SentenceMatch, hit: Hit) -> Evidence:
        """How well the best sentence and its passage match the question, in absolute terms.

        Coverage is the share of the question's content terms, weighted by their rarity in
        this index, that occur in the text: a question about something the articles never
        mention ("France") leaves its rarest term uncovered.
        """
        store = self.searcher.index.store
        offset = best.start - hit.passage.start
        sentence = hit.passage.text[offset : offset + best.end - best.start]
        question_terms, sentence_terms, passage_terms = terms([question, sentence, hit.passage.text])
        content = sorted(question_terms - stop_terms()) or sorted(question_terms)
        if not content:
            return Evidence(best.dense, hit.dense, 0.0, 0.0)
        df, n = store.document_frequency(content)
        weights = {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for t in content}
        total = sum(weights.values()) or 1.0
        covered_sentence = sum(w for t, w in weights.items() if t in sentence_terms) / total
        covered_passage = sum(w for t, w in weights.items() if t in passage_terms) / total
        return Evidence(best.dense, hit.dense, covered_sentence, covered_passage)

    def _confidence(self, evidence: Evidence) -> float:
        c = CONFIDENCE_WEIGHTS
        z = (
            c["bias"]
            + c["sentence_dense"] * evidence.sentence_dense
            + c["passage_dense"] * evidence.passage_dense
            + c["sentence_coverage"] * evidence.sentence_coverage
            + c["passage_coverage"] * evidence.passage_coverage
        )
        return 1.0 / (1.0 + math.exp(-z))

    def _quote(self, hit: Hit, match: SentenceMatch, score: float) -> Quote:
        passage = hit.passage
        offset = match.start - passage.start  # passage text starts at passage.start
        text = passage.text[offset : offset + (match.end - match.start)]
        title, date, url = self.searcher.index.store.article_meta([passage.article_id])[passage.article_id]
        citation = Citation(passage.article_id, title, date, passage.paragraph, url)
        return Quote(text, citation, match.start, match.end, float(score))
