"""The Telegram front end: python-telegram-bot's ``Application`` around a ``Conversation``.

Handlers are small: decide whether a message is for us, hand the text to the conversation
in a worker thread (encoding a question must not block other chats), and send the rendered
HTML. Flood limits are PTB's ``AIORateLimiter``: a 429 delays a reply instead of losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.conversation import COMMANDS, AnswerReply, Conversation, Reply
from bot.telegram_html import article_key, paragraph_html, reply_html
from bot.throttle import Throttle, Verdict
from bot.webhook import Webhook, serve_webhook
from retrieval import Answer

log = logging.getLogger(__name__)

TOKEN_ENV, API_ENV, ALLOWED_ENV = "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "CITEBOT_ALLOWED_CHATS"
RATE_ENV = "CITEBOT_USER_RATE"  # "BURST/SECONDS": questions at once, then one per SECONDS
TYPING_ENV = "CITEBOT_TYPING_AFTER"  # seconds of work before "typing…" is shown
# Most answers take milliseconds: an indicator for those would only spend a request of
# Telegram's ~30/s budget (and flash after the answer), so it waits this long first.
TYPING_AFTER = 0.3
DEFAULT_API = "https://api.telegram.org"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")

PRIVATE = "This bot is private."
SLOW_DOWN = "You are sending questions faster than I can answer: I'll skip the next ones for a few seconds."
SEND_DEADLINE = 120.0  # keep retrying a reply through server errors for this long
SLOW_DOWN_BUTTON = "Too many presses: wait a few seconds."
NOT_TEXT = "I can only read text: please type your question."
GONE = "That paragraph is no longer in the index."
# "Whole paragraph" callback data: p:<8-character article key>:<paragraph number>. Callback
# data comes back from the client and can be forged, so anything else is refused.
_PARAGRAPH_BUTTON = re.compile(r"p:([A-Za-z0-9_-]{8}):([1-9][0-9]{0,8})", re.ASCII)
EDITED = "I answer new messages only: please send the question again."
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class SetupError(Exception):
    """The bot cannot start (token, allow-list); the CLI prints it and exits with code 2."""


@dataclass(frozen=True)
class BotConfig:
    token: str
    api_url: str = DEFAULT_API
    allowed_chats: frozenset[int] | None = None
    rate_limit: bool = True
    user_burst: int = 5
    user_interval: float = 3.0
    typing_after: float = TYPING_AFTER


def config_from_env(environ: dict[str, str] | None = None) -> BotConfig:
    """Read the token, API root and allow-list from the environment; never echo the token."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise SetupError(f"{TOKEN_ENV} is not set: get a token from @BotFather and export it")
    if not _TOKEN.match(token):
        raise SetupError(f"{TOKEN_ENV} does not look like a bot token (digits, a colon, then letters)")
    allowed = None
    if env.get(ALLOWED_ENV, "").strip():
        try:
            allowed = frozenset(int(x) for x in env[ALLOWED_ENV].split(",") if x.strip())
        except ValueError:
            raise SetupError(f"{ALLOWED_ENV} must be comma-separated chat ids, e.g. 12345,-100987") from None
    api = env.get(API_ENV, "").strip().rstrip("/") or DEFAULT_API
    burst, interval = 5, 3.0
    if env.get(RATE_ENV, "").strip():
        try:
            b, _, i = env[RATE_ENV].partition("/")
            burst, interval = int(b), float(i)
            if burst < 1 or interval <= 0:
                raise ValueError
        except ValueError:
            raise SetupError(f"{RATE_ENV} must look like 5/3 (5 questions at once, then one every 3 s)") from None
    try:
        typing_after = float(env.get(TYPING_ENV, "").strip() or TYPING_AFTER)
        if not 0 <= typing_after < 3600:
            raise ValueError
    except ValueError:
        raise SetupError(f"{TYPING_ENV} must be a number of seconds, e.g. 0.3") from None
    return BotConfig(token, api, allowed, user_burst=burst, user_interval=interval, typing_after=typing_after)


