"""Receiving updates by webhook: a small tornado server in front of the PTB Application.

PTB's own ``run_webhook`` accepts bodies up to tornado's default of 100 MB and cannot be told
otherwise; this server refuses anything without the secret token (403) and any body over
``MAX_BODY`` (413) before reading it, then hands updates to the same Application.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # a Telegram update is a few KB; 1 MB leaves room and no more


@dataclass(frozen=True)
class Webhook:
    url: str
    listen: str = "127.0.0.1"
    port: int = 8443
    secret_token: str | None = None


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """One update per POST. Streaming, so the checks run before any of the body is read."""

    def initialize(self, app: Application, secret: str | None) -> None:
        self.app = app
        self.secret = secret
        self.body = bytearray()

    def prepare(self) -> None:
        if self.secret is not None:
            given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                raise tornado.web.HTTPError(403)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise tornado.web.HTTPError(413)

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > MAX_BODY:  # a chunked body that gives no length
            raise tornado.web.HTTPError(413)

    async def post(self) -> None:
        try:
            update = Update.de_json(json.loads(bytes(self.body)), self.app.bot)
        except (ValueError, TypeError, KeyError):
            raise tornado.web.HTTPError(400) from None
        if update is None:
            raise tornado.web.HTTPError(400)
        await self.app.update_queue.put(update)
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:  # tornado would log request details; we do not
        log.debug("webhook request refused")


async def serve_webhook(app: Application, webhook: Webhook, on_start: Any) -> None:
    """Run ``app`` behind the webhook server until SIGINT/SIGTERM, then stop cleanly."""
    path = urlsplit(webhook.url).path or "/"
    routes = tornado.web.Application([(path, UpdateHandler, {"app": app, "secret": webhook.secret_token})])
    server = HTTPServer(routes, max_body_size=4 * MAX_BODY)  # the handler refuses sooner, with a 413
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await on_start(app)
        await app.start()
        server.listen(webhook.port, webhook.listen)  # listening before Telegram is told about it
        await app.bot.set_webhook(webhook.url, secret_token=webhook.secret_token, allowed_updates=Update.ALL_TYPES)
        log.info("webhook listening", extra={"port": webhook.port})
        await stop.wait()
        server.stop()
        with contextlib.suppress(Exception):
            await server.close_all_connections()
        await app.stop()
