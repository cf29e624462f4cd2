"""Plain, frozen records that cross room boundaries.

Front ends receive an ``Answer`` and only render it; nothing here knows about Telegram or
terminals, and nothing here holds a database handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One article as read from disk: paragraphs are exact source text, numbered from 1."""

    article_id: str
    title: str
    paragraphs: tuple[str, ...]
    date: str | None = None
    place: str | None = None
    url: str | None = None
    source: str | None = None  # the publisher (site name), when the article says
    origin: str | None = None  # file (and line) it was read from, for messages only
    author: str | None = None
    pages: tuple[int, ...] | None = None  # PDFs: the 1-based page each paragraph starts on


@dataclass(frozen=True)
class Passage:
    """The unit that is embedded and searched: a paragraph, or a window of a long one."""

    passage_id: int  # row in the vector index
    article_id: str
    paragraph: int  # 1-based paragraph number within the article
    start: int  # character offsets of the window within the paragraph
    end: int
    text: str
    page: int | None = None  # PDFs: the page its paragraph starts on


@dataclass(frozen=True)
class Hit:
    """A passage with the scores that ranked it."""

    passage: Passage
    score: float  # fused score used for ranking
    dense: float  # cosine between question and passage
    lexical: float  # share of the question's rare terms it holds (fused), or BM25 over the best match's (0..1)


@dataclass(frozen=True)
class Citation:
    """Where a quote comes from, precisely enough to check it."""

    article_id: str
    title: str
    date: str | None
    paragraph: int
    url: str | None = None
    page: int | None = None  # PDFs: the page the paragraph starts on


@dataclass(frozen=True)
class Quote:
    """Exact article words: ``text == paragraph_text[start:end]``."""

    text: str
    citation: Citation
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "article_id": self.citation.article_id,
            "title": self.citation.title,
            "date": self.citation.date,
            "paragraph": self.citation.paragraph,
            "page": self.citation.page,
            "url": self.citation.url,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Answer:
    """What citebot says to one question: quotes when it can answer, the closest match when not."""

    question: str
    answered: bool
    confidence: float
    quotes: tuple[Quote, ...] = ()
    closest: Quote | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "confidence": round(self.confidence, 4),
            "quotes": [q.to_dict() for q in self.quotes],
            "closest": self.closest.to_dict() if self.closest else None,
        }


@dataclass(frozen=True)
class ArticleInfo:
    """What ``/sources`` shows about an indexed article."""

    article_id: str
    title: str
    date: str | None
    paragraphs: int
    url: str | None = None


@dataclass(frozen=True)
class IndexInfo:
    """What ``/about`` shows: the manifest, in plain fields."""

    path: str
    model: str
    dimension: int
    articles: int
    passages: int
    built_at: str
    index_type: str
    extra: dict[str, Any] = field(default_factory=dict)
