"""The webhook server: authenticated, bounded in size, time and connections, quiet under attack.

End to end, ``citebot serve --webhook-url`` runs as a subprocess against the Bot API stand-in;
the server's limits are tested in-process on the real tornado server with short timeouts.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application, ApplicationBuilder
from tornado.testing import bind_unused_port

from bot.webhook import SECRET_HEADER, Webhook, make_server
from tests.conftest import ROOT, cli_env, one_line_error
from tests.telegram_standin import StandIn
from tests.test_telegram import PRIVATE, start_bot

SECRET = "s3cret"
TOKEN = "123456789:AAH-standin-token_abcdefghijklmnopqrstu"


def update(chat: int = PRIVATE, text: str = "Who is the mayor of Sievierodonetsk?") -> bytes:
    message = {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"}, "from": StandIn.user(chat)}
    return json.dumps({"update_id": 1, "message": {**message, "text": text}}).encode()


def post(port: int, path: str, body: bytes, secret: str | None = SECRET, **headers: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = {"Content-Type": "application/json", **headers, **({SECRET_HEADER: secret} if secret else {})}
        connection.request("POST", path, body, sent)
        return connection.getresponse().status
    finally:
        connection.close()


def post_when_ready(port: int, path: str, body: bytes) -> int:
    """``post``, retried while the server is still freeing connections (a loaded machine is slow)."""
    give_up = time.monotonic() + 60
    while True:
        try:
            return post(port, path, body)
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)


def raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are (malformed requests), return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def wait_listening(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60  # PTB sets the webhook first, then starts listening
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "webhook server never listened"
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- end to end ---------------------------------------------------------------------------


@pytest.mark.parametrize("given", [SECRET, None], ids=["--secret-token", "generated"])
def test_every_update_needs_the_secret_and_the_body_is_bounded(tmp_path: Path, given: str | None) -> None:
    """Without --secret-token the webhook once accepted forged updates from anyone."""
    port, standin = free_port(), StandIn().start()
    url = f"http://127.0.0.1:{port}/hook"
    options = ("--listen", "127.0.0.1", "--port", str(port), "--webhook-url", url)
    hooked = start_bot(tmp_path, standin, serve=options + (("--secret-token", given) if given else ()))
    try:
        standin.wait_for(lambda: standin.webhook == url, timeout=120)
        wait_listening(port, hooked.proc)
        secret = standin.webhook_secret
        assert secret == given if given else re.fullmatch(r"[A-Za-z0-9_-]{64}", secret or "")
        assert post(port, "/hook", update(), secret=None) == 403
        assert post(port, "/hook", update(), secret="wrong") == 403
        head = f"POST /hook HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {secret}\r\nContent-Length: {2 << 20}\r\n\r\n"
        assert raw(port, head.encode()).startswith(b"HTTP/1.1 413")  # over the limit: refused before the body
        assert post(port, "/hook", b"not json", secret) == 400
        time.sleep(0.5)
        assert standin.messages(PRIVATE) == []
        assert post(port, "/hook", update(), secret) == 200
        assert "Stryuk" in standin.wait_messages(PRIVATE)[0].text
    finally:
        output = hooked.stop()
        standin.stop()
    assert standin.webhook_secret not in output  # the secret is not logged either


@pytest.mark.parametrize(
    ("option", "environment"),
    [(("--secret-token", ""), {}), ((), {"TELEGRAM_WEBHOOK_SECRET": ""}), (("--secret-token", "no spaces!"), {})],
    ids=["empty option", "empty variable", "bad characters"],
)
def test_an_empty_or_invalid_secret_is_refused(option: tuple[str, ...], environment: dict[str, str]) -> None:
    env = cli_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL="http://127.0.0.1:9", **environment)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--webhook-url", "https://example.org/hook", *option],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "secret token must be 1-256 characters" in one_line_error(result)


# --- the server, in process ----------------------------------------------------------------


@dataclass
class Server:
    port: int
    app: Application
    pid: int = 0


@contextmanager
def serving(path: str = "/hook", **limits: Any) -> Iterator[Server]:
    """The real webhook server on 127.0.0.1, in its own thread and event loop."""
    ready, box = threading.Event(), {}

    async def main() -> None:
        app = ApplicationBuilder().token(TOKEN).updater(None).build()
        server = make_server(app, Webhook(f"http://127.0.0.1{path}", SECRET), **limits)
        sock, port = bind_unused_port()
        server.add_sockets([sock])
        box.update(server=Server(port, app), stop=asyncio.Event(), loop=asyncio.get_running_loop())
        ready.set()
        await box["stop"].wait()
        server.stop()
        await server.close_all_connections()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield box["server"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


def test_the_path_is_matched_literally() -> None:
    """tornado took the path as a regular expression: /hook(prod) received nothing."""
    with serving("/hook(prod)") as server:
        assert post(server.port, "/hook(prod)", update()) == 200
        assert server.app.update_queue.qsize() == 1
        assert post(server.port, "/hookprod", update()) == 404


def test_bodies_that_are_not_updates_get_400_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving() as server:
        assert post(server.port, "/hook", b"[1, 2, 3]") == 400  # JSON, but an array
        assert post(server.port, "/hook", b"[" * 100_000) == 400  # nested past the recursion limit
        assert post(server.port, "/hook", b'{"text": "no update_id"}') == 400
        head = f"POST /hook HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {SECRET}\r\n"
        assert raw(server.port, (head + "Content-Length: ²\r\n\r\n").encode()).startswith(b"HTTP/1.1 400")
        assert server.app.update_queue.qsize() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


def test_a_chunked_body_over_the_limit_gets_413(caplog: pytest.LogCaptureFixture) -> None:
    """A chunked body gives no length up front; it once got a connection reset and a traceback."""
    with serving() as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = f"POST /hook HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        for _ in range(24):  # 1.5 MB
            sock.sendall(b"%x\r\n%s\r\n" % (64 * 1024, b"{" * (64 * 1024)))
        sock.sendall(b"0\r\n\r\n")
        answer = sock.recv(4096)
        assert server.app.update_queue.qsize() == 0
    assert answer.startswith(b"HTTP/1.1 413")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_refused_requests_are_summarised_not_logged_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    with serving() as server:
        for _ in range(50):
            assert post(server.port, "/hook", update(), secret=None) == 403
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "refused" in lines[0].getMessage()


def test_slow_headers_and_slow_bodies_are_cut_off() -> None:
    """tornado's defaults wait an hour for headers and forever for a body."""
    with serving(header_timeout=1.0, body_timeout=1.0) as server:
        for partial in (
            b"POST /hook HTTP/1.1\r\nHost: x\r\n",  # the headers never end
            f"POST /hook HTTP/1.1\r\nHost: x\r\n{SECRET_HEADER}: {SECRET}\r\nContent-Length: 100\r\n\r\n{{".encode(),
        ):
            # the server closes it (recv gives b""); with no timeout, recv would time out instead
            assert raw(server.port, partial, timeout=60) == b""


