"""The outbox drain: notifications to staff, and replies to clients' Telegram groups.

`Sender.run` loops until stopped:

- every `alert_interval` seconds, `core.notify.rules.notify_clocks` writes the clock
  alerts that are due: the scheduler (bots.services.scheduler) writes them at their
  exact instants, and this sweep is the safety net (an alert is written once
  whoever writes it first);
- `due_notifications` are sent to each recipient's private chat with the
  bot (HTML, see bots.telegram.render), then marked sent with Telegram's chat and
  message ids; a recipient with no Telegram account bound is marked skipped
  ("not on Telegram");
- `due_deliveries` of the "telegram" channel (replies written in pmdesk or
  from the bot on a client group's thread) are posted in that group, signed
  with the author's name and the agency's, then marked delivered or failed.
  Deliveries for other channels are left pending for their connectors
  (Worksection comments: bots.worksection.replies). A staff member who
  replied from Telegram then sees their receipt edited: delivered, or why not.

Pacing (bots.telegram.pacing): each chat has one worker sending its rows one at a
time in the outbox's order, so while one chat waits for its turn the others
go ahead, and a chat's messages never overtake each other.

Failures:

- 429 (`RetryAfter`): no call to Telegram at all until `retry_after` has
  passed; the row stays pending (`mark_retry` at that instant).
- network errors, time-outs, 5xx, and anything else Telegram might get over:
  `mark_retry` with a backoff of 1 s, 2 s, 4 s... up to 60 s, counted from
  the row's attempts. Other chats carry on.
- a row waiting for its retry holds its chat: no later row goes to that chat
  before it (a restart finds such rows and holds their chats too).
- `Forbidden` (the person blocked the bot), `BadRequest`: `mark_failed`, or
  for a reply `mark_delivery_failed(permanent=True)`, which tells its
  author; a reply too long for one Telegram message fails the same way.

Fencing: with `holder` (the services lease's holder, bots.services.runner), each
row is checked just before its call to Telegram, in one read with the
lease (core.notify.drain.may_send): a row sent or settled meanwhile by another
process is dropped, and a lease found lost (this process was paused past
it and taken over) stops the sender and calls `on_lease_lost`, sending
nothing more.

Nothing is sent twice: a row is marked sent as soon as Telegram has
accepted it, before anything else is sent to that chat; a stop lets calls
in flight finish and be recorded; a row that Telegram accepted but the
database would not mark is never sent again by this process. The one case
no sender can close: Telegram accepted a message and the database never
learnt it, because the process died between the two (or could not write,
and stopped), or because Telegram's answer was lost on the way back and the
call looked like a time-out. The row is then still pending, and the message
goes again after a restart, or at its retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine
from telegram import Bot, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bots.telegram.pacing import (
    INTERACTIVE,
    Backoff,
    Monotonic,
    Pacer,
    retry_after_seconds,
    wait_any,
)
from bots.telegram.render import (
    MAX_TEXT,
    CannedReplies,
    keyboard,
    notification_html,
    receipt,
    signed_reply,
    utf16_len,
)
from core.base.instants import Now, utc_now
from core.notify.drain import (
    DeliveryView,
    NotificationView,
    due_deliveries,
    due_notifications,
    mark_delivered,
    mark_delivery_failed,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_skipped,
    may_send,
)
from core.notify.rules import notify_clocks

log = logging.getLogger("pmdesk.bot")
T = TypeVar("T")

CHANNEL = "telegram"
NOT_ON_TELEGRAM = "not on Telegram"
# Every pending row, when a restart looks for those waiting for a retry.
_EVERYTHING = 1_000_000
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
# Errors that will not go away by trying again.
_PERMANENT = (BadRequest, Forbidden, ChatMigrated)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

Key = tuple[Literal["notification", "delivery"], int]


class _NotSent(Exception):
    """The row was not sent: no longer pending, or the lease is lost (`reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Job:
    """One row to send, to `chat_id` (None: it has nowhere to go)."""

    chat_id: int | None
    notification: NotificationView | None = None
    delivery: DeliveryView | None = None

    @property
    def key(self) -> Key:
        if self.notification is not None:
            return ("notification", self.notification.id)
        assert self.delivery is not None
        return ("delivery", self.delivery.event_id)


@dataclass(frozen=True)
class _Hold:
    """A chat waiting for the retry of `key`: nothing goes to it before that row.

    Lifted at `until`, or once `key` is due again, but only by a look at the
    outbox that began after the hold (`after`: how many had begun by then);
    an older one may have seen the row as it was before it was put off.
    """

    key: Key
    until: datetime
    after: int


class Receipts:
    """Quick replies made from Telegram, and how their delivery ended.

    The bot `attach`es the receipt message it sent for a reply; the sender
    `settle`s the reply once delivered or failed. Either may come first.
    In memory: after a restart, receipts of replies still on their way are
    not edited any more (a failure still reaches the author through the
    outbox).
    """

    def __init__(self, keep: int = 1000) -> None:
        self._keep = keep
        self._messages: dict[int, tuple[int, int]] = {}
        self._outcomes: OrderedDict[int, tuple[str, str | None]] = OrderedDict()

    def attach(self, event_id: int, chat_id: int, message_id: int) -> tuple[str, str | None] | None:
        """Remember the receipt of reply `event_id`; its outcome if already known."""
        outcome = self._outcomes.pop(event_id, None)
        if outcome is None:
            self._messages[event_id] = (chat_id, message_id)
        return outcome

    def settle(
        self, event_id: int, outcome: str, error: str | None = None
    ) -> tuple[int, int] | None:
        """Reply `event_id` was delivered or failed: the receipt to edit, if attached yet."""
        where = self._messages.pop(event_id, None)
        if where is None:
            self._outcomes[event_id] = (outcome, error)
            while len(self._outcomes) > self._keep:
                self._outcomes.popitem(last=False)
        return where


async def paced(
    pacer: Pacer,
    chat_id: int,
    call: Callable[[], Awaitable[T]],
    priority: float = INTERACTIVE,
) -> T | None:
    """One call to a chat outside the outbox (an answer, an edit): None if it failed.

    Such calls are not retried: they answer someone who is there and can ask
    again. A 429 still pauses everything. `priority`: before the outbox's
    backlog (an answer to someone waiting), or after everything (BACKGROUND).
    """
    try:
        async with pacer.turn(chat_id, priority):
            return await call()
    except RetryAfter as error:
        pacer.pause(retry_after_seconds(error))
        log.warning("Telegram asked to slow down (chat %s): %s", chat_id, error)
    except TelegramError as error:
        log.warning("could not answer chat %s: %s", chat_id, error)
    return None


class Sender:
    """Drains the outbox to Telegram; see the module's docstring."""

    def __init__(
        self,
        bot: Bot,
        engine: Engine,
        pacer: Pacer,
        *,
        agency: str,
        receipts: Receipts | None = None,
        replies: CannedReplies | None = None,
        clock: Now = utc_now,
        backoff: Backoff | None = None,
        poll_interval: float = 0.1,
        alert_interval: float = 5.0,
        batch: int = 500,
        monotonic: Monotonic = time.monotonic,
        holder: str | None = None,
        on_lease_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._bot = bot
        self._engine = engine
        self._pacer = pacer
        self._agency = agency
        self.receipts = receipts or Receipts()
        self._replies = replies or CannedReplies.load()
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._poll_interval = poll_interval
        self._alert_interval = alert_interval
        # Rows per fetch: enough to reach chats behind a long queue for one chat.
        self._batch = batch
        self._monotonic = monotonic
        self._holder = holder
        self._on_lease_lost = on_lease_lost
        self._wake = asyncio.Event()
        self._queues: dict[int, deque[_Job]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._queued: set[Key] = set()
        # Rows done (sent, failed, put off) since before the last fetch began:
        # that fetch may still have seen them pending.
        self._finished: set[Key] = set()
        self._holds: dict[int, _Hold] = {}
        # Looks at the outbox begun so far (see _Hold).
        self._looks = 0
        # Rows Telegram accepted that the database would not mark sent: never again.
        self._sent_unrecorded: set[Key] = set()
        self._sending: set[int] = set()
        self._chores: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def wake(self) -> None:
        """Look at the outbox now (something was just queued)."""
        self._wake.set()

    # -- the loop --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; then let calls in flight finish and be recorded."""
        self._stopping = False
        await self._hold_waiting_rows()
        next_alerts = float("-inf")
        try:
            while not stop.is_set():
                try:
                    if self._monotonic() >= next_alerts:
                        await asyncio.to_thread(notify_clocks, self._engine, self._clock())
                        next_alerts = self._monotonic() + self._alert_interval
                    await self.dispatch()
                except Exception:
                    # A busy or unreachable database: say so, and try again shortly.
                    log.exception("the outbox could not be read")
                    await wait_any(stop, timeout=1.0)
                await wait_any(stop, self._wake, timeout=self._poll_interval)
        finally:
            await self._stop_workers()

    async def dispatch(self) -> None:
        """Hand every due row to its chat's worker, unless its chat is held."""
        self._wake.clear()
        self._looks += 1
        look = self._looks
        finished = set(self._finished)
        now = self._clock()
        notifications = await asyncio.to_thread(due_notifications, self._engine, now, self._batch)
        # Only this channel's: rows waiting on another (Worksection down) come
        # first by id and would fill the turn.
        deliveries = await asyncio.to_thread(
            due_deliveries, self._engine, now, self._batch, CHANNEL
        )
        self._finished -= finished
        jobs = [_Job(view.telegram_id, notification=view) for view in notifications]
        jobs += [_Job(_chat_of(view.target), delivery=view) for view in deliveries]
        self._lift_holds(look, now, {job.key for job in jobs})
        for job in jobs:
            if job.key in self._queued or job.key in self._finished:
                continue
            if job.key in self._sent_unrecorded:
                continue
            if job.chat_id is None:
                await self._nowhere_to_go(job)
            elif job.chat_id not in self._holds:
                self._enqueue(job.chat_id, job)

    def _enqueue(self, chat_id: int, job: _Job) -> None:
        self._queues.setdefault(chat_id, deque()).append(job)
        self._queued.add(job.key)
        if chat_id not in self._workers:
            self._workers[chat_id] = asyncio.create_task(self._work(chat_id))

    def _lift_holds(self, look: int, now: datetime, due: set[Key]) -> None:
        for chat_id, hold in list(self._holds.items()):
            if look > hold.after and (now >= hold.until or hold.key in due):
                del self._holds[chat_id]

    def _hold(self, chat_id: int, key: Key, until: datetime) -> None:
        self._holds[chat_id] = _Hold(key, until, after=self._looks)

    async def _hold_waiting_rows(self) -> None:
        """After a restart: rows waiting for a retry hold their chats, as if we had failed them."""
        now = self._clock()
        pending = await asyncio.to_thread(
            due_notifications, self._engine, _END_OF_TIME, _EVERYTHING
        )
        for view in pending:
            waiting = view.next_attempt_at is not None and view.next_attempt_at > now
            if waiting and view.telegram_id is not None and view.telegram_id not in self._holds:
                assert view.next_attempt_at is not None
                self._hold(view.telegram_id, ("notification", view.id), view.next_attempt_at)
        # A delivery's view does not say when it is due again: those not due
        # now are waiting, for at most the longest backoff.
        every = await asyncio.to_thread(
            due_deliveries, self._engine, _END_OF_TIME, _EVERYTHING, CHANNEL
        )
        due = await asyncio.to_thread(due_deliveries, self._engine, now, _EVERYTHING, CHANNEL)
        due_now = {view.event_id for view in due}
        for delivery in every:
            chat_id = _chat_of(delivery.target)
            if delivery.event_id in due_now or chat_id is None:
                continue
            if chat_id not in self._holds:
                until = now + timedelta(seconds=self._backoff.cap)
                self._hold(chat_id, ("delivery", delivery.event_id), until)

    # -- one chat's worker ------------------------------------------------------

    async def _work(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue and not self._stopping:
                job = queue[0]
                try:
                    retry_at = await self._attempt(chat_id, job)
                except Exception:
                    # Recording a failure failed (the database is away): leave the
                    # chat alone for a while rather than try again at once.
                    log.exception(
                        "chat %s: the outcome of row %s was not recorded", chat_id, job.key
                    )
                    retry_at = self._clock() + timedelta(seconds=self._backoff.cap)
                finally:
                    self._sending.discard(chat_id)
                queue.popleft()
                self._queued.discard(job.key)
                self._finished.add(job.key)
                if retry_at is not None:
                    # Nothing overtakes the row that waits: the rest comes back after it.
                    self._hold(chat_id, job.key, retry_at)
                    self._queued.difference_update(later.key for later in queue)
                    queue.clear()
        finally:
            self._queued.difference_update(job.key for job in queue)
            del self._workers[chat_id]
            del self._queues[chat_id]
            self._wake.set()

    async def _attempt(self, chat_id: int, job: _Job) -> datetime | None:
        """Send one row and record the outcome; when to retry it, if it must be."""
        problem = self._refusal(job)
        if problem is not None:
            await self._record_failure(job, problem, permanent=True)
            return None
        try:
            # The longest backlog first: at a message a second, it takes longest.
            async with self._pacer.turn(chat_id, priority=len(self._queues[chat_id])):
                await self._fence(job)
                # From here the call may reach Telegram: a stop waits for it and its record.
                self._sending.add(chat_id)
                message = await self._send(chat_id, job)
        except _NotSent as skipped:
            if skipped.reason == "lost":
                self._lease_lost()
            else:
                log.info("row %s was settled elsewhere meanwhile: not sent", job.key)
            return None
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            self._pacer.pause(seconds)
            log.warning("Telegram asked to wait %.0f s (chat %s)", seconds, chat_id)
            return await self._put_off(job, _describe(error), seconds)
        except _PERMANENT as error:
            log.warning("Telegram refused a message to chat %s: %s", chat_id, error)
            await self._record_failure(job, _describe(error), permanent=True)
            return None
        except TelegramError as error:
            seconds = self._backoff.delay(_attempts(job))
            log.warning(
                "sending to chat %s failed (%s); retrying in %.0f s", chat_id, error, seconds
            )
            return await self._put_off(job, _describe(error), seconds)
        except Exception as error:
            # A bug before the call (rendering...): nothing was sent; back off, do not spin.
            seconds = self._backoff.delay(_attempts(job))
            log.exception("could not send row %s to chat %s", job.key, chat_id)
            return await self._put_off(job, f"internal error: {error!r}", seconds)
        await self._record_sent(chat_id, job, message)
        return None

    async def _fence(self, job: _Job) -> None:
        """Raise _NotSent unless the row is still pending and the lease still ours."""
        verdict = await asyncio.to_thread(
            may_send, self._engine, job.key[0], job.key[1], self._clock(), self._holder
        )
        if verdict != "send":
            raise _NotSent(verdict)

    def _lease_lost(self) -> None:
        if not self._stopping:
            log.error("the services lease is lost: sending nothing more")
        self._stopping = True
        self._on_lease_lost()

    def _refusal(self, job: _Job) -> str | None:
        if job.delivery is None:
            return None
        size = utf16_len(self._group_text(job.delivery))
        if size > MAX_TEXT:
            return f"too long for one Telegram message ({size} characters, at most {MAX_TEXT})"
        return None

    async def _send(self, chat_id: int, job: _Job) -> Message:
        if job.notification is not None:
            view = job.notification
            return await self._bot.send_message(
                chat_id,
                notification_html(view),
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(view, self._replies),
                link_preview_options=NO_PREVIEW,
            )
        assert job.delivery is not None
        # Plain text: nothing a staff member wrote is taken as markup.
        return await self._bot.send_message(chat_id, self._group_text(job.delivery))

    def _group_text(self, view: DeliveryView) -> str:
        return signed_reply(view.text, view.author_name, self._agency)

    # -- recording outcomes ---------------------------------------------------

    async def _record_sent(self, chat_id: int, job: _Job, message: Message) -> None:
        """Mark the row sent; if the database will not have it, never send it again here."""
        now = self._clock()
        try:
            if job.notification is not None:
                await self._write(
                    mark_sent, self._engine, job.notification.id, now, chat_id, message.message_id
                )
                return
            assert job.delivery is not None
            await self._write(
                mark_delivered, self._engine, job.delivery.event_id, now, str(message.message_id)
            )
        except Exception:
            # Telegram has it: sending it again would be the duplicate this module
            # promises not to make. The row stays pending in the database; a restart
            # (or another process) will send it again, as for a crash at this point.
            self._sent_unrecorded.add(job.key)
            log.exception("row %s reached chat %s but could not be marked sent", job.key, chat_id)
            return
        if job.delivery is not None:
            self._settle(job.delivery.event_id, "delivered")

    async def _put_off(self, job: _Job, error: str, seconds: float) -> datetime:
        now = self._clock()
        retry_at = now + timedelta(seconds=seconds)
        if job.notification is not None:
            await self._write(mark_retry, self._engine, job.notification.id, now, error, retry_at)
        else:
            assert job.delivery is not None
            await self._write(
                mark_delivery_failed,
                self._engine,
                job.delivery.event_id,
                now,
                error,
                False,
                retry_at,
            )
        return retry_at

    async def _record_failure(self, job: _Job, error: str, permanent: bool) -> None:
        now = self._clock()
        if job.notification is not None:
            await self._write(mark_failed, self._engine, job.notification.id, now, error)
            return
        assert job.delivery is not None
        await self._write(
            mark_delivery_failed, self._engine, job.delivery.event_id, now, error, permanent
        )
        self._settle(job.delivery.event_id, "failed", error)

    async def _nowhere_to_go(self, job: _Job) -> None:
        if job.notification is not None:
            await self._write(
                mark_skipped, self._engine, job.notification.id, self._clock(), NOT_ON_TELEGRAM
            )
        else:
            await self._record_failure(job, "the thread has no Telegram group", permanent=True)

    async def _write(self, function: Callable[..., None], *args: Any) -> None:
        # Shielded: once Telegram has the message, its record must land even if we are stopping.
        await asyncio.shield(asyncio.to_thread(function, *args))

    def _settle(self, event_id: int, outcome: str, error: str | None = None) -> None:
        where = self.receipts.settle(event_id, outcome, error)
        if where is not None:
            self._chore(self._edit_receipt(*where, receipt(CHANNEL, outcome, error)))

    async def _edit_receipt(self, chat_id: int, message_id: int, text: str) -> None:
        await paced(
            self._pacer,
            chat_id,
            lambda: self._bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML
            ),
        )

    def _chore(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # -- stopping ---------------------------------------------------------------

    async def _stop_workers(self) -> None:
        """Cancel workers waiting for their turn; let those with a call in flight finish it."""
        self._stopping = True
        for chat_id, task in list(self._workers.items()):
            if chat_id not in self._sending:
                task.cancel()
        for task in list(self._chores):
            task.cancel()
        await asyncio.gather(*self._workers.values(), *self._chores, return_exceptions=True)


def _chat_of(target: str | None) -> int | None:
    """A delivery's target as a chat id (None if it is not one)."""
    try:
        return int(target) if target is not None else None
    except ValueError:
        return None


def _attempts(job: _Job) -> int:
    if job.notification is not None:
        return job.notification.attempts
    assert job.delivery is not None
    return job.delivery.attempts


def _describe(error: TelegramError) -> str:
    return error.message  # Telegram's own words: "Forbidden: bot was blocked by the user"
