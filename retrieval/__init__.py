"""Owns the corpus, the index on disk, and the search that picks and quotes passages."""

from retrieval.errors import (
    CitebotError,
    CorpusError,
    IndexBusy,
    IndexDamaged,
    IndexMissing,
    ModelMismatch,
    NotAnIndex,
    QuestionError,
    ScorerError,
)
from retrieval.library import Library
from retrieval.records import Answer, Article, ArticleInfo, Citation, Hit, IndexInfo, Passage, Quote

__all__ = [
    "Answer",
    "Article",
    "ArticleInfo",
    "Citation",
    "CitebotError",
    "CorpusError",
    "Hit",
    "IndexBusy",
    "IndexDamaged",
    "IndexInfo",
    "IndexMissing",
    "Library",
    "ModelMismatch",
    "NotAnIndex",
    "Passage",
    "QuestionError",
    "Quote",
    "ScorerError",
]
