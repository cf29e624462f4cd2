"""The Telegram bot end to end: ``citebot serve`` as a subprocess, the real PTB Application,
talking HTTP to the Bot API stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.telegram_bot import ALLOWED_ENV, RATE_ENV, TOKEN_ENV, TYPING_ENV, SetupError, config_from_env
from bot.telegram_html import article_key
from embeddings import INDEX_BACKEND, Embedder, default_model
from retrieval.index import build_index
from tests.conftest import BUNDLED_FILE, ROOT, citebot, cli_env
from tests.telegram_standin import BOT_USER, StandIn, parse_html

PRIVATE, OTHER, GROUP = 100, 200, -1001
OUTSIDE_GROUP = -1002  # a group not on the allow-list


@dataclass
class Bot:
    standin: StandIn
    proc: subprocess.Popen[str]
    log: Path
    corpus: Path
    index: Path

    def ask(self, chat_id: int, text: str, **kwargs: object) -> str:
        before = len(self.standin.messages(chat_id))
        self.standin.message(chat_id, text, **kwargs)  # type: ignore[arg-type]
        return self.standin.wait_messages(chat_id, before + 1)[before].params["text"]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        return self.log.read_text()


def start_bot(tmp: Path, standin: StandIn, *args: str, serve: tuple[str, ...] = (), **env: str) -> Bot:
    corpus, index = tmp / "corpus", tmp / "index"
    if not index.exists():
        corpus.mkdir(parents=True, exist_ok=True)
        shutil.copy(BUNDLED_FILE, corpus)
        build_index([corpus], index, Embedder(backend=INDEX_BACKEND))
    log = tmp / f"bot-{time.monotonic_ns()}.log"
    # many questions from one test user: the per-user limit has its own test
    env.setdefault("CITEBOT_USER_RATE", "1000/0.01")
    environment = cli_env(TELEGRAM_BOT_TOKEN=standin.token, TELEGRAM_API_URL=standin.url, **env)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args, "serve", "--index", str(index), *serve],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Bot(standin, proc, log, corpus, index)


@contextmanager
def serving(tmp: Path, *args: str, serve: tuple[str, ...] = (), **env: str) -> Iterator[Bot]:
    """A stand-in and a bot polling it; afterwards, proof the token was never logged."""
    standin = StandIn().start()
    running = start_bot(tmp, standin, *args, serve=serve, **env)
    try:
        if not serve:
            standin.wait_polling()
        yield running
    finally:
        output = running.stop()
        standin.stop()
        assert standin.token not in output  # never logged, at any level


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    # "typing…" at once, so that every answer shows it (by default it waits 0.3 s of work)
    with serving(tmp_path_factory.mktemp("bot"), "-vv", CITEBOT_TYPING_AFTER="0") as running:
        yield running


def test_commands_are_registered(bot: Bot) -> None:
    bot.standin.wait_for(lambda: bool(bot.standin.commands))
    names = {c["command"] for c in bot.standin.commands}
    assert {"start", "help", "sources", "about", "ask"} <= names


def test_answer_quotes_the_right_paragraph_with_a_button(bot: Bot) -> None:
    bot.ask(PRIVATE, "Who is the mayor of Sievierodonetsk?")
    sent = bot.standin.messages(PRIVATE)[-1]
    text = sent.params["text"]
    assert text.startswith("<blockquote>") and "Mayor Oleksandr Stryuk" in text
    assert "<i>Sievierodonetsk</i>, 2022-06-07, paragraph 7" in text
    assert sent.params["parse_mode"] == "HTML"
    assert any(s.method == "sendChatAction" and s.chat_id == PRIVATE for s in bot.standin.sent)
    (button,) = sent.params["reply_markup"]["inline_keyboard"][0]
    data = button["callback_data"]
    assert len(data.encode()) <= 64

    before = len(bot.standin.messages(PRIVATE))
    bot.standin.callback(PRIVATE, data)
    (whole,) = bot.standin.wait_messages(PRIVATE, before + 1)[before:]
    paragraph_7 = [p for p in BUNDLED_FILE.read_text().split("\n\n") if p.strip()][6].strip()
    assert parse_html(whole.params["text"]).startswith(paragraph_7)
    assert any(s.method == "answerCallbackQuery" for s in bot.standin.sent)


def test_declined_question_offers_the_closest_match(bot: Bot) -> None:
    text = bot.ask(PRIVATE, "How do I cook borscht?")
    assert "The articles don't answer that." in text and "Closest match:" in text and "<blockquote>" in text


def test_help_start_sources_about(bot: Bot) -> None:
    for command in ("/start", "/help"):
        text = bot.ask(PRIVATE, command)
        assert "Sievierodonetsk (2022-06-07, 15 paragraphs)" in text
        assert text.count("<code>") == 2  # two example questions
    assert "1 article" in bot.ask(PRIVATE, "/sources")
    about = bot.ask(PRIVATE, "/about")
    assert default_model() in about and "passage" in about and "Built:" in about
    assert "don't know the command /frobnicate" in bot.ask(PRIVATE, "/frobnicate")


def test_group_answers_only_when_addressed(bot: Bot) -> None:
    standin = bot.standin
    standin.message(GROUP, "Who is the mayor of Sievierodonetsk?", chat_type="supergroup")
    standin.message(GROUP, "/ask@some_other_bot who is the mayor?", chat_type="supergroup")
    mention = "@citebot_test_bot who is the mayor of Sievierodonetsk?"
    text = bot.ask(
        GROUP,
        mention,
        chat_type="supergroup",
        entities=[{"type": "mention", "offset": 0, "length": len("@citebot_test_bot")}],
    )
    assert "Stryuk" in text
    assert len(standin.messages(GROUP)) == 1  # the first two were ignored
    assert "numerical advantage" in bot.ask(GROUP, "/ask who had the numerical advantage?", chat_type="supergroup")
    reply_to = {"message_id": 5, "date": 0, "chat": {"id": GROUP, "type": "supergroup"}, "from": BOT_USER, "text": "x"}
    assert "special military operation" in bot.ask(
        GROUP, "What does Russia call its war?", chat_type="supergroup", reply_to=reply_to
    )
    assert "Sievierodonetsk" in bot.ask(GROUP, "/help@citebot_test_bot", chat_type="supergroup")


def test_stickers_photos_and_edits(bot: Bot) -> None:
    sticker = {
        "sticker": {
            "file_id": "s",
            "file_unique_id": "u",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    }
    photo = {"photo": [{"file_id": "p", "file_unique_id": "q", "width": 1, "height": 1}]}
    standin = bot.standin
    standin.message(GROUP, None, chat_type="supergroup", extra=sticker)
    assert "only read text" in bot.ask(PRIVATE, None, extra=sticker)  # type: ignore[arg-type]
    assert "only read text" in bot.ask(PRIVATE, None, extra=photo)  # type: ignore[arg-type]
    assert "send the question again" in bot.ask(PRIVATE, "Who is the mayor?", edited=True)
    time.sleep(0.5)
    assert all("only read text" not in s.text for s in standin.messages(GROUP))


def test_html_in_a_question_is_escaped(bot: Bot) -> None:
    text = bot.ask(PRIVATE, "/x<b>&amp;</b>")  # echoed back in the "unknown command" reply
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text
    parse_html(text)  # valid Telegram HTML (the strict stand-in would have refused it anyway)
    answer = bot.ask(PRIVATE, "<i>Who</i> is the **mayor** of Sievierodonetsk? <script>alert(1)</script>")
    assert "Stryuk" in answer


def test_huge_question_gets_a_short_refusal(bot: Bot) -> None:
    text = bot.ask(PRIVATE, "why " * 5000)
    assert "too long" in text and len(text) < 200


def test_429_delays_the_reply_instead_of_losing_it(bot: Bot) -> None:
    bot.standin.inject("sendMessage", 429, times=1, retry_after=1)
    before = len(bot.standin.messages(PRIVATE))
    started = time.monotonic()
    bot.standin.message(PRIVATE, "Who had the numerical advantage?")
    sent = bot.standin.wait_messages(PRIVATE, before + 1)
    assert time.monotonic() - started >= 1.0
    time.sleep(1.0)
    assert len(bot.standin.messages(PRIVATE)) == before + 1  # exactly one answer
    assert "numerical advantage" in sent[-1].text


def test_rebuilt_index_is_picked_up_without_restart(bot: Bot) -> None:
    assert "don't answer" in bot.ask(PRIVATE, "What do barn owls hunt at night?")
    (bot.corpus / "owls.md").write_text("# Owls\n\nBarn owls hunt mice and voles at night using their hearing.\n")
    result = citebot("index", str(bot.corpus), "--index", str(bot.index), "-q")
    assert result.returncode == 0, result.stderr
    text = bot.ask(PRIVATE, "What do barn owls hunt at night?")
    assert "mice and voles" in text and "<i>Owls</i>" in text


def test_edited_commands_get_the_hint_not_a_second_answer(bot: Bot) -> None:
    """PTB's CommandHandler also matches edits: an edited /ask was answered again."""
    for command in ("/ask Who is the mayor of Sievierodonetsk?", "/help"):
        assert bot.ask(PRIVATE, command, edited=True) == "I answer new messages only: please send the question again."


