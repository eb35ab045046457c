"""The Telegram bot: staff bind their accounts, get alerts, and answer clients from the chat.

python-telegram-bot 22 runs inside the caller's asyncio loop
(`TelegramService.run`): long polling for updates, and the outbox drain
(bots.sender) beside it, both stopped by one event. `base_url` is
`settings.telegram_api_url` ("https://api.telegram.org/bot" by default: the
library appends the token, or puts it where the URL says "{token}"), which is
also how the tests run it against a fake Bot API server.

The handlers: bots.access (who may talk to the bot: the gate, /start CODE,
/stop), bots.answers (quick replies and the buttons under an alert),
bots.commands (/queue, /mute), bots.groups (/link CLIENT and the messages
of clients' groups). Each chat's updates are handled in order, different
chats' at once (`ChatByChat`).

TODO(webhook): polling only for now. A webhook mode would call
`updater.start_webhook(..., secret_token=...)` (the library then checks the
X-Telegram-Bot-Api-Secret-Token header); it belongs with the HTTP intake of
a later issue, which owns the listening port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from telegram import Bot, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from core.config import Settings
from core.ingest import Ingestor
from core.policies import PolicyBook
from core.timeutil import Now, utc_now

from .access import Access
from .answers import Answers
from .chatio import ChatIO
from .commands import Commands
from .groups import Groups
from .pacing import Backoff, Pacer
from .render import CannedReplies
from .sender import Sender

log = logging.getLogger("pmdesk.bot")
AnyApplication = Application[Any, Any, Any, Any, Any, Any]

UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Updates handled at once: one waiting for a chat's turn does not hold up the others.
CONCURRENT_UPDATES = 16


def build_application(settings: Settings) -> AnyApplication:
    if not settings.telegram_token:
        raise ValueError("no Telegram token configured (PMDESK_TELEGRAM_TOKEN)")
    return (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_url)
        .concurrent_updates(ChatByChat(CONCURRENT_UPDATES))
        .build()
    )


class ChatByChat(BaseUpdateProcessor):
    """Updates of different chats at once, those of one chat one after the other, in order:
    two quick replies, or a client's two messages, are recorded as they were written."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # Each chat's lock, and how many updates hold it or wait for it.
        self._chats: dict[int | None, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock, users = self._chats.get(key, (asyncio.Lock(), 0))
        self._chats[key] = (lock, users + 1)
        try:
            async with lock:  # first come, first served
                await coroutine
        finally:
            lock, users = self._chats[key]
            if users == 1:
                del self._chats[key]
            else:
                self._chats[key] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def bot_username(settings: Settings, timeout: float = 5.0) -> str:
    """The bot's @username, from Telegram's getMe (for t.me invite links)."""
    if not settings.telegram_token:
        raise ValueError("no Telegram token configured (PMDESK_TELEGRAM_TOKEN)")
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout)
    bot = Bot(settings.telegram_token, base_url=settings.telegram_api_url, request=request)
    async with bot:  # initialising asks getMe
        return bot.username


class TelegramService:
    """The bot and its outbox drain, started and stopped together inside the caller's loop."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        now: Now = utc_now,
        pacer: Pacer | None = None,
        backoff: Backoff | None = None,
        poll_interval: float = 0.1,
        polling_timeout: int = 10,
    ) -> None:
        self.application = build_application(settings)
        self.pacer = pacer or Pacer()
        replies = CannedReplies.load()
        self.sender = Sender(
            self.application.bot,
            engine,
            self.pacer,
            agency=settings.agency,
            replies=replies,
            now=now,
            backoff=backoff,
            poll_interval=poll_interval,
        )
        self.io = ChatIO(
            engine=engine,
            ingestor=Ingestor(engine, PolicyBook(settings), now=now),
            pacer=self.pacer,
            receipts=self.sender.receipts,
            replies=replies,
            zone=ZoneInfo(settings.timezone),
            now=now,
            wake=self.sender.wake,
        )
        install(self.application, self.io)
        self._polling_timeout = polling_timeout

    async def run(self, stop: asyncio.Event, started: Callable[[], None] | None = None) -> None:
        """Poll and drain until `stop` is set. Raises what getMe raises at start
        (InvalidToken for a bad token, NetworkError while Telegram is out of reach)."""
        async with self.application:
            updater = self.application.updater
            assert updater is not None
            await updater.start_polling(
                poll_interval=0,
                timeout=self._polling_timeout,
                allowed_updates=UPDATES,
                error_callback=_polling_error,
            )
            await self.application.start()
            log.info("Telegram bot @%s is running", self.application.bot.username)
            if started is not None:
                started()
            try:
                await self.sender.run(stop)
            finally:
                await updater.stop()
                await self.application.stop()


def install(application: AnyApplication, io: ChatIO) -> None:
    """The bot's handlers, the gate first (see bots.access)."""
    io.bot = application.bot
    access, commands, groups, answers = Access(io), Commands(io), Groups(io), Answers(io)
    private, in_groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    application.add_handler(TypeHandler(Update, access.gate), group=-1)
    for name, callback, where in (
        ("start", access.start, private),
        ("stop", access.stop, private),
        ("queue", commands.queue, private),
        ("mute", commands.mute, private),
        ("link", groups.link, in_groups),
        ("link", groups.link_elsewhere, private),
    ):
        application.add_handler(CommandHandler(name, callback, filters=where))
    application.add_handler(CallbackQueryHandler(answers.button))
    application.add_handler(
        MessageHandler(private & filters.REPLY & ~filters.COMMAND, answers.quick_reply)
    )
    application.add_handler(MessageHandler(private, commands.hint))
    application.add_handler(
        MessageHandler(in_groups & ~filters.COMMAND & ~filters.StatusUpdate.ALL, groups.message)
    )
    application.add_error_handler(_on_error)


def _polling_error(error: Exception) -> None:
    # The library retries on its own; a line per failure is enough during an outage.
    log.warning("fetching Telegram updates failed: %s", error)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("a Telegram update could not be handled", exc_info=context.error)
