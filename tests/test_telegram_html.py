"""Telegram HTML rendering: escaped, balanced, split between blocks, never over 4096 units."""

from __future__ import annotations

import pytest

from bot.conversation import AnswerReply, SourcesReply
from bot.telegram_html import LIMIT, Block, pack, reply_html, utf16_len
from retrieval import Answer, ArticleInfo, Citation, Quote
from tests.telegram_standin import parse_html


def quote(text: str, n: int = 1, title: str = "T & <Co>") -> Quote:
    return Quote(text, Citation("a", title, "2020-01-01", n, "https://example.org/?a=1&b=2"), 0, len(text), 0.9)


def check(messages: list[str]) -> list[str]:
    visible = []
    for message in messages:
        assert utf16_len(message) <= LIMIT
        visible.append(parse_html(message))  # raises on unbalanced or unknown markup
    return visible


def test_escaping_of_quotes_titles_and_urls() -> None:
    (message,) = reply_html(AnswerReply(Answer("q", True, 0.9, (quote("1 < 2 & 3 > 2 <b>not bold</b>"),))))
    assert "1 &lt; 2 &amp; 3 &gt; 2 &lt;b&gt;not bold&lt;/b&gt;" in message
    assert '<a href="https://example.org/?a=1&amp;b=2"><i>' not in message  # link inside italics, not around
    assert '<i><a href="https://example.org/?a=1&amp;b=2">T &amp; &lt;Co&gt;</a></i>' in message
    check([message])


def test_long_answer_is_split_between_quotes() -> None:
    quotes = tuple(quote(("word " * 500).strip() + f" end{i}.", i) for i in range(1, 4))  # ~2,500 chars each
    messages = reply_html(AnswerReply(Answer("q", True, 0.5, quotes)))
    assert len(messages) == 3
    visible = check(messages)
    for i, text in enumerate(visible, 1):
        assert f"end{i}." in text and f"paragraph {i}" in text  # each quote kept whole with its citation
    assert "Low confidence" in visible[-1]


@pytest.mark.parametrize("unit", ["a", "é", "😀", "<&>"])
def test_one_enormous_quote_is_cut_into_balanced_pieces(unit: str) -> None:
    text = " ".join([unit * 50] * 400) + " " + unit * 9000  # spaces, then one giant "word"
    messages = reply_html(AnswerReply(Answer("q", True, 0.9, (quote(text),))))
    assert len(messages) > 1
    visible = check(messages)
    assert "".join(visible).replace(" ", "").replace("\n", "").count(unit.replace(" ", "")) >= 29000


def test_pack_never_exceeds_limit_in_utf16_units() -> None:
    blocks = [Block("😀" * 1000, "<b>", "</b>") for _ in range(10)]  # 2,000 units each
    messages = pack(blocks)
    assert all(utf16_len(m) <= LIMIT for m in messages)
    assert len(messages) == 5
    check(messages)


def test_sources_list_is_capped() -> None:
    articles = tuple(ArticleInfo(f"id{i}", f"Article <{i}>", None, 3) for i in range(100))
    (message,) = reply_html(SourcesReply(articles))
    assert "Article &lt;0&gt;" in message and "… and 70 more" in message
    check([message])
