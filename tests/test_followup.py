"""Follow-up questions: the detection rules, the readings, the memory's bounds, and the conversation around them."""

from __future__ import annotations

import json

import pytest

from bot.conversation import FRESH, AnswerReply, Conversation, NoticeReply, ProblemReply
from bot.memory import Memory
from retrieval import Answer, Citation, Library, Quote
from retrieval.followup import Turn, depends, resolve
from tests.conftest import citebot, cli_env, deadline

MAYOR = "Who is the mayor of Sievierodonetsk?"
STRYUK = Quote(
    "Sievierodonetsk Mayor Oleksandr Stryuk said street fighting was raging.", Citation("a", "t", None, 7), 0, 10, 0.9
)
HISTORY = [Turn(MAYOR, MAYOR, Answer(MAYOR, True, 0.8, (STRYUK,)))]


@pytest.mark.parametrize(
    "text",
    ["What did he say about the fighting?", "What about Lysychansk?", "And the governor?", "Why?", "How many?",
     "When was it founded?", "Where is that?", "How old is she?"],
)  # fmt: skip
def test_messages_that_lean_on_earlier_turns(text: str) -> None:
    assert depends(text)


@pytest.mark.parametrize(
    "text",
    ["Which two provinces make up the Donbas?", "Who is Volodymyr Zelenskyy?", "When did Russia invade Ukraine?",
     "What did Zelensky say about the fighting in Lysychansk?"],
)  # fmt: skip
def test_full_questions_stand_alone(text: str) -> None:
    assert not depends(text) and resolve(text, HISTORY) is None


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("What did he say about the fighting?", "What did Mayor Oleksandr Stryuk say about the fighting?"),
        ("What about Lysychansk?", "Who is the mayor of Lysychansk?"),
        ("Why?", "Why is the mayor of Sievierodonetsk?"),
        ("Where is that?", "Where is Sievierodonetsk?"),
        ("And the governor?", "And the governor (Sievierodonetsk)?"),
        ("Says who?", MAYOR),
        ("How do you know?", MAYOR),
        ("Source?", MAYOR),
    ],
)
def test_readings(text: str, reading: str) -> None:
    assert resolve(text, HISTORY) == reading


def test_nothing_to_lean_on_reads_as_typed() -> None:
    assert resolve("What did he say?", []) is None


def test_a_reply_to_the_bot_continues_unless_it_names_its_subject() -> None:
    assert resolve("Tell me more about the fighting please", HISTORY) is None
    assert resolve("Tell me more about the fighting please", HISTORY, reply=True) == (
        "Tell me more about the fighting please (Sievierodonetsk)?"
    )
    assert resolve("What does Russia call its war?", HISTORY, reply=True) is None


def test_memory_is_bounded_in_turns_age_and_conversations() -> None:
    now = [0.0]
    memory = Memory(turns=2, max_age=60, conversations=2, clock=lambda: now[0])
    for n in range(3):
        memory.remember("a", Turn(f"q{n}", f"q{n}", Answer(f"q{n}", False, 0.0)))
    assert [t.question for t in memory.recall("a")] == ["q1", "q2"]
    now[0] = 61.0
    assert memory.recall("a") == []
    memory.remember("b", HISTORY[0])
    memory.remember("c", HISTORY[0])
    memory.remember("d", HISTORY[0])
    assert len(memory) == 2 and memory.recall("b") == [] and memory.recall("d") == HISTORY
    memory.forget("d")
    assert memory.recall("d") == []


def test_a_conversation_follows_up_changes_topic_and_starts_afresh(library: Library) -> None:
    talk = Conversation(library)
    first = talk.reply(MAYOR, who="ada")
    assert isinstance(first, AnswerReply) and first.reading is None and first.answer.quotes[0].citation.paragraph == 7
    follow = talk.reply("What did he say about the fighting?", who="ada")
    assert isinstance(follow, AnswerReply) and follow.reading and "Oleksandr Stryuk" in follow.reading
    assert follow.answer.answered and follow.answer.quotes[0].citation.paragraph == 7
    assert follow.answer.question == "What did he say about the fighting?"  # as typed; the reading is beside it
    other = talk.reply("Where is that?", who="bob")  # another conversation: nothing to lean on
    assert isinstance(other, AnswerReply) and other.reading is None
    topic = talk.reply("Which two provinces make up the Donbas?", who="ada")
    assert isinstance(topic, AnswerReply) and topic.reading is None
    assert topic.answer.quotes[0].citation.paragraph == 4
    assert talk.reply("/new", who="ada") == NoticeReply(FRESH)
    assert talk.memory.recall("ada") == []


def test_chat_json_reads_a_conversation_per_block_of_lines(bundled_index: object) -> None:
    lines = [MAYOR, "What did he say about the fighting?", "", "What did he say about the fighting?", "/frobnicate"]
    done = citebot(
        "chat", "--json", "--index", str(bundled_index), input="\n".join(lines) + "\n", env=cli_env(HF_HUB_OFFLINE="1")
    )
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["reading"] is None and out[0]["quotes"][0]["paragraph"] == 7
    assert out[1]["question"] == "What did he say about the fighting?" and "Oleksandr Stryuk" in out[1]["reading"]
    assert out[2]["reading"] is None  # an empty line started a new conversation
    assert set(out[1]) == {"question", "answered", "confidence", "quotes", "closest", "reading"}
    assert out[3] == {"question": "/frobnicate", "error": "I don't know the command /frobnicate. Try /help."}


def test_an_overlong_follow_up_is_refused_before_it_is_read(library: Library) -> None:
    """A 4,096-character Telegram message used to reach the follow-up patterns first (minutes of CPU)."""
    talk = Conversation(library)
    talk.reply(MAYOR, who="ada")
    with deadline(10):
        reply = talk.reply("what about it" + " " * 4000 + "y", who="ada")
    assert isinstance(reply, ProblemReply) and "too long" in reply.message
