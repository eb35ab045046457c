"""What every handler of the bot needs: who is writing, the database, and a paced way to answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from telegram import Bot, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop

from bots.telegram.pacing import INTERACTIVE, Pacer, wait_any
from bots.telegram.refusals import Refusals
from bots.telegram.render import CannedReplies
from bots.telegram.sender import NO_PREVIEW, Receipts, paced
from core.base.instants import Now
from core.config.settings import TimeConfig
from core.conversations.ingest import Ingestor
from core.conversations.people import StaffView, bound_telegram_ids, staff_by_telegram
from core.store.reader import EngineReader
from core.time.recorder import count_telegram_action

log = logging.getLogger("pmdesk.bot")
T = TypeVar("T")
# How long the set of staff's Telegram accounts is trusted to turn strangers away.
STAFF_IDS_TTL = 5.0


@dataclass
class ChatIO:
    """Shared by the handlers; `bot` is set once the application is built."""

    engine: Engine
    ingestor: Ingestor
    pacer: Pacer
    receipts: Receipts
    replies: CannedReplies
    zone: ZoneInfo
    clock: Now
    # Called after anything that may have queued messages: the sender looks at once.
    wake: Callable[[], None] = lambda: None
    # How much of pmdesk's own measure a reply or an action taken here counts (core.time.own).
    time: TimeConfig = field(default_factory=TimeConfig)
    bot: Bot | None = None
    # Strangers refused, and the refusals waiting to go (bots.telegram.refusals).
    refusals: Refusals = field(default_factory=Refusals)
    # The Ingestor's caches are not for several threads at once.
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The staff's Telegram accounts, and when they were read (see `may_be_staff`).
    _staff_ids: frozenset[int] = frozenset()
    _staff_ids_read: float = float("-inf")
    _reading_ids: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def reader(self) -> EngineReader:
        return EngineReader(self.engine)

    async def staff(self, telegram_id: int) -> StaffView | None:
        """The active staff member bound to a Telegram account, if any."""
        return await asyncio.to_thread(staff_by_telegram, self.reader, telegram_id)

    async def keep_staff_ids(self, stop: asyncio.Event) -> None:
        """Read the staff's accounts every half `STAFF_IDS_TTL` until `stop`: strangers are
        then told apart before their updates are parsed (bots.telegram.access.Access.sort_out)."""
        while not stop.is_set():
            try:
                await self.may_be_staff(0)
            except Exception:  # the database is away: the gate reads it per update meanwhile
                log.warning("could not read the staff's Telegram accounts", exc_info=True)
            await wait_any(stop, timeout=STAFF_IDS_TTL / 2)

    async def may_be_staff(self, telegram_id: int) -> bool:
        """False for an account no active staff member is bound to, as of a few seconds ago.

        One read of every bound account every `STAFF_IDS_TTL` seconds, instead
        of a read per update: a thousand strangers writing at once cost the
        staff's updates nothing. Binding or unbinding here reads them anew
        (`staff_changed`); a staff member activated elsewhere may be turned
        away for those few seconds.
        """
        if time.monotonic() - self._staff_ids_read >= STAFF_IDS_TTL:
            async with self._reading_ids:
                if time.monotonic() - self._staff_ids_read >= STAFF_IDS_TTL:
                    self._staff_ids = await asyncio.to_thread(bound_telegram_ids, self.reader)
                    self._staff_ids_read = time.monotonic()
        return telegram_id in self._staff_ids

    def surely_a_stranger(self, telegram_id: int) -> bool:
        """True when the staff's accounts were read less than `STAFF_IDS_TTL` ago and
        `telegram_id` is not among them; False when it is, or when that read is stale."""
        fresh = time.monotonic() - self._staff_ids_read < STAFF_IDS_TTL
        return fresh and telegram_id not in self._staff_ids

    def staff_changed(self) -> None:
        """Someone was bound or unbound: read the staff's accounts again at the next update."""
        self._staff_ids_read = float("-inf")

    async def me(self, update: Update) -> StaffView:
        """The staff member behind an update the gate let through."""
        assert update.effective_user is not None
        staff = await self.staff(update.effective_user.id)
        if staff is None:  # unbound since the gate looked
            raise ApplicationHandlerStop
        return staff

    async def read(self, function: Callable[..., T], *args: Any) -> T:
        """A read from the database, in a thread: the loop keeps serving others."""
        return await asyncio.to_thread(function, *args)

    async def write(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A write (through the Ingestor, usually), in a thread, one at a time."""
        async with self._writing:
            return await asyncio.to_thread(function, *args, **kwargs)

    async def count(self, staff_id: int, thread_id: int, *, reply: bool) -> None:
        """Count a reply (`reply`) or another action just taken here in pmdesk's own measure.

        Called once the action is recorded, and not for an update delivered
        twice (the action found recorded already): counted once. A failure
        to count is logged and never undoes the action.
        """
        try:
            await self.write(
                count_telegram_action,
                self.engine,
                staff_id,
                thread_id,
                self.clock(),
                self.time,
                self.zone,
                reply=reply,
            )
        except Exception:
            log.warning("could not count the time of a Telegram action", exc_info=True)

    def telegram(self) -> Bot:
        assert self.bot is not None, "the application is not built yet"
        return self.bot

    async def say(
        self,
        chat_id: int,
        html: str,
        reply_to: int | None = None,
        priority: float = INTERACTIVE,
    ) -> Message | None:
        """Send `html` to a chat in its turn; None if Telegram would not take it.

        `priority`: an answer to someone waiting goes before the outbox's backlog.
        """
        bot = self.telegram()
        quoted = (
            None
            if reply_to is None
            else ReplyParameters(reply_to, allow_sending_without_reply=True)
        )
        return await paced(
            self.pacer,
            chat_id,
            lambda: bot.send_message(
                chat_id,
                html,
                parse_mode=ParseMode.HTML,
                reply_parameters=quoted,
                link_preview_options=NO_PREVIEW,
            ),
            priority,
        )

    async def edit(self, chat_id: int, message_id: int, html: str, **options: Any) -> None:
        """Change a message the bot sent (and its buttons: `reply_markup`), in its turn."""
        bot = self.telegram()
        await paced(
            self.pacer,
            chat_id,
            lambda: bot.edit_message_text(
                html,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                **options,
            ),
        )
