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
    # five at once, and no refill while the test runs: with the shipped one-per-3-s refill, a
    # machine slow to hand over the flood turned some drops into answers
    guarded = start_bot(tmp_path, standin, CITEBOT_USER_RATE="5/600")
    try:
        standin.wait_polling()
        flooder, other = 7001, 7002
        for _ in range(100):
            standin.message(flooder, QUESTION)
        standin.message(other, "Who is the mayor of Sievierodonetsk?")
        assert "Stryuk" in standin.wait_messages(other, 1, timeout=60)[0].text  # not stuck behind the flood
        standin.wait_messages(flooder, 6, timeout=60)
        time.sleep(2.0)
        texts = [m.text for m in standin.messages(flooder)]
        warnings = [t for t in texts if "faster than I can answer" in t]
        assert len(warnings) == 1 and len(texts) == 6  # five answers, one warning, 94 dropped
    finally:
        guarded.stop()
        standin.stop()


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """Two questions (or presses) per sender, and no refill while the tests run."""
    with serving(tmp_path_factory.mktemp("budget"), "-v", CITEBOT_USER_RATE="2/600") as running:
        yield running


def test_button_presses_spend_the_question_budget(budgeted: Bot) -> None:
    """Presses once skipped the throttle: 50 presses were 100 sends."""
    standin, user = budgeted.standin, 7101
    budgeted.ask(user, "Who is the mayor of Sievierodonetsk?")  # spends one of two
    button = standin.messages(user)[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    presses_before = len(standin.messages(method="answerCallbackQuery"))
    for _ in range(20):
        standin.callback(user, button)
    standin.wait_messages(None, presses_before + 20, method="answerCallbackQuery")
    standin.wait_messages(user, 2)  # the one press within budget shows the paragraph
    time.sleep(1.0)  # and any over-budget sends would have followed it by now
    presses = standin.messages(method="answerCallbackQuery")[presses_before:]
    assert len(presses) == 20  # every press answered: no button left spinning
    assert [p.params.get("text") for p in presses].count("Too many presses: wait a few seconds.") == 1
    assert len(standin.messages(user)) == 2  # the answer, and one whole paragraph


ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}


def test_anonymous_admins_of_different_groups_have_their_own_budgets(budgeted: Bot) -> None:
    """Every anonymous admin shares one ``from`` id; the throttle once made them share one budget."""
    standin = budgeted.standin
    for group in (-4001, -4002):
        speaker = {"from": ANONYMOUS_ADMIN, "sender_chat": {"id": group, "type": "supergroup", "title": "G"}}
        for _ in range(3):
            standin.message(group, "/ask Who had the numerical advantage?", chat_type="supergroup", extra=speaker)
        replies = standin.wait_messages(group, 3, timeout=60)
        assert sum("numerical advantage" in r.text for r in replies) == 2
        assert sum("faster than I can answer" in r.text for r in replies) == 1
