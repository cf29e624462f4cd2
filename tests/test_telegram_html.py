"""Telegram HTML rendering: escaped, balanced, split between blocks, never over 4096 units."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.conversation import AnswerReply, SourcesReply
from bot.telegram_html import LIMIT, Block, pack, paragraph_html, reply_html, utf16_len
from retrieval import Answer, ArticleInfo, Citation, Quote
from tests.conftest import deadline
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


LONG_URL = "https://example.org/" + "a" * 4000


@pytest.mark.parametrize(
    "citation",
    [
        Citation("a", "Title", "2022-06-07", 7, LONG_URL),
        Citation("a", "Title", "2022-" + "9" * 4000, 7, None),
        Citation("a", "T" * 5000, "9" * 5000, 7, "https://example.org/?" + "&" * 3000),
    ],
    ids=["4000-character url", "4000-character date", "everything long"],
)
def test_long_article_metadata_cannot_freeze_rendering(citation: Citation) -> None:
    """A 4,000-character URL once made the markup alone exceed a message, and packing looped forever."""
    q = Quote("Both sides say they have inflicted huge casualties.", citation, 0, 51, 0.9)
    with deadline(10):
        messages = reply_html(AnswerReply(Answer("q", True, 0.9, (q,))))
        whole = paragraph_html(citation, "word " * 300)
    visible = check(messages + whole)
    assert "huge casualties" in visible[0] and "paragraph 7" in "".join(visible)
    assert all(utf16_len(m) <= 3000 for m in messages)  # metadata bounded, not just squeezed in
    assert LONG_URL not in "".join(messages)  # a link that cannot fit is dropped, the title kept


@pytest.mark.parametrize("markup", [4000, 4090, 4092, 4094, 4096, 4100, 9000])
def test_markup_near_the_limit_never_gives_empty_or_oversized_messages(markup: int) -> None:
    opening = "<b>" + "x" * (markup - 7)
    blocks = [Block("first words", "<i>", "</i>"), Block("a & b " * 50, opening, "</b>"), Block("last")]
    with deadline(10):
        messages = pack(blocks)
    for message in check(messages):
        assert message.strip()  # Telegram refuses an empty message
    assert "last" in messages[-1]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4200), st.text(st.sampled_from("ab &<😀 "), max_size=6000)), min_size=1, max_size=4
    )
)
def test_any_blocks_pack_into_valid_messages(blocks: list[tuple[int, str]]) -> None:
    packed = [Block(text, "<b>" + "m" * size, "</b>") for size, text in blocks]
    with deadline(10):
        messages = pack(packed)
    for message in check(messages):
        assert message.strip()


def test_a_whole_paragraph_is_at_most_three_messages() -> None:
    citation = Citation("a", "Title", "2022-06-07", 3, "https://example.org/a")
    paragraph = " ".join(f"w{i} <&>" for i in range(40_000))  # ~340,000 characters
    messages = paragraph_html(citation, paragraph)
    visible = check(messages)
    assert len(messages) == 3
    assert visible[0].startswith("w0 <&> w1") and "…" in visible[-1] and "paragraph 3" in visible[-1]
    short = paragraph_html(citation, "A short paragraph.")
    assert len(short) == 1 and "…" not in check(short)[0]