@pytest.mark.parametrize("data", ["p:{key}:²", "p:{key}:9999999999999999999", "p::7", "x" * 64, "p:a:b:c", "p:{key}:0"])
def test_forged_button_data_is_answered_and_refused(bot: Bot, data: str) -> None:
    """Data such as ``p:…:²`` once raised, leaving the button spinning with no answer."""
    before = len(bot.standin.messages(method="answerCallbackQuery"))
    bot.standin.callback(PRIVATE, data.format(key=article_key(BUNDLED_FILE.stem)))
    answered = bot.standin.wait_messages(None, before + 1, method="answerCallbackQuery")
    assert answered[-1].params.get("text") == "That paragraph is no longer in the index."


def test_an_article_with_a_4000_character_url_does_not_stop_the_bot(bot: Bot) -> None:
    """One such article once froze every chat: rendering its citation looped on the event loop."""
    url = "https://example.org/glaciers?" + "q=1&" * 1000
    article = {"id": "glaciers", "title": "Glaciers", "url": url, "date": "2022-06-08", "paragraphs": [
        "The glaciers of Patagonia retreat by dozens of metres every year as the climate warms.",
    ]}
    (bot.corpus / "glaciers.jsonl").write_text(json.dumps(article) + "\n")
    result = citebot("index", str(bot.corpus), "--index", str(bot.index), "-q")
    assert result.returncode == 0, result.stderr
    text = bot.ask(PRIVATE, "How fast do the glaciers of Patagonia retreat?")
    assert "dozens of metres" in text and "<i>Glaciers</i>, 2022-06-08, paragraph 1" in text
    assert "href" not in text  # the link could not fit, the citation is still there
    button = bot.standin.messages(PRIVATE)[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    before = len(bot.standin.messages(PRIVATE))
    for _ in range(6):  # six presses once pinned every worker thread
        bot.standin.callback(PRIVATE, button)
    wholes = bot.standin.wait_messages(PRIVATE, before + 6)[before:]
    assert all("dozens of metres" in m.text for m in wholes)
    assert "Stryuk" in bot.ask(OTHER, "Who is the mayor of Sievierodonetsk?")  # everyone else still served


def test_allow_list(tmp_path: Path) -> None:
    standin = StandIn().start()
    guarded = start_bot(tmp_path, standin, CITEBOT_ALLOWED_CHATS=f"{PRIVATE},-5")
    try:
        standin.wait_polling()
        assert "Stryuk" in guarded.ask(PRIVATE, "Who is the mayor of Sievierodonetsk?")
        assert guarded.ask(OTHER, "Who is the mayor of Sievierodonetsk?") == "This bot is private."
        standin.message(OTHER, "/help")
        standin.callback(OTHER, "p:xxxxxxxx:7")
        standin.wait_for(lambda: any(s.method == "answerCallbackQuery" for s in standin.sent))
        assert standin.messages(method="answerCallbackQuery")[-1].params.get("text") == "This bot is private."
        mention = "@citebot_test_bot who is the mayor of Sievierodonetsk?"
        entity = [{"type": "mention", "offset": 0, "length": len("@citebot_test_bot")}]
        standin.message(OUTSIDE_GROUP, mention, chat_type="supergroup", entities=entity)
        standin.message(OUTSIDE_GROUP, "/ask who is the mayor?", chat_type="supergroup")
        standin.wait_messages(OUTSIDE_GROUP, 1)  # waited for: a fixed pause raced a busy machine
        time.sleep(1.0)  # anything more would have followed by now
        assert len(standin.messages(OTHER)) == 1  # one short reply and nothing else
        assert [m.params["text"] for m in standin.messages(OUTSIDE_GROUP)] == ["This bot is private."]
    finally:
        guarded.stop()
        standin.stop()


@pytest.mark.parametrize(
    ("token", "expected"),
    [("", "not set"), ("not-a-token", "does not look like"), ("999999:WRONG_token_abcdefghijklmnopqrst", "rejected")],
)
def test_bad_token_is_one_line_and_exit_2(tmp_path: Path, bundled_index: Path, token: str, expected: str) -> None:
    standin = StandIn().start()
    try:
        env = cli_env(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_URL=standin.url)
        result = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--index", str(bundled_index)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        standin.stop()
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    if token:
        assert token not in result.stderr + result.stdout


def test_sigterm_answers_or_keeps_every_fetched_question(tmp_path: Path) -> None:
    standin = StandIn().start()
    running = start_bot(tmp_path, standin)
    try:
        standin.wait_polling()
        chats = [PRIVATE + i for i in range(8)]
        ids = {chat: standin.message(chat, "Who had the numerical advantage?") for chat in chats}
        time.sleep(0.3)  # some are fetched, maybe some answered, when the signal arrives
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(timeout=60) == 0
        with standin._lock:
            pending = {u["update_id"] for u in standin._updates}
        for chat in chats:
            answers = standin.messages(chat)
            # answered exactly once and confirmed, or left unconfirmed for the next start
            assert (len(answers) == 1 and ids[chat] not in pending) or (not answers and ids[chat] in pending)
    finally:
        running.stop()
        standin.stop()


GOOD_TOKEN = "123456:" + "A" * 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "is not set"),
        ({TOKEN_ENV: "123:short"}, "does not look like a bot token"),
        ({TOKEN_ENV: GOOD_TOKEN, ALLOWED_ENV: "12,abc"}, "comma-separated chat ids"),
        ({TOKEN_ENV: GOOD_TOKEN, RATE_ENV: "0/3"}, "must look like 5/3"),
        ({TOKEN_ENV: GOOD_TOKEN, TYPING_ENV: "-1"}, "number of seconds"),
    ],
)
def test_bad_settings_are_one_clear_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message) as caught:
        config_from_env(env)
    assert GOOD_TOKEN not in str(caught.value)


