"""Hybrid search: dense candidates and BM25 candidates (FAISS and FTS5, or Milvus), fused into one ranking.

Fusion is a convex mix of scores, not of ranks: on SQuAD-style questions reciprocal rank
fusion lost to BM25 alone at rank 1. The lexical side is the share of the question's rare
terms a passage holds (idf-weighted coverage), not BM25 normalised by the best match: a
reader's paraphrase shares only the topic's name with its answer, and normalised BM25 gave
full marks to whichever passage repeated that name most (on written paraphrases, paragraph
R@1 0.70 → 0.76, SQuAD 0.83 → 0.85; bench/quality.md). The dense side mixes the passage
cosine with the best sentence cosine, so one on-topic sentence in a long paragraph still counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from embeddings import Embedder
from retrieval.index import Index
from retrieval.records import Hit
from retrieval.reranker import fitted_model
from retrieval.store import QueryTerms
from retrieval.weights import shipped

if TYPE_CHECKING:
    from retrieval.milvus import MilvusIndex

Mode = Literal["fused", "dense", "lexical"]


@dataclass(frozen=True)
class SearchSettings:
    candidates: int = 50  # from each of FAISS and FTS5
    lexical_weight: float = 0.35  # share of term coverage in the fused score
    sentence_weight: float = 0.7  # share of the best sentence in the dense score


@dataclass(frozen=True)
class SentenceMatch:
    sentence_id: int
    start: int  # offsets within the paragraph
    end: int
    dense: float


@dataclass(frozen=True)
class Retrieved:
    """Everything the answer step needs from one search, computed once."""

    query: np.ndarray
    hits: list[Hit]
    sentences: dict[int, list[SentenceMatch]]  # passage id -> its sentences
    terms: QueryTerms  # the question's terms and their rarity here


@dataclass(frozen=True)
class Pool:
    """The candidate passages of one search, each with the parts its fused score is made of."""

    ids: list[int]  # passage ids, cosine's candidates first
    dense: dict[int, float]  # passage cosine
    lexical: dict[int, float]  # BM25 (higher is better), for the FTS5 matches only
    sentences: dict[int, list[SentenceMatch]]  # each passage's sentences with their cosines
    held: dict[int, set[str]]  # the question's content terms each passage holds (fused mode)
    terms: QueryTerms

    def best_sentence(self, passage_id: int) -> float:
        return max((m.dense for m in self.sentences.get(passage_id, ())), default=self.dense[passage_id])


def fitted_settings(embedding_model: str) -> SearchSettings:
    """The fusion weights fitted for this embedding model (scorer.json's "search"), else the defaults."""
    fitted = shipped(fitted_model(embedding_model)).search or {}
    return replace(SearchSettings(), **{k: v for k, v in fitted.items() if k in SearchSettings.__dataclass_fields__})


class Searcher:
    """Searches one opened index with one embedder."""

    def __init__(self, index: Index | MilvusIndex, embedder: Embedder, settings: SearchSettings | None = None):
        self.index = index
        self.embedder = embedder
        self.settings = settings or fitted_settings(embedder.spec.name)

    def search(self, question: str, k: int = 5, mode: Mode = "fused") -> list[Hit]:
        return self.retrieve(question, k, mode).hits

    def retrieve(self, question: str, k: int = 5, mode: Mode = "fused") -> Retrieved:
        query = self.embedder.encode([question], query=True)[0]
        return self.retrieve_vector(question, query, k, mode)

    def retrieve_vector(
        self, question: str, query: np.ndarray, k: int, mode: Mode = "fused", timings: dict[str, float] | None = None
    ) -> Retrieved:
        """Search with an already encoded question; ``timings`` (if given) receives seconds per stage."""
        s = self.settings
        pool = self.pool(question, query, mode, timings)
        started = time.perf_counter()
        best_lexical = max(pool.lexical.values(), default=0.0)
        scored = []
        for c in pool.ids:
            if mode == "fused":
                lex = pool.terms.coverage(pool.held[c])
            else:
                lex = min(1.0, pool.lexical.get(c, 0.0) / best_lexical) if best_lexical > 0 else 0.0
            dense_mix = (1 - s.sentence_weight) * pool.dense[c] + s.sentence_weight * pool.best_sentence(c)
            if mode == "dense":
                score = pool.dense[c]
            elif mode == "lexical":
                score = lex
            else:
                score = (1 - s.lexical_weight) * dense_mix + s.lexical_weight * lex
            scored.append((score, c, pool.dense[c], lex))
        scored.sort(key=lambda row: -row[0])
        top = scored[: max(k, 1) * 4]  # extra room: windows of one paragraph collapse below
        passages = self.index.store.passages([c for _, c, _, _ in top])
        hits: list[Hit] = []
        seen: set[tuple[str, int]] = set()
        for score, c, d, lex in top:
            passage = passages[c]
            key = (passage.article_id, passage.paragraph)
            if key in seen:  # overlapping windows of one paragraph: keep the best
                continue
            seen.add(key)
            hits.append(Hit(passage, float(score), float(d), float(lex)))
            if len(hits) == k:
                break
        if timings is not None:
            timings["fusion"] += time.perf_counter() - started
        chosen = {h.passage.passage_id: pool.sentences.get(h.passage.passage_id, []) for h in hits}
        return Retrieved(query, hits, chosen, pool.terms)

    def pool(
        self, question: str, query: np.ndarray, mode: Mode = "fused", timings: dict[str, float] | None = None
    ) -> Pool:
        """The candidates a search weighs (top ``candidates`` by cosine and by BM25) and their parts.

        ``retrieve_vector`` ranks them; bench/fusion.py compares other formulas on the same parts.
        """
        s = self.settings
        started = time.perf_counter()
        dense = self.index.dense(query, s.candidates)
        lexical_started = time.perf_counter()
        query_terms = self.index.store.query_terms(question)
        lexical = self.index.store.lexical(query_terms, s.candidates) if mode != "dense" else {}
        parts_started = time.perf_counter()
        if mode == "dense":
            ids = list(dense)
        elif mode == "lexical":
            ids = list(lexical)
        else:
            ids = list(dict.fromkeys([*dense, *lexical]))
        missing = [c for c in ids if c not in dense]
        for c, vec in zip(missing, self.index.vectors_of(missing), strict=False):
            dense[c] = float(vec @ query)
        sentences = self._sentences(ids, query)
        held = self.index.store.holding(query_terms, ids) if mode == "fused" else {}
        if timings is not None:
            timings["dense"] = lexical_started - started
            timings["lexical"] = parts_started - lexical_started
            timings["fusion"] = time.perf_counter() - parts_started
        return Pool(ids, dense, lexical, sentences, held, query_terms)

    def _sentences(self, passage_ids: list[int], query: np.ndarray) -> dict[int, list[SentenceMatch]]:
        spans = self.index.store.sentences_of(passage_ids)
        ids = sorted({sid for rows in spans.values() for sid, _, _ in rows})
        if not ids:
            return {}
        sims = dict(zip(ids, (self.index.sentence_vectors_of(ids) @ query).tolist(), strict=False))
        return {
            pid: [SentenceMatch(sid, start, end, sims[sid]) for sid, start, end in rows] for pid, rows in spans.items()
        }
