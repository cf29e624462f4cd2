"""The bot under a misbehaving Bot API: every question still gets exactly one answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telegram_standin import StandIn
from tests.test_telegram import Bot, serving, start_bot

QUESTION = "Who had the numerical advantage?"
FAULTS = {
    "sendMessage 500s": ("sendMessage", {"status": 500, "times": 3}),
    "sendMessage dropped connections": ("sendMessage", {"kind": "drop", "times": 2}),
    "sendMessage malformed JSON": ("sendMessage", {"kind": "garbage", "times": 2}),
    "sendMessage slow": ("sendMessage", {"kind": "slow", "delay": 2.0}),
    "sendMessage 429": ("sendMessage", {"status": 429, "retry_after": 1, "times": 2}),
    "getUpdates 500s": ("getUpdates", {"status": 500, "times": 2}),
    "getUpdates dropped connections": ("getUpdates", {"kind": "drop", "times": 2}),
    "getUpdates malformed JSON": ("getUpdates", {"kind": "garbage", "times": 2}),
    "getUpdates slow": ("getUpdates", {"kind": "slow", "delay": 2.0}),
}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with serving(tmp_path_factory.mktemp("faults"), "-vv") as running:
        yield running


@pytest.mark.parametrize("name", FAULTS)
def test_exactly_one_answer_through_a_fault(bot: Bot, name: str) -> None:
    method, fault = FAULTS[name]
    chat = 5000 + list(FAULTS).index(name)
    bot.standin.inject(method, **fault)
    bot.standin.message(chat, QUESTION)
    answers = bot.standin.wait_messages(chat, 1, timeout=90)
    time.sleep(2.0)  # a duplicate would arrive by now
    answers = bot.standin.messages(chat)
    assert len(answers) == 1, [a.text for a in answers]
    assert "numerical advantage" in answers[0].text
    assert bot.proc.poll() is None  # still running
    bot.standin.clear_faults()


def test_one_user_flooding_gets_one_warning_and_others_are_served(tmp_path: Path) -> None:
    standin = StandIn().start()
    guarded = start_bot(tmp_path, standin, CITEBOT_USER_RATE="5/3")
    try:
        standin.wait_polling()
        flooder, other = 7001, 7002
        for _ in range(100):
            standin.message(flooder, QUESTION)
        started = time.monotonic()
        standin.message(other, "Who is the mayor of Sievierodonetsk?")
        assert "Stryuk" in standin.wait_messages(other, 1, timeout=30)[0].text
        other_latency = time.monotonic() - started
        standin.wait_messages(flooder, 6, timeout=60)
        time.sleep(2.0)
        texts = [m.text for m in standin.messages(flooder)]
        warnings = [t for t in texts if "faster than I can answer" in t]
        assert len(warnings) == 1 and len(texts) == 6  # five answers, one warning, 94 dropped
        assert other_latency < 10  # not stuck behind the flood (a loose bound: CI machines vary)
    finally:
        guarded.stop()
        standin.stop()