class TokenFilter(logging.Filter):
    """Replaces the bot token in every log record: URLs that libraries log contain it."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        if record.exc_info and record.exc_info[1] and self.token in str(record.exc_info[1]):
            record.exc_info = None
            record.msg = f"{record.msg} (exception details withheld: they contain the token)"
        return True


class CitebotTelegram:
    """Handlers for one Application, answering from one ``Conversation``."""

    def __init__(self, conversation: Conversation, config: BotConfig):
        self.conversation = conversation
        self.config = config
        self._private_notified: set[int] = set()
        self.throttle = Throttle(config.user_burst, config.user_interval)
        self._keys: tuple[str, dict[str, str]] = ("", {})

    # --- wiring -------------------------------------------------------------------------

    def build(self) -> Application:
        builder = (
            ApplicationBuilder()
            .token(self.config.token)
            .base_url(f"{self.config.api_url}/bot")
            .base_file_url(f"{self.config.api_url}/file/bot")
            .concurrent_updates(True)
            .post_init(self._post_init)
        )
        if self.config.rate_limit:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=5))
        app = builder.build()
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        # new messages only: an edited command gets the "send it again" hint, not a second answer
        new = filters.UpdateType.MESSAGE
        app.add_handler(CommandHandler("ask", self.on_ask, filters=new))
        app.add_handler(CommandHandler(["start", "help", "sources", "about"], self.on_command, filters=new))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self.on_edited))
        app.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.MESSAGE, self.on_text))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self.on_other))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS.items()])
        log.info("bot ready", extra={"username": app.bot.username})

    # --- gate ---------------------------------------------------------------------------

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stops every update from a chat that is not on the allow-list (if one is set)."""
        allowed = self.config.allowed_chats
        chat = update.effective_chat
        if allowed is None or (chat is not None and chat.id in allowed):
            return
        if update.callback_query:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(PRIVATE)
        elif chat is not None and chat.id not in self._private_notified and update.effective_message:
            self._private_notified.add(chat.id)
            await update.effective_message.reply_text(PRIVATE)
        raise ApplicationHandlerStop

    # --- messages -----------------------------------------------------------------------

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not self._addressed_command(message, context):
            return
        command = message.text.split()[0].split("@")[0].lower()
        await self._respond(message, lambda: self.conversation.reply(command), typing=False)

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not self._addressed_command(message, context):
            return
        question = " ".join(context.args or ())
        await self._respond(message, lambda: self.conversation.reply(f"/ask {question}"))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        text = message.text
        if message.chat.type != ChatType.PRIVATE:
            stripped = self._for_me_in_group(message, context)
            if stripped is None:
                return
            text = stripped
        if text.startswith("/"):  # an unknown command (known ones have handlers)
            if message.chat.type != ChatType.PRIVATE and not self._addressed_command(message, context, strict=True):
                return
            await self._respond(message, lambda: self.conversation.reply(text), typing=False)
            return
        await self._respond(message, lambda: self.conversation.ask(text))

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice, documents...: a hint in private chats, silence in groups."""
        message = update.effective_message
        if message is not None and message.chat.type == ChatType.PRIVATE and await self._allowed_pace(message):
            await self._send(message, escape(NOT_TEXT), None)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.chat.type == ChatType.PRIVATE and await self._allowed_pace(message):
            await self._send(message, escape(EDITED), None)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """ "Whole paragraph": callback data ``p:<article key>:<paragraph>`` (stable across restarts).

        Presses share the sender's question budget, and the query is answered before any work,
        so the button never keeps spinning, whatever the data or the outcome.
        """
        query = update.callback_query
        if query is None:
            return
        verdict = self.throttle.check(query.from_user.id)
        if verdict is not Verdict.ALLOW:
            log.info("button press dropped: user over the rate limit", extra={"user": query.from_user.id})
            await self._answer_query(query, SLOW_DOWN_BUTTON if verdict is Verdict.WARN else None)
            return
        match = _PARAGRAPH_BUTTON.fullmatch(query.data or "")
        if match is None:
            await self._answer_query(query, GONE)
            return
        await self._answer_query(query, None)
        found = await asyncio.to_thread(self._paragraph, match[1], int(match[2]))
        if query.message is None or not isinstance(query.message, Message):
            return
        for chunk in found or [escape(GONE)]:
            await self._send(query.message, chunk, None)

    @staticmethod
    async def _answer_query(query: CallbackQuery, text: str | None) -> None:
        try:
            await query.answer(text)
        except TelegramError as exc:  # e.g. "query is too old": nothing is waiting for it any more
            log.info("callback query not answered", extra={"error": type(exc).__name__})

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("update failed", exc_info=context.error)

    # --- helpers ------------------------------------------------------------------------

    async def _respond(self, message: Message, make: Callable[[], Reply], *, typing: bool = True) -> None:
        """Compute and render the reply in a worker thread (with "typing…" shown), then send it.

        Rendering is in the thread too: it is linear in the reply, but the event loop serves
        every chat and must never wait on one reply's work.
        """
        if not await self._allowed_pace(message):
            return
        typing_task = asyncio.create_task(self._keep_typing(message)) if typing else None
        try:
            chunks, markup = await asyncio.to_thread(self._render, make)
        finally:
            if typing_task:
                typing_task.cancel()
        for i, chunk in enumerate(chunks):
            await self._send(message, chunk, markup if i == len(chunks) - 1 else None)

    def _render(self, make: Callable[[], Reply]) -> tuple[list[str], InlineKeyboardMarkup | None]:
        reply = make()
        markup = self._buttons(reply.answer) if isinstance(reply, AnswerReply) else None
        return reply_html(reply), markup

    async def _allowed_pace(self, message: Message) -> bool:
        sender = sender_key(message)
        verdict = self.throttle.check(sender)
        if verdict is Verdict.ALLOW:
            return True
        log.info("question dropped: sender over the rate limit", extra={"sender": sender, "chat": message.chat.id})
        if verdict is Verdict.WARN:
            await self._send(message, escape(SLOW_DOWN), None)
        return False

    async def _send(self, message: Message, html: str, markup: InlineKeyboardMarkup | None) -> None:
        """Send one message, retrying through server errors and dropped connections.

        Flood limits (429) are the rate limiter's; this covers 5xx, timeouts and unreadable
        responses, with backoff, for up to ``SEND_DEADLINE`` seconds.
        """
        deadline = asyncio.get_running_loop().time() + SEND_DEADLINE
        delay = 0.5
        while True:
            try:
                await message.reply_html(
                    html,
                    reply_markup=markup,
                    link_preview_options=NO_PREVIEW,
                    do_quote=message.chat.type != ChatType.PRIVATE,
                )
                return
            except RetryAfter as exc:
                wait = float(exc.retry_after if isinstance(exc.retry_after, int | float) else 1)
            except (NetworkError, TelegramError) as exc:
                if isinstance(exc, BadRequest | Forbidden | InvalidToken | ChatMigrated):
                    raise  # retrying cannot help
                wait = delay
                delay = min(delay * 2, 15.0)
            if asyncio.get_running_loop().time() + wait > deadline:
                raise TimedOut(f"gave up sending a reply after {SEND_DEADLINE:.0f} s of errors")
            log.info("send failed; retrying", extra={"chat": message.chat.id, "in_s": wait})
            await asyncio.sleep(wait)

    async def _keep_typing(self, message: Message) -> None:
        with contextlib.suppress(TelegramError, asyncio.CancelledError):
            await asyncio.sleep(self.config.typing_after)
            while True:  # Telegram shows the action for 5 s; cancelled when the reply is ready
                await message.get_bot().send_chat_action(message.chat.id, ChatAction.TYPING)
                await asyncio.sleep(4.5)

    def _buttons(self, answer: Answer) -> InlineKeyboardMarkup | None:
        quotes = list(answer.quotes) or ([answer.closest] if answer.closest else [])
        seen: dict[tuple[str, int], None] = {}
        for q in quotes:
            seen.setdefault((q.citation.article_id, q.citation.paragraph), None)
        if not seen:
            return None
        buttons = [
            InlineKeyboardButton(
                "Whole paragraph" if len(seen) == 1 else f"Whole paragraph {n}",
                callback_data=f"p:{article_key(aid)}:{n}",
            )
            for aid, n in seen
        ]
        return InlineKeyboardMarkup([buttons])

    def _paragraph(self, key: str, number: int) -> list[str] | None:
        library = self.conversation.library
        build = library.index.build_id
        if self._keys[0] != build:
            self._keys = (build, {article_key(a.article_id): a.article_id for a in library.sources()})
        article_id = self._keys[1].get(key)
        if article_id is None:
            return None
        text = library.paragraph(article_id, number)
        if text is None:
            return None
        return paragraph_html(library.citation(article_id, number), text)

    def _addressed_command(self, message: Message, context: ContextTypes.DEFAULT_TYPE, strict: bool = False) -> bool:
        """In groups, ``/cmd@otherbot`` is for another bot; with ``strict``, plain ``/cmd`` is too."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        first = (message.text or "").split()[0] if message.text else ""
        if "@" in first:
            return first.split("@", 1)[1].lower() == (context.bot.username or "").lower()
        return not strict

    def _for_me_in_group(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The question if a group message is meant for us (a mention or a reply), else None."""
        me = (context.bot.username or "").lower()
        text = message.text or ""
        mentioned = any(
            entity.type == MessageEntityType.MENTION and message.parse_entity(entity).lstrip("@").lower() == me
            for entity in message.entities
        )
        replied = (
            message.reply_to_message is not None
            and message.reply_to_message.from_user is not None
            and (message.reply_to_message.from_user.id == context.bot.id)
        )
        if not (mentioned or replied):
            return None
        if mentioned:
            text = re.sub(rf"@{re.escape(me)}\b", " ", text, flags=re.IGNORECASE)
        return text.strip()


def sender_key(message: Message) -> int:
    """Whose question budget a message spends.

    Anonymous group admins and "send as channel" messages all carry one shared ``from`` user
    (e.g. @GroupAnonymousBot); the chat they speak as (``sender_chat``) is the real sender.
    """
    if message.sender_chat is not None:
        return message.sender_chat.id
    if message.from_user is not None:
        return message.from_user.id
    return message.chat.id


def install_token_filter(token: str) -> None:
    token_filter = TokenFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)


def check_token(config: BotConfig) -> None:
    """Ask the server who we are before starting, so a rejected token is one clear error.

    Raises ``telegram.error.InvalidToken`` (401) or ``NetworkError`` (server unreachable).
    """
    from telegram import Bot

    async def get_me() -> None:
        async with Bot(config.token, base_url=f"{config.api_url}/bot", base_file_url=f"{config.api_url}/file/bot"):
            pass  # entering the context calls getMe

    asyncio.run(get_me())


def run(conversation: Conversation, config: BotConfig, webhook: Webhook | None = None) -> None:
    """Serve until Ctrl-C / SIGTERM; updates already fetched are answered before exit."""
    bot = CitebotTelegram(conversation, config)
    app = bot.build()
    if webhook is None:
        app.run_polling(allowed_updates=Update.ALL_TYPES, close_loop=False)
        return
    asyncio.run(serve_webhook(app, webhook, bot._post_init))
