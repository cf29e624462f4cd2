"""Sentences and windows: where quotes may start and end, and what fits in the model.

Sentence boundaries come from pysbd (rule-based, handles abbreviations such as "Jun 6",
"Mr." and quotations that end in ``."``). Offsets are recovered by finding each segment in
the paragraph, so every sentence is an exact slice of the source text.
"""

from __future__ import annotations

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


def split_sentences(paragraph: str) -> list[Span]:
    """Character spans of the sentences of ``paragraph``, stripped of surrounding space."""
    spans: list[Span] = []
    for chunk_start, chunk_end in _chunks(paragraph):
        pos = chunk_start
        for segment in _segmenter().segment(paragraph[chunk_start:chunk_end]):
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


def chunk_paragraph(
    paragraph: str, count_tokens: Callable[[Sequence[str]], list[int]], max_tokens: int
) -> tuple[list[Span], list[tuple[int, int]]]:
    """Sentences of a paragraph, and its windows as (first, last-exclusive) sentence indexes.

    ``count_tokens`` counts content tokens (no special tokens) and ``max_tokens`` is the
    content budget of one window.
    """
    sentences = split_sentences(paragraph)
    if not sentences:
        return [], []
    counts = count_tokens([paragraph[a:b] for a, b in sentences])
    return sentences, windows(sentences, counts, max_tokens)


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
