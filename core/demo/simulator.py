"""The live demo: simulated clients and staff keep writing, and thank for replies."""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from core.demo.agency import _pick, _seconds, _Targets, _Team, _utc, _weighted
from core.demo.history import _opening_steps, _plan
from core.demo.scenario import Scenario, Step, ThreadInfo
from core.notify.drain import DeliveryView, due_deliveries, mark_delivered

LIVE_MIX: tuple[tuple[str, float], ...] = (
    ("conversation", 0.48),
    ("chat", 0.17),
    ("urgent", 0.08),
    ("admin", 0.17),
    ("note", 0.10),
)


class Simulator:
    """The agency at work, live: client messages, answers, notes, task changes.

    `events_between(start, end)` gives the events that happen in [start, end).
    Contract: windows must be consecutive, each call's `start` being the
    previous call's `end` (a gap or an overlap raises ValueError). The stream
    depends only on the seed, the pace and the first `start`, not on how it is
    cut into windows; ids are `demo-<seed>-live-<first start, Unix>-<n>`.

    The first client message comes within about 4 seconds of the first
    `start`. With `follow_history` (the default) the simulator also answers
    the messages `history(scenario, now=<first start>, seed)` left running,
    one of them late, as the team would.

    Replies that reach the simulated clients (`delivered`, see
    `deliver_to_simulated_clients`) are answered: the client thanks the
    agency a few seconds later, on the same thread.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 7,
        pace: float = 6.0,
        *,
        follow_history: bool = True,
    ) -> None:
        if not pace > 0:
            raise ValueError("pace must be a positive number of events per minute")
        self.scenario = scenario
        self.seed = seed
        self.pace = pace
        self.follow_history = follow_history
        targets = _Targets.of(scenario)
        self._plan = _plan(scenario, seed, targets)
        self._rng = random.Random(f"pmdesk-demo-live-{seed}")
        self._team = _Team(scenario, self._rng, targets)
        # (instant, order of scheduling, event without id): a heap by time.
        self._queue: list[tuple[datetime, int, dict[str, Any]]] = []
        self._scheduled = 0
        self._emitted = 0
        self._cursor: datetime | None = None
        self._next_arrival = datetime.min.replace(tzinfo=UTC)
        self._first_arrival = True
        self._busy: dict[str, datetime] = {}
        self._prefix = ""
        # Tasks the history closed are left alone.
        self._closed = {task.key for task in self._plan.closing}
        self._threads = {(thread.source, thread.id): thread for thread in scenario.threads}
        # Replies delivered, told from the services' thread: taken in by events_between.
        self._lock = threading.Lock()
        self._delivered: list[tuple[DeliveryView, datetime]] = []

    def delivered(self, replies: Iterable[DeliveryView], at: datetime) -> None:
        """Replies that reached the simulated clients at `at`; each client will thank.

        Safe to call from another thread than the one asking for events.
        """
        at = _utc(at)
        with self._lock:
            self._delivered.extend((reply, at) for reply in replies)

    def events_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        start, end = _utc(start), _utc(end)
        if end < start:
            raise ValueError("a window ends before it starts")
        if self._cursor is None:
            self._begin(start)
        elif start != self._cursor:
            raise ValueError(
                f"windows must be consecutive: this one starts at {start.isoformat()}, "
                f"the previous one ended at {self._cursor.isoformat()}"
            )
        self._cursor = end
        with self._lock:
            delivered, self._delivered = self._delivered, []
        for reply, at in delivered:
            self._thank(reply, max(at, start))
        while self._next_arrival < end:
            self._arrive(self._next_arrival)
        events = []
        while self._queue and self._queue[0][0] < end:
            _, _, event = heapq.heappop(self._queue)
            self._emitted += 1
            events.append({"id": f"{self._prefix}-{self._emitted:05d}", **event})
        return events

    def _begin(self, start: datetime) -> None:
        base = start.replace(microsecond=0)
        self._prefix = f"demo-{self.seed}-live-{int(base.timestamp())}"
        if self.follow_history:
            for opening in self._plan.openings:
                script = _opening_steps(self.scenario, self._team, opening, base, answer=True)
                self._schedule(opening.talk.thread, script)
        self._next_arrival = start + timedelta(seconds=self._rng.uniform(1.0, 4.0))

    def _schedule(self, thread: ThreadInfo, script: list[Step]) -> None:
        for at, event in script:
            heapq.heappush(self._queue, (at, self._scheduled, event))
            self._scheduled += 1
        if script:
            free = max(at for at, _ in script) + timedelta(minutes=1)
            self._busy[thread.key] = max(free, self._busy.get(thread.key, free))

    def _thank(self, reply: DeliveryView, at: datetime) -> None:
        thread = self._threads.get((reply.channel, reply.target or ""))
        if thread is None:
            return  # not a thread of the demo agency: nobody there to answer
        # Drawn from a generator of its own, so that the rest of the stream
        # stays what the seed makes it, whatever the person at the desk does.
        team = _Team(
            self.scenario,
            random.Random(f"pmdesk-demo-thanks-{self.seed}-{reply.event_id}"),
            self._team.targets,
        )
        talk = team.talk(thread)
        when = at + _seconds(team.rng.uniform(*THANKS_AFTER))
        self._schedule(thread, [team.client_says(talk, talk.phrases.thanks, when)])

    def _arrive(self, at: datetime) -> None:
        rng = self._rng
        # The first arrival is a client message, so a clock starts at once.
        kind = "conversation" if self._first_arrival else _weighted(rng, LIVE_MIX)
        self._first_arrival = False
        thread = _pick(
            rng,
            self.scenario,
            kind,
            lambda thread: thread.key not in self._closed and self._busy.get(thread.key, at) <= at,
        )
        script: list[Step] = []
        if thread is not None:
            script = self._team.episode(kind, thread, at)
            self._schedule(thread, script)
        # Episodes arrive at a rate that makes `pace` events a minute on
        # average: the bigger the episode, the longer until the next one.
        mean = max(len(script), 1) * 60 / self.pace
        gap = min(max(rng.expovariate(1 / mean), 1.0), 4 * mean)
        self._next_arrival = at + timedelta(seconds=gap)


# Seconds between a reply reaching a simulated client and the client's thanks.
THANKS_AFTER = (4.0, 12.0)


def deliver_to_simulated_clients(
    engine: Engine, now: datetime, limit: int = 50
) -> list[DeliveryView]:
    """The demo's channel: the replies due now reach the simulated clients at once.

    Every thread of the demo agency is simulated, whether its events say
    Worksection or Telegram, so every pending reply is delivered here,
    under an id of this channel's own ("demo-<event id>"); nothing leaves
    the machine. Returns what was delivered, for `Simulator.delivered`.
    """
    replies = due_deliveries(engine, now, limit)
    for reply in replies:
        mark_delivered(engine, reply.event_id, now, f"demo-{reply.event_id}")
    return replies


__all__ = ["Simulator", "deliver_to_simulated_clients"]
