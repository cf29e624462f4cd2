"""Errors the retrieval room raises. Each message is one line a person can act on."""


class CitebotError(Exception):
    """Base for every failure a front end should show as one line, not a traceback."""


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


class QuestionError(CitebotError):
    """The question cannot be answered as asked (empty, too long, no words)."""
