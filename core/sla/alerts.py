"""Clock alerts at their exact instant: the agenda a scheduler keeps, and its firing.

Every running clock has three instants (`ClockInstants`): its warning, its
due time (the breach) and its escalation. A scheduler (bots.services.scheduler)
holds them as timers, so that each alert is written when its instant comes
rather than on the next sweep:

- `RunningClocks` reads the instants of every running clock: one query on
  the running-clocks index, 11 to 17 ms for 2,100 running clocks among
  300,000 on a quiet host (docs/benchmarks.md);
- `Agenda.update` compares them with what the scheduler holds and says
  which instants to add and which to drop (a clock stopped by a reply, a
  due time moved by a policy change), and which clocks have an instant
  that has already passed (catch-up at start, or a clock opened late);
- `Agenda.take` hands over the clocks of the instants that have come;
- `fire` writes their alerts through `core.notify.rules.notify_clocks`, in one
  transaction, so what each alert says, who receives it, the horizon and
  the dedupe keys (each alert once per clock, whatever restarts or other
  processes do) are the outbox's rules and not a second copy of them;
- `ChangeWatcher` tells whether anything was committed since the last look,
  so the scheduler reads the running clocks again only when something
  changed;
- `WrittenClocks` is what a writer of the same process (the HTTP intake's)
  tells the scheduler of its commits: the clocks each wrote, and whether
  anyone else committed since its previous one. While that writer alone
  writes, the scheduler reads the clocks it names (`RunningClocks.read_some`)
  and brings those alone up to date (`Agenda.amend`), rather than read every
  running clock again at every look.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from core.notify.rules import ALERT_HORIZON, notify_clocks
from core.store.db import chunks, plain_rows
from core.store.live import Listening
from core.store.reader import required_instant


class ClockInstants(NamedTuple):
    """When a running clock warns, falls due (breach) and escalates."""

    warn_at: datetime
    due_at: datetime
    escalate_at: datetime


_RUNNING_INSTANTS = "SELECT id, warn_at, due_at, escalate_at FROM clock WHERE outcome = 'running'"


class RunningClocks:
    """Reads the instants of every running clock, by clock id (or of some, `read_some`).

    One query on the running-clocks index, straight on the driver
    (core.store.db.plain_rows). A row as read the last time (most of them,
    on a reread) gives back the instants made of it then, the same object,
    which `Agenda.update` then finds unchanged at once: only a new or changed
    row has its instants converted.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[Any, ...], ClockInstants] = {}

    def read(self, connection: Connection) -> dict[int, ClockInstants]:
        if connection.in_transaction():
            rows = plain_rows(connection, _RUNNING_INSTANTS)
        else:
            with connection.begin():
                rows = plain_rows(connection, _RUNNING_INSTANTS)
        known, kept, found = self._rows, {}, {}
        for row in rows:
            key = tuple(row)
            instants = known.get(key)
            if instants is None:
                instants = ClockInstants(*(required_instant(value) for value in key[1:]))
            kept[key] = instants
            found[key[0]] = instants
        self._rows = kept
        return found

    def read_some(
        self, connection: Connection, clock_ids: Collection[int]
    ) -> dict[int, ClockInstants | None]:
        """The instants of each of `clock_ids`, None for one not running (stopped, or gone)."""
        ids = sorted(clock_ids)
        found: dict[int, ClockInstants | None] = dict.fromkeys(ids)
        with nullcontext() if connection.in_transaction() else connection.begin():
            for chunk in chunks(ids):
                statement = f"{_RUNNING_INSTANTS} AND id IN ({', '.join('?' * len(chunk))})"
                for row in plain_rows(connection, statement, chunk):
                    found[row[0]] = ClockInstants(*(required_instant(value) for value in row[1:]))
        return found


def running_instants(connection: Connection) -> dict[int, ClockInstants]:
    """The instants of every running clock, by clock id (see `RunningClocks`)."""
    return RunningClocks().read(connection)


@dataclass
class Changes:
    """What `Agenda.update` found: timers to set and to cancel, clocks to fire now."""

    added: set[datetime] = field(default_factory=set)
    removed: set[datetime] = field(default_factory=set)
    # Clocks with an instant at or before `now` that was not handled yet.
    due: set[int] = field(default_factory=set)


