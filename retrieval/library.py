"""A served index: answers questions and follows rebuilds without a restart.

Front ends hold one ``Library``. Before each question it checks (one ``readlink``) whether
``citebot index`` has swapped in a new build, and if so opens it; a question already being
answered keeps the searcher it started with, so a swap never fails a question in flight.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from embeddings import Embedder
from retrieval.answer import Answerer, AnswerSettings
from retrieval.errors import CitebotError
from retrieval.index import Index, current_build_id, open_index
from retrieval.records import Answer, ArticleInfo, Citation, IndexInfo
from retrieval.search import Mode, Searcher, SearchSettings

if TYPE_CHECKING:
    from retrieval.milvus import MilvusIndex

log = logging.getLogger(__name__)


class Library:
    """The articles a front end answers from."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        *,
        search: SearchSettings | None = None,
        answer: AnswerSettings | None = None,
    ):
        self.index_dir = index_dir
        self.embedder = embedder
        self._search_settings = search
        self._answer_settings = answer
        self._lock = threading.Lock()
        self._failed: str | None = None  # a build that failed to open is not retried
        self._answerer = self._open()

    def _open(self) -> Answerer:
        return self._answering(open_index(self.index_dir, self.embedder))

    def _answering(self, index: Index | MilvusIndex) -> Answerer:
        return Answerer(Searcher(index, self.embedder, self._search_settings), self._answer_settings)

    def _latest(self) -> str | None:
        """The id of the build that should be serving (a view of a chat's documents overrides it)."""
        return current_build_id(self.index_dir)

    @property
    def answerer(self) -> Answerer:
        """The answerer for the newest build; reopened when the ``current`` link moved."""
        try:
            latest = self._latest()
        except CitebotError as exc:  # the store is unreachable: answer with what is open, say so in the logs
            log.warning("could not check for a newer index", extra={"reason": str(exc)})
            return self._answerer
        if latest in (self._answerer.searcher.index.build_id, self._failed):
            return self._answerer
        with self._lock:
            if latest not in (self._answerer.searcher.index.build_id, self._failed):
                try:
                    self._answerer = self._open()
                    log.info("index reloaded", extra={"build": latest})
                except Exception as exc:  # whatever is wrong with the new build, keep serving the one we have
                    self._failed = latest
                    reason = str(exc) if isinstance(exc, CitebotError) else f"{type(exc).__name__}: {exc}"
                    log.warning("new index not loaded; still serving the previous one", extra={"reason": reason})
        return self._answerer

    @property
    def index(self) -> Index | MilvusIndex:
        return self.answerer.searcher.index

    def answer(self, question: str, *, top: int | None = None, mode: Mode = "fused") -> Answer:
        return self.answerer.answer(question, top=top, mode=mode)

    def sources(self) -> list[ArticleInfo]:
        return self.index.store.articles()

    def about(self) -> IndexInfo:
        return self.index.info()

    def examples(self) -> list[str]:
        """Example questions chosen at build time from the articles' most frequent names."""
        return json.loads(self.index.store.meta().get("examples", "[]"))

    def citation(self, article_id: str, number: int) -> Citation:
        title, date, url = self.index.store.article_meta([article_id])[article_id]
        return Citation(article_id, title, date, number, url, self.index.store.paragraph_page(article_id, number))

    def paragraph(self, article_id: str, number: int) -> str | None:
        return self.index.store.paragraph_text(article_id, number)

    def warm_up(self) -> None:
        """Load the models now rather than on the first question."""
        self.embedder.encode(["warm up"], query=True)
        if self.answerer.reranker is not None:
            self.answerer.reranker.warm_up()
