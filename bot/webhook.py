"""Receiving updates by webhook: a small tornado server in front of the PTB Application.

PTB's own ``run_webhook`` accepts bodies up to tornado's default of 100 MB, waits an hour for
headers and has no connection cap; this server is meant to sit behind an HTTP reverse proxy
(which terminates TLS), but stays safe without one:

- every request must carry the secret token (403 otherwise), and there always is one: a
  random one is made and registered with ``setWebhook`` when the operator gives none;
- bodies over ``MAX_BODY`` get 413, before they are read when they declare a length (chunked
  ones are read to the end, kept only up to the limit); anything that is not one JSON object
  describing an update gets 400;
- headers must arrive within ``HEADER_TIMEOUT`` and bodies within ``BODY_TIMEOUT``, at most
  ``MAX_CONNECTIONS`` connections are open at once, and when the process runs out of file
  descriptors it stops accepting for a moment instead of spinning;
- refused requests are logged as one summary line a minute, not a line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import logging
import re
import resource
import secrets
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # a Telegram update is a few KB; 1 MB leaves room and no more
MAX_HEADERS = 16 * 1024
HEADER_TIMEOUT = 10.0  # seconds to send the request headers (and how long an idle connection stays)
BODY_TIMEOUT = 10.0  # seconds to send the body
MAX_CONNECTIONS = 128  # Telegram opens at most 100 (setWebhook's max_connections)
ACCEPT_PAUSE = 1.0  # seconds without accepting after the process ran out of file descriptors
LOG_EVERY = 60.0  # seconds between summaries of refused requests
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}", re.ASCII)  # what Telegram accepts as secret_token
_LENGTH = re.compile(r"[0-9]{1,12}", re.ASCII)


def new_secret() -> str:
    """A random secret token in Telegram's alphabet (64 characters, 384 bits)."""
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_token: str  # required: see ``new_secret``
    listen: str = "127.0.0.1"
    port: int = 8443

    def __post_init__(self) -> None:
        if not SECRET.fullmatch(self.secret_token):
            raise ValueError("the webhook secret token must be 1-256 characters from A-Z, a-z, 0-9, _ and -")

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


class RefusalLog:
    """Counts refused requests and logs them as one warning per ``every`` seconds at most.

    A flood of bad requests must not become a flood of log lines.
    """

    def __init__(self, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._last: float | None = None

    def note(self, reason: str) -> None:
        self.counts[reason] += 1
        now = self.clock()
        if self._last is None or now - self._last >= self.every:
            self._last = now
            summary = ", ".join(f"{n} {why}" for why, n in sorted(self.counts.items()))
            log.warning("webhook refused requests", extra={"since_last": summary})
            self.counts.clear()


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """One update per POST. Streaming, so the checks run before any of the body is read."""

    def initialize(self, app: Application, secret: str, refusals: RefusalLog) -> None:
        self.app = app
        self.secret = secret
        self.refusals = refusals
        self.body = bytearray()
        self.too_big = False

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self._refuse(403, "without the secret token")
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and (not _LENGTH.fullmatch(length) or int(length) > MAX_BODY):
            self._refuse(413 if length.isascii() and length.isdigit() else 400, "with a bad or too large length")

    def data_received(self, chunk: bytes) -> None:
        if self.too_big:
            return
        self.body += chunk
        if len(self.body) > MAX_BODY:  # a chunked body, which gives no length up front
            # The rest is read and dropped (tornado stops at 4 MB or BODY_TIMEOUT), so the 413
            # reaches the client instead of a connection reset in the middle of its upload.
            self.too_big, self.body = True, bytearray()

    async def post(self) -> None:
        if self.too_big:
            self._refuse(413, "with a body over 1 MB")
            return
        try:
            data = json.loads(bytes(self.body))
            update = Update.de_json(data, self.app.bot) if isinstance(data, dict) and "update_id" in data else None
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            update = None
        if update is None:
            self._refuse(400, "that are not an update")
            return
        await self.app.update_queue.put(update)
        self.set_status(200)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer now; tornado closes a connection whose request body was not read to the end."""
        self.refusals.note(f"{status} ({reason})")
        self.set_status(status)
        self.finish()

    def log_exception(self, *args: Any) -> None:  # tornado would log request details; we do not
        log.debug("webhook request failed")


class WebhookServer(HTTPServer):
    """tornado's HTTPServer with a connection cap and an accept loop that survives EMFILE."""

    def initialize(self, *args: Any, max_connections: int, refusals: RefusalLog, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.refusals = refusals

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        if len(self._connections) >= self.max_connections:
            self.refusals.note("connections over the cap")
            stream.close()
            return
        super().handle_stream(stream, address)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _accept_handler(sock, self._handle_connection, self.refusals)


def _accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None], refusals: RefusalLog
) -> Callable[[], None]:
    """tornado's accept loop, except that running out of descriptors pauses accepting.

    tornado's own lets the error escape, and since the listening socket stays readable the
    loop calls it again at once: 100% CPU and a traceback per call. asyncio's servers pause.
    """
    loop = IOLoop.current()
    state = {"removed": False, "paused": False}

    def resume() -> None:
        if not state["removed"]:
            state["paused"] = False
            loop.add_handler(sock, on_readable, IOLoop.READ)

    def on_readable(fd: Any, events: int) -> None:
        for _ in range(128):
            if state["removed"]:
                return
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                refusals.note("accepts paused: out of file descriptors")
                loop.remove_handler(sock)
                state["paused"] = True
                loop.call_later(ACCEPT_PAUSE, resume)
                return
            callback(connection, address)

    def remove() -> None:
        if not state["paused"]:
            loop.remove_handler(sock)
        state["removed"] = True

    loop.add_handler(sock, on_readable, IOLoop.READ)
    return remove


def connection_cap() -> int:
    """``MAX_CONNECTIONS``, or fewer when the descriptor limit is low (leaving room for the rest)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, soft // 2 - 32))


def make_server(
    app: Application,
    webhook: Webhook,
    *,
    max_connections: int | None = None,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
) -> WebhookServer:
    """The server for ``webhook``, handing updates to ``app``; call ``listen`` to start it."""
    refusals = RefusalLog()
    routes = tornado.web.Application(
        # the path is a literal, not a pattern: "/hook(prod)" must match only itself
        [(re.escape(webhook.path), UpdateHandler, {"app": app, "secret": webhook.secret_token, "refusals": refusals})],
        log_function=lambda handler: None,  # refusals are summarised by RefusalLog
    )
    return WebhookServer(
        routes,
        max_connections=max_connections or connection_cap(),
        refusals=refusals,
        max_header_size=MAX_HEADERS,
        idle_connection_timeout=header_timeout,
        body_timeout=body_timeout,
        max_body_size=4 * MAX_BODY,  # the handler refuses sooner, with a 413
    )


async def serve_webhook(app: Application, webhook: Webhook, on_start: Any) -> None:
    """Run ``app`` behind the webhook server until SIGINT/SIGTERM, then stop cleanly."""
    server = make_server(app, webhook)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await on_start(app)
        await app.start()
        server.listen(webhook.port, webhook.listen)  # listening before Telegram is told about it
        await app.bot.set_webhook(webhook.url, secret_token=webhook.secret_token, allowed_updates=Update.ALL_TYPES)
        log.info("webhook listening", extra={"port": webhook.port, "max_connections": server.max_connections})
        await stop.wait()
        server.stop()
        with contextlib.suppress(Exception):
            await server.close_all_connections()
        await app.stop()
