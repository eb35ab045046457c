"""Refusing strangers without spending what staff alerts need.

Anyone not bound to a staff member who writes to the bot in a private chat
gets one polite refusal. A flood of them (a thousand accounts writing at
once) must not delay a single staff alert, nor grow the process's memory,
so a refusal is never sent by the handler that noticed the stranger:

- it is queued here, and the handler returns at once (the update slot is
  free for the next update, a staff member's maybe);
- the queue holds at most `waiting` refusals; beyond that a stranger gets
  silence (counted, and logged once per flood);
- one task sends them, one at a time, at most one every `interval`
  seconds, at the lowest priority of the pacer (bots.telegram.pacing): an alert or
  an answer to staff always goes first, and refusals take at most one of
  Telegram's 30 messages a second;
- each stranger is answered once while remembered; the memory keeps the
  `remember` most recent strangers and forgets the oldest beyond that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from bots.telegram.pacing import wait_any

log = logging.getLogger("pmdesk.bot")

Send = Callable[[int], Awaitable[object]]


class Refusals:
    """The strangers refused lately, and the refusals on their way; see the module."""

    def __init__(
        self,
        *,
        interval: float = 1.0,
        waiting: int = 100,
        remember: int = 10_000,
    ) -> None:
        self.interval = interval
        self.waiting = waiting
        self.remember = remember
        self._known: OrderedDict[int, None] = OrderedDict()
        self._queue: deque[int] = deque()
        self._send: Send | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self.dropped = 0

    def attach(self, send: Send) -> None:
        """How a refusal goes out: `send(chat_id)` (paced at the lowest priority)."""
        self._send = send

    def refuse(self, user_id: int) -> bool:
        """Queue a refusal for `user_id` (their private chat); False if they get none now."""
        if user_id in self._known:
            self._known.move_to_end(user_id)
            return False
        self._known[user_id] = None
        while len(self._known) > self.remember:
            self._known.popitem(last=False)
        if len(self._queue) >= self.waiting:
            if not self.dropped:
                log.warning("too many strangers at once: the others get no refusal")
            self.dropped += 1
            return False
        self._queue.append(user_id)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="pmdesk-refusals")
        return True

    def forget(self, user_id: int) -> None:
        """`user_id` is staff now: a later refusal (after /stop) is sent again."""
        self._known.pop(user_id, None)

    def __len__(self) -> int:
        """How many strangers are remembered."""
        return len(self._known)

    async def _drain(self) -> None:
        while self._queue and not self._closed.is_set():
            chat_id = self._queue.popleft()
            if self._send is not None:
                try:
                    await self._send(chat_id)
                except Exception:  # a refusal lost is no loss; the next ones still go
                    log.warning("could not refuse chat %s", chat_id, exc_info=True)
            await wait_any(self._closed, timeout=self.interval)
        if not self._queue:
            self.dropped = 0  # the flood is over: the next one is logged again

    async def close(self) -> None:
        """Stop sending (the bot stops): refusals still waiting are dropped."""
        self._closed.set()
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
