"""Errors the retrieval room raises. Each message is one line a person can act on."""

from __future__ import annotations

from dataclasses import dataclass


class CitebotError(Exception):
    """Base for every failure a front end should show as one line, not a traceback."""


@dataclass(frozen=True)
class Count:
    """A number with its noun for a message ("1 paragraph", "5 paragraphs"); front ends translate it."""

    n: int
    singular: str  # "{n} paragraph"
    plural: str  # "{n} paragraphs"

    def __str__(self) -> str:
        return (self.singular if self.n == 1 else self.plural).format(n=f"{self.n:,}")


class TranslatableError(CitebotError):
    """A message for the person who asked, kept as an English template and its parameters.

    ``str(exc)`` is the English sentence (logs, the command line); a front end renders
    ``template`` with ``params`` through its message catalog, in the asker's language (numbers
    in that language's style, each ``Count`` with its plural form). Retrieval never imports the
    front end.
    """

    def __init__(self, template: str, **params: int | str | Count):
        self.template, self.params = template, params
        english = {k: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for k, v in params.items()}
        super().__init__(template.format(**english) if params else template)


class CorpusError(CitebotError):
    """The articles could not be read (nothing usable, or a path that does not exist)."""


class IndexMissing(CitebotError):
    """There is no index where one was expected."""


class IndexDamaged(CitebotError):
    """An index file is unreadable, truncated or inconsistent with its manifest."""


class NotAnIndex(CitebotError):
    """``--index`` names a folder that holds other things: citebot will not manage (or delete) them."""


class IndexBusy(CitebotError):
    """Another process is building this index."""


class ModelMismatch(CitebotError):
    """The index was built with a different model than the one in use."""


class ScorerError(CitebotError):
    """A shipped scorer (the reranker or its fitted weights) is missing or not the file it should be."""


class QuestionError(TranslatableError):
    """The question cannot be answered as asked (empty, too long, no words)."""
