"""The dashboard's measure of the time spent on each thread (docs/time.md, "pmdesk's own measure").

Time counts while a thread is shown and the dashboard has the focus, or
while a reply or a note is being written on it (the box is open, even if
the terminal has lost the focus meanwhile). Idle time is not counted: a
gap longer than `idle` seconds (60) between two input events (a key, the
mouse, a paste) ends the span at the last input plus `idle`; the next input
starts a new one. Showing a thread, opening the reply box and the terminal
getting the focus back count as inputs.

A span is cut at the agency's local midnights: each part goes to its own
day. What is counted waits here, in memory, as seconds per (thread, day),
until the dashboard takes it (`take`) to write it in one transaction
(core.time.own.add_screen_time): when a thread is closed, when the
assistant goes idle, every `flush_every` seconds while they keep working,
and when the dashboard exits. Never a write per key press.

No database, no terminal: the dashboard calls it from its UI thread, with
the clock it is given (tests move it). Standard library only: the dashboard
imports it at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.base.instants import midnight

# A gap between two inputs longer than this ends the span (at the last input + this).
IDLE_SECONDS = 60.0
# While someone keeps working on a thread, what is counted is written at least this often.
FLUSH_SECONDS = 300.0

# Seconds counted per (thread, day).
Batch = dict[tuple[int, date], float]


def day_parts(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[date, float]]:
    """`start`..`end` cut at the local midnights of `zone`: (day, seconds) for each part."""
    parts: list[tuple[date, float]] = []
    # In UTC: the difference of two instants of one zone would be that of their wall clocks.
    at, end = start.astimezone(UTC), end.astimezone(UTC)
    while at < end:
        local = at.astimezone(zone)
        cut = min(end, midnight(local.date() + timedelta(days=1), zone).astimezone(UTC))
        parts.append((local.date(), (cut - at).total_seconds()))
        at = cut
    return parts


class OwnTimeMeter:
    """See the module's docstring. `clock` returns aware instants."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        zone: ZoneInfo,
        *,
        idle: float = IDLE_SECONDS,
        flush_every: float = FLUSH_SECONDS,
    ) -> None:
        self.clock = clock
        self.zone = zone
        self.idle = timedelta(seconds=idle)
        self.flush_every = timedelta(seconds=flush_every)
        self.thread_id: int | None = None
        self.focused = True
        self.writing = False
        # The span being counted: since when (None: nothing is being counted).
        self._start: datetime | None = None
        self._last_input: datetime | None = None
        self._pending: Batch = {}
        self._lock = threading.Lock()  # `pop` and `give_back` may come from a worker
        # When what was counted was last taken to be written (or when counting began).
        self._last_take = clock()
        # Set when a span ended for idleness: what it counted is worth writing now.
        self._went_idle = False

    # -- what the dashboard tells it -------------------------------------------------

    @property
    def counting(self) -> bool:
        """Whether the time now counts (idleness aside)."""
        return self.thread_id is not None and (self.focused or self.writing)

    def input(self) -> None:
        """A key, a click, a scroll, a paste."""
        now = self.clock()
        self._settle(now)
        self._last_input = now
        if self.counting and self._start is None:
            self._start = now

    def show(self, thread_id: int | None, writing: bool = False) -> None:
        """The thread shown now (None: none), and whether its reply box is open.

        Called whenever that may have changed; a call that changes nothing
        counts as nothing (not as an input).
        """
        if thread_id == self.thread_id and writing == self.writing:
            return
        now = self.clock()
        self._settle(now)
        if thread_id != self.thread_id:
            self._end()
        self.thread_id, self.writing = thread_id, writing
        self._resume(now)

    def focus(self, focused: bool) -> None:
        """The terminal gained or lost the focus."""
        if focused == self.focused:
            return
        now = self.clock()
        self._settle(now)
        self.focused = focused
        if focused:
            self._resume(now)
        elif not self.counting:
            self._end()

    def stop(self) -> None:
        """The dashboard exits: the span ends now."""
        self._settle(self.clock())
        self._end()
        self.thread_id = None

    # -- what it gives back ----------------------------------------------------------

    def due(self) -> bool:
        """Whether what is counted should be written now (a thread closed, gone idle, or
        `flush_every` since the last write); settles the span up to now first."""
        now = self.clock()
        self._settle(now)
        with self._lock:
            if not self._pending:
                return False
        if self._went_idle or self.thread_id is None:
            return True
        return now - self._last_take >= self.flush_every

    def take(self) -> Batch:
        """What was counted since the last take, up to now; the meter keeps counting."""
        self._settle(self.clock())
        return self.pop()

    def pop(self) -> Batch:
        """What was counted up to the last call of the dashboard's thread (`due`, `stop`...).

        From any thread: the writer takes its batch when it runs, so a write
        that never ran (the dashboard exiting first) leaves it here.
        """
        with self._lock:
            batch, self._pending = self._pending, {}
            self._went_idle = False
            self._last_take = self.clock()
        return batch

    def give_back(self, batch: Batch) -> None:
        """A batch that could not be written: kept for the next write."""
        with self._lock:
            for key, seconds in batch.items():
                self._pending[key] = self._pending.get(key, 0.0) + seconds

    def pending(self) -> Batch:
        """What waits to be written (a copy)."""
        with self._lock:
            return dict(self._pending)

    # -- inside -------------------------------------------------------------------------

    def _resume(self, now: datetime) -> None:
        """Counting may start: showing a thread, opening the box or the focus back is an input."""
        if self.counting:
            self._last_input = now
            if self._start is None:
                self._start = now
        else:
            self._end()

    def _end(self) -> None:
        self._start = None

    def _settle(self, now: datetime) -> None:
        """The span counted up to `now`, or up to where idleness ended it."""
        if self._start is None or self.thread_id is None:
            return
        last = self._last_input or self._start
        idle = now - last > self.idle
        end = min(now, last + self.idle)
        if end > self._start:
            with self._lock:
                for day, seconds in day_parts(self._start, end, self.zone):
                    key = (self.thread_id, day)
                    self._pending[key] = self._pending.get(key, 0.0) + seconds
        if idle:
            self._start = None
            self._went_idle = True
        else:
            self._start = end