def test_settings_defaults() -> None:
    config = config_from_env({TOKEN_ENV: f" {GOOD_TOKEN}\n", ALLOWED_ENV: "12, -100987"})
    assert config.token == GOOD_TOKEN and config.allowed_chats == {12, -100987}
    assert (config.user_burst, config.user_interval, config.typing_after) == (5, 3.0, 0.3)
    assert config.api_url == "https://api.telegram.org" and config.rate_limit


def test_follow_ups_are_read_per_chat_and_new_forgets(bot: Bot) -> None:
    bot.ask(PRIVATE, "/new")
    bot.ask(OTHER, "/new")
    assert "Mayor Oleksandr Stryuk" in bot.ask(PRIVATE, "Who is the mayor of Sievierodonetsk?")
    other = parse_html(bot.ask(OTHER, "What did he say about the fighting?"))  # the other chat asked nothing yet
    assert "Reading this as" not in other
    follow = parse_html(bot.ask(PRIVATE, "What did he say about the fighting?"))
    assert follow.startswith("Reading this as: What did Mayor Oleksandr Stryuk say about the fighting?")
    assert "Starting afresh" in bot.ask(PRIVATE, "/new")
    assert "Reading this as" not in parse_html(bot.ask(PRIVATE, "What did he say about the fighting?"))


