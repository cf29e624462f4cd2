"""Fuzzing the whole message path: random text in, valid Telegram HTML out, never a crash.

Hypothesis generates messages (Unicode, control characters, HTML, Markdown, RTL and
zero-width marks, 1 to 20,000 characters, commands with odd arguments); each goes through
the real bot process and the strict stand-in, which refuses any reply that is not valid
Telegram HTML within 4096 characters. Every message must get exactly one reply.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telegram_standin import parse_html, utf16_len
from tests.test_telegram import Bot, serving

SNIPPETS = ["<b>", "</i>", "<a href='x'>", "&amp;", "&", "<", ">", "**", "__", "`", "```", "[x](y)", "\u202e",
            "\u200b", "\u200f", "\ufeff", "\x00", "\x1b[31m", "/help", "/ask", "/sources@citebot_test_bot",
            "@citebot_test_bot", "😀", "\U0001f3f3\ufe0f\u200d\U0001f308", "Sievierodonetsk", "mayor"]  # fmt: skip
messages = st.one_of(
    st.text(min_size=1, max_size=300),
    st.lists(st.sampled_from(SNIPPETS) | st.text(max_size=20), min_size=1, max_size=30).map("".join),
    st.builds(lambda c, a: f"/{c} {a}", st.sampled_from(["ask", "help", "about", "sources", "x<y"]), st.text()),
    st.integers(1, 20_000).map(lambda n: ("ab<&> " * 4000)[:n]),
).filter(lambda m: m.strip("\x00") != "")

_chats = itertools.count(90_000)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with serving(tmp_path_factory.mktemp("fuzz"), "-vv") as running:
        yield running


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=messages)
def test_any_message_gets_one_valid_reply(bot: Bot, text: str) -> None:
    chat = next(_chats)
    bot.standin.message(chat, text)
    (reply,) = bot.standin.wait_messages(chat, 1, timeout=60)
    visible = parse_html(reply.text)  # the strict stand-in accepted it; parse again to be sure
    assert utf16_len(visible) <= 4096 and visible.strip()
    assert bot.proc.poll() is None
