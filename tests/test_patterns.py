"""Every regular expression that reads a person's text stays linear on adversarial input.

A pattern that backtracks holds the GIL, so one slow message stops every chat, not one. The
strings here are the shapes that break such patterns: a trigger that makes a pattern start,
then a long run of one filler (spaces, tabs, no-break spaces, "#", "?", capitalised words),
then a tail that makes the match fail at the very end. Before the fix, "what about it" + 3,000
spaces + "y" took over a minute and "# a" + 40,000 "#" + "b" 12 s; now each call must finish
within a budget that is hundreds of times what it needs, so the test fails only on a real
regression, not on a loaded machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.telegram_bot import _LINK
from retrieval import Answer, Citation, Quote
from retrieval.corpus import parse_text_article, post_article, split_paragraphs
from retrieval.followup import Turn, depends, names, resolve
from retrieval.question import MAX_QUESTION_CHARS, QuestionError, check_question, search_text
from retrieval.quotes import _DATE, _NAME, _QUANTITY, _WHEN, _WHO
from retrieval.text import salient_names
from retrieval.topics import topic_of

BUDGET = 0.5  # seconds per call; each takes well under 10 ms
TRIGGERS = [
    "what about it", "and how about", "Who", "how many", "says who", "tell me about", "what happened in",
    "news on", "# a", "# ", "#", "date 2022-06-07 Kyiv", "Mayor Oleksandr", "Luhansk of", "https://x.org/",
    "@citebot", "", "Скільки", "у якому році", "7 червня", "Mai",
]  # fmt: skip
FILLERS = [" ", "\t", "\u00a0", "#", "?", ".", "!", " ?", "a", "A ", "Ab ", "of ", "al-", "- ", "\n", "*", "<b>"]
TAILS = ["y", "", "?", "#b", " b", ":", "x?!", "\u2029"]

STRYUK = Quote("Mayor Oleksandr Stryuk said street fighting was raging.", Citation("a", "t", None, 7), 0, 10, 0.9)
LONG_PREVIOUS = "Who is " + "A " * 400 + "?"  # the previous turn is a person's text too


def _history(previous: str) -> list[Turn]:
    return [Turn(previous, previous, Answer(previous, True, 0.8, (STRYUK,)))]


def _question(text: str) -> None:
    with contextlib.suppress(QuestionError):
        check_question(text)


READERS: dict[str, Callable[[str], object]] = {
    "followup.depends": depends,
    "followup.names": names,
    "followup.resolve": lambda t: resolve(t, _history("Who is the mayor of Sievierodonetsk?")),
    "followup.resolve (long previous turn)": lambda t: resolve(t[:MAX_QUESTION_CHARS], _history(LONG_PREVIOUS)),
    "followup.resolve (a reply)": lambda t: resolve(t, _history("Where is Lysychansk?"), reply=True),
    "topics.topic_of": topic_of,
    "question.check_question": _question,
    "question.search_text": search_text,
    "corpus.parse_text_article": lambda t: parse_text_article(t, article_id="x", fallback_title="x"),
    "corpus.split_paragraphs": split_paragraphs,
    "corpus.post_article": lambda t: post_article(t, article_id="x"),
    "text.salient_names": lambda t: salient_names([t]),
    "telegram link": lambda t: _LINK.fullmatch(t.strip()),
    "quotes: question words": lambda t: [p.search(t) for p in (_WHEN, _QUANTITY, _WHO)],
    "quotes: dates and names in sentences": lambda t: (_DATE.search(t), _NAME.findall(t)),
}


def _within_budget(reader: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    reader(text)
    return time.perf_counter() - started


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize(
    "text",
    [
        "what about it" + " " * 3000 + "y",  # the reported follow-up freeze
        "what about it" + "\u00a0" * 3000 + "y",
        "# a" + "#" * 40_000 + "b",  # the reported Markdown title
        "tell me about x" + " " * 3000 + "?y",
        "Who" + " ?" * 2000 + "y",
    ],
    ids=["spaces", "no-break spaces", "hashes", "topic", "question marks"],
)
def test_reported_inputs_are_read_in_time(name: str, text: str) -> None:
    assert _within_budget(READERS[name], text) < BUDGET


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trigger=st.sampled_from(TRIGGERS),
    filler=st.sampled_from(FILLERS),
    count=st.integers(min_value=500, max_value=4096),
    tail=st.sampled_from(TAILS),
)
def test_adversarial_text_is_read_in_linear_time(trigger: str, filler: str, count: int, tail: str) -> None:
    text = (trigger + filler * count)[:4096] + tail  # a Telegram message holds at most 4,096 characters
    slow = {name: t for name, reader in READERS.items() if (t := _within_budget(reader, text)) >= BUDGET}
    assert not slow, f"{trigger!r} + {filler!r} x {count} + {tail!r}: {slow}"


def test_headings_keep_their_meaning() -> None:
    def title(first_line: str) -> str:
        return parse_text_article(f"{first_line}\n\nBody.", article_id="x", fallback_title="fallback").title

    assert title("# Harbour news") == "Harbour news"
    assert title("# Harbour news ##") == "Harbour news"
    assert title("# C#") == "C#"  # a closing run of #s counts only after a space (CommonMark)
    assert title("#hashtag") == "fallback"
    assert title("# ##") == "fallback"
