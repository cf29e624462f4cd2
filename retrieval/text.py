"""Sentences and windows: where quotes may start and end, and what fits in the model.

Sentence boundaries come from pysbd (rule-based, handles abbreviations such as "Jun 6",
"Mr." and quotations that end in ``."``) for text in the Latin script, as ever; a paragraph in
another script (Cyrillic, Greek, CJK…) is split by sentencex (Wikimedia's segmenter, rules for
~300 languages) in the language py3langid reads there: pysbd's English rules cut Ukrainian
after every "р." (рік) and "вул." (вулиця), and it has no Ukrainian rules at all. Offsets are
recovered by finding each segment in the paragraph, so every sentence is an exact slice of the
source text.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

Span = tuple[int, int]

# pysbd's rules are regex-heavy; huge single paragraphs are cut at this many characters
# (on whitespace) before segmentation so a pathological input cannot stall indexing.
SEGMENT_CHUNK = 20_000


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    # pysbd builds several thousand distinct regexes (one per abbreviation rule); with the re
    # module's default cache of 512 it recompiles them for every paragraph. A larger cache
    # made sentence splitting 1.7x faster on real text.
    re._MAXCACHE = max(getattr(re, "_MAXCACHE", 512), 8192)  # type: ignore[attr-defined]
    return pysbd.Segmenter(language="en", clean=False)


def _chunks(text: str) -> list[Span]:
    spans, start = [], 0
    while len(text) - start > SEGMENT_CHUNK:
        cut = text.rfind(" ", start, start + SEGMENT_CHUNK)
        cut = cut if cut > start else start + SEGMENT_CHUNK
        spans.append((start, cut))
        start = cut
    spans.append((start, len(text)))
    return spans


# Latin letters (with their accents) and everything that is not a letter: pysbd's ground
_LATIN = re.compile(r"[^\W\d_\u0000-\u024f\u1e00-\u1eff]")


def _segments(text: str, lang: str | None) -> list[str]:
    if lang is None:
        return _segmenter().segment(text)
    from sentencex import segment

    return list(segment(lang, text))


def _language(paragraph: str) -> str | None:
    """None for the Latin script (pysbd's English rules, as always); else the language to split by."""
    if not _LATIN.search(paragraph):
        return None
    from retrieval.languages import language_of

    return language_of(paragraph) or "en"


def split_sentences(paragraph: str) -> list[Span]:
    """Character spans of the sentences of ``paragraph``, stripped of surrounding space."""
    spans: list[Span] = []
    lang = _language(paragraph)
    for chunk_start, chunk_end in _chunks(paragraph):
        pos = chunk_start
        for segment in _segments(paragraph[chunk_start:chunk_end], lang):
            piece = segment.strip()
            if not piece:
                continue
            found = paragraph.find(piece, pos, chunk_end)
            if found < 0:  # segmenter altered the text: keep the rest as one sentence
                break
            spans.append((found, found + len(piece)))
            pos = found + len(piece)
        rest = paragraph[pos:chunk_end]
        if rest.strip():
            lead = len(rest) - len(rest.lstrip())
            spans.append((pos + lead, pos + len(rest.rstrip())))
    return spans


PARALLEL_FROM = 2000  # paragraphs; below this, starting worker processes costs more than it saves


def split_many(paragraphs: Sequence[str]) -> list[list[Span]]:
    """``split_sentences`` for many paragraphs, on every core when there are enough of them.

    Sentence splitting is pure Python (the GIL rules out threads) and was the largest cost of
    a build after the encoder itself.
    """
    import multiprocessing

    workers = os.cpu_count() or 1
    if len(paragraphs) < PARALLEL_FROM or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [split_sentences(p) for p in paragraphs]
    from concurrent.futures import ProcessPoolExecutor

    # fork: spawn would re-run the caller's __main__ (the CLI itself). The children only run
    # pysbd, never the parent's torch/onnxruntime thread pools, which is what fork can break.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(split_sentences, paragraphs, chunksize=256))


def windows(
    sentences: Sequence[Span],
    token_counts: Sequence[int],
    max_tokens: int,
    overlap: int = 1,
) -> list[tuple[int, int]]:
    """Group consecutive sentences into windows of at most ``max_tokens`` tokens.

    Returns ``(first, last_exclusive)`` sentence index pairs. Consecutive windows share
    ``overlap`` sentences so that a sentence near a cut keeps some context. A sentence longer
    than the window gets a window of its own (the model truncates it).
    """
    if not sentences:
        return []
    if sum(token_counts) <= max_tokens:
        return [(0, len(sentences))]
    groups: list[tuple[int, int]] = []
    first = 0
    while first < len(sentences):
        last, used = first, 0
        while last < len(sentences) and (last == first or used + token_counts[last] <= max_tokens):
            used += token_counts[last]
            last += 1
        groups.append((first, last))
        if last >= len(sentences):
            break
        first = max(first + 1, last - overlap)
    return groups


def chunk_paragraphs(
    paragraphs: Sequence[str], count_tokens: Callable[[Sequence[str]], list[int]], max_tokens: int
) -> list[tuple[list[Span], list[tuple[int, int]]]]:
    """Per paragraph: its sentences, and its windows as (first, last-exclusive) sentence indexes.

    ``count_tokens`` counts content tokens (no special tokens), called once for all sentences;
    ``max_tokens`` is the content budget of one window.
    """
    sentences = split_many(paragraphs)
    flat = [p[a:b] for p, spans in zip(paragraphs, sentences, strict=True) for a, b in spans]
    counts = iter(count_tokens(flat) if flat else [])
    out = []
    for spans in sentences:
        mine = [next(counts) for _ in spans]
        out.append((spans, windows(spans, mine, max_tokens) if spans else []))
    return out


_NAME = re.compile(r"(?<![.!?\"“]\s)(?<!^)\b([A-Z][a-z]+(?:[- ][A-Z][a-z]+)*)")


_DEMONYM_ENDINGS = ("ian", "ians", "ese", "ish")


def salient_names(paragraphs: Sequence[str], limit: int = 2) -> list[str]:
    """The most frequent capitalised names that are not just sentence openers.

    Used to offer example questions in ``/help`` that the articles can actually answer.
    """
    counts: Counter[str] = Counter()
    for paragraph in paragraphs:
        for match in _NAME.finditer(paragraph):
            name = match.group(1)
            if not name.endswith(_DEMONYM_ENDINGS):  # "Russian" is an adjective, not a topic
                counts[name] += 1
    return [name for name, _ in counts.most_common(limit)]