class Agenda:
    """Which clocks have an alert at which future instant, as the scheduler holds them.

    Clocks whose instants coincide share one entry, so they fire as one batch.
    """

    def __init__(self) -> None:
        self._clocks: dict[int, ClockInstants] = {}
        self._at: dict[datetime, set[int]] = {}

    def update(self, running: Mapping[int, ClockInstants], now: datetime) -> Changes:
        """Bring the agenda to `running` (every running clock, as `running_instants` reads them).

        A clock seen for the first time, or whose instants changed, has its
        instants up to `now` reported in `due` and the later ones scheduled;
        a clock seen before and unchanged is left alone, so a passed instant
        is reported once per process.
        """
        changes = Changes()
        for clock_id in self._clocks.keys() - running.keys():
            self._drop(clock_id, changes)
        for clock_id, instants in running.items():
            known = self._clocks.get(clock_id)
            if known != instants:
                self._put(clock_id, instants, known, now, changes)
        return changes

    def amend(self, written: Mapping[int, ClockInstants | None], now: datetime) -> Changes:
        """Bring the clocks of `written` alone up to date, as `update` does every clock.

        `written`: some clocks' instants as `RunningClocks.read_some` reads
        them, None for a clock not running (stopped, or deleted); the
        agenda's other clocks are left as they are.
        """
        changes = Changes()
        for clock_id, instants in written.items():
            known = self._clocks.get(clock_id)
            if instants is None:
                if known is not None:
                    self._drop(clock_id, changes)
            elif known != instants:
                self._put(clock_id, instants, known, now, changes)
        return changes

    def take(self, instants: Iterable[datetime]) -> set[int]:
        """The clocks of `instants`, which have come; they leave the agenda."""
        clocks: set[int] = set()
        for at in instants:
            clocks |= self._at.pop(at, set())
        return clocks

    def instants(self) -> list[datetime]:
        """Every instant still to come, in order."""
        return sorted(self._at)

    def clocks_at(self, at: datetime) -> set[int]:
        return set(self._at.get(at, ()))

    def __len__(self) -> int:
        """How many running clocks the agenda knows."""
        return len(self._clocks)

    def _put(
        self,
        clock_id: int,
        instants: ClockInstants,
        known: ClockInstants | None,
        now: datetime,
        changes: Changes,
    ) -> None:
        """A clock new to the agenda, or whose instants changed from `known`."""
        if known is not None:
            self._unschedule(clock_id, changes)
        self._clocks[clock_id] = instants
        for at in set(instants):
            if at <= now:
                changes.due.add(clock_id)
                continue
            clocks = self._at.setdefault(at, set())
            if not clocks:
                _toggle(at, appear=changes.added, vanish=changes.removed)
            clocks.add(clock_id)

    def _drop(self, clock_id: int, changes: Changes) -> None:
        """A clock no longer running."""
        self._unschedule(clock_id, changes)
        del self._clocks[clock_id]

    def _unschedule(self, clock_id: int, changes: Changes) -> None:
        for at in set(self._clocks[clock_id]):
            clocks = self._at.get(at)
            if clocks is None or clock_id not in clocks:
                continue  # passed already
            clocks.discard(clock_id)
            if not clocks:
                del self._at[at]
                _toggle(at, appear=changes.removed, vanish=changes.added)


def _toggle(at: datetime, *, appear: set[datetime], vanish: set[datetime]) -> None:
    """Record that `at` appears; if it vanished earlier in the same update, the two cancel."""
    if at in vanish:
        vanish.discard(at)
    else:
        appear.add(at)


def fire(
    engine: Engine,
    clocks: Collection[int],
    now: datetime,
    horizon: timedelta = ALERT_HORIZON,
) -> int:
    """Write the alerts `clocks` have reached by `now`, in one transaction; returns how many.

    The outbox decides what is due (only the most severe of warning and
    breach, nothing older than `horizon`, nothing for a clock stopped since)
    and writes each alert once.
    """
    if not clocks:
        return 0
    return notify_clocks(engine, now, horizon, clocks=clocks)


class Written(NamedTuple):
    """What `WrittenClocks.take` hands over: the commits noted since the last take."""

    # The clocks they wrote (opened, stopped, moved or deleted).
    clocks: set[int]
    commits: int
    # True when no one else committed between the first of them and the
    # writer's commit before it, nor between any two of them.
    alone: bool


class WrittenClocks:
    """The clocks a writer of this process committed, told to the scheduler.

    The writer (core.conversations.ingest.Ingestor, through its `on_commit`)
    calls `note` after each commit with the clocks it wrote, and whether it
    was alone: whether its connection's `PRAGMA data_version` was unchanged
    since its previous commit, so that no other connection committed in
    between. The scheduler `take`s what was noted at each look. If every
    commit since its last look was such a commit, the clocks they name are
    all that changed, but for a commit of someone else after the writer's
    last one: that one shows as the writer's next commit not being alone,
    or, if the writer commits nothing more, the scheduler reads every
    running clock at the next look (see bots.services.scheduler).
    Safe to use from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clocks: set[int] = set()
        self._commits = 0
        self._alone = True

    def note(self, clocks: Iterable[int], alone: bool) -> None:
        with self._lock:
            self._clocks.update(clocks)
            self._commits += 1
            self._alone = self._alone and alone

    def take(self) -> Written:
        with self._lock:
            taken = Written(self._clocks, self._commits, self._alone)
            self._clocks, self._commits, self._alone = set(), 0, True
        return taken


class ChangeWatcher:
    """Whether anything was committed to the database since the last look.

    On SQLite this is `PRAGMA data_version` on a connection of its own,
    which changes when any other connection (another process, or another
    connection of this one) commits: asking costs microseconds. On
    PostgreSQL, a connection that LISTENs for the notification every
    transaction that wrote sends as it commits (core.store.live); while it
    cannot connect, every look says "maybe changed".
    Use it from one thread only: it keeps its connection.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Any = None
        self._version: int | None = None
        self._listening: Listening | None = None

    def changed(self, wait: float = 0.0) -> bool:
        """True on the first call, then whenever something was committed since the last.

        `wait`: on PostgreSQL, how long to wait for a notification (it comes a
        moment after the commit that sent it).
        """
        if self._engine.dialect.name == "postgresql":
            return self._notified(wait)
        if self._engine.dialect.name != "sqlite":
            return True
        if self._connection is None:
            # A pooled DBAPI connection in autocommit (see core.store.db): the
            # pragma runs outside any transaction and holds no snapshot.
            self._connection = self._engine.raw_connection()
        cursor = self._connection.cursor()
        try:
            cursor.execute("PRAGMA data_version")
            version = int(cursor.fetchone()[0])
        finally:
            cursor.close()
        changed = version != self._version
        self._version = version
        return changed

    def _notified(self, wait: float) -> bool:
        import psycopg

        if self._listening is None:
            try:
                url = self._engine.url.render_as_string(hide_password=False)
                self._listening = Listening(url)
            except psycopg.Error:
                pass  # listen again at the next look
            return True
        try:
            return self._listening.received(wait) > 0
        except psycopg.Error:
            self._listening.close()
            self._listening = None
            return True

    def close(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