def test_a_follow_up_sent_as_a_reply_in_a_plain_supergroup_continues_the_conversation(bot: Bot) -> None:
    """Telegram sets ``message_thread_id`` on every reply in a supergroup without topics (the reply
    chain's first message); counting it as a thread gave each reply a conversation of its own."""
    member, mention = 555, "@citebot_test_bot"
    entities = [{"type": "mention", "offset": 0, "length": len(mention)}]
    question = f"{mention} Who is the mayor of Sievierodonetsk?"
    first = bot.ask(GROUP, question, chat_type="supergroup", user_id=member, entities=entities)
    assert "Stryuk" in parse_html(first)
    replied = {"message_id": 9001, "date": 0, "chat": {"id": GROUP, "type": "supergroup"}, "from": BOT_USER,
               "text": "answer"}  # fmt: skip
    follow = bot.ask(
        GROUP, "What did he say about the fighting?", chat_type="supergroup", user_id=member, reply_to=replied,
        extra={"message_thread_id": 8999},  # and no is_topic_message: an ordinary reply chain
    )  # fmt: skip
    assert parse_html(follow).startswith("Reading this as: What did Mayor Oleksandr Stryuk say about the fighting?")


def test_only_a_forum_topic_keys_a_conversation_by_its_thread() -> None:
    from datetime import UTC, datetime

    from telegram import Chat, Message, User

    from bot.telegram_bot import conversation_key

    group, person, now = Chat(-100, "supergroup"), User(5, "Ada", False), datetime.now(UTC)
    in_reply_chain = Message(2, now, group, from_user=person, message_thread_id=1)
    in_topic = Message(3, now, group, from_user=person, message_thread_id=1, is_topic_message=True)
    assert conversation_key(in_reply_chain) == (-100, 5, 0)
    assert conversation_key(in_topic) == (-100, 5, 1)


