"""citebot's own words in the asker's language: gettext catalogs (made with Babel) and language detection.

Quotes are the articles' own words and never pass through here. Everything else citebot says
(declines, labels, notes, help, refusals, errors) is an English msgid looked up in
``bot/locales/<lang>/LC_MESSAGES/citebot.mo``; a language without a catalog, or a message
without a translation, stays English. ``python -m bot.catalogs`` extracts, updates and
compiles the catalogs (see bot/locales/README.md).

Which language: a front end's preference when it names a language with a catalog (Telegram's
``language_code``, ``--lang``), else the language the message is written in, else English.
Detection is retrieval's (``retrieval/languages.py``: py3langid, offline, ~50 µs a short
question), weighing only ``DETECTED``; anything it is unsure of is None, which means English.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path

from retrieval import languages
from retrieval.errors import Count, TranslatableError

DOMAIN = "citebot"
LOCALES = Path(__file__).with_name("locales")
DEFAULT = "en"
LANGUAGES = ("en", "uk", "ru", "de")  # English is the msgids themselves; the others have catalogs
# What the detector may answer: the catalogs' languages and a few common ones, so that a French or
# Polish question is recognised as French or Polish (and answered in English), not as the nearest catalog.
DETECTED = (*LANGUAGES, "fr", "es", "it", "pl", "pt", "tr")
DETECT_CHARS = 500  # a question's first characters say its language; longer texts cost more and say no more
ENV = "CITEBOT_LANG"
_SUBTAG = re.compile(r"[-_]")


def N_(message: str) -> str:
    """Marks ``message`` for extraction where it is defined; it is translated where it is shown."""
    return message


def supported(code: str | None) -> str | None:
    """The catalog language a tag names ("uk", "en-US", "ru_RU", "DE"), or None."""
    if not code:
        return None
    first = _SUBTAG.split(code.strip(), maxsplit=1)[0].lower()
    return first if first in LANGUAGES else None


def choose(preferred: str | None, text: str | None = None, *, wait: bool = True) -> str:
    """The language to answer in: ``preferred`` if it has a catalog, else ``text``'s, else English.

    ``wait=False`` (the event loop): if the detector is still loading, do not wait for it.
    """
    return supported(preferred) or (detect(text, wait=wait) if text else None) or DEFAULT


# --- detection --------------------------------------------------------------------------------


def warm_up() -> None:
    """Load the detector now (under a second), so that no message waits for it."""
    languages.warm_up()


def detect(text: str | None, *, wait: bool = True) -> str | None:
    """The catalog language ``text`` is written in; None when it is another language or unclear."""
    found = languages.language_of(text[:DETECT_CHARS] if text else text, among=DETECTED, wait=wait)
    return found if found in LANGUAGES else None


# --- the catalogs -----------------------------------------------------------------------------


@cache
def _catalog(lang: str) -> gettext.NullTranslations:
    if lang == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALES, [lang], fallback=True)


class Words:
    """What citebot says, in one language: ``_`` for a message, ``ngettext`` for one with a count.

    Parameters are ``str.format`` fields; integers are written the language's way ("2,067",
    "2 067", "2.067"), a ``Count`` as its number and noun in the right plural form. A
    translation that does not fit its parameters falls back to the English message.
    """

    def __init__(self, lang: str | None = None):
        self.lang = supported(lang) or DEFAULT
        self._catalog = _catalog(self.lang)

    def _(self, message: str, **params: object) -> str:
        """``message`` translated (a literal: this is what extraction reads)."""
        return self.text(message, params)

    def text(self, message: str, params: Mapping[str, object] | None = None) -> str:
        """``message`` translated, for messages held in variables (marked with ``N_`` where defined)."""
        return self._format(self._catalog.gettext(message), message, params)

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """The plural form for ``n`` (Ukrainian and Russian have three), with ``{n}`` written as a number."""
        english = singular if n == 1 else plural
        return self._format(self._catalog.ngettext(singular, plural, n), english, {"n": n, **params})

    def count(self, count: Count) -> str:
        return self.ngettext(count.singular, count.plural, count.n)

    def error(self, exc: BaseException) -> str:
        """An error's message for the person: translated when it carries its template, else as it is."""
        if isinstance(exc, TranslatableError):
            return self.text(exc.template, exc.params)
        return str(exc)

    def number(self, n: int) -> str:
        if self.lang == DEFAULT:
            return f"{n:,}"
        from babel.numbers import format_decimal

        return format_decimal(n, locale=self.lang)

    def decimal(self, x: float, places: int = 2) -> str:
        """``0.55`` in English, ``0,55`` in Ukrainian, Russian and German."""
        text = f"{x:.{places}f}"
        if self.lang == DEFAULT:
            return text
        from babel.numbers import get_decimal_symbol

        return text.replace(".", get_decimal_symbol(self.lang))

    def _format(self, translated: str, english: str, params: Mapping[str, object] | None) -> str:
        if not params:
            return translated
        shown = {key: self._param(value) for key, value in params.items()}
        try:
            return translated.format(**shown)
        except (KeyError, IndexError, ValueError):  # a slip in a catalog must not cost the reply
            return english.format(**shown)

    def _param(self, value: object) -> object:
        if isinstance(value, Count):
            return self.count(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return self.number(value)
        return value


def words(lang: str | None) -> Words:
    """The words of ``lang`` (a tag such as "uk" or "en-US"; anything without a catalog is English)."""
    return _words(supported(lang) or DEFAULT)


@lru_cache(maxsize=len(LANGUAGES))
def _words(lang: str) -> Words:
    return Words(lang)
