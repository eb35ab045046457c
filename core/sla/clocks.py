"""Response clocks: the rules of design section 2 as a reducer over events.

A thread's clocks are a pure function of its events ordered by `order_key`
(occurred_at, then a stable tie-break), whatever order they arrived in.
Ingestion applies new events to the stored state when they come after
everything the thread has seen; an event older than that is replayed from
the state the thread's clocks were in just before it, not from the
thread's first event (docs/configuration.md, "Order does not matter"). Both go through
`ThreadClocks.apply`, so there is one rule book.

`EventFacts.affects_clocks` says which events can change clocks at all: a
late status change or internal note costs no replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row

from core.base.kinds import AuthorRole, ClockKind, EventKind, Outcome
from core.sla.policies import Deadlines, Policy

OrderKey = tuple[datetime, str, int, str]


def order_key(occurred_at: datetime, source: str, external_id: str) -> OrderKey:
    """Total order of a thread's events that does not depend on arrival.

    Timestamps tie often (Worksection gives minutes); ids then decide, shorter
    first so that numeric ids sort as numbers ("99" before "100").
    """
    return (occurred_at, source, len(external_id), external_id)


# Plain strings for the comparisons made for every event: looking an enum
# member up costs more than the comparison itself.
_MESSAGE, _NO_REPLY = EventKind.MESSAGE.value, EventKind.NO_REPLY_NEEDED.value
_CLIENT, _STAFF = AuthorRole.CLIENT.value, AuthorRole.STAFF.value


class EventFacts(NamedTuple):
    """What the clocks need to know of an event (a tuple: one is made per event)."""

    id: int
    key: OrderKey
    kind: str
    role: str
    internal: bool
    staff_id: int | None

    @property
    def occurred_at(self) -> datetime:
        return self.key[0]

    @property
    def opens(self) -> bool:
        return self.kind == _MESSAGE and self.role == _CLIENT and not self.internal

    @property
    def answers(self) -> bool:
        """A public staff reply: internal notes and status changes are not replies."""
        return self.kind == _MESSAGE and self.role == _STAFF and not self.internal

    @property
    def stops(self) -> bool:
        """Whether the event stops a running clock: a public reply, or "no reply needed".

        Nothing else changes a running clock; a late event's replay reads
        only these while both its versions hold one (ingestion's `_STOPS_SQL`).
        """
        return self.answers or self.kind == _NO_REPLY

    @property
    def affects_clocks(self) -> bool:
        """Whether `ThreadClocks.apply` can do anything with this event."""
        return self.opens or self.stops


@dataclass
class ClockState:
    """A clock as the reducer sees it; mirrors the `clock` table."""

    thread_id: int
    opened_by: int
    kind: str
    policy: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    escalate_at: datetime
    outcome: str = Outcome.RUNNING.value
    stopped_at: datetime | None = None
    stopped_by: int | None = None
    stopped_by_staff: int | None = None
    business_seconds: float | None = None
    wall_seconds: float | None = None
    id: int | None = None

    def content(self) -> tuple[Any, ...]:
        """Every column but the id: what tells two versions of a clock apart."""
        return tuple(getattr(self, name) for name in CONTENT_FIELDS)

    def running_copy(self) -> ClockState:
        """This clock as it was before it stopped."""
        return replace(
            self,
            outcome=Outcome.RUNNING.value,
            stopped_at=None,
            stopped_by=None,
            stopped_by_staff=None,
            business_seconds=None,
            wall_seconds=None,
        )

    def row(self, columns: Iterable[str] | None = None) -> dict[str, Any]:
        """The clock as a table row: all columns but an unset id, or those named."""
        if columns is not None:
            return {name: getattr(self, name) for name in columns}
        values = dict(self.__dict__)
        if values["id"] is None:
            del values["id"]
        return values

    @classmethod
    def from_row(cls, row: Row[Any] | dict[str, Any]) -> ClockState:
        mapping = row if isinstance(row, dict) else row._mapping
        return cls(**{name: mapping[name] for name in _CLOCK_FIELDS})


_CLOCK_FIELDS = [column.name for column in fields(ClockState)]
CONTENT_FIELDS = tuple(name for name in _CLOCK_FIELDS if name != "id")
# Deadlines and business seconds already computed, by policy and instants:
# replaying a stretch of a thread twice (as stored, and with a late event)
# asks the calendar the same questions.
Memo = dict[tuple[Any, ...], Any]


@dataclass(slots=True)
class ThreadClocks:
    """The clocks of one thread, advanced one event at a time, in order."""

    thread_id: int
    policy: Policy
    running: ClockState | None = None
    has_clocks: bool = False
    # Every clock opened or stopped while applying events: what to write back.
    touched: list[ClockState] = field(default_factory=list)
    memo: Memo | None = field(default=None, repr=False, compare=False)
    # Which clocks are in `touched`, by identity: a membership test must not
    # compare clocks field by field, nor scan the list.
    _touched_ids: set[int] = field(default_factory=set, repr=False, compare=False)

    def apply(self, event: EventFacts) -> None:
        # EventFacts.opens and .answers written out: a property is a call,
        # and this runs for every message of every import.
        kind = event.kind
        if kind == _MESSAGE:
            if event.internal:
                return
            role = event.role
            if role == _CLIENT:
                if self.running is None:
                    self._open(event)
                # Further client messages do not reset a running clock: the
                # oldest unanswered message rules.
            elif role == _STAFF and self.running is not None:
                self._stop(event, self._met_or_breached(event))
        elif kind == _NO_REPLY and self.running is not None:
            self._stop(event, Outcome.NO_REPLY_NEEDED)

    def _open(self, event: EventFacts) -> None:
        kind = ClockKind.NEXT if self.has_clocks else ClockKind.FIRST
        if self.memo is None:
            deadlines = self.policy.deadlines(event.occurred_at, kind)
        else:
            key = (id(self.policy), event.occurred_at, kind)
            known: Deadlines | None = self.memo.get(key)
            if known is None:
                known = self.memo[key] = self.policy.deadlines(event.occurred_at, kind)
            deadlines = known
        self.running = ClockState(
            thread_id=self.thread_id,
            opened_by=event.id,
            kind=kind.value,
            policy=self.policy.name,
            started_at=event.occurred_at,
            due_at=deadlines.due_at,
            warn_at=deadlines.warn_at,
            escalate_at=deadlines.escalate_at,
        )
        self.has_clocks = True
        self._touch(self.running)

    def _touch(self, clock: ClockState) -> None:
        if id(clock) not in self._touched_ids:
            self._touched_ids.add(id(clock))
            self.touched.append(clock)

    def _met_or_breached(self, event: EventFacts) -> Outcome:
        assert self.running is not None
        return Outcome.MET if event.occurred_at <= self.running.due_at else Outcome.BREACHED

    def _stop(self, event: EventFacts, outcome: Outcome) -> None:
        clock = self.running
        assert clock is not None
        clock.outcome = outcome.value
        clock.stopped_at = event.occurred_at
        clock.stopped_by = event.id
        clock.stopped_by_staff = event.staff_id
        clock.wall_seconds = (event.occurred_at - clock.started_at).total_seconds()
        clock.business_seconds = self._between(clock.started_at, event.occurred_at)
        self._touch(clock)
        self.running = None

    def _between(self, start: datetime, end: datetime) -> float:
        if self.memo is None:
            return self.policy.calendar.between(start, end)
        key = (id(self.policy), start, end)
        seconds: float | None = self.memo.get(key)
        if seconds is None:
            seconds = self.memo[key] = self.policy.calendar.between(start, end)
        return seconds


def replay(thread_id: int, events: Iterable[EventFacts], policy: Policy) -> list[ClockState]:
    """All the clocks of a thread, from its events in any order."""
    state = ThreadClocks(thread_id, policy)
    for event in sorted(events, key=lambda facts: facts.key):
        state.apply(event)
    return state.touched


def recompute_running(clock: ClockState, policy: Policy) -> ClockState:
    """A running clock under a new policy: same start, new instants."""
    deadlines = policy.deadlines(clock.started_at, clock.kind)
    return replace(
        clock,
        policy=policy.name,
        due_at=deadlines.due_at,
        warn_at=deadlines.warn_at,
        escalate_at=deadlines.escalate_at,
    )