def _speaking(user_id: int, language_code: str) -> dict[str, object]:
    """A sender whose Telegram app is in ``language_code`` (Telegram sends it with every message)."""
    return {"from": {"id": user_id, "is_bot": False, "first_name": "Ada", "language_code": language_code}}


def test_replies_are_in_the_senders_language(bot: Bot) -> None:
    russian, ukrainian, english = 301, 302, 303
    decline = bot.ask(russian, "Как приготовить борщ?", extra=_speaking(russian, "ru"))
    assert "<b>В статьях нет ответа на этот вопрос.</b>" in decline and "Ближе всего по смыслу:" in decline
    assert "абзац" in decline and "paragraph" not in decline and "<blockquote>" in decline
    (button,) = bot.standin.messages(russian)[-1].params["reply_markup"]["inline_keyboard"][0]
    assert button["text"] == "Весь абзац"

    help_text = bot.ask(ukrainian, "/help", extra=_speaking(ukrainian, "uk"))
    assert "Питайте своїми словами, наприклад:" in help_text and "(2022-06-07, 15 абзаців)" in help_text
    assert help_text.count("<code>") == 2  # the example questions stay as they are
    bot.standin.message(ukrainian, "Хто мер міста?", edited=True, extra=_speaking(ukrainian, "uk"))
    edited = bot.standin.wait_messages(ukrainian, 2)[-1].text
    assert edited == "Я відповідаю лише на нові повідомлення: надішліть запитання ще раз."

    assert "Ask in your own words, for example:" in bot.ask(english, "/help", extra=_speaking(english, "en-US"))
    borscht = "How do I cook borscht?"
    assert "The articles don't answer that." in bot.ask(english, borscht, extra=_speaking(english, "en"))
    # the app's language comes first: a Ukrainian app gets Ukrainian whatever the question's language
    assert "У статтях немає відповіді" in bot.ask(ukrainian, borscht, extra=_speaking(ukrainian, "uk"))
