"""Render replies for a terminal or as JSON. Rendering never ranks, quotes or decides.

citebot's own words are in the reply's ``lang`` (``bot/i18n.py``); quotes, titles and dates are
the articles' and are shown as they are. The JSON keeps its keys and its data: only an
``"error"`` may be translated.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap

import click

from bot.conversation import AboutReply, AnswerReply, HelpReply, NoticeReply, ProblemReply, Reply, SourcesReply
from bot.i18n import DEFAULT, Words, words
from bot.printable import json_printable, printable
from retrieval import Answer, ArticleInfo, Quote

LOW_CONFIDENCE = 0.7  # below this an answer carries a hint that it may be off
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x85\u2028\u2029]")


def answer_json(answer: Answer, **extra: object) -> str:
    """One line of JSON: the schema documented in README ("The JSON answer"), plus ``extra`` fields."""
    return json_printable(json.dumps({**answer.to_dict(), **extra}, ensure_ascii=False))


def citation_text(quote: Quote, lang: str = DEFAULT) -> str:
    c, t = quote.citation, words(lang)
    parts = [c.title, c.date, page_label(t, c.page) if c.page else None, paragraph_label(t, c.paragraph), c.url]
    return printable(", ".join(p for p in parts if p))


def paragraph_label(t: Words, n: int) -> str:
    # TRANSLATORS: in a citation ("Title, 2022-06-07, paragraph 7"); {n} is the paragraph's number
    return t._("paragraph {n}", n=str(n))  # a number that names something: never "1,234"


def page_label(t: Words, n: int) -> str:
    # TRANSLATORS: in a citation of a PDF ("Title, page 3, paragraph 7"); {n} is the page's number
    return t._("page {n}", n=str(n))


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((88, 24)).columns))


def _quote_block(quote: Quote, width: int, lang: str) -> list[str]:
    text = printable(_LINE_BREAKS.sub(" ", quote.text))  # a JSONL paragraph may hold line breaks
    body = textwrap.fill(f"“{text}”", width=width, initial_indent="  ", subsequent_indent="   ")
    return [body, click.style(f"    — {citation_text(quote, lang)}", dim=True)]


def terminal(reply: Reply) -> str:
    """Plain text (with ANSI styling that click strips when output is not a terminal)."""
    width = _width()
    t = words(reply.lang)
    if isinstance(reply, AnswerReply):
        reading = t._("Reading this as: {reading}", reading=printable(reply.reading)) if reply.reading else ""
        return (click.style(reading + "\n", dim=True) if reading else "") + terminal_answer(reply.answer, width, t.lang)
    if isinstance(reply, ProblemReply):
        return click.style(printable(reply.message), fg="yellow")
    if isinstance(reply, NoticeReply):
        return printable(reply.message)
    if isinstance(reply, HelpReply):
        lines = [
            t._("citebot answers questions about these articles by quoting them, with a citation for each quote."),
            "",
            *_article_lines(reply.articles, t),
            "",
            t._("Ask a question in your own words, for example:"),
            *(f"  {printable(q)}" for q in reply.examples),
            "",
            t._("Follow-up questions are read with your last few; /new starts afresh."),
            t._("Commands: /sources (the articles), /about (the index), /new, /help, /quit"),
        ]
        return "\n".join(lines)
    if isinstance(reply, SourcesReply):
        added = [printable(f"  {n}. {a.title}, {paragraphs(t, a.paragraphs)}") for n, a in enumerate(reply.added, 1)]
        return "\n".join(_article_lines(reply.articles, t) + ([t._("Added in this chat:"), *added] if added else []))
    if isinstance(reply, AboutReply):
        i = reply.info
        about = t._(
            "model {model} ({dimension}-d), {articles}, {passages}, {index_type} index built {built_at}",
            model=i.model,
            dimension=i.dimension,
            articles=articles(t, i.articles),
            passages=t.ngettext("{n} passage", "{n} passages", i.passages),
            index_type=i.index_type,
            built_at=i.built_at,
        )
        return printable(about) + "\n" + t._("index: {path}", path=printable(i.path))
    raise TypeError(f"unknown reply {reply!r}")


def terminal_answer(answer: Answer, width: int | None = None, lang: str = DEFAULT) -> str:
    width = width or _width()
    t = words(lang)
    lines: list[str] = []
    if answer.answered:
        for quote in answer.quotes:
            lines += _quote_block(quote, width, t.lang)
        if answer.confidence < LOW_CONFIDENCE:
            note = t._("(low confidence: {confidence})", confidence=t.decimal(answer.confidence))
            lines.append(click.style(f"  {note}", fg="yellow"))
    else:
        lines.append(click.style(t._("The articles don't answer that."), bold=True))
        if answer.closest:
            lines.append(t._("Closest match:"))
            lines += _quote_block(answer.closest, width, t.lang)
    return "\n".join(lines)


def _article_lines(shelf: tuple[ArticleInfo, ...], t: Words) -> list[str]:
    shown = [
        printable(f"  • {a.title}" + (f" ({a.date})" if a.date else "") + f", {paragraphs(t, a.paragraphs)}")
        for a in shelf[:20]
    ]
    if len(shelf) > 20:
        shown.append("  " + t._("… and {count} more", count=len(shelf) - 20))
    return [f"{articles(t, len(shelf))}:", *shown]


def articles(t: Words, n: int) -> str:
    """ "1 article", "2,067 articles", "2 067 статей"."""
    return t.ngettext("{n} article", "{n} articles", n)


def paragraphs(t: Words, n: int) -> str:
    return t.ngettext("{n} paragraph", "{n} paragraphs", n)


def count(n: int, noun: str) -> str:
    """ "1 article", "2,067 articles"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
