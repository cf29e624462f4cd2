"""Render replies for a terminal or as JSON. Rendering never ranks, quotes or decides."""

from __future__ import annotations

import json
import re
import shutil
import textwrap

import click

from bot.conversation import AboutReply, AnswerReply, HelpReply, NoticeReply, ProblemReply, Reply, SourcesReply
from bot.printable import json_printable, printable
from retrieval import Answer, ArticleInfo, Quote

LOW_CONFIDENCE = 0.7  # below this an answer carries a hint that it may be off
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x85\u2028\u2029]")


def answer_json(answer: Answer, **extra: object) -> str:
    """One line of JSON: the schema documented in README ("The JSON answer"), plus ``extra`` fields."""
    return json_printable(json.dumps({**answer.to_dict(), **extra}, ensure_ascii=False))


def citation_text(quote: Quote) -> str:
    c = quote.citation
    parts = [c.title, c.date, f"page {c.page}" if c.page else None, f"paragraph {c.paragraph}", c.url]
    return printable(", ".join(p for p in parts if p))


def _width() -> int:
    return max(40, min(100, shutil.get_terminal_size((88, 24)).columns))


def _quote_block(quote: Quote, width: int) -> list[str]:
    text = printable(_LINE_BREAKS.sub(" ", quote.text))  # a JSONL paragraph may hold line breaks
    body = textwrap.fill(f"“{text}”", width=width, initial_indent="  ", subsequent_indent="   ")
    return [body, click.style(f"    — {citation_text(quote)}", dim=True)]


def terminal(reply: Reply) -> str:
    """Plain text (with ANSI styling that click strips when output is not a terminal)."""
    width = _width()
    if isinstance(reply, AnswerReply):
        reading = click.style(f"Reading this as: {printable(reply.reading)}\n", dim=True) if reply.reading else ""
        return reading + terminal_answer(reply.answer, width)
    if isinstance(reply, ProblemReply):
        return click.style(printable(reply.message), fg="yellow")
    if isinstance(reply, NoticeReply):
        return printable(reply.message)
    if isinstance(reply, HelpReply):
        lines = [
            "citebot answers questions about these articles by quoting them, with a citation for each quote.",
            "",
            *_article_lines(reply.articles),
            "",
            "Ask a question in your own words, for example:",
            *(f"  {printable(q)}" for q in reply.examples),
            "",
            "Follow-up questions are read with your last few; /new starts afresh.",
            "Commands: /sources (the articles), /about (the index), /new, /help, /quit",
        ]
        return "\n".join(lines)
    if isinstance(reply, SourcesReply):
        added = [
            printable(f"  {n}. {a.title}, {count(a.paragraphs, 'paragraph')}") for n, a in enumerate(reply.added, 1)
        ]
        return "\n".join(_article_lines(reply.articles) + (["Added in this chat:", *added] if added else []))
    if isinstance(reply, AboutReply):
        i = reply.info
        return printable(
            f"model {i.model} ({i.dimension}-d), {count(i.articles, 'article')}, {count(i.passages, 'passage')}, "
            f"{i.index_type} index built {i.built_at}"
        ) + f"\nindex: {printable(i.path)}"
    raise TypeError(f"unknown reply {reply!r}")


def terminal_answer(answer: Answer, width: int | None = None) -> str:
    width = width or _width()
    lines: list[str] = []
    if answer.answered:
        for quote in answer.quotes:
            lines += _quote_block(quote, width)
        if answer.confidence < LOW_CONFIDENCE:
            lines.append(click.style(f"  (low confidence: {answer.confidence:.2f})", fg="yellow"))
    else:
        lines.append(click.style("The articles don't answer that.", bold=True))
        if answer.closest:
            lines.append("Closest match:")
            lines += _quote_block(answer.closest, width)
    return "\n".join(lines)


def _article_lines(articles: tuple[ArticleInfo, ...]) -> list[str]:
    shown = [
        printable(f"  • {a.title}" + (f" ({a.date})" if a.date else "") + f", {count(a.paragraphs, 'paragraph')}")
        for a in articles[:20]
    ]
    if len(articles) > 20:
        shown.append(f"  … and {len(articles) - 20} more")
    return [f"{count(len(articles), 'article')}:", *shown]


def count(n: int, noun: str) -> str:
    """ "1 article", "2,067 articles"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