def test_connections_over_the_cap_are_closed_and_service_resumes() -> None:
    with serving(max_connections=4, header_timeout=30.0) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(10)]
        try:
            closed = 0
            for sock in idle[4:]:
                sock.settimeout(60)
                closed += sock.recv(1) == b""
            assert closed == 6
        finally:
            for sock in idle:
                sock.close()
        assert post_when_ready(server.port, "/hook", update()) == 200


EMFILE_SERVER = f"""
import asyncio, os, resource
from telegram.ext import ApplicationBuilder
from tornado.testing import bind_unused_port
from bot.webhook import Webhook, make_server

async def main():
    app = ApplicationBuilder().token({TOKEN!r}).updater(None).build()
    server = make_server(app, Webhook("http://127.0.0.1/hook", {SECRET!r}), max_connections=10_000)
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 6, hard))
    print(port, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_running_out_of_file_descriptors_pauses_accepting_instead_of_spinning() -> None:
    """At the descriptor limit tornado's accept loop spun at 100% CPU, a traceback per turn."""
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(30)]
        time.sleep(0.5)
        before = _cpu_seconds(proc.pid)
        time.sleep(2.0)
        busy = _cpu_seconds(proc.pid) - before
        for sock in held:
            sock.close()
        # once the pause ends, the dead connections are accepted and dropped, and service resumes
        assert post_when_ready(port, "/hook", update()) == 200
    finally:
        proc.kill()
        _, errors = proc.communicate(timeout=30)
    assert busy < 0.5, f"{busy:.2f} s of CPU in 2 s at the descriptor limit"
    assert len(errors.splitlines()) < 5, errors[-2000:]
