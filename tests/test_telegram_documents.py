"""Adding documents from Telegram, end to end: ``citebot serve`` (the real PTB Application) against the
stand-in, with getFile and the file download, links from a server on 127.0.0.1, forwarded posts, per-chat
collections, /sources, /remove and a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.telegram_standin import StandIn, parse_html
from tests.test_telegram import Bot, serving, start_bot

ADMIN, STRANGER, GROUP, MEMBER, GROUP_ADMIN = 100, 200, -1005, 300, 301
ENV = {"CITEBOT_ADMINS": str(ADMIN), "CITEBOT_GROUP_ADMINS": "1", "CITEBOT_FETCH_PRIVATE": "1"}
FERRY = b"# Island ferry timetable\n\nThe ferry to Lindholm leaves the harbour at noon every Tuesday.\n"
FERRY_Q = "When does the boat to Lindholm depart?"
PAGE = b"""<!doctype html><html><head><title>Bakery news | Quay Times</title>
<meta property="og:title" content="Rye bread returns to Quay Street">
<meta property="og:site_name" content="Quay Times">
<meta property="article:published_time" content="2022-05-03T08:00:00Z">
</head><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Rye bread returns to Quay Street</h1>
<p>The bakery on Quay Street has started selling dark rye bread again after a two-year pause in production.</p>
<p>The owner said the old sourdough starter had survived in a neighbour's freezer for the whole time.</p>
</article><footer>Copyright Quay Times</footer></body></html>"""


class Pages(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = PAGE if self.path == "/bakery.html" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("documents")


@pytest.fixture(scope="module")
def bot(home: Path) -> Iterator[Bot]:
    with serving(home, **ENV) as running:
        yield running


def reply(bot: Bot, chat: int, send: object) -> str:
    """Send (a callable pushing one update) and return the bot's next message to ``chat``, as visible text."""
    before = len(bot.standin.messages(chat))
    send()  # type: ignore[operator]
    return parse_html(bot.standin.wait_messages(chat, before + 1, timeout=120)[before].params["text"])


def test_an_admin_adds_a_document_that_answers_only_in_that_chat(bot: Bot) -> None:
    s = bot.standin
    added = reply(bot, ADMIN, lambda: s.document(ADMIN, FERRY, "ferry.md", "text/markdown"))
    assert "Added “Island ferry timetable”" in added and "1 paragraph" in added and "/remove 1" in added
    assert s.downloads == ["documents/doc1"]  # through getFile and the file URL
    answer = reply(bot, ADMIN, lambda: s.message(ADMIN, FERRY_Q))
    assert "leaves the harbour at noon" in answer and "Island ferry timetable" in answer
    assert "The articles don't answer that." in reply(bot, STRANGER, lambda: s.message(STRANGER, FERRY_Q))
    sources = reply(bot, ADMIN, lambda: s.message(ADMIN, "/sources"))
    assert "Sievierodonetsk" in sources and "Added in this chat (1):" in sources and "1. Island ferry" in sources
    assert "Added in this chat" not in reply(bot, STRANGER, lambda: s.message(STRANGER, "/sources"))


def test_anyone_else_is_refused_and_nothing_is_downloaded(bot: Bot) -> None:
    s = bot.standin
    downloads = len(s.downloads)
    refused = reply(bot, STRANGER, lambda: s.document(STRANGER, FERRY, "ferry.md", "text/markdown"))
    assert "Only this bot's admins can add documents" in refused
    refused = reply(bot, STRANGER, lambda: s.message(STRANGER, "http://127.0.0.1:9/page.html"))
    assert "Only this bot's admins can add documents" in refused
    assert "Only this bot's admins can remove" in reply(bot, STRANGER, lambda: s.message(STRANGER, "/remove 1"))
    assert len(s.downloads) == downloads


def test_a_link_and_a_forwarded_post_become_articles_with_their_links(bot: Bot, site: str) -> None:
    s = bot.standin
    added = reply(bot, ADMIN, lambda: s.message(ADMIN, f"{site}/bakery.html"))
    assert "Added “Rye bread returns to Quay Street” (2022-05-03): 2 paragraphs" in added
    question = "Which bread is the Quay Street bakery making again?"
    reply(bot, ADMIN, lambda: s.message(ADMIN, question))
    answer_html = s.messages(ADMIN)[-1].params["text"]
    assert "dark rye bread" in answer_html and f'<a href="{site}/bakery.html">' in answer_html

    post = (
        "Harbour to close for repairs\nThe harbour will close for dredging from 1 to 14 July.\n"
        "Ferries will use the north pier."
    )
    added = reply(bot, ADMIN, lambda: s.forward(ADMIN, post))
    assert "Added “Harbour to close for repairs” (2022-06-07): 2 paragraphs" in added
    reply(bot, ADMIN, lambda: s.message(ADMIN, "When is the harbour closing for dredging?"))
    answer_html = s.messages(ADMIN)[-1].params["text"]
    assert "1 to 14 July" in answer_html and '<a href="https://t.me/harbournews/57">' in answer_html
    # a forward from anyone else is only a message (a question), never added
    reply(bot, STRANGER, lambda: s.forward(STRANGER, post, user_id=STRANGER))
    assert "Harbour to close" not in reply(bot, STRANGER, lambda: s.message(STRANGER, "/sources"))


