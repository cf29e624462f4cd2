"""Which language a text is written in: a question and the sentences it may be answered by.

A question in Ukrainian about English articles shares no words with its answer, so the lexical
evidence every fitted weight leans on is missing for a reason that is not "off topic". The
answer step marks such pairs (``crosses``) and its fitted weights learn what else to trust
there; the bot picks the language of its own words from the same detector.

py3langid (langid.py's naive Bayes over byte n-grams, BSD licence): offline, about 50 µs for a
short question, loaded once (~0.9 s) on first use. It is restricted to ``LANGUAGES``, the widely
written ones that multilingual-e5 reads well: unrestricted, its 97 classes put short English
sentences near Bikol and Nigerian Pidgin and Russian ones near Belarusian and Macedonian.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Collection
from typing import Any

LANGUAGES = (
    "en de fr es it pt nl pl uk ru be bg cs sk sl hr sr ro hu fi sv da no et lv lt el tr ar he fa hi bn ur "
    "zh ja ko vi id ms th ka hy kk az"
).split()
MIN_CONFIDENCE = 0.5  # below this share of the probability the detector is unsure: no language
DETECT_CHARS = 500  # the first characters say a text's language; more cost more and say no more
_LETTER = re.compile(r"[^\W\d_]")

_identifier: Any = None
_loading = threading.Lock()


def _detector(wait: bool) -> Any:
    global _identifier
    if _identifier is not None:
        return _identifier
    if not _loading.acquire(blocking=wait):
        return None
    try:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            found = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # the model is xz: ~0.9 s
            found.set_languages(LANGUAGES)
            _identifier = found
        return _identifier
    finally:
        _loading.release()


def warm_up() -> None:
    """Load the detector now, so that no question waits for it."""
    _detector(True)


def language_of(text: str | None, *, among: Collection[str] | None = None, wait: bool = True) -> str | None:
    """The language ``text`` is written in (an ISO 639-1 code), or None when it is unclear.

    ``among``: only these languages are considered (their probabilities renormalised), as the
    bot does for the languages it has words in. ``wait=False``: None rather than wait for the
    detector to load (the bot's event loop).
    """
    if not text or not _LETTER.search(text):
        return None
    identifier = _detector(wait)
    if identifier is None:
        return None
    try:
        ranked = identifier.rank(text[:DETECT_CHARS])
    except Exception:  # a language is a hint: failing to tell it must never cost an answer
        return None
    if among is not None:
        ranked = [(lang, p) for lang, p in ranked if lang in among]
    total = sum(p for _, p in ranked)
    if not ranked or total <= 0:
        return None
    lang, p = ranked[0]
    return lang if p / total >= MIN_CONFIDENCE else None


@functools.lru_cache(maxsize=8192)
def passage_language(text: str) -> str | None:
    """``language_of`` a passage, remembered: the same passages come back question after question."""
    return language_of(text)


def crosses(question_lang: str | None, text_lang: str | None) -> bool:
    """Whether a question and a text are (known to be) in different languages."""
    return question_lang is not None and text_lang is not None and question_lang != text_lang
