"""The Telegram bot: staff bind their accounts, get alerts, and answer clients from the chat.

python-telegram-bot 22 runs inside the caller's asyncio loop
(`TelegramService.run`): long polling for updates, and the outbox drain
(bots.telegram.sender) beside it, both stopped by one event. `base_url` is
`settings.telegram_api_url` ("https://api.telegram.org/bot" by default: the
library appends the token, or puts it where the URL says "{token}"), which is
also how the tests run it against a fake Bot API server.

The handlers: bots.telegram.access (who may talk to the bot: the gate, /start CODE,
/stop), bots.telegram.answers (quick replies and the buttons under an alert),
bots.telegram.commands (/queue, /mute), bots.telegram.tasks (/deadline, /todo, /sub,
/owner, /done, /reopen, /tag on an alert's Worksection task, and /help),
bots.telegram.groups (/link CLIENT and the messages of clients' groups). Each
chat's updates are handled in order, different chats' at once (`ChatByChat`).

Polling is the default. With `telegram_webhook_url` set, the bot runs in
webhook mode instead (`TelegramWebhook`): it registers the URL with
`setWebhook` and a secret token, and Telegram posts each update to
`POST /telegram/webhook` of the HTTP intake (bots.http.intake), which checks the
`X-Telegram-Bot-Api-Secret-Token` header and hands the update to the
`Application`. The library's own webhook server is not used: one process
listens on one port, the intake's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bots.http.bodies import BODY_SECONDS, BodyRefused, read_body
from bots.telegram.access import Access
from bots.telegram.answers import Answers
from bots.telegram.billing_run import BillingRunButtons
from bots.telegram.chatio import ChatIO
from bots.telegram.commands import Commands
from bots.telegram.groups import Groups
from bots.telegram.pacing import Backoff, Pacer
from bots.telegram.render import CannedReplies
from bots.telegram.sender import Sender
from bots.telegram.tasks import TaskCommands
from core.base import jsontext
from core.base.instants import Now, utc_now
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.tracker.actions import Tracker

log = logging.getLogger("pmdesk.bot")
AnyApplication = Application[Any, Any, Any, Any, Any, Any]

UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# Updates handled at once: one waiting for a chat's turn does not hold up the others.
CONCURRENT_UPDATES = 16


Sorter = Callable[[list[Any]], list[Any]]


def build_application(settings: Settings, sort_out: Sorter | None = None) -> AnyApplication:
    """The library's Application; `sort_out` sees getUpdates' raw updates first
    (bots.telegram.access)."""
    if not settings.telegram_token:
        raise ValueError("no Telegram token configured (PMDESK_TELEGRAM_TOKEN)")
    builder = ApplicationBuilder().concurrent_updates(ChatByChat(CONCURRENT_UPDATES))
    if sort_out is None:
        builder = builder.token(settings.telegram_token).base_url(settings.telegram_api_url)
    else:
        # Built here to sort updates out; the requests are what the builder makes.
        bot = _SortingBot(
            settings.telegram_token,
            base_url=settings.telegram_api_url,
            request=HTTPXRequest(connection_pool_size=256),
            get_updates_request=HTTPXRequest(connection_pool_size=1),
            sort_out=sort_out,
        )
        builder = builder.bot(bot)
    return builder.build()


class _SortingBot(ExtBot[None]):
    """The library's bot, handing getUpdates' raw updates to `sort_out` before parsing."""

    __slots__ = ("_sort_out",)

    def __init__(self, *args: Any, sort_out: Sorter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sort_out = sort_out

    async def _post(self, endpoint: str, data: Any = None, **options: Any) -> Any:
        result = await super()._post(endpoint, data, **options)
        if endpoint == "getUpdates" and isinstance(result, list):
            return self._sort_out(result)
        return result


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


WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhook:
    """Webhook mode: the public URL, the secret Telegram sends back, and the route receiving it.

    Without a configured secret a random one is made; it only has to last as
    long as this process, since every start registers the webhook anew.
    Updates that arrive while no bot is attached get 503, which Telegram
    retries later.
    """

    def __init__(self, url: str, secret: str | None = None) -> None:
        self.url = url
        self.secret = secret or secrets.token_urlsafe(32)
        self.application: AnyApplication | None = None
        self.read_seconds = BODY_SECONDS

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route(WEBHOOK_PATH, self.receive, methods=["POST"])
        return router

    async def receive(self, request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _refusal(401, f"missing {SECRET_HEADER} header")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return _refusal(403, f"wrong {SECRET_HEADER}")
        application = self.application
        if application is None:
            return _refusal(503, "the bot is not running; send the update again later")
        try:
            data = jsontext.loads(await read_body(request, seconds=self.read_seconds))
            update = Update.de_json(data, application.bot) if isinstance(data, dict) else None
        except BodyRefused as error:
            return _refusal(error.status, error.detail, error.headers)
        except jsontext.JsonRefused as error:
            return _refusal(400, f"not a Telegram update: {error.reason}")
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None:
            return _refusal(400, "not a Telegram update (a JSON object)")
        await application.update_queue.put(update)
        return JSONResponse({"ok": True})


def _refusal(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "detail": detail}, status_code=status, headers=headers)


class TelegramService:
    """The bot and its outbox drain, started and stopped together inside the caller's loop."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Now = utc_now,
        pacer: Pacer | None = None,
        backoff: Backoff | None = None,
        poll_interval: float = 0.1,
        polling_timeout: int = 10,
        webhook: TelegramWebhook | None = None,
        holder: str | None = None,
        on_lease_lost: Callable[[], None] = lambda: None,
    ) -> None:
        """`holder`: the services lease's holder, checked before each send (fencing,
        see bots.telegram.sender); `on_lease_lost` is called when that finds the lease gone."""
        self._access: Access | None = None
        self.application = build_application(settings, sort_out=self._sort_out)
        self.pacer = pacer or Pacer()
        replies = CannedReplies.load()
        self.sender = Sender(
            self.application.bot,
            engine,
            self.pacer,
            agency=settings.agency,
            replies=replies,
            clock=clock,
            backoff=backoff,
            poll_interval=poll_interval,
            holder=holder,
            on_lease_lost=on_lease_lost,
        )
        self.io = ChatIO(
            engine=engine,
            ingestor=Ingestor.for_settings(engine, settings, clock=clock),
            pacer=self.pacer,
            receipts=self.sender.receipts,
            replies=replies,
            zone=ZoneInfo(settings.timezone),
            clock=clock,
            wake=self.sender.wake,
            time=settings.time,
        )
        tasks = TaskCommands(self.io, Tracker(self.io.ingestor, settings, clock), settings)
        self._access = install(self.application, self.io, tasks)
        self._polling_timeout = polling_timeout
        self.webhook = webhook

    def _sort_out(self, updates: list[Any]) -> list[Any]:
        return updates if self._access is None else self._access.sort_out(updates)

    async def run(self, stop: asyncio.Event, started: Callable[[], None] | None = None) -> None:
        """Take updates (polling or webhook) and drain until `stop` is set. Raises what
        getMe raises at start (InvalidToken for a bad token, NetworkError while
        Telegram is out of reach)."""
        async with self.application:
            if self.webhook is None:
                await self._start_polling()
            else:
                await self._start_webhook(self.webhook)
            await self.application.start()
            mode = "polling" if self.webhook is None else f"webhook {self.webhook.url}"
            log.info("Telegram bot @%s is running (%s)", self.application.bot.username, mode)
            if started is not None:
                started()
            staff_ids = asyncio.create_task(self.io.keep_staff_ids(stop))
            try:
                await self.sender.run(stop)
            finally:
                staff_ids.cancel()
                await self._stop_taking_updates()
                await self.io.refusals.close()
                await self.application.stop()

    async def _start_polling(self) -> None:
        updater = self.application.updater
        assert updater is not None
        # The library deletes a webhook left from webhook mode before it polls.
        await updater.start_polling(
            poll_interval=0,
            timeout=self._polling_timeout,
            allowed_updates=UPDATES,
            error_callback=_polling_error,
        )

    async def _start_webhook(self, webhook: TelegramWebhook) -> None:
        # Attached first: an update posted as soon as the webhook is set waits
        # in the queue until the application starts.
        webhook.application = self.application
        try:
            await self.application.bot.set_webhook(
                webhook.url, secret_token=webhook.secret, allowed_updates=UPDATES
            )
        except BaseException:
            webhook.application = None
            raise

    async def _stop_taking_updates(self) -> None:
        if self.webhook is None:
            updater = self.application.updater
            assert updater is not None
            await updater.stop()
            return
        self.webhook.application = None
        # Telegram keeps the updates of a deleted webhook until the next start
        # registers it again (or a poller takes them).
        with contextlib.suppress(TelegramError):
            await self.application.bot.delete_webhook()


def install(application: AnyApplication, io: ChatIO, tasks: TaskCommands) -> Access:
    """The bot's handlers, the gate first (see bots.telegram.access); returns the gate's keeper.

    `tasks`: the commands on a thread's Worksection task (bots.telegram.tasks), and /help.
    """
    io.bot = application.bot
    answers = Answers(io, BillingRunButtons(io, tasks.settings))
    access, commands, groups = Access(io), Commands(io), Groups(io)
    private, in_groups = filters.ChatType.PRIVATE, filters.ChatType.GROUPS
    application.add_handler(TypeHandler(Update, access.gate), group=-1)
    for name, callback, where in (
        ("start", access.start, private),
        ("stop", access.stop, private),
        ("queue", commands.queue, private),
        ("mute", commands.mute, private),
        ("link", groups.link, in_groups),
        ("link", groups.link_elsewhere, private),
        ("help", tasks.help, private),
        *((name, callback, private) for name, callback in tasks.handlers().items()),
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
    return access


def _polling_error(error: Exception) -> None:
    # The library retries on its own; a line per failure is enough during an outage.
    log.warning("fetching Telegram updates failed: %s", error)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("a Telegram update could not be handled", exc_info=context.error)