def test_a_link_to_a_private_address_is_refused_without_the_setting(home: Path, site: str) -> None:
    standin = StandIn().start()
    running = start_bot(home / "strict", standin, CITEBOT_ADMINS=str(ADMIN))
    try:
        standin.wait_polling()
        text = reply(running, ADMIN, lambda: standin.message(ADMIN, f"{site}/bakery.html"))
        assert "private or local address" in text and "Added" not in text
    finally:
        running.stop()
        standin.stop()


def test_group_administrators_add_and_members_do_not(bot: Bot) -> None:
    s = bot.standin
    s.members[(GROUP, GROUP_ADMIN)] = "administrator"
    pie = b"# Pie contest\n\nThe village pie contest was won by a rhubarb and ginger pie.\n"
    refused = reply(bot, GROUP, lambda: s.document(GROUP, pie, "pie.md", chat_type="supergroup", user_id=MEMBER))
    assert "Only this bot's admins" in refused
    before = len(s.messages(GROUP))
    s.document(GROUP, pie, "pie2.md", chat_type="supergroup", user_id=MEMBER)  # told once per person: silence now
    added = reply(bot, GROUP, lambda: s.document(GROUP, pie, "pie.md", chat_type="supergroup", user_id=GROUP_ADMIN))
    assert "Added “Pie contest”" in added and len(s.messages(GROUP)) == before + 1
    mention = "@citebot_test_bot which pie won the village contest?"
    entities = [{"type": "mention", "offset": 0, "length": len("@citebot_test_bot")}]
    answer = reply(
        bot, GROUP, lambda: s.message(GROUP, mention, chat_type="supergroup", user_id=MEMBER, entities=entities)
    )
    assert "rhubarb and ginger" in answer
    assert "Removed “Pie contest”" in reply(
        bot, GROUP, lambda: s.message(GROUP, "/remove 1", chat_type="supergroup", user_id=GROUP_ADMIN)
    )


def test_documents_survive_a_restart_and_can_be_removed(bot: Bot, home: Path) -> None:
    s = bot.standin
    bot.stop()
    polls = s.polls
    restarted = start_bot(home, s, **ENV)  # as configured before: later tests use this bot too
    bot.proc, bot.log = restarted.proc, restarted.log
    s.wait_for(lambda: s.polls > polls, timeout=120)
    assert "leaves the harbour at noon" in reply(bot, ADMIN, lambda: s.message(ADMIN, FERRY_Q))
    assert "Removed “Island ferry timetable”" in reply(bot, ADMIN, lambda: s.message(ADMIN, "/remove 1"))
    assert "The articles don't answer that." in reply(bot, ADMIN, lambda: s.message(ADMIN, FERRY_Q))
    assert "Say which document" in reply(bot, ADMIN, lambda: s.message(ADMIN, "/remove the ferry one"))


def test_a_burst_of_forwards_asks_telegram_about_the_sender_once(bot: Bot) -> None:
    """Admin status used to be looked up (getChatMember) for every forward before any pacing: 20
    forwards in one second made 20 Bot API calls. It is now asked once and remembered briefly."""
    s, group = bot.standin, -1007
    s.members[(group, GROUP_ADMIN)] = "administrator"
    before_calls, before = s.calls.count("getChatMember"), len(s.messages(group))
    for n in range(10):
        s.forward(group, f"Ferry notice {n}\nThe {n}th ferry of the day is cancelled.", post_id=100 + n,
                  user_id=GROUP_ADMIN, chat_type="supergroup")  # fmt: skip
    replies = s.wait_messages(group, before + 10, timeout=120)[before:]
    assert all("Added “Ferry notice" in parse_html(r.params["text"]) for r in replies)
    assert s.calls.count("getChatMember") - before_calls == 1


class Held(BaseHTTPRequestHandler):
    """Answers each page only when the test lets go (a server that takes its time), at most after a minute."""

    release = threading.Event()
    arrived = threading.Semaphore(0)

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Held.arrived.release()
        Held.release.wait(timeout=60)
        page = f"<p>This is the page at {self.path}, one of the several pages this server holds back.</p>"
        body = PAGE.replace(b"</article>", page.encode() + b"</article>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_slow_adds_never_take_the_threads_that_answer(home: Path) -> None:
    """Six slow links used to fill the worker pool, and a stranger's question waited 61 s. Adds now
    run in a bounded pool of their own, and one over its bound is refused at once."""
    from bot.telegram_bot import INGEST_WAITING, INGEST_WORKERS

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Held)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{httpd.server_address[1]}"
    standin = StandIn().start()
    running = start_bot(home / "slow", standin, CITEBOT_ADMINS=str(ADMIN), CITEBOT_FETCH_PRIVATE="1")
    held = INGEST_WORKERS + INGEST_WAITING
    try:
        standin.wait_polling()
        for n in range(held):
            standin.message(ADMIN, f"{site}/page{n}.html")
        for _ in range(INGEST_WORKERS):  # the pool's workers are fetching, and waiting on the server
            assert Held.arrived.acquire(timeout=60)
        busy = reply(running, ADMIN, lambda: standin.message(ADMIN, f"{site}/one-too-many.html"))
        assert "busy adding other documents" in busy
        answer = reply(running, STRANGER, lambda: standin.message(STRANGER, "Who is the mayor of Sievierodonetsk?"))
        assert "Stryuk" in answer and len(standin.messages(ADMIN)) == 1  # answered while every add still waits
        Held.release.set()
        added = standin.wait_messages(ADMIN, held + 1, timeout=180)
        assert sum("Added" in parse_html(m.params["text"]) for m in added) == held
    finally:
        Held.release.set()
        running.stop()
        standin.stop()
        httpd.shutdown()
        httpd.server_close()
