"""The Telegram front end: python-telegram-bot's ``Application`` around a ``Conversation``.

Handlers are small: decide whether a message is for us, hand the text to the conversation
in a worker thread (encoding a question must not block other chats), and send the rendered
HTML. Flood limits are PTB's ``AIORateLimiter``: a 429 delays a reply instead of losing it.
What citebot says is in the sender's language: Telegram's ``language_code`` when citebot has
that catalog, else the language the message is written in, else English (``bot/i18n.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageOriginChannel,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, MessageEntityType
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

from bot.conversation import COMMANDS, AnswerReply, Conversation, ProblemReply, Reply
from bot.i18n import DEFAULT, LANGUAGES, N_, Words, choose, words
from bot.i18n import warm_up as load_detector
from bot.telegram_html import article_key, paragraph_html, reply_html
from bot.throttle import Throttle, Verdict
from bot.webhook import Webhook, serve_webhook
from retrieval import Answer
from retrieval.corpus import HTML_SUFFIXES, PDF_SUFFIXES, TEXT_SUFFIXES, post_article
from retrieval.fetch import CONTENT_TYPES

log = logging.getLogger(__name__)

TOKEN_ENV, API_ENV, ALLOWED_ENV = "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "CITEBOT_ALLOWED_CHATS"
ADMINS_ENV = "CITEBOT_ADMINS"  # user ids that may add and remove documents
GROUP_ADMINS_ENV = "CITEBOT_GROUP_ADMINS"  # "1": a group's own administrators may too
RATE_ENV = "CITEBOT_USER_RATE"  # "BURST/SECONDS": questions at once, then one per SECONDS
TYPING_ENV = "CITEBOT_TYPING_AFTER"  # seconds of work before "typing…" is shown
# Most answers take milliseconds: an indicator for those would only spend a request of
# Telegram's ~30/s budget (and flash after the answer), so it waits this long first.
TYPING_AFTER = 0.3
DEFAULT_API = "https://api.telegram.org"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")

# What the bot says is marked N_ here and translated into the sender's language where it is sent.
PRIVATE = N_("This bot is private.")
SLOW_DOWN = N_("You are sending questions faster than I can answer: I'll skip the next ones for a few seconds.")
SEND_DEADLINE = 120.0  # keep retrying a reply through server errors for this long
SLOW_DOWN_BUTTON = N_("Too many presses: wait a few seconds.")
NOT_TEXT = N_("I can only read text: please type your question.")
GONE = N_("That paragraph is no longer in the index.")
# "Whole paragraph" callback data: p:<8-character article key>:<paragraph number>. Callback
# data comes back from the client and can be forged, so anything else is refused.
_PARAGRAPH_BUTTON = re.compile(r"p:([A-Za-z0-9_-]{8}):([1-9][0-9]{0,8})", re.ASCII)
EDITED = N_("I answer new messages only: please send the question again.")
ADMINS_ONLY = N_("Thanks! Only this bot's admins can add documents here, so I have not read it.")
NOT_A_DOCUMENT = N_("I can add .html, .pdf, .txt and .md files: that one is none of them.")
MAX_DOWNLOAD = 20 * 1024 * 1024  # what the Bot API lets a bot download
TOO_BIG = N_("That file is over {megabytes} MB, more than a bot may download.")
NO_DOWNLOAD = N_("I could not download that file from Telegram: please send it again.")
ADMINS_REMOVE = N_("Only this bot's admins can remove documents.")
UPLOADS = HTML_SUFFIXES | PDF_SUFFIXES | TEXT_SUFFIXES  # what an admin may send (one article per file)
_LINK = re.compile(r"https?://\S{1,2000}", re.IGNORECASE)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Adding documents (fetching links, parsing, embedding) runs in a pool of its own, so slow adds
# can never take the threads that answer questions; beyond this many waiting, adds are refused.
INGEST_WORKERS, INGEST_WAITING = 2, 8
BUSY = N_("I am busy adding other documents: please send that again in a minute.")
ADMIN_TTL = 60.0  # seconds a group member's admin status is trusted before getChatMember is asked again
ADMIN_CACHE = 10_000  # (chat, user) pairs remembered


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
    admins: frozenset[int] = frozenset()
    group_admins: bool = False


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
    try:
        admins = frozenset(int(x) for x in env.get(ADMINS_ENV, "").split(",") if x.strip())
    except ValueError:
        raise SetupError(f"{ADMINS_ENV} must be comma-separated Telegram user ids, e.g. 12345,67890") from None
    return BotConfig(
        token,
        api,
        allowed,
        user_burst=burst,
        user_interval=interval,
        typing_after=typing_after,
        admins=admins,
        group_admins=env.get(GROUP_ADMINS_ENV, "").strip() == "1",
    )


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
        self._refused: set[tuple[int, int]] = set()  # (chat, user) told in a group that only admins add
        self._warming: asyncio.Task[None] | None = None  # held so the loop does not drop the task
        self._detecting: asyncio.Task[None] | None = None  # loading the language detector, likewise
        self._ingest = ThreadPoolExecutor(INGEST_WORKERS, thread_name_prefix="ingest")
        self._ingesting = 0  # adds running or waiting in the pool
        # (chat, user) -> (until, lookup): one getChatMember per pair per ADMIN_TTL, shared by concurrent updates
        self._admins: OrderedDict[tuple[int, int], tuple[float, asyncio.Future[bool]]] = OrderedDict()

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
        app.add_handler(CommandHandler("remove", self.on_remove, filters=new))
        app.add_handler(CommandHandler(["start", "help", "sources", "about", "new"], self.on_command, filters=new))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self.on_edited))
        app.add_handler(MessageHandler(filters.Document.ALL & new, self.on_document))
        app.add_handler(MessageHandler(filters.FORWARDED & (filters.TEXT | filters.CAPTION) & new, self.on_forward))
        app.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.MESSAGE, self.on_text))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self.on_other))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        if self.config.admins or self.config.group_admins:  # someone may add a document: load its encoder now
            self._warming = asyncio.create_task(asyncio.to_thread(self.conversation.collections.warm_up))
        self._detecting = asyncio.create_task(asyncio.to_thread(load_detector))  # ~0.5 s, off the event loop
        await app.bot.set_my_commands(command_list(DEFAULT))
        for lang in LANGUAGES:  # Telegram shows each user the list in their app's language, if there is one
            if lang != DEFAULT:
                try:
                    await app.bot.set_my_commands(command_list(lang), language_code=lang)
                except TelegramError as exc:  # the English list is there: not a reason to stop
                    log.warning("commands not registered", extra={"lang": lang, "error": type(exc).__name__})
        log.info("bot ready", extra={"username": app.bot.username})

    # --- gate ---------------------------------------------------------------------------

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stops every update from a chat that is not on the allow-list (if one is set)."""
        allowed = self.config.allowed_chats
        chat = update.effective_chat
        if allowed is None or (chat is not None and chat.id in allowed):
            return
        user = update.effective_user
        said = words(choose(user.language_code if user else None))
        if update.callback_query:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(said.text(PRIVATE))
        elif chat is not None and chat.id not in self._private_notified and update.effective_message:
            self._private_notified.add(chat.id)
            await update.effective_message.reply_text(said.text(PRIVATE))
        raise ApplicationHandlerStop

    # --- messages -----------------------------------------------------------------------

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not self._addressed_command(message, context):
            return
        command = message.text.split()[0].split("@")[0].lower()
        chat, who, lang = message.chat.id, conversation_key(message), language_code(message)
        await self._respond(
            message, lambda: self.conversation.reply(command, chat=chat, who=who, lang=lang), typing=False
        )

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not self._addressed_command(message, context):
            return
        question, chat, who = " ".join(context.args or ()), message.chat.id, conversation_key(message)
        reply, lang = self._replies_to_me(message, context), language_code(message)
        await self._respond(
            message, lambda: self.conversation.reply(f"/ask {question}", chat=chat, who=who, reply=reply, lang=lang)
        )

    # --- a chat's own documents ---------------------------------------------------------

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An admin's file is downloaded and added to this chat; anyone else's is never downloaded."""
        message = update.effective_message
        if message is None or message.document is None or not await self._allowed_pace(message):
            return
        if not await self._is_admin(message, context):
            await self._refuse(message)
            return
        document = message.document
        kind = _document_kind(document.file_name, document.mime_type)
        said = words(choose(language_code(message)))  # the document's words do not choose the language
        if kind is None:
            await self._send(message, escape(said.text(NOT_A_DOCUMENT)), None)
            return
        if (document.file_size or 0) > MAX_DOWNLOAD:
            await self._send(message, escape(said.text(TOO_BIG, {"megabytes": MAX_DOWNLOAD // 2**20})), None)
            return
        typing_task = asyncio.create_task(self._keep_typing(message))
        try:
            file = await context.bot.get_file(document.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("document download failed", extra={"chat": message.chat.id, "error": type(exc).__name__})
            await self._send(message, escape(said.text(NO_DOWNLOAD)), None)
            return
        finally:
            typing_task.cancel()
        name = (document.file_name or "document").rsplit("/", 1)[-1].rsplit(".", 1)[0][:80] or "document"
        chat, lang = message.chat.id, said.lang
        await self._ingest_reply(message, lambda: self.conversation.add_document(chat, data, kind, name, lang=lang))

    async def on_forward(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A channel post an admin forwards is added as an article; other forwards are plain messages."""
        message = update.effective_message
        if message is None:
            return
        origin = message.forward_origin
        if not isinstance(origin, MessageOriginChannel):
            if message.text:
                await self.on_text(update, context)
            return
        if not await self._allowed_pace(message):  # before the admin check: that may cost a Bot API call
            return
        if not await self._is_admin(message, context):
            if message.text:
                await self._on_text(message, context, paced=False)
            return
        username = origin.chat.username
        url = f"https://t.me/{username}/{origin.message_id}" if username else None
        article = post_article(
            message.text or message.caption or "",
            article_id=f"post-{origin.chat.id}-{origin.message_id}",
            date=origin.date.date().isoformat(),
            url=url,
        )
        if article is None:
            return
        chat, lang = message.chat.id, language_code(message)
        await self._ingest_reply(message, lambda: self.conversation.add_article(chat, article, lang=lang))

    async def on_remove(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not self._addressed_command(message, context) or not await self._allowed_pace(message):
            return
        lang = choose(language_code(message))
        if not await self._is_admin(message, context):
            refusal = ProblemReply(ADMINS_REMOVE, lang=lang)
            await self._respond(message, lambda: refusal, typing=False, paced=False)
            return
        argument, chat = " ".join(context.args or ()), message.chat.id
        await self._ingest_reply(message, lambda: self.conversation.remove(chat, argument, lang=lang))

    async def _is_admin(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Listed in CITEBOT_ADMINS, or (with CITEBOT_GROUP_ADMINS=1) an administrator of this group."""
        user = message.from_user
        if user is not None and user.id in self.config.admins and message.sender_chat is None:
            return True
        if not self.config.group_admins or message.chat.type == ChatType.PRIVATE:
            return False
        if message.sender_chat is not None:  # an anonymous administrator speaks as the group itself
            return message.sender_chat.id == message.chat.id
        if user is None:
            return False
        key, now = (message.chat.id, user.id), time.monotonic()
        cached = self._admins.get(key)
        if cached is None or cached[0] < now:
            lookup = asyncio.ensure_future(self._ask_admin(context, *key))
            self._admins[key] = cached = (now + ADMIN_TTL, lookup)
            while len(self._admins) > ADMIN_CACHE:
                self._admins.popitem(last=False)
        return await asyncio.shield(cached[1])

    @staticmethod
    async def _ask_admin(context: ContextTypes.DEFAULT_TYPE, chat: int, user: int) -> bool:
        try:
            member = await context.bot.get_chat_member(chat, user)
        except TelegramError as exc:
            log.info("admin check failed", extra={"chat": chat, "error": type(exc).__name__})
            return False
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _refuse(self, message: Message) -> None:
        """One polite refusal: every time in a private chat (paced), once per person in a group."""
        if message.chat.type != ChatType.PRIVATE:
            key = (message.chat.id, sender_key(message))
            if key in self._refused:
                return
            if len(self._refused) > 100_000:
                self._refused.clear()
            self._refused.add(key)
        await self._send(message, escape(words(choose(language_code(message))).text(ADMINS_ONLY)), None)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await self._on_text(message, context)

    async def _on_text(self, message: Message, context: ContextTypes.DEFAULT_TYPE, *, paced: bool = True) -> None:
        """A question, a bare link to add, or an unknown command; ``paced``: the sender's budget is still unspent."""
        text = message.text or ""
        if message.chat.type != ChatType.PRIVATE:
            stripped = self._for_me_in_group(message, context)
            if stripped is None:
                return
            text = stripped
        chat, lang = message.chat.id, language_code(message)
        if text.startswith("/"):  # an unknown command (known ones have handlers)
            if message.chat.type != ChatType.PRIVATE and not self._addressed_command(message, context, strict=True):
                return
            await self._respond(
                message, lambda: self.conversation.reply(text, chat=chat, lang=lang), typing=False, paced=paced
            )
            return
        if _LINK.fullmatch(text.strip()):  # a bare link: an article to add, not a question
            if paced and not await self._allowed_pace(message):  # before the admin check, which may ask Telegram
                return
            if not await self._is_admin(message, context):
                await self._refuse(message)
                return
            link = text.strip()
            await self._ingest_reply(message, lambda: self.conversation.add_link(chat, link, lang=lang))
            return
        who, reply = conversation_key(message), self._replies_to_me(message, context)
        await self._respond(
            message, lambda: self.conversation.ask(text, chat=chat, who=who, reply=reply, lang=lang), paced=paced
        )

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice, documents...: a hint in private chats, silence in groups."""
        message = update.effective_message
        if message is not None and message.chat.type == ChatType.PRIVATE and await self._allowed_pace(message):
            await self._send(message, escape(_said(message).text(NOT_TEXT)), None)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.chat.type == ChatType.PRIVATE and await self._allowed_pace(message):
            await self._send(message, escape(_said(message).text(EDITED)), None)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """ "Whole paragraph": callback data ``p:<article key>:<paragraph>`` (stable across restarts).

        Presses share the sender's question budget, and the query is answered before any work,
        so the button never keeps spinning, whatever the data or the outcome.
        """
        query = update.callback_query
        if query is None:
            return
        said = words(choose(query.from_user.language_code))  # a press has no words of its own
        verdict = self.throttle.check(query.from_user.id)
        if verdict is not Verdict.ALLOW:
            log.info("button press dropped: user over the rate limit", extra={"user": query.from_user.id})
            await self._answer_query(query, said.text(SLOW_DOWN_BUTTON) if verdict is Verdict.WARN else None)
            return
        match = _PARAGRAPH_BUTTON.fullmatch(query.data or "")
        if match is None:
            await self._answer_query(query, said.text(GONE))
            return
        await self._answer_query(query, None)
        if query.message is None or not isinstance(query.message, Message):
            return
        chat, key, number = query.message.chat.id, match[1], int(match[2])
        found = await asyncio.to_thread(self._paragraph, chat, key, number, said.lang)
        for chunk in found or [escape(said.text(GONE))]:
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

    async def _respond(
        self,
        message: Message,
        make: Callable[[], Reply],
        *,
        typing: bool = True,
        paced: bool = True,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        """Compute and render the reply in a worker thread (with "typing…" shown), then send it.

        Rendering is in the thread too: it is linear in the reply, but the event loop serves
        every chat and must never wait on one reply's work. ``paced=False``: the caller has
        already spent the sender's budget for this message. ``pool``: where the work runs
        (None: the event loop's default pool, which answers questions).
        """
        if paced and not await self._allowed_pace(message):
            return
        typing_task = asyncio.create_task(self._keep_typing(message)) if typing else None
        try:
            work = functools.partial(self._render, make)
            chunks, markup = await asyncio.get_running_loop().run_in_executor(pool, work)
        finally:
            if typing_task:
                typing_task.cancel()
        for i, chunk in enumerate(chunks):
            await self._send(message, chunk, markup if i == len(chunks) - 1 else None)

    async def _ingest_reply(self, message: Message, make: Callable[[], Reply]) -> None:
        """An add or a removal (the sender's budget already spent), in the ingest pool; refused when it is full."""
        if self._ingesting >= INGEST_WORKERS + INGEST_WAITING:
            log.info("add refused: ingest pool full", extra={"chat": message.chat.id})
            await self._send(message, escape(words(choose(language_code(message))).text(BUSY)), None)
            return
        self._ingesting += 1
        try:
            await self._respond(message, make, paced=False, pool=self._ingest)
        finally:
            self._ingesting -= 1

    def _render(self, make: Callable[[], Reply]) -> tuple[list[str], InlineKeyboardMarkup | None]:
        reply = make()
        markup = self._buttons(reply.answer, reply.lang) if isinstance(reply, AnswerReply) else None
        return reply_html(reply), markup

    async def _allowed_pace(self, message: Message) -> bool:
        sender = sender_key(message)
        verdict = self.throttle.check(sender)
        if verdict is Verdict.ALLOW:
            return True
        log.info("question dropped: sender over the rate limit", extra={"sender": sender, "chat": message.chat.id})
        if verdict is Verdict.WARN:
            await self._send(message, escape(_said(message).text(SLOW_DOWN)), None)
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

    def _buttons(self, answer: Answer, lang: str = DEFAULT) -> InlineKeyboardMarkup | None:
        quotes = list(answer.quotes) or ([answer.closest] if answer.closest else [])
        seen: dict[tuple[str, int], None] = {}
        for q in quotes:
            seen.setdefault((q.citation.article_id, q.citation.paragraph), None)
        if not seen:
            return None
        t = words(lang)
        buttons = [
            InlineKeyboardButton(
                # TRANSLATORS: a button under an answer that shows the quote's whole paragraph
                t._("Whole paragraph") if len(seen) == 1 else t._("Whole paragraph {n}", n=str(n)),
                callback_data=f"p:{article_key(aid)}:{n}",
            )
            for aid, n in seen
        ]
        return InlineKeyboardMarkup([buttons])

    def _paragraph(self, chat: int, key: str, number: int, lang: str = DEFAULT) -> list[str] | None:
        """The paragraph behind a button, from the library or this chat's own documents only."""
        library, shelf = self.conversation.library, self.conversation.collections
        build = library.index.build_id
        if self._keys[0] != build:
            self._keys = (build, {article_key(a.article_id): a.article_id for a in library.sources()})
        article_id = self._keys[1].get(key) or next(
            (a.article_id for a in shelf.sources(chat) if article_key(a.article_id) == key), None
        )
        found = shelf.paragraph(chat, article_id, number) if article_id is not None else None
        return paragraph_html(*found, lang=lang) if found is not None else None

    def _addressed_command(self, message: Message, context: ContextTypes.DEFAULT_TYPE, strict: bool = False) -> bool:
        """In groups, ``/cmd@otherbot`` is for another bot; with ``strict``, plain ``/cmd`` is too."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        first = (message.text or "").split()[0] if message.text else ""
        if "@" in first:
            return first.split("@", 1)[1].lower() == (context.bot.username or "").lower()
        return not strict

    @staticmethod
    def _replies_to_me(message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        replied = message.reply_to_message
        return replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id

    def _for_me_in_group(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The question if a group message is meant for us (a mention or a reply), else None."""
        me = (context.bot.username or "").lower()
        text = message.text or ""
        mentioned = any(
            entity.type == MessageEntityType.MENTION and message.parse_entity(entity).lstrip("@").lower() == me
            for entity in message.entities
        )
        replied = self._replies_to_me(message, context)
        if not (mentioned or replied):
            return None
        if mentioned:
            text = re.sub(rf"@{re.escape(me)}\b", " ", text, flags=re.IGNORECASE)
        return text.strip()


def command_list(lang: str) -> list[BotCommand]:
    """The commands with their descriptions in ``lang``, for ``setMyCommands``."""
    t = words(lang)
    return [BotCommand(name, t.text(description)) for name, description in COMMANDS.items()]


def language_code(message: Message) -> str | None:
    """The language of the sender's Telegram app ("uk", "en-US"), when Telegram says."""
    user = message.from_user
    return user.language_code if user is not None else None


def _said(message: Message) -> Words:
    """The sender's words for a one-line note sent from the event loop: never waits for the detector."""
    return words(choose(language_code(message), message.text, wait=False))


def _document_kind(file_name: str | None, mime_type: str | None) -> str | None:
    """The article format of an uploaded file, by its name's suffix, else its stated type (as for links)."""
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if file_name and "." in file_name else ""
    return suffix if suffix in UPLOADS else CONTENT_TYPES.get((mime_type or "").split(";")[0].strip().lower())


def conversation_key(message: Message) -> tuple[int, int, int]:
    """Whose follow-ups a message continues: the chat in private; the sender and forum topic in groups.

    Telegram also sets ``message_thread_id`` on every reply in an ordinary supergroup (the reply
    chain's first message), so only a forum topic's message counts its thread: otherwise a
    follow-up sent as a reply would start a conversation of its own.
    """
    if message.chat.type == ChatType.PRIVATE:
        return (message.chat.id, 0, 0)
    topic = message.message_thread_id if message.is_topic_message else None
    return (message.chat.id, sender_key(message), topic or 0)


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
