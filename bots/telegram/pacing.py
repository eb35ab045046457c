"""Pacing calls to Telegram within its limits, and backing off after failures.

Telegram's limits (https://core.telegram.org/bots/faq): about 30 messages a
second overall, one a second per chat, 20 a minute per group. `Pacer` makes
every send wait for its turn, per chat and overall, so that none is refused:

- one call per chat at a time, in the order they asked (`asyncio.Lock` is
  first come, first served): a chat's messages keep their order;
- a chat's next call starts at least `per_chat_interval` after the previous
  one was *answered*, and a group's at most `group_limit` per
  `group_window` counted from answers. Telegram received the previous call
  before it answered and receives the next after we send it, so the gap it
  sees is never shorter than ours, whatever the network's delays;
- overall, a call holds one of `global_limit` slots from the moment it
  starts until `global_window` after its answer: any window of that length
  on Telegram's side then sees at most `global_limit` arrivals, even with
  many calls in flight at once;
- a 429 (`pause`) stops every call until its `retry_after` has passed.

While one chat waits for its turn, calls to other chats go ahead. When
several chats could go and slots are short, the one with the highest
`priority` goes first: the sender gives each chat's backlog, so that the
longest queues (which take longest at a message a second) never fall
behind, and answers to people come before the outbox. Only calls that
succeeded count towards the limits: a refused or failed call sent no message.

The clock and the sleep are injectable, so tests can run the limits faster
than real time (Telegram's side then has to use the same clock).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.error import RetryAfter

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
# The priority of an answer to someone waiting for it: before any backlog.
INTERACTIVE = float("inf")
# The priority of what may wait for everything else (refusals to strangers).
BACKGROUND = float("-inf")


@dataclass(frozen=True)
class Limits:
    per_chat_interval: float = 1.0
    group_window: float = 60.0
    group_limit: int = 20
    global_window: float = 1.0
    global_limit: int = 30


@dataclass
class _Chat:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_answer: float = float("-inf")
    # Answers within the group window (groups only).
    recent: deque[float] = field(default_factory=deque)


@dataclass
class _Request:
    """A chat's next call, waiting to be let through."""

    chat: _Chat
    group: bool
    priority: float
    order: int
    granted: asyncio.Future[None]


class Pacer:
    """Gives each call to Telegram its turn; see the module's docstring.

    One scheduler task lets requests through, highest priority first, as the
    limits allow, and sleeps until the next instant one could go (or until a
    call ends or a new request comes).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[int, _Chat] = {}
        self._waiting: dict[int, _Request] = {}
        self._arrivals = itertools.count()
        self._paused_until = float("-inf")
        self._in_flight = 0
        # When the slots of answered calls free up, in order.
        self._freed_at: deque[float] = deque()
        self._changed = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None

    def pause(self, seconds: float) -> None:
        """No call starts before `seconds` from now (Telegram's 429 said so)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._changed.set()

    @asynccontextmanager
    async def turn(self, chat_id: int, priority: float = 0.0) -> AsyncIterator[None]:
        """Wait for `chat_id`'s turn, then make one call to that chat inside the block.

        Cancelling while waiting is safe: nothing was sent.
        """
        chat = self._chats.setdefault(chat_id, _Chat())
        async with chat.lock:
            await self._granted(chat_id, chat, priority)
            succeeded = False
            try:
                yield
                succeeded = True
            finally:
                self._in_flight -= 1
                if succeeded:
                    self._answered(chat, chat_id < 0)
                self._changed.set()

    async def _granted(self, chat_id: int, chat: _Chat, priority: float) -> None:
        granted = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = _Request(
            chat, chat_id < 0, priority, next(self._arrivals), granted
        )
        self._changed.set()
        if self._scheduler is None or self._scheduler.done():
            self._scheduler = asyncio.create_task(self._schedule())
        try:
            await asyncio.shield(granted)
        except asyncio.CancelledError:
            if self._waiting.get(chat_id) is not None and self._waiting[chat_id].granted is granted:
                del self._waiting[chat_id]
            elif granted.done():
                self._in_flight -= 1  # let through as we were cancelled: give the slot back
                self._changed.set()
            raise

    def _answered(self, chat: _Chat, group: bool) -> None:
        answered = self._clock()
        chat.last_answer = answered
        if group:
            chat.recent.append(answered)
        self._freed_at.append(answered + self.limits.global_window)

    async def _schedule(self) -> None:
        while self._waiting:
            self._changed.clear()
            next_at = self._let_through(self._clock())
            if self._waiting:
                await self._rest(next_at - self._clock())

    def _let_through(self, now: float) -> float:
        """Grant what may go now, best first; when something else could go next."""
        next_at = float("inf")
        queue = sorted(self._waiting.items(), key=lambda item: (-item[1].priority, item[1].order))
        for chat_id, request in queue:
            ready_at = max(
                self._paused_until, now + self._chat_wait(request.chat, request.group, now)
            )
            if ready_at > now:
                next_at = min(next_at, ready_at)
                continue
            free_at = self._slot_free_at(now)
            if free_at > now:
                return min(next_at, free_at)  # no slot for anyone: the best waits for the next
            del self._waiting[chat_id]
            self._in_flight += 1
            request.granted.set_result(None)
        return next_at

    async def _rest(self, seconds: float) -> None:
        """Sleep `seconds` (none: until something changes), or less if something changes."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
        if seconds != float("inf"):
            waiters.append(asyncio.ensure_future(self._sleep(max(seconds, 0.0))))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _chat_wait(self, chat: _Chat, group: bool, now: float) -> float:
        wait = chat.last_answer + self.limits.per_chat_interval - now
        if group:
            window, limit = self.limits.group_window, self.limits.group_limit
            while chat.recent and chat.recent[0] <= now - window:
                chat.recent.popleft()
            if len(chat.recent) >= limit:
                wait = max(wait, chat.recent[-limit] + window - now)
        return wait

    def _slot_free_at(self, now: float) -> float:
        """When a global slot is free: now, when the next frees up, or never until a call ends."""
        while self._freed_at and self._freed_at[0] <= now:
            self._freed_at.popleft()
        if self._in_flight + len(self._freed_at) < self.limits.global_limit:
            return now
        return self._freed_at[0] if self._freed_at else float("inf")


@dataclass(frozen=True)
class Backoff:
    """How long to wait after the n-th temporary failure: 1 s, 2 s, 4 s... up to `cap`."""

    first: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after a failure, when `failures` attempts failed before this one."""
        return min(self.cap, self.first * 2.0 ** min(failures, 32))


def retry_after_seconds(error: RetryAfter) -> float:
    """Telegram's `retry_after`, an int or a timedelta depending on the library's settings."""
    # Imported here: the services import this module before python-telegram-bot,
    # which takes a good part of a second that a restarting intake need not wait.
    from telegram.warnings import PTBDeprecationWarning

    with warnings.catch_warnings():
        # python-telegram-bot 22 warns that the int form will become a timedelta.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    assert isinstance(value, int | float)
    return float(value)


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Wait until any of `events` is set, or `timeout` seconds (None: no limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
