"""A small Telegram Bot API stand-in for tests and benchmarks, on 127.0.0.1.

It speaks the Bot API over real HTTP (aiohttp): the bot under test is the real
python-telegram-bot ``Application`` pointed here with ``TELEGRAM_API_URL``. Updates go in
through ``getUpdates`` (real long polling with offset and timeout); everything the bot sends
is recorded. In strict mode it rejects what Telegram rejects (HTML it cannot parse, text over
4096 UTF-16 units, empty text), and faults such as 429 with ``retry_after`` can be injected.

Use it from synchronous test code: ``StandIn().start()`` runs the server in its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "citebot", "username": "citebot_test_bot"}
ALLOWED_TAGS = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "tg-spoiler": set(),
    "span": {"class"},
    "a": {"href"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
    "tg-emoji": {"emoji-id"},
}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\"|='[^']*'|=[^\s>]+)?)*)\s*(/?)>")
_ATTRIBUTE = re.compile(r"([a-zA-Z-]+)(?:=(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Visible text of Telegram HTML, or ValueError with Telegram's kind of message."""
    stack: list[str] = []
    visible: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(f"can't parse entities: unsupported start tag at byte offset {pos}")
            closing, tag, attrs, _ = m.groups()
            tag = tag.lower()
            if tag not in ALLOWED_TAGS:
                raise ValueError(f'can\'t parse entities: unsupported start tag "{tag}" at byte offset {pos}')
            if closing:
                if not stack or stack[-1] != tag:
                    expected = stack[-1] if stack else ""
                    raise ValueError(f"can't parse entities: unmatched end tag </{tag}>, expected </{expected}>")
                stack.pop()
            else:
                names = {m.group(1) for m in _ATTRIBUTE.finditer(attrs)}
                if names - ALLOWED_TAGS[tag]:
                    raise ValueError(f"can't parse entities: unsupported attribute in <{tag}>")
                stack.append(tag)
            pos = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, pos)
            if not m:
                raise ValueError(f"can't parse entities: unsupported entity at byte offset {pos}")
            visible.append(unescape(m.group(0)))
            pos = m.end()
        elif ch == ">":
            raise ValueError(f"can't parse entities: unexpected > at byte offset {pos}")
        else:
            visible.append(ch)
            pos += 1
    if stack:
        raise ValueError(f"can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(visible)


@dataclass
class Fault:
    """Answer the next ``times`` calls of ``method`` badly, before doing what they ask.

    ``kind``: "status" (HTTP ``status``, 429 with ``retry_after``), "slow" (wait ``delay``
    seconds, then answer normally), "drop" (close the connection unanswered), "garbage"
    (HTTP 200 with a body that is not JSON).
    """

    method: str
    status: int = 500
    times: int = 1
    retry_after: int | None = None
    kind: str = "status"
    delay: float = 0.0


@dataclass
class Sent:
    method: str
    params: dict[str, Any]
    at: float
    result: dict[str, Any] | None = None

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


@dataclass
class StandIn:
    token: str = "123456789:AAH-standin-token_abcdefghijklmnopqrstu"
    strict: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    commands: list[dict[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    webhook: str | None = None
    webhook_secret: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content, for getFile + download
    members: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, user) -> getChatMember status
    downloads: list[str] = field(default_factory=list)  # file paths the bot downloaded

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.polls = 0

    # --- lifecycle (called from the test thread) ------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StandIn:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._new_update = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # port 0 -> the one the OS chose
        ready.set()
        self._loop.run_forever()

    # --- test API (thread-safe) -----------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for ``getUpdates``; returns its update_id."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
        if self._loop and self._new_update:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return update["update_id"]

    def inject(
        self,
        method: str,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        *,
        kind: str = "status",
        delay: float = 0.0,
    ) -> None:
        with self._lock:
            self.faults.append(Fault(method, status, times, retry_after, kind, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("stand-in: condition not met in time")
                self._lock.wait(min(left, 0.5))

    def wait_polling(self, timeout: float = 120.0) -> None:
        self.wait_for(lambda: self.polls > 0, timeout)

    def messages(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.method == method and (chat_id is None or s.chat_id == chat_id)]

    def wait_messages(
        self, chat_id: int | None, count: int = 1, timeout: float = 60.0, method: str = "sendMessage"
    ) -> list[Sent]:
        self.wait_for(lambda: len(self.messages(chat_id, method)) >= count, timeout)
        return self.messages(chat_id, method)

    def pending(self) -> int:
        with self._lock:
            return len(self._updates)

    # --- update builders ------------------------------------------------------------------

    @staticmethod
    def user(user_id: int = 77, name: str = "Ada") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        chat_type: str = "private",
        user_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        edited: bool = False,
    ) -> int:
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, **({"title": "Group"} if chat_type != "private" else {})},
            "from": self.user(user_id or (chat_id if chat_id > 0 else 77)),
        }
        if text is not None:
            msg["text"] = text
            if entities is None and text.startswith("/"):
                entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if entities:
                msg["entities"] = entities
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        if extra:
            msg.update(extra)
        if edited:
            msg["edit_date"] = int(time.time())
        return self.push({"edited_message" if edited else "message": msg})

    def document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        caption: str | None = None,
    ) -> int:
        """A message carrying a file; its content is served by getFile and the file URL."""
        file_id = f"doc{len(self.files) + 1}"
        with self._lock:
            self.files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        extra: dict[str, Any] = {"document": document, **({"caption": caption} if caption else {})}
        return self.message(chat_id, None, chat_type=chat_type, user_id=user_id, extra=extra)

    def forward(
        self,
        chat_id: int,
        text: str,
        *,
        channel_id: int = -1009999,
        channel_username: str | None = "harbournews",
        post_id: int = 57,
        posted: int = 1654560000,  # 2022-06-07
        user_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """A channel post forwarded into a chat."""
        channel: dict[str, Any] = {"id": channel_id, "type": "channel", "title": "Harbour News"}
        if channel_username:
            channel["username"] = channel_username
        origin = {"type": "channel", "date": posted, "chat": channel, "message_id": post_id}
        return self.message(chat_id, text, user_id=user_id, chat_type=chat_type, extra={"forward_origin": origin})

    def callback(self, chat_id: int, data: str, message: dict[str, Any] | None = None) -> int:
        msg = message or {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": "answer",
        }
        return self.push(
            {
                "callback_query": {
                    "id": str(next(self._message_ids)),
                    "from": self.user(chat_id if chat_id > 0 else 77),
                    "message": msg,
                    "chat_instance": "ci",
                    "data": data,
                }
            }
        )

    # --- the Bot API ------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        data = await request.post()
        params: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    params[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            params[key] = value
        return params

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        with self._lock:
            self.calls.append(method)
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        try:
            params = await self._params(request)
        except ConnectionResetError:  # the bot hung up (e.g. it is shutting down)
            return web.Response(status=400)
        with self._lock:
            fault = next((f for f in self.faults if f.method == method and f.times > 0), None)
            if fault:
                fault.times -= 1
        if fault:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            elif fault.kind == "garbage":
                return web.Response(status=200, text="<html>502 Bad Gateway", content_type="text/html")
            elif fault.status == 429:
                return self._error(429, f"Too Many Requests: retry after {fault.retry_after}", fault.retry_after)
            else:
                return self._error(fault.status, "Injected fault")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, "Not Found")
        try:
            result = await handler(params)
        except ValueError as exc:
            return self._error(400, f"Bad Request: {exc}")
        return web.json_response({"ok": True, "result": result})

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        with self._lock:
            data = self.files.get(file_id)
        if data is None:
            raise ValueError("wrong file_id or the file is temporarily unavailable")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": f"documents/{file_id}",
        }

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        with self._lock:
            self.downloads.append(path)
            data = self.files.get(path.removeprefix("documents/"))
        return web.Response(body=data) if data is not None else web.Response(status=404)

    async def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, user = int(params.get("chat_id") or 0), int(params.get("user_id") or 0)
        with self._lock:
            status = self.members.get((chat, user), "member")
        member: dict[str, Any] = {"status": status, "user": self.user(user)}
        if status == "administrator":  # the rights ChatMemberAdministrator requires
            rights = "manage_chat delete_messages manage_video_chats restrict_members promote_members change_info"
            rights += " invite_users post_stories edit_stories delete_stories be_edited"
            member.update({f"can_{right}": True for right in rights.split()}, is_anonymous=False)
        elif status == "creator":
            member.update(is_anonymous=False)
        return member

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ValueError("secret token contains unallowed characters")  # as Telegram answers
        with self._lock:
            self.webhook, self.webhook_secret = str(params.get("url")), secret
            self._lock.notify_all()
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        with self._lock:
            self.commands = list(commands)
            self._lock.notify_all()
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = min(float(params.get("timeout") or 0), 30.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            self.polls += 1
            self._lock.notify_all()
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
                ready = self._updates[:limit]
            if ready or time.monotonic() >= deadline:
                return ready
            assert self._new_update is not None
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), max(0.0, deadline - time.monotonic()))

    def _record(self, method: str, params: dict[str, Any], result: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.sent.append(Sent(method, params, time.monotonic(), result))
            self._lock.notify_all()

    def _check_text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        visible = text
        if self.strict:
            if params.get("parse_mode") == "HTML":
                visible = parse_html(text)
            if not visible.strip():
                raise ValueError("message text is empty")
            if utf16_len(visible) > 4096:
                raise ValueError("message is too long")
        return visible

    def _bot_message(self, method: str, params: dict[str, Any], message_id: int) -> dict[str, Any]:
        visible = self._check_text(params)
        chat_id = int(params.get("chat_id") or 0)
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "text": visible,
        }
        self._record(method, params, result)
        return result

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message("sendMessage", params, next(self._message_ids))

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message("editMessageText", params, int(params.get("message_id") or 0))

    async def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._record("sendChatAction", params)
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self._record("answerCallbackQuery", params)
        return True

    async def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_logOut(self, params: dict[str, Any]) -> bool:
        return True
