"""What a question must be, and what of it is searched for."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from retrieval.errors import Count, QuestionError

MAX_QUESTION_CHARS = 1000
_WORDS = re.compile(r"[^\W_]", re.UNICODE)
_MARKDOWN = re.compile(r"[*_`~#>|]+")
_SPACES = re.compile(r"\s+")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment, dropping tags and script/style bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def search_text(question: str) -> str:
    """What is searched for: the question without HTML tags or Markdown emphasis marks.

    People paste formatted text; ``<b>`` or ``**`` are not words they are asking about.
    """
    parser = _TextOnly()
    parser.feed(question)
    parser.close()
    return _SPACES.sub(" ", _MARKDOWN.sub(" ", "".join(parser.parts))).strip()


def plain(text: str) -> str:
    """``text`` on one line, single-spaced, without closing punctuation: what question patterns read.

    Patterns then never meet a long run of spaces or "?!", the usual way to make a regular
    expression backtrack for minutes on a short message.
    """
    return " ".join(text.split()).rstrip("?.!… ")


def check_question(question: str) -> str:
    """The question, stripped; or a ``QuestionError`` saying plainly what is wrong with it."""
    text = question.strip()
    if not text:
        raise QuestionError("Please ask a question: the message was empty.")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            "That question is too long ({length}); please keep it under {limit}.",
            length=Count(len(text), "{n} character", "{n} characters"),
            limit=MAX_QUESTION_CHARS,
        )
    if not _WORDS.search(search_text(text)):
        raise QuestionError("I could not find any words in that question.")
    return text
