"""Ingestion: events in; threads, people, clocks and notifications updated, in one transaction.

Every source goes through `Ingestor.ingest`. A batch is validated first, then
written in one BEGIN IMMEDIATE transaction: either every valid event of the
batch is stored with its effects, or none is. Each input gets a result:
created, duplicate (the same source and id were stored before) or rejected
with a reason, so a caller can report per line and nothing valid is dropped
because a neighbour was bad.

That holds for faults no validation foresaw too: when storing a batch
raises anything but a failure of the database itself (locked, full,
read-only: every event would fail alike, and the caller must say so), the
batch is split in halves and each tried again, down to the one event at
fault, which is rejected with the error's name; its neighbours are stored.

The hot path uses SQLAlchemy Core with executemany and in-memory caches of
ids: the ORM's unit of work costs more per row than the whole budget of
10,000 events per second allows.

Events may arrive in any order, at the cost of what they change: an event
newer than everything its thread has seen (`thread.last_event_at`) advances
the thread's newest clock (`thread.clock_id`); an older one is slotted into
place by `_Batch._advance_late` (see docs/configuration.md, "Order does not
matter"). Every clock written or deleted is reported, as stored and as
written, to `_Batch._clocks_changed` in the same transaction.
"""

from __future__ import annotations

import json
import logging
import random
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import islice
from operator import attrgetter
from typing import Any, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CTE,
    BindParameter,
    Connection,
    Engine,
    Integer,
    RootTransaction,
    Select,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    values,
)
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, OperationalError

from core.base.instants import Now, utc_now
from core.base.kinds import AuthorRole, DeliveryStatus, EventKind, Outcome, TriageState
from core.config.settings import Settings
from core.conversations.events import EventIn, Rejected, parse_event
from core.notify.rules import ALERT_HORIZON, Message, queue_message_notifications
from core.sla import rollups
from core.sla.clocks import (
    CONTENT_FIELDS,
    ClockState,
    EventFacts,
    Memo,
    OrderKey,
    ThreadClocks,
    order_key,
)
from core.sla.policies import Policy, PolicyBook
from core.store.audit import audit_row, write_audit
from core.store.db import (
    begin_write,
    chunks,
    data_version,
    insert_many,
    insert_stored,
    insert_with_ids,
    next_ids,
    plain_many,
    plain_rows,
    update_many,
    write,
)
from core.store.models.outbox import Delivery, Notification
from core.store.models.staff import Staff, StaffEmail
from core.store.models.system import table
from core.store.models.threads import (
    STOP_EVENTS,
    Assignment,
    Client,
    Clock,
    Contact,
    Event,
    EventRaw,
    Project,
    Thread,
    ThreadRef,
)
from core.store.models.tracker import TRACKER_CHANNEL, TrackerAction
from core.store.reader import instant, stamp

log = logging.getLogger("pmdesk.ingest")
# Times a batch is stored again after the server rolled it back (a deadlock broken).
ROLLED_BACK_RETRIES = 5
# Besides SQLSTATE class 40 (transaction rollback: deadlock, serialization):
# a unique key another writer took first.
_AGAIN = ("23505",)

Item = str | bytes | dict[str, Any]
_Out = TypeVar("_Out")
Status = Literal["created", "duplicate", "rejected"]
# Actions taken in pmdesk itself (no reply needed, assignments, replies) are
# events of this source, addressed to a thread by its own id.
OWN_SOURCE = "pmdesk"

E, T, C, EVENT_RAW = table(Event), table(Thread), table(Clock), table(EventRaw)
DELIVERY, NOTIFICATION = table(Delivery), table(Notification)
TRACKER_ACTION = table(TrackerAction)
CLIENT, PROJECT, CONTACT = table(Client), table(Project), table(Contact)
STAFF, EMAILS, REFS, ASSIGNMENT = (
    table(Staff),
    table(StaffEmail),
    table(ThreadRef),
    table(Assignment),
)


class Result(NamedTuple):
    """What became of one input, at `position` in what was given.

    A tuple because one is made for every event ingested.
    """

    position: int
    status: Status
    event_id: int | None = None
    reason: str | None = None
    source: str | None = None
    external_id: str | None = None


@dataclass
class Summary:
    """Counts over many batches, and each rejection with where it was and why."""

    created: int = 0
    duplicate: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)

    def add(self, results: Sequence[Result], positions: Sequence[int] | None = None) -> None:
        """Count a batch's results; `positions` maps their positions to, say, line numbers."""
        counts = Counter(result.status for result in results)
        self.created += counts["created"]
        self.duplicate += counts["duplicate"]
        self.rejected += counts["rejected"]
        for result in results:
            if result.status == "rejected":
                where = positions[result.position] if positions is not None else result.position
                self.rejections.append((where, result.reason or ""))


@dataclass
class _ThreadRow:
    id: int
    client_id: int | None
    project_id: int | None
    title: str
    url: str | None
    status: str | None
    deadline: str | None
    closed: bool
    # The newest event's instant: an event older than this is late.
    last_event_at: datetime | None
    # The thread's newest clock, None if it never had one.
    clock_id: int | None
    # The newest events that gave a title and a URL, and their order keys
    # (read with the row): an older one arriving late changes neither.
    title_event: int | None
    url_event: int | None
    title_key: OrderKey | None = None
    url_key: OrderKey | None = None
    # The row's columns but the id as last read or written (see values): a
    # thread whose values are those is not written again.
    stored: tuple[Any, ...] | None = None

    def values(self) -> tuple[Any, ...]:
        """The row's columns but the id, in the order of _THREAD_FIELDS."""
        return (
            self.client_id,
            self.project_id,
            self.title,
            self.url,
            self.status,
            self.deadline,
            self.closed,
            self.last_event_at,
            self.clock_id,
            self.title_event,
            self.url_event,
        )


_THREAD_COLUMNS = [
    name
    for name in _ThreadRow.__dataclass_fields__
    if name not in ("title_key", "url_key", "stored")
]
_THREAD_FIELDS = [name for name in _THREAD_COLUMNS if name != "id"]
_THREAD_WIDTH = len(_THREAD_COLUMNS)
# A new thread's columns as _create_threads writes them on PostgreSQL.
_CREATED_THREAD_COLUMNS = (
    "kind", "channel", "title", "url", "client_id", "project_id", "closed", "created_at",
)  # fmt: skip
# A new thread's columns with the values its first batch gave it, as
# _Batch._store_in_order writes them on SQLite.
_NEW_THREAD_COLUMNS = ("id", "kind", "channel", "created_at", *_THREAD_FIELDS)
_REF_COLUMNS = ("source", "external_id", "thread_id")
# A thread row rewritten, and one whose client and project stay (most rows of
# an import: spares the client index's upkeep and the foreign key checks).
_UPDATE_THREAD = (
    "UPDATE thread SET " + ", ".join(f"{name} = ?" for name in _THREAD_FIELDS) + " WHERE id = ?"
)
_OWNERS = 2  # client_id and project_id, the first of _THREAD_FIELDS
_UPDATE_THREAD_STATE = (
    "UPDATE thread SET "
    + ", ".join(f"{name} = ?" for name in _THREAD_FIELDS[_OWNERS:])
    + " WHERE id = ?"
)
_LAST_EVENT_AT = _THREAD_FIELDS.index("last_event_at")
_BY_KEY = attrgetter("key")


class _Pending:
    """A valid, new event on its way into the database.

    A plain class with slots: one is made for every event ingested, and the
    batch reads its attributes many times.
    """

    __slots__ = ("event", "id", "index", "key", "raw", "ref", "row", "task_ref", "thread_id")

    def __init__(self, index: int, event: EventIn, raw: str) -> None:
        self.index = index
        self.event = event
        self.raw = raw
        source, external_id = event.source, event.id
        # The event's place among its thread's (core.sla.clocks.order_key).
        self.key: OrderKey = order_key(event.occurred_at, source, external_id)
        # Its deduplication key, and its thread's key: made once, read by several steps.
        self.ref = (source, external_id)
        self.task_ref = (source, event.task.id)
        self.thread_id = 0
        # The event's row in storage form, in the order of _EVENT_VALUES (see _Batch._event_row).
        self.row: tuple[Any, ...] = ()
        self.id = 0

    def facts(self) -> EventFacts:
        """What the clocks need of the event, once its row is built."""
        row = self.row
        return EventFacts(
            self.id, self.key, row[_R_KIND], row[_R_ROLE], bool(row[_R_INTERNAL]), row[_R_STAFF]
        )


class Unwithdrawable(ValueError):
    """The event cannot be withdrawn; the message says why (for the person who tried)."""


@dataclass(frozen=True)
class Withdrawn:
    """An action taken back: what it was, on which thread."""

    event_id: int
    thread_id: int
    kind: str
    text: str
    internal: bool


class Ingestor:
    """Takes events from any source; safe to keep for the life of a process."""

    def __init__(
        self,
        engine: Engine,
        policies: PolicyBook,
        clock: Now = utc_now,
        batch_size: int = 2000,
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.clock = clock
        self.batch_size = batch_size
        self._cache = _IdCache()
        self._state = _StateCache()
        # True while a transaction of ours holds the write lock (a health
        # check need not probe it then); False while waiting for the lock.
        self.holding_lock = False
        # On SQLite, the connection every batch writes through (see _connection).
        self._own: Connection | None = None
        # Told after each commit of a batch: the clocks it wrote, and whether no one
        # else committed since our previous one (core.sla.alerts.WrittenClocks.note).
        self.on_commit: Callable[[set[int], bool], None] | None = None

    def close(self) -> None:
        """Give back the connection kept between batches (the next batch takes another)."""
        own, self._own = self._own, None
        if own is not None:
            own.close()

    def _connection(self) -> Connection:
        """On SQLite, a connection of our own, kept from one batch to the next.

        `PRAGMA data_version` (the token of _StateCache) tells a connection of
        every commit but its own. On a connection no one else writes through,
        a change of it means someone else wrote; on one from the pool, handed
        out in turn and shared with the process's other writers (the bot's
        and the poller's ingestors), every batch would reload what it knows,
        and a commit of another writer on the same connection would go unseen.
        """
        own = self._own
        if own is None or own.closed or own.invalidated:
            own = self._own = self.engine.connect()
            # A token is compared only with the same connection's.
            self._state = _StateCache()
            weakref.finalize(self, own.close)
        return own

    @classmethod
    def for_settings(
        cls, engine: Engine, settings: Settings, clock: Now = utc_now, batch_size: int = 2000
    ) -> Ingestor:
        """The ingestor every intake uses: the settings' response policies, `clock` for time."""
        return cls(engine, PolicyBook(settings), clock, batch_size)

    def ingest(self, items: Iterable[Item]) -> list[Result]:
        """Ingest any number of events, `batch_size` per transaction."""
        iterator = iter(items)
        batches = iter(lambda: list(islice(iterator, self.batch_size)), [])
        return [result for results in self.ingest_batches(batches) for result in results]

    def ingest_one(self, item: Item, *, hold: timedelta | None = None) -> Result:
        return self.ingest_batch([item], hold=hold)[0]

    def ingest_batch(
        self, items: Sequence[Item], start: int = 0, *, hold: timedelta | None = None
    ) -> list[Result]:
        """`hold`: a public reply among the items is not sent before that long after now.

        Its delivery row, written in the same transaction, is due only then
        (`next_attempt_at`, which every drain respects), so the reply can be
        withdrawn meanwhile (`withdraw`) without any process having sent it.
        """
        results, pending = _parsed(items, start)
        self._store(pending, results, hold)
        return [results[start + offset] for offset in range(len(items))]

    def ingest_batches(self, batches: Iterable[Sequence[Item]]) -> Iterator[list[Result]]:
        """Each batch's results once it is committed, positions counted across the batches.

        A batch is stored in one transaction, as by `ingest_batch`. On SQLite
        the commit of each batch but the last runs in a thread of its own
        while the next batch is parsed: the commit writes the batch's pages
        to the log in the driver's C code, which lets go of the interpreter,
        and parsing needs no database. The next batch's transaction begins
        once that commit is done; a batch whose commit fails is told as if
        `ingest_batch` had stored it. On PostgreSQL each batch is stored by
        `ingest_batch`: a transaction the server rolls back to break a
        deadlock is stored again whole (`_transaction_retried`).
        """
        iterator = iter(batches)
        if self.engine.dialect.name != "sqlite":
            start = 0
            for items in iterator:
                yield self.ingest_batch(items, start)
                start += len(items)
            return
        batch: Sequence[Item] | None = next(iterator, None)
        if batch is None:
            return
        parsed, start = _parsed(batch, 0), 0
        committer: ThreadPoolExecutor | None = None
        try:
            while True:
                results, pending = parsed
                begun = self._begun_or_isolated(pending, results)
                following: Sequence[Item] | None = next(iterator, None)
                commit: Future[None] | None = None
                if following is not None:
                    if begun is not None:
                        committer = committer or ThreadPoolExecutor(1, "pmdesk-commit")
                        commit = committer.submit(begun.transaction.commit)
                    parsed = _parsed(following, start + len(batch))  # while it commits
                if begun is not None:
                    self._store(
                        begun.pending, results, None, partial(self._committed, begun, commit)
                    )
                yield [results[start + offset] for offset in range(len(batch))]
                if following is None:
                    return
                batch, start = following, start + len(batch)
        finally:
            if committer is not None:
                committer.shutdown()

    def _store(
        self,
        pending: list[_Pending],
        results: dict[int, Result],
        hold: timedelta | None = None,
        step: Callable[[], list[Result]] | None = None,
    ) -> None:
        """Store `pending` in one transaction; on an error of an event, isolate it (see module).

        `step`: what stores them, if not a transaction of its own (the
        commit of one begun already, `ingest_batches`).
        """
        if not pending:
            return
        stored = self._or_isolated(
            pending, results, hold, step or (lambda: self._transaction_retried(pending, hold))
        )
        if stored is not None:
            results.update({result.position: result for result in stored})

    def _begun_or_isolated(
        self, pending: list[_Pending], results: dict[int, Result]
    ) -> _Begun | None:
        """On SQLite, `pending` stored up to its commit; None when there is nothing to commit.

        Nothing: no event pending, or an error of an event, after which the
        events were stored apart to find it, as `_store` does.
        """
        if not pending:
            return None
        return self._or_isolated(
            pending, results, None, lambda: self._begun(pending, None, self._connection())
        )

    def _or_isolated(
        self,
        pending: list[_Pending],
        results: dict[int, Result],
        hold: timedelta | None,
        step: Callable[[], _Out],
    ) -> _Out | None:
        """`step()`, storing `pending`; on an error of an event, `_isolate` it and None.

        A failure of the database itself (OperationalError) is raised: every
        event would fail alike.
        """
        try:
            return step()
        except OperationalError:
            raise
        except Exception as error:
            self._isolate(pending, results, hold, error)
            return None

    def _isolate(
        self,
        pending: list[_Pending],
        results: dict[int, Result],
        hold: timedelta | None,
        error: Exception,
    ) -> None:
        """After `error` storing `pending` whole: each half apart, down to the event at fault."""
        if len(pending) > 1:
            middle = len(pending) // 2
            self._store(pending[:middle], results, hold)
            self._store(pending[middle:], results, hold)
            return
        item = pending[0]
        log.exception("event %r of source %r could not be stored", item.event.id, item.event.source)
        reason = f"could not be stored: internal error ({type(error).__name__})"
        results[item.index] = Result(
            item.index,
            "rejected",
            reason=reason,
            source=item.event.source,
            external_id=item.event.id,
        )

    def _transaction_retried(self, pending: list[_Pending], hold: timedelta | None) -> list[Result]:
        """`_transaction`, again when the server rolled it back to break a deadlock.

        On PostgreSQL two writers storing events of the same threads (two
        imports, an import and the intake) can each hold a row the other
        waits for: the server rolls one transaction back (SQLSTATE 40P01),
        which holds nothing any more, and storing the same batch again is
        safe. Likewise a unique key taken by a writer that committed first
        (both filing the same new person): stored again, the batch sees that
        row and uses it. SQLite has one writer at a time and never does this.
        """
        for attempt in range(ROLLED_BACK_RETRIES + 1):
            try:
                return self._transaction(pending, hold)
            except DBAPIError as error:
                code = str(getattr(error.orig, "sqlstate", "") or "")
                if code not in _AGAIN and not code.startswith("40"):
                    raise
                if attempt == ROLLED_BACK_RETRIES:
                    raise
                log.info("batch rolled back (%s), storing it again", code)
                time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        raise AssertionError("unreachable")

    def _transaction(self, pending: list[_Pending], hold: timedelta | None) -> list[Result]:
        """`pending` stored in one transaction, committed."""
        if self.engine.dialect.name == "sqlite":
            return self._committed(self._begun(pending, hold, self._connection()))
        with self.engine.connect() as connection:
            return self._committed(self._begun(pending, hold, connection))

    def _begun(
        self, pending: list[_Pending], hold: timedelta | None, connection: Connection
    ) -> _Begun:
        """`pending` stored in a transaction on `connection`, left for `_committed` to end."""
        transaction: RootTransaction | None = None
        try:
            transaction = begin_write(connection)
            self.holding_lock = True
            token = data_version(connection)
            alone = token is not None and token == self._state.token
            if not alone:
                # Someone else wrote since our last batch: what we
                # remember of threads and clocks may be stale.
                self._state = _StateCache()
            batch = _Batch(self, connection, hold)
            stored = batch.run(pending)
            self._state.token = token
        except BaseException as error:
            self.holding_lock = False
            try:
                if transaction is not None and transaction.is_active:
                    transaction.rollback()
            finally:
                self._forget(error)
            raise
        return _Begun(pending, transaction, stored, batch, alone)

    def _committed(self, begun: _Begun, commit: Future[None] | None = None) -> list[Result]:
        """`begun`'s results once it is committed: here, or by `commit` in another thread."""
        try:
            if commit is None:
                begun.transaction.commit()
            else:
                commit.result()
        except BaseException as error:
            # A COMMIT that failed may leave SQLite's transaction open (a
            # deferred constraint; a full disk, after which SQLite asks for a
            # ROLLBACK), which SQLAlchemy, its transaction ended, no longer
            # sends: the next BEGIN would fail. The connection goes with it,
            # once a commit still running elsewhere (an interrupt here) is done.
            if commit is not None:
                wait([commit])
            self._forget(error, drop=True)
            raise
        finally:
            self.holding_lock = False
        if self.on_commit is not None:
            batch = begun.batch
            written = {c.id for c in (*batch.removed, *batch.added) if c.id is not None}
            self.on_commit(written, begun.alone)
        return begun.stored

    def _forget(self, error: BaseException, *, drop: bool = False) -> None:
        """After a transaction that failed with `error`: what was cached during it is not so.

        `drop`, or a failure of the database itself: our connection is given up too.
        """
        self._cache, self._state = _IdCache(), _StateCache()
        if (drop or isinstance(error, OperationalError)) and self._own is not None:
            # The database failed us on it: the next batch starts afresh.
            self._own.invalidate()
            self._own = None

    def withdraw(self, event_id: int, actor: str, window: timedelta) -> Withdrawn:
        """Take back an action of pmdesk's own source, as if it had never been recorded.

        In one transaction: the event goes, with its reply's delivery row, and
        the thread's clocks are replayed as if it had never been (a clock the
        reply stopped runs again from its first start); an audit row records
        the withdrawal and what it took back. Refused (`Unwithdrawable`) once
        `window` has passed since the action, or once a reply is due to be sent
        or sent: nothing sent is ever taken back, nothing is sent twice.
        """
        now = self.clock()
        try:
            with write(self.engine) as connection:
                row = connection.execute(
                    select(
                        E.c.thread_id,
                        E.c.source,
                        E.c.external_id,
                        E.c.kind,
                        E.c.text,
                        E.c.internal,
                        E.c.occurred_at,
                        E.c.author_role,
                        E.c.staff_id,
                    ).where(E.c.id == event_id)
                ).first()
                if row is None:
                    raise Unwithdrawable("nothing to undo: it was undone already")
                if row.source != OWN_SOURCE or row.kind not in _WITHDRAWABLE:
                    raise Unwithdrawable("only a reply, a note or no reply needed can be undone")
                if now >= row.occurred_at + window:
                    seconds = int(window.total_seconds())
                    raise Unwithdrawable(f"too late: undo works for {seconds} seconds")
                delivery = connection.execute(
                    select(DELIVERY.c.status, DELIVERY.c.next_attempt_at).where(
                        DELIVERY.c.event_id == event_id
                    )
                ).first()
                if delivery is not None and (
                    delivery.status != DeliveryStatus.PENDING.value
                    or delivery.next_attempt_at is None
                    or delivery.next_attempt_at <= now
                ):
                    raise Unwithdrawable("too late: the reply is on its way to the client")
                connection.execute(delete(DELIVERY).where(DELIVERY.c.event_id == event_id))
                connection.execute(delete(NOTIFICATION).where(NOTIFICATION.c.event_id == event_id))
                self._state = _StateCache()
                batch = _Batch(self, connection)
                thread_id = row.thread_id
                batch._load_threads({thread_id})
                facts = _facts(event_id, row._mapping)
                if facts.affects_clocks:
                    # Replayed as if the event had never been: the clock it
                    # stopped runs again, or stops at the next reply.
                    batch._replay_windows(
                        {
                            thread_id: _Window(
                                thread_id,
                                lo=row.occurred_at,
                                hi=row.occurred_at,
                                last_change=facts.key,
                                old_only={event_id},
                            )
                        }
                    )
                connection.execute(delete(EVENT_RAW).where(EVENT_RAW.c.event_id == event_id))
                connection.execute(delete(E).where(E.c.id == event_id))
                thread = batch.threads[thread_id]
                thread.last_event_at = connection.execute(
                    select(func.max(E.c.occurred_at)).where(E.c.thread_id == thread_id)
                ).scalar()
                batch.dirty.add(thread_id)
                batch._clocks_changed(batch.removed, batch.added)
                batch._write_threads()
                write_audit(
                    connection,
                    [
                        audit_row(
                            now, actor, f"undo_{row.kind}", "thread", row.thread_id,
                            {"event": event_id, "occurred_at": row.occurred_at, "text": row.text},
                        )
                    ],
                )  # fmt: skip
        finally:
            # What we remember of threads and clocks predates the replay.
            self._state = _StateCache()
        return Withdrawn(event_id, row.thread_id, row.kind, row.text, bool(row.internal))


def _parsed(items: Sequence[Item], start: int) -> tuple[dict[int, Result], list[_Pending]]:
    """The items' rejections by position (counted from `start`), and the valid ones to store."""
    results: dict[int, Result] = {}
    pending: list[_Pending] = []
    for offset, item in enumerate(items):
        index = start + offset
        try:
            event, raw = parse_event(item)
        except Rejected as error:
            results[index] = Result(index, "rejected", reason=error.reason)
            continue
        pending.append(_Pending(index, event, raw))
    return results, pending


@dataclass(frozen=True)
class _Begun:
    """A batch stored in a transaction not yet committed (Ingestor._begun)."""

    pending: list[_Pending]
    transaction: RootTransaction
    stored: list[Result]
    # The clocks it wrote or deleted, and whether no one else wrote since
    # our batch before: what `Ingestor.on_commit` is told, if anyone listens.
    batch: _Batch
    alone: bool


class _IdCache:
    """Ids of rows that exist; rows are never renamed, so ids stay valid."""

    def __init__(self) -> None:
        # A client's policy can change, so it is read through _StateCache.
        self.clients: dict[str, int] = {}
        self.projects: dict[tuple[int | None, str], int] = {}
        self.threads: dict[tuple[str, str], int] = {}
        self.staff_by_email: dict[str, int] = {}
        self.staff_by_name: dict[str, int] = {}
        self.contacts: dict[tuple[int | None, str], int] = {}


class _StateCache:
    """Threads and their latest clocks as committed by our last batch.

    Valid only while `token` (see core.store.db.data_version) is unchanged: then no
    other process has written, and a batch need not reload what it touches.
    """

    def __init__(self) -> None:
        self.token: tuple[int, int] | None = None
        self.threads: dict[int, _ThreadRow] = {}
        # The most recent clock of each thread, None when it never had one.
        self.latest: dict[int, ClockState | None] = {}
        self.client_policy: dict[int, str | None] = {}
        # The next id of the event, thread and clock tables (see core.store.db.next_ids).
        self.next_ids: dict[str, int] = {}
        # The SLA rollups' zone, once a batch has read it (core.sla.rollups.rollup_zone),
        # and their rows as our batches last wrote them (core.sla.rollups.Kept).
        self.rollup_zone: ZoneInfo | None = None
        self.rollup_rows = rollups.Kept()


class _Batch:
    """One transaction's worth of ingestion."""

    def __init__(
        self, ingestor: Ingestor, connection: Connection, hold: timedelta | None = None
    ) -> None:
        self.ingestor = ingestor
        self.db = connection
        self.cache = ingestor._cache
        self.state = ingestor._state
        self.now = ingestor.clock()
        # Replies of the batch are not sent before this instant (None: at once).
        self.send_after = None if hold is None else self.now + hold
        self.threads = self.state.threads
        self.dirty: set[int] = set()
        # Threads given their client by this batch: their answers move along.
        self.clients_given: dict[int, int | None] = {}
        # The latest assignee event of each thread touched by the batch.
        # (value, occurred_at): the staff id as text, empty when unassigned.
        self.assignees: dict[int, tuple[str | None, datetime]] = {}
        # Every clock the batch rewrites or deletes, as stored, and every
        # clock it writes, as written: see _clocks_changed.
        self.removed: list[ClockState] = []
        self.added: list[ClockState] = []
        self.memo: Memo = {}
        # Instants in their stored text form: an event's instant is its
        # thread's newest and its clocks' start or stop too.
        self.stamps: dict[datetime, str] = {}
        self.sqlite = connection.dialect.name == "sqlite"
        # On SQLite, the new threads' rows and the clocks met in order, written
        # by _store_in_order: (thread id, kind, channel) of each new thread.
        self.new_threads: list[tuple[int, str, str]] = []
        self.new_refs: list[tuple[str, str, int]] = []
        self.in_order_clocks: tuple[list[ClockState], list[ClockState]] = ([], [])

    def run(self, pending: list[_Pending]) -> list[Result]:
        fresh, results = self._deduplicate(pending)
        if not fresh:
            return results
        fresh, by_thread = self._resolve_threads(fresh, results)
        if not fresh:
            return results
        self._load_threads(by_thread.keys())
        event_row = self._event_row
        for item in fresh:
            item.row = event_row(item)
        if self.sqlite:
            # Ids handed out first, rows written once the threads that are new
            # have their final values: each such thread's row is inserted once,
            # not inserted and then updated (see _store_in_order).
            self._number_events(fresh)
        else:
            self._insert_events(fresh)
        in_order, late = self._sort_threads(by_thread)
        self._advance_in_order(in_order)
        if self.sqlite:
            self._store_in_order(fresh)
        self._queue_deliveries(fresh)
        self._queue_tracker_writes(fresh)
        # After the events are stored: a late event is replayed among its thread's.
        self._advance_late(late)
        # Before the thread rows: the rollups count a clock for its thread's
        # stored client, and a client given now moves them all (_write_threads).
        self._clocks_changed(self.removed, self.added)
        self._write_threads()
        self._write_assignees()
        self._notify_waiting_messages(fresh)
        results.extend(Result(item.index, "created", item.id, None, *item.ref) for item in fresh)
        return results

    # -- deduplication ------------------------------------------------------

    def _deduplicate(self, pending: list[_Pending]) -> tuple[list[_Pending], list[Result]]:
        keys = [item.ref for item in pending]
        by_source: dict[str, set[str]] = defaultdict(set)
        for source, external_id in keys:
            by_source[source].add(external_id)
        stored: dict[tuple[str, str], int] = {}
        for source, ids in by_source.items():
            for ext, id_ in self._by_external_id(_STORED_IDS, _STORED_IDS_SQL, source, ids):
                stored[(source, ext)] = id_
        fresh: list[_Pending] = []
        results: list[Result] = []
        seen: set[tuple[str, str]] = set()
        for item, key in zip(pending, keys, strict=True):
            if key in stored or key in seen:
                results.append(
                    Result(
                        item.index,
                        "duplicate",
                        event_id=stored.get(key),
                        source=key[0],
                        external_id=key[1],
                    )
                )
                continue
            seen.add(key)
            fresh.append(item)
        return fresh, results

    def _by_external_id(
        self, statement: Select[Any], sqlite_text: str, source: str, ids: Iterable[str]
    ) -> Iterator[tuple[str, int]]:
        """(external id, id) rows of a query by source and external ids, a chunk at a time.

        On SQLite as plain SQL: SQLAlchemy's expanding IN costs more than the query.
        """
        for chunk in chunks(sorted(ids)):
            if self.db.dialect.name == "sqlite":
                marks = ", ".join("?" * len(chunk))
                yield from plain_rows(self.db, sqlite_text.format(marks=marks), (source, *chunk))
            else:
                rows = self.db.execute(statement, {"source": source, "ids": list(chunk)})
                yield from ((external_id, found) for external_id, found in rows)

    # -- entities -----------------------------------------------------------

    def _client(self, name: str | None) -> int | None:
        if name is None:
            return None
        client_id = self.cache.clients.get(name)
        if client_id is None:
            client_id = self.db.execute(select(CLIENT.c.id).where(CLIENT.c.name == name)).scalar()
            if client_id is None:
                policy, language = self.ingestor.policies.for_new_client(name)
                statement = insert(CLIENT).values(
                    name=name, language=language, policy=policy, created_at=self.now
                )
                client_id = self._insert(statement, CLIENT)
            self.cache.clients[name] = client_id
        return client_id

    def _insert(self, statement: Any, into: Any) -> int:
        new_id: int = self.db.execute(statement.returning(into.c.id)).scalar_one()
        return new_id

    def _project(self, client_id: int | None, name: str | None) -> int | None:
        if name is None:
            return None
        key = (client_id, name)
        if key not in self.cache.projects:
            found = self.db.execute(
                select(PROJECT.c.id).where(PROJECT.c.client_id == client_id, PROJECT.c.name == name)
            ).scalar()
            if found is None:
                found = self._insert(
                    insert(PROJECT).values(client_id=client_id, name=name), PROJECT
                )
            self.cache.projects[key] = found
        return self.cache.projects[key]

    def _resolve_threads(
        self, fresh: list[_Pending], results: list[Result]
    ) -> tuple[list[_Pending], dict[int, list[_Pending]]]:
        """Find or create the thread of every event: a few queries per batch, not per event.

        Returns the events kept and the same grouped by thread (in the order
        threads first appear: the order their new clocks take their ids).
        """
        # Not `set(keys) - known.keys()`: a set less a dict's keys walks every key
        # of the dict, every thread the process has met, at every batch.
        known = self.cache.threads
        by_source: dict[str, set[str]] = defaultdict(set)
        for item in fresh:
            key = item.task_ref
            if key not in known:
                by_source[key[0]].add(key[1])
        for source, ids in by_source.items():
            for external_id, thread_id in self._by_external_id(
                _THREAD_REFS, _THREAD_REFS_SQL, source, ids
            ):
                known[(source, external_id)] = thread_id
        first_seen: dict[tuple[str, str], EventIn] = {}
        kept: list[_Pending] = []
        new = False
        for item in fresh:
            key = item.task_ref
            found = known.get(key)
            if found is None:
                if key[0] == OWN_SOURCE:
                    reason = f"task.id: no thread {key[1]!r}"
                    results.append(Result(item.index, "rejected", reason=reason))
                    continue
                if key not in first_seen:
                    first_seen[key] = item.event
                new = True
                # Set below (an earlier attempt at the batch, rolled back, may have set one).
                item.thread_id = 0
            else:
                item.thread_id = found
            kept.append(item)
        if new:
            self._create_threads(first_seen)
        by_thread: dict[int, list[_Pending]] = {}
        for item in kept:
            thread_id = item.thread_id or known[item.task_ref]
            item.thread_id = thread_id
            group = by_thread.get(thread_id)
            if group is None:
                by_thread[thread_id] = [item]
            else:
                group.append(item)
        return kept, by_thread

    def _create_threads(self, first_seen: dict[tuple[str, str], EventIn]) -> None:
        if not first_seen:
            return
        rows = []
        for (source, external_id), event in first_seen.items():
            client_id = self._client(event.client)
            rows.append(
                (
                    event.task.kind.value,
                    source,
                    event.task.title or f"{source} {external_id}",
                    event.task.url,
                    client_id,
                    self._project(client_id, event.project),
                )
            )
        if self.sqlite:
            # Ids only: the rows are written with their final values (_store_in_order).
            ids = next_ids(self.db, T, len(rows), self.state.next_ids)
        else:
            ids = insert_with_ids(
                self.db,
                T,
                [
                    dict(zip(_CREATED_THREAD_COLUMNS, (*row, False, self.now), strict=True))
                    for row in rows
                ],
                self.state.next_ids,
            )
        refs: list[tuple[str, str, int]] = []
        for key, thread_id, row in zip(first_seen, ids, rows, strict=True):
            self.cache.threads[key] = thread_id
            refs.append((key[0], key[1], thread_id))
            # pmdesk's own actions address a thread by its id.
            refs.append((OWN_SOURCE, str(thread_id), thread_id))
            _kind, _channel, title, url, client_id, project_id = row
            thread = _ThreadRow(
                thread_id, client_id, project_id, title, url, None, None, False, None, None, None,
                None,
            )  # fmt: skip
            self.threads[thread_id] = thread
            # A new thread has no clock yet.
            self.state.latest[thread_id] = None
            if self.sqlite:
                # Not stored yet: no row to compare with until _store_in_order.
                self.new_threads.append((thread_id, row[0], row[1]))
            else:
                # Known as written: no need to read it back.
                thread.stored = thread.values()
        if self.sqlite:
            self.new_refs = refs
        else:
            insert_many(self.db, REFS, [dict(zip(_REF_COLUMNS, ref, strict=True)) for ref in refs])

    def _text(self, at: datetime) -> str:
        """An instant in its stored text form, converted once per batch (see `stamps`)."""
        text = self.stamps.get(at)
        if text is None:
            text = self.stamps[at] = stamp(at)
        return text

    def _staff(self, name: str | None, email: str | None) -> int:
        if email and email in self.cache.staff_by_email:
            return self.cache.staff_by_email[email]
        name_key = (name or email or "").casefold()
        staff_id: int | None = None
        if email:
            staff_id = self.db.execute(
                select(EMAILS.c.staff_id).where(EMAILS.c.email == email)
            ).scalar()
        elif name_key in self.cache.staff_by_name:
            return self.cache.staff_by_name[name_key]
        else:
            staff_id = self.db.execute(
                select(STAFF.c.id).where(STAFF.c.name == name).order_by(STAFF.c.id)
            ).scalar()
        if staff_id is None:
            # Someone the agency has not registered yet: known from now on,
            # as a specialist until somebody says otherwise.
            statement = insert(STAFF).values(name=name or email, created_at=self.now)
            staff_id = self._insert(statement, STAFF)
            if email:
                self.db.execute(insert(EMAILS).values(email=email, staff_id=staff_id))
        if email:
            self.cache.staff_by_email[email] = staff_id
        else:
            self.cache.staff_by_name[name_key] = staff_id
        return staff_id

    def _contact(self, client_id: int | None, key: str, name: str, email: str | None) -> int:
        cache_key = (client_id, key)
        if cache_key not in self.cache.contacts:
            found = self.db.execute(
                select(CONTACT.c.id).where(CONTACT.c.client_id == client_id, CONTACT.c.key == key)
            ).scalar()
            if found is None:
                statement = insert(CONTACT).values(
                    client_id=client_id, key=key, name=name, email=email
                )
                found = self._insert(statement, CONTACT)
            self.cache.contacts[cache_key] = found
        return self.cache.contacts[cache_key]

    def _event_row(self, item: _Pending) -> tuple[Any, ...]:
        """The event's row but its id and instants, in the order of _EVENT_VALUES.

        A tuple built once: the insert, the clocks and the notifications
        read it by position (see _R_KIND...), and SQLite takes it as it is.
        """
        event = item.event
        author = event.author
        # Plain strings: an enum's `.value` costs a Python call per event.
        kind = _KIND_TEXT[event.kind]
        staff_id = contact_id = name = email = None
        role = _SYSTEM
        if author is not None:
            role = author.role
            email = author.email
            name = author.display_name
            # The caches looked up here first: the calls below cost more than
            # the lookups, and nearly every author of an import is known.
            cache = self.cache
            if role == _STAFF:
                staff_id = cache.staff_by_email.get(email) if email else None
                if staff_id is None:
                    staff_id = self._staff(author.name, email)
            else:
                client = event.client
                client_id = None if client is None else cache.clients.get(client)
                if client_id is None:
                    client_id = self._client(client)
                contact_id = cache.contacts.get((client_id, author.key))
                if contact_id is None:
                    contact_id = self._contact(client_id, author.key, name, email)
        return (
            *item.ref,
            item.thread_id,
            kind,
            name,
            email,
            role,
            staff_id,
            contact_id,
            event.text,
            event.internal,
            self._value(event) if kind in _VALUED_KINDS else None,
            _SEEN if role == _STAFF else _NEW,
        )

    def _value(self, event: EventIn) -> str | None:
        kind = event.kind  # a StrEnum: equal to its plain string value
        if kind == _STATUS:
            return event.status
        if kind == _DEADLINE:
            return _iso(event.deadline)
        if kind == _ASSIGNEE:
            if event.assignee is None:
                return ""  # unassigned
            return str(self._staff(event.assignee.name, event.assignee.email))
        return None

    def _insert_events(self, fresh: list[_Pending]) -> None:
        """The events, and each one's text as it arrived in the side table event_raw.

        The raw text is read for audits and re-imports only: kept out of the
        event row, it does not widen the rows every thread and clock query
        walks through.
        """
        if not self.sqlite:
            received = self.now
            ids = insert_with_ids(
                self.db,
                E,
                [
                    dict(
                        zip(
                            _EVENT_COLUMNS,
                            (item.event.occurred_at, received, *item.row),
                            strict=True,
                        )
                    )
                    for item in fresh
                ],
            )
            insert_many(
                self.db,
                EVENT_RAW,
                [
                    {"event_id": event_id, "raw": item.raw}
                    for item, event_id in zip(fresh, ids, strict=True)
                ],
            )
            for item, event_id in zip(fresh, ids, strict=True):
                item.id = event_id
            return
        # On SQLite numbered before (_number_events); rows straight to the
        # driver in storage form: a dict per event converted afterwards cost a
        # tenth of an import.
        text = self._text
        received_text = text(self.now)
        rows = [(item.id, text(item.event.occurred_at), received_text, *item.row) for item in fresh]
        insert_stored(self.db, E, ("id", *_EVENT_COLUMNS), rows)
        insert_stored(
            self.db, EVENT_RAW, ("event_id", "raw"), [(item.id, item.raw) for item in fresh]
        )

    def _number_events(self, fresh: list[_Pending]) -> None:
        """On SQLite, each event's id, handed out before its row is written (see run)."""
        ids = next_ids(self.db, E, len(fresh), self.state.next_ids)
        for item, event_id in zip(fresh, ids, strict=True):
            item.id = event_id

    def _store_in_order(self, fresh: list[_Pending]) -> None:
        """On SQLite: the new threads' rows, the events and the clocks met in order.

        In the order their foreign keys want. A new thread's row is written
        with what the batch's events made of it (title, state, newest event
        and clock): a new thread is never late, so nothing after this changes
        it, and it is not written again. Its row stored, the rollups count its
        clocks for the client it has now, and `rollups.move_threads` finds
        nothing of it to move.
        """
        if self.new_threads:
            text = self._text
            created = text(self.now)
            rows = []
            for thread_id, kind, channel in self.new_threads:
                thread = self.threads[thread_id]
                values = thread.values()
                at = values[_LAST_EVENT_AT]
                rows.append(
                    (
                        thread_id,
                        kind,
                        channel,
                        created,
                        *values[:_LAST_EVENT_AT],
                        None if at is None else text(at),
                        *values[_LAST_EVENT_AT + 1 :],
                    )
                )
                thread.stored = values
            insert_stored(self.db, T, _NEW_THREAD_COLUMNS, rows)
            insert_stored(self.db, REFS, _REF_COLUMNS, self.new_refs)
        self._insert_events(fresh)
        self._write_clocks(*self.in_order_clocks)

    def _queue_deliveries(self, fresh: list[_Pending]) -> None:
        """A public reply written in pmdesk goes out through its thread's channel."""
        replies = [
            item
            for item in fresh
            if item.event.source == OWN_SOURCE
            and item.event.kind in _DELIVERED
            and item.row[_R_ROLE] == _STAFF
            and not item.event.internal
        ]
        if not replies:
            return
        wanted = sorted({item.thread_id for item in replies})
        channels = dict(
            self.db.execute(select(T.c.id, T.c.channel).where(T.c.id.in_(wanted))).all()
        )
        rows = [
            {
                "event_id": item.id,
                "thread_id": item.thread_id,
                "channel": channels[item.thread_id],
                "status": DeliveryStatus.PENDING.value,
                "next_attempt_at": self.send_after,
                "updated_at": self.now,
            }
            for item in replies
        ]
        insert_many(self.db, DELIVERY, rows)

    def _queue_tracker_writes(self, fresh: list[_Pending]) -> None:
        """A change to a task in the tracker (core.tracker) waits to be written there.

        The event's `extra.tracker` says what to write (`task`, `verb`,
        `params`); the row that keeps it and its delivery row are written
        with the event.
        """
        actions = [
            (item, item.event.extra["tracker"])
            for item in fresh
            if item.event.source == OWN_SOURCE
            and item.event.extra is not None
            and isinstance(item.event.extra.get("tracker"), dict)
        ]
        if not actions:
            return
        insert_many(
            self.db,
            TRACKER_ACTION,
            [
                {
                    "event_id": item.id,
                    "thread_id": item.thread_id,
                    "task_id": str(write["task"]),
                    "verb": str(write["verb"]),
                    "params": json.dumps(write.get("params") or {}, ensure_ascii=False),
                    "created_at": self.now,
                }
                for item, write in actions
            ],
        )
        insert_many(
            self.db,
            DELIVERY,
            [
                {
                    "event_id": item.id,
                    "thread_id": item.thread_id,
                    "channel": TRACKER_CHANNEL,
                    "status": DeliveryStatus.PENDING.value,
                    "next_attempt_at": self.send_after,
                    "updated_at": self.now,
                }
                for item, _ in actions
            ],
        )

    def _notify_waiting_messages(self, fresh: list[_Pending]) -> None:
        """Tell staff of the batch's client messages still unanswered once it is stored.

        Who is told is core.notify's business; which messages count is
        decided here, where the clocks are: a public client message on a
        thread whose latest clock runs and covers it (the message came at or
        after the clock's opening message), and written within ALERT_HORIZON
        of now. A message answered in the same batch, or from an import of
        history, notifies no one.
        """
        since = self.now - ALERT_HORIZON
        keys = {item.id: item.key for item in fresh}
        waiting: list[tuple[int, int]] = []
        told: list[_Pending] = []
        for item in fresh:
            row = item.row
            if (
                row[_R_KIND] != _MESSAGE
                or row[_R_ROLE] != _CLIENT
                or row[_R_INTERNAL]
                or item.key[0] < since
            ):
                continue
            clock = self.state.latest.get(item.thread_id)
            if clock is None or clock.outcome != _RUNNING or clock.id is None:
                continue
            opener = keys.get(clock.opened_by)
            # An opener stored before this batch: its start time says enough.
            before = item.key[0] < clock.started_at if opener is None else item.key < opener
            if not before:
                waiting.append((item.id, clock.id))
                told.append(item)
        if waiting:
            queue_message_notifications(self.db, waiting, self.now, self._messages(told))

    def _messages(self, items: list[_Pending]) -> dict[int, Message]:
        """What a notification says of each event, as the batch knows it: not read back.

        An event whose thread's client the batch cannot name is left out (it is read).
        """
        names = {client_id: name for name, client_id in self.cache.clients.items()}
        known: dict[int, Message] = {}
        for item in items:
            thread = self.threads[item.thread_id]
            client = None if thread.client_id is None else names.get(thread.client_id)
            if client is None and thread.client_id is not None:
                continue
            row = item.row
            known[item.id] = Message(
                item.id, item.thread_id, row[_R_NAME], row[_R_TEXT], thread.title, client
            )
        return known

    # -- threads and clocks -------------------------------------------------

    def _load_threads(self, thread_ids: Iterable[int]) -> None:
        """The rows of the threads not known yet; on PostgreSQL locked until the batch ends.

        The batch then reads their clocks by the ids the rows name: without the
        lock, another writer replaying one of them could commit in between, and
        the clock named would be gone (see _THREAD_ROWS).
        """
        missing = sorted(thread for thread in thread_ids if thread not in self.threads)
        for chunk in chunks(missing):
            for row in self.db.execute(_THREAD_ROWS, {"ids": list(chunk)}):
                thread = _ThreadRow(*row[:_THREAD_WIDTH])
                thread.stored = thread.values()
                if row.title_at is not None:
                    thread.title_key = order_key(row.title_at, row.title_source, row.title_id)
                if row.url_at is not None:
                    thread.url_key = order_key(row.url_at, row.url_source, row.url_id)
                self.threads[row.id] = thread

    def _sort_threads(
        self, by_thread: dict[int, list[_Pending]]
    ) -> tuple[dict[int, list[_Pending]], dict[int, list[_Pending]]]:
        """Each thread the batch touches, its events in order: those in order, those late."""
        in_order: dict[int, list[_Pending]] = {}
        late: dict[int, list[_Pending]] = {}
        threads = self.threads
        for thread_id, items in by_thread.items():
            if len(items) > 1:
                items.sort(key=_BY_KEY)
            thread = threads[thread_id]
            self._fill_thread_details(thread, items)
            last = thread.last_event_at
            if last is None or items[0].key[0] > last:
                in_order[thread_id] = items
            else:
                # An event older than what the thread has seen: it is slotted
                # into place (see _advance_late).
                late[thread_id] = items
        return in_order, late

    def _fill_thread_details(self, thread: _ThreadRow, items: list[_Pending]) -> None:
        """A later event may name a client, project, title or URL the first did not.

        `items` are in their order (distinct keys): the newest of them that
        gives a title, or a URL, is the only one that can be the thread's.
        """
        changed = False
        if thread.client_id is None or thread.project_id is None:
            for item in items:
                event = item.event
                if thread.client_id is None and event.client:
                    thread.client_id = self._client(event.client)
                    self.clients_given[thread.id] = thread.client_id
                    changed = True
                if thread.project_id is None and event.project:
                    thread.project_id = self._project(thread.client_id, event.project)
                    changed = True
        # The newest event's title and URL are the thread's, whatever the
        # order they arrive in.
        title_seen = url_seen = False
        for item in reversed(items):
            task = item.event.task
            if task.title and not title_seen:
                title_seen = True
                if thread.title_key is None or item.key > thread.title_key:
                    thread.title, thread.title_key, thread.title_event = (
                        task.title,
                        item.key,
                        item.id,
                    )
                    changed = True
            if task.url and not url_seen:
                url_seen = True
                if thread.url_key is None or item.key > thread.url_key:
                    thread.url, thread.url_key, thread.url_event = task.url, item.key, item.id
                    changed = True
            if title_seen and url_seen:
                break
        if changed:
            self.dirty.add(thread.id)

    def _policy_of(self, thread: _ThreadRow) -> str | None:
        if thread.client_id is None:
            return None
        policies = self.state.client_policy
        if thread.client_id not in policies:
            policies[thread.client_id] = self.db.execute(
                _CLIENT_POLICY, {"id": thread.client_id}
            ).scalar()
        return policies[thread.client_id]

    def _advance_in_order(self, in_order: dict[int, list[_Pending]]) -> None:
        """The fast path: threads whose batch events all come after everything they had seen.

        The clock reducer runs forward from each thread's newest clock, with
        none of the late events' machinery; the thread's newest instant is
        its last event's.
        """
        if not in_order:
            return
        self._load_latest_clocks(sorted(in_order))
        touched: list[ClockState] = []
        opened: dict[int, ClockState] = {}
        threads, latest, dirty = self.threads, self.state.latest, self.dirty
        policies = self.ingestor.policies
        client_policy = self.state.client_policy
        memo, removed, added = self.memo, self.removed, self.added
        for thread_id, items in in_order.items():
            thread = threads[thread_id]
            last = latest[thread_id]
            running = last if last is not None and last.outcome == _RUNNING else None
            # Made at the thread's first event that can move a clock: most
            # visits of an import bring none (notes, status changes, client
            # messages while a clock runs).
            clocks: ThreadClocks | None = None
            stored: ClockState | None = None
            for item in items:
                row = item.row
                kind = row[_R_KIND]
                if kind in _CLOCK_KINDS:
                    facts = item.facts()
                    # What can move a clock is the clocks' own rule (EventFacts).
                    if not facts.affects_clocks:
                        continue
                    if clocks is None:
                        if running is not None and facts.opens:
                            continue  # the oldest unanswered message rules
                        client_id = thread.client_id
                        if client_id is None:
                            policy = policies.get(None)
                        elif client_id in client_policy:
                            policy = policies.get(client_policy[client_id])
                        else:
                            policy = policies.get(self._policy_of(thread))
                        # The stored version, for _clocks_changed, before the reducer stops it.
                        stored = None if running is None else _copy_clock(running)
                        clocks = ThreadClocks(
                            thread_id, policy, running, last is not None, memo=memo
                        )
                    clocks.apply(facts)
                elif kind == _ASSIGNEE:
                    self.assignees[thread_id] = (row[_R_VALUE], item.key[0])
                elif kind in _THREAD_STATE_KINDS:
                    self._apply_to_thread(thread, kind, item.key[0], row[_R_VALUE])
            # In order: the last event is the newest.
            newest = items[-1].key[0]
            if thread.last_event_at is None or newest > thread.last_event_at:
                thread.last_event_at = newest
                dirty.add(thread_id)
            if clocks is not None and clocks.touched:
                opened[thread_id] = latest[thread_id] = clocks.touched[-1]
                if stored is not None and running is not None and running.outcome != _RUNNING:
                    removed.append(stored)
                added.extend(clocks.touched)
                touched.extend(clocks.touched)
        if self.sqlite:
            # Numbered now for the threads' rows; written with the events (_store_in_order).
            new = [clock for clock in touched if clock.id is None]
            self._number_clocks(new)
            self.in_order_clocks = (touched, new)
        else:
            self._write_clocks(touched, [clock for clock in touched if clock.id is None])
        for thread_id, clock in opened.items():
            self._set_latest(thread_id, clock)

    def _set_latest(self, thread_id: int, clock: ClockState | None) -> None:
        self.state.latest[thread_id] = clock
        thread = self.threads[thread_id]
        clock_id = None if clock is None else clock.id
        if thread.clock_id != clock_id:
            thread.clock_id = clock_id
            self.dirty.add(thread_id)

    def _load_latest_clocks(self, thread_ids: list[int]) -> None:
        """Each thread's most recent clock (named on its row): is one running, was there any."""
        missing: list[int] = []
        for thread_id in thread_ids:
            if thread_id in self.state.latest:
                continue
            clock_id = self.threads[thread_id].clock_id
            if clock_id is None:
                self.state.latest[thread_id] = None
            else:
                missing.append(clock_id)
        for chunk in chunks(missing):
            for row in self.db.execute(_CLOCKS_BY_ID, {"ids": list(chunk)}):
                self.state.latest[row.thread_id] = ClockState.from_row(row)

    def _write_assignees(self) -> None:
        if not self.assignees:
            return
        if self.db.dialect.name == "sqlite":
            plain_many(self.db, _SQLITE_UNASSIGN, [(thread_id,) for thread_id in self.assignees])
        else:
            self.db.execute(_UNASSIGN, [{"thread": thread_id} for thread_id in self.assignees])
        assigned = [
            {
                "thread_id": thread_id,
                "staff_id": int(value),
                "role": "assignee",
                "since": since,
            }
            for thread_id, (value, since) in self.assignees.items()
            if value  # an empty value unassigns
        ]
        insert_many(self.db, ASSIGNMENT, assigned)

    # -- late events --------------------------------------------------------

    def _advance_late(self, late: dict[int, list[_Pending]]) -> None:
        """Slot events older than their thread's newest into place, at the cost of what they change.

        Thread state: the newest event of each kind of state (status,
        deadline, closed or reopened, assignee) wins, so a late one wins only
        if nothing newer of its kind is stored: one query per kind for the
        batch. Clocks: replayed only for threads where a late event can
        change them, from the clock state just before the earliest such
        event, and only as far as the replay differs from what is stored
        (see _replay_windows).
        """
        if not late:
            return
        for items in late.values():
            thread = self.threads[items[0].thread_id]
            for item in items:
                thread.last_event_at = _later(thread.last_event_at, item.key[0])
            self.dirty.add(thread.id)
        self._settle_thread_state(late)
        windows: dict[int, _Window] = {}
        for thread_id, items in late.items():
            facts = [item.facts() for item in items]
            relevant = [fact for fact in facts if fact.affects_clocks]
            if relevant:
                windows[thread_id] = _Window(
                    thread_id,
                    lo=relevant[0].occurred_at,
                    hi=relevant[-1].occurred_at,
                    last_change=relevant[-1].key,
                    new_only={item.id for item in items},
                )
        self._replay_windows(windows)

    def _settle_thread_state(self, late: dict[int, list[_Pending]]) -> None:
        ours = {item.id for items in late.values() for item in items}
        for kinds in _STATE_KINDS:
            wanted = sorted(
                thread_id
                for thread_id, items in late.items()
                if any(item.row[_R_KIND] in kinds for item in items)
            )
            for chunk in chunks(wanted):
                rows = self.db.execute(_NEWEST_OF_KINDS, {"ids": list(chunk), "kinds": kinds})
                newest: dict[int, dict[str, Any]] = {}
                for found in rows:
                    row = dict(found._mapping)
                    known = newest.get(row["thread_id"])
                    if known is None or _key(row) > _key(known):
                        newest[row["thread_id"]] = row
                for thread_id, row in newest.items():
                    if row["id"] not in ours:
                        continue  # a stored event is newer: the state stands
                    if row["kind"] == _ASSIGNEE:
                        self.assignees[thread_id] = (row["value"], row["occurred_at"])
                    else:
                        self._apply_to_thread(
                            self.threads[thread_id], row["kind"], row["occurred_at"], row["value"]
                        )

    def _replay_windows(self, windows: dict[int, _Window]) -> None:
        """Replay each window's thread from just before `lo` until it agrees with what is stored.

        The clock state just before `lo` is read from the stored clocks: the
        last one started before it, running then unless it stopped before
        `lo`. From there the thread's clock events are applied twice, as
        stored (without `new_only`) and as they now are (without
        `old_only`), until past `last_change` both reducers are in the same
        state: the clocks after that point are the same either way. Only the
        clocks that differ from their stored rows are written.
        """
        if not windows:
            return
        ordered = sorted(windows)
        for chunk in chunks(ordered, 300):
            self._load_priors([windows[thread_id] for thread_id in chunk])
            self._load_window_events([windows[thread_id] for thread_id in chunk])
        need: list[_Window] = []
        for thread_id in ordered:
            window = windows[thread_id]
            policy = self.ingestor.policies.get(self._policy_of(self.threads[thread_id]))
            window.end = self.threads[thread_id].last_event_at
            if not _replay(window, policy, window.events, self.memo):
                need.append(window)
        # Windows that did not settle read on, a page each, one query for all.
        while need:
            pages = self._more_events(need)
            need = [window for window in need if not _replay(window, None, pages[window.thread_id])]
        olds = {thread_id: window.old_clocks for thread_id, window in windows.items()}
        news = {thread_id: window.new_clocks for thread_id, window in windows.items()}
        openers = sorted(
            {clock.opened_by for held in (olds, news) for each in held.values() for clock in each}
        )
        stored: dict[int, ClockState] = {}
        for chunk in chunks(openers):
            for row in self.db.execute(_CLOCKS_BY_OPENER, {"ids": list(chunk)}):
                stored[row.opened_by] = ClockState.from_row(row)
        gone: list[ClockState] = []
        rewritten: list[ClockState] = []
        new: list[ClockState] = []
        for thread_id in ordered:
            wanted = {clock.opened_by: clock for clock in news[thread_id]}
            for clock in olds[thread_id]:
                if clock.opened_by not in wanted and clock.opened_by in stored:
                    gone.append(stored[clock.opened_by])
            for opener, clock in wanted.items():
                before = stored.get(opener)
                if before is None:
                    clock.id = None
                    new.append(clock)
                elif before.content() != clock.content():
                    clock.id = before.id
                    rewritten.append(clock)
                    self.removed.append(before)
        if gone:
            self.db.execute(_DELETE_CLOCK, [{"clock": clock.id} for clock in gone])
            self.removed.extend(gone)
        update_many(self.db, C, [clock.row(_CLOCK_COLUMNS) for clock in rewritten])
        self._insert_clocks(new)
        self.added.extend(rewritten)
        self.added.extend(new)
        self._reload_latest(ordered)

    def _load_priors(self, windows: list[_Window]) -> None:
        """Each window's thread's last clock started before `lo` (the last of a tie by opener)."""
        by_thread = {window.thread_id: window for window in windows}
        for row in self._window_rows(windows, _PRIORS_SQL, _priors_query, with_hi=False):
            window = by_thread[row.thread_id]
            key = order_key(row.opener_at, row.opener_source, row.opener_external_id)
            if window.prior_key is None or key > window.prior_key:
                window.prior = ClockState.from_row(row)
                window.prior_key = key

    def _load_window_events(self, windows: list[_Window]) -> None:
        by_thread = {window.thread_id: window for window in windows}
        if self.db.dialect.name == "sqlite":
            statement, params = _sqlite_windows(windows, _WINDOW_SQL, with_hi=True)
            for row in self.db.exec_driver_sql(statement, params).fetchall():
                by_thread[row[1]].events.append(_stored_facts(row))
        else:
            for found in self.db.execute(_window_query(windows)):
                by_thread[found.thread_id].events.append(_facts(found.id, found._mapping))
        for window in windows:
            window.events.sort(key=_fact_key)
            window.after = window.hi

    def _window_rows(
        self,
        windows: list[_Window],
        sqlite_text: str,
        query: Callable[[list[_Window]], Select[Any]],
        *,
        with_hi: bool,
    ) -> list[Any]:
        """Rows of a query over the windows: on SQLite as plain SQL, its instants parsed.

        SQLAlchemy would compile the statement anew for every batch (its
        VALUES differ each time), which costs more than a late event's
        whole replay.
        """
        if self.db.dialect.name != "sqlite":
            return list(self.db.execute(query(windows)))
        statement, params = _sqlite_windows(windows, sqlite_text, with_hi=with_hi)
        return self._plain_rows(statement, params)

    def _plain_rows(self, statement: str, params: tuple[Any, ...]) -> list[Any]:
        """Rows of plain SQL on SQLite, as SQLAlchemy would give them: instants parsed."""
        rows = []
        for found in self.db.exec_driver_sql(statement, params).mappings():
            row = dict(found)
            for name in _INSTANT_COLUMNS & row.keys():
                row[name] = instant(row[name])
            rows.append(_Record(row))
        return rows

    def _more_events(self, windows: list[_Window]) -> dict[int, list[EventFacts]]:
        """Each window's thread's next clock events after `window.after`, a page at a time.

        Nothing is read for a thread whose newest event is in the window. A
        page that ends inside a run of events of the same instant gets the
        rest of that instant too, and the next page starts after it.
        """
        pages: dict[int, list[EventFacts]] = {window.thread_id: [] for window in windows}
        wanted = [
            window
            for window in windows
            if window.end is not None and window.after is not None and window.end > window.after
        ]
        if self.db.dialect.name == "sqlite":
            for chunk in chunks(wanted, 400):
                statement = " UNION ALL ".join(
                    _STOPS_SQL if _stops_only(window) else _PAGE_SQL for window in chunk
                )
                params: list[Any] = []
                for window in chunk:
                    assert window.after is not None
                    params += [window.thread_id, stamp(window.after), _PAGE]
                for row in self.db.exec_driver_sql(statement, tuple(params)).fetchall():
                    pages[row[1]].append(_stored_facts(row))
        else:
            for window in wanted:
                values = {"thread": window.thread_id, "after": window.after, "size": _PAGE}
                query = _NEXT_STOPS if _stops_only(window) else _NEXT_EVENTS
                pages[window.thread_id] = [
                    _facts(row.id, row._mapping) for row in self.db.execute(query, values)
                ]
        for window in windows:
            page = pages[window.thread_id]
            if len(page) == _PAGE:
                last = max(facts.occurred_at for facts in page)
                page = [facts for facts in page if facts.occurred_at != last]
                page += [
                    _facts(row.id, row._mapping)
                    for row in self.db.execute(_EVENTS_AT, {"thread": window.thread_id, "at": last})
                ]
            if page:
                window.after = max(facts.occurred_at for facts in page)
            page.sort(key=_fact_key)
            pages[window.thread_id] = page
        return pages

    def _reload_latest(self, thread_ids: list[int]) -> None:
        """Each replayed thread's newest clock, read back after the writes."""
        newest: dict[int, tuple[OrderKey, ClockState]] = {}
        for chunk in chunks(thread_ids):
            if self.db.dialect.name == "sqlite":
                marks = ", ".join("?" * len(chunk))
                rows = self._plain_rows(_LATEST_SQL.format(marks=marks), tuple(chunk))
            else:
                rows = list(self.db.execute(_LATEST_CLOCKS, {"ids": list(chunk)}))
            for row in rows:
                key = order_key(row.opener_at, row.opener_source, row.opener_external_id)
                known = newest.get(row.thread_id)
                if known is None or key > known[0]:
                    newest[row.thread_id] = (key, ClockState.from_row(row))
        for thread_id in thread_ids:
            found = newest.get(thread_id)
            self._set_latest(thread_id, None if found is None else found[1])

    def _clocks_changed(self, removed: list[ClockState], added: list[ClockState]) -> None:
        """Every clock this transaction wrote: `removed` as they were stored, `added` as written.

        Called once per batch (and per withdrawal), inside its transaction.
        A clock rewritten is in both; one deleted only in `removed`, one
        inserted only in `added`.
        """
        # The threads' clients as stored: their rows are written after this.
        stored: dict[int, int | None] = {}
        for clock in (*removed, *added):
            thread = self.threads.get(clock.thread_id)
            if thread is not None and thread.stored is not None:
                stored[clock.thread_id] = thread.stored[0]
        zone = rollups.record(
            self.db, removed, added, stored, self.state.rollup_zone, self.state.rollup_rows
        )
        if zone is not None:
            self.state.rollup_zone = zone

    def _write_clocks(self, clocks: list[ClockState], new: list[ClockState]) -> None:
        """Clocks met in order: `new` (those not stored yet) inserted, the others
        (stored, which can only stop) updated."""
        self._insert_clocks(new)
        # Writing just the stop columns spares SQLite the upkeep of indexes
        # on the others.
        inserted = {id(clock) for clock in new}
        stopped = [clock for clock in clocks if id(clock) not in inserted]
        if self.db.dialect.name != "sqlite":
            update_many(self.db, C, [clock.row(_STOP_COLUMNS) for clock in stopped])
            return
        text = self._text
        plain_many(
            self.db,
            _STOP_CLOCK,
            [
                (
                    clock.outcome,
                    None if clock.stopped_at is None else text(clock.stopped_at),
                    clock.stopped_by,
                    clock.stopped_by_staff,
                    clock.business_seconds,
                    clock.wall_seconds,
                    clock.id,
                )
                for clock in stopped
            ],
        )

    def _insert_clocks(self, new: list[ClockState]) -> None:
        """New clocks inserted, each given its id unless numbered already (on SQLite,
        by _number_clocks); on SQLite as tuples in storage form."""
        if self.db.dialect.name != "sqlite":
            ids = insert_with_ids(self.db, C, [clock.row() for clock in new], self.state.next_ids)
            for clock, clock_id in zip(new, ids, strict=True):
                clock.id = clock_id
            return
        if not new:
            return
        self._number_clocks([clock for clock in new if clock.id is None])
        text = self._text
        rows = []
        for clock in new:
            stopped_at = clock.stopped_at
            rows.append(
                (
                    clock.id,
                    clock.thread_id,
                    clock.opened_by,
                    clock.kind,
                    clock.policy,
                    text(clock.started_at),
                    text(clock.due_at),
                    text(clock.warn_at),
                    text(clock.escalate_at),
                    clock.outcome,
                    None if stopped_at is None else text(stopped_at),
                    clock.stopped_by,
                    clock.stopped_by_staff,
                    clock.business_seconds,
                    clock.wall_seconds,
                )
            )
        insert_stored(self.db, C, _CLOCK_COLUMNS, rows)

    def _number_clocks(self, new: list[ClockState]) -> None:
        """On SQLite, each new clock's id, handed out before its row is written."""
        if not new:
            return
        ids = next_ids(self.db, C, len(new), self.state.next_ids)
        for clock, clock_id in zip(new, ids, strict=True):
            clock.id = clock_id

    def _write_threads(self) -> None:
        """The rows of the threads the batch changed; on SQLite only the columns that did."""
        changed: list[tuple[_ThreadRow, tuple[Any, ...]]] = []
        for thread_id in sorted(self.dirty):
            thread = self.threads[thread_id]
            values = thread.values()
            if values != thread.stored:
                changed.append((thread, values))
        # Read before the rows change: the rollups move from the stored client.
        rollups.move_threads(self.db, self.clients_given, self.state.rollup_rows)
        if self.db.dialect.name == "sqlite":
            full: list[tuple[Any, ...]] = []
            narrow: list[tuple[Any, ...]] = []
            text = self._text
            for thread, values in changed:
                stored = thread.stored
                at = values[_LAST_EVENT_AT]
                row = (
                    *values[:_LAST_EVENT_AT],
                    None if at is None else text(at),
                    *values[_LAST_EVENT_AT + 1 :],
                    thread.id,
                )
                if stored is not None and stored[:_OWNERS] == values[:_OWNERS]:
                    narrow.append(row[_OWNERS:])
                else:
                    full.append(row)
            if full:
                plain_many(self.db, _UPDATE_THREAD, full)
            if narrow:
                plain_many(self.db, _UPDATE_THREAD_STATE, narrow)
        else:
            update_many(
                self.db,
                T,
                [
                    dict(zip(_THREAD_COLUMNS, (thread.id, *values), strict=True))
                    for thread, values in changed
                ],
            )
        for thread, values in changed:
            thread.stored = values

    def _apply_to_thread(
        self, thread: _ThreadRow, kind: str, occurred_at: datetime, value: str | None
    ) -> None:
        """Thread state follows its events in order: the last word wins."""
        previous = thread.last_event_at
        thread.last_event_at = _later(previous, occurred_at)
        if kind == _STATUS:
            thread.status = value
        elif kind == _DEADLINE:
            thread.deadline = value
        elif kind == _CLOSED:
            thread.closed = True
        elif kind == _REOPENED:
            thread.closed = False
        elif thread.last_event_at == previous:
            return
        self.dirty.add(thread.id)


@dataclass
class _Window:
    """A stretch of one thread's history to replay because of late events (or a withdrawal)."""

    thread_id: int
    # Events from this instant on are replayed.
    lo: datetime
    # The late events lie up to this instant: the first read goes this far.
    hi: datetime
    # Past this event, the replay stops as soon as it agrees with the stored clocks.
    last_change: OrderKey
    # Events the stored clocks did not see (the batch's), and events they saw
    # that are gone (a withdrawal).
    new_only: set[int] = field(default_factory=set)
    old_only: set[int] = field(default_factory=set)
    prior: ClockState | None = None
    prior_key: OrderKey | None = None
    events: list[EventFacts] = field(default_factory=list)
    # Read up to this instant; the thread's newest event is at `end`.
    after: datetime | None = None
    end: datetime | None = None
    # The replay as stored and as it now is, and the clock each started with.
    old: ThreadClocks | None = None
    new: ThreadClocks | None = None
    old_start: ClockState | None = None
    new_start: ClockState | None = None
    # What the replay settled, by opening order (see _replay).
    old_clocks: list[ClockState] = field(default_factory=list)
    new_clocks: list[ClockState] = field(default_factory=list)


def _replay(
    window: _Window, policy: Policy | None, events: list[EventFacts], memo: Memo | None = None
) -> bool:
    """Apply `events` to a window's two replays (started with `policy`); True once settled.

    Settled: past `last_change` the two agree (the clock running then, the
    same in both, stops later at the same event as stored, and is left
    alone), or `events` is empty (the thread has nothing further).
    """
    if window.old is None or window.new is None:
        assert policy is not None
        prior = window.prior
        running = None
        if prior is not None and (prior.stopped_at is None or prior.stopped_at >= window.lo):
            running = prior.running_copy()
        has_clocks = prior is not None
        window.old = ThreadClocks(window.thread_id, policy, running, has_clocks, memo=memo)
        window.new = ThreadClocks(
            window.thread_id,
            policy,
            None if running is None else replace(running),
            has_clocks,
            memo=memo,
        )
        window.old_start, window.new_start = window.old.running, window.new.running
    old, new = window.old, window.new
    if not events:
        window.old_clocks = _opened(old, window.old_start)
        window.new_clocks = _opened(new, window.new_start)
        return True
    for event in events:
        if event.id not in window.new_only:
            old.apply(event)
        if event.id not in window.old_only:
            new.apply(event)
        if event.key >= window.last_change and _agree(old, new):
            window.old_clocks = _opened(old, window.old_start, old.running)
            window.new_clocks = _opened(new, window.new_start, new.running)
            return True
    return False


def _stops_only(window: _Window) -> bool:
    """Whether only an event that stops a clock can change either of a window's replays.

    So while both hold a running clock, whichever: a client's message does
    not reset a running clock, and an internal note touches none, so the
    next page skips to the next public reply or "no reply needed", where
    both stop and agree. Without it, on a thread whose replies are rare, a
    late reply read the thousands of client messages up to the next one
    (docs/benchmarks.md, ingest round 25).
    """
    old, new = window.old, window.new
    return old is not None and new is not None and None not in (old.running, new.running)


def _agree(old: ThreadClocks, new: ThreadClocks) -> bool:
    """Whether two reducers are in the same state: what follows does the same to both."""
    if old.has_clocks != new.has_clocks:
        return False
    ours, theirs = old.running, new.running
    if ours is None or theirs is None:
        return ours is theirs
    # Clocks opened by different messages never agree: on a thread whose
    # replies are rare the two replays run on like that for thousands of
    # messages, each asked this (docs/benchmarks.md, ingest round 25).
    return ours.opened_by == theirs.opened_by and ours.content() == theirs.content()


def _opened(
    clocks: ThreadClocks, start: ClockState | None, unsettled: ClockState | None = None
) -> list[ClockState]:
    """The clocks a window's replay settled: the one running at its start, then those it opened.

    `unsettled`, a clock still running where the replay stopped, is left out.
    """
    held = [] if start is None else [start]
    held.extend(clock for clock in clocks.touched if clock is not start)
    return [clock for clock in held if clock is not unsettled]


def _fact_key(facts: EventFacts) -> OrderKey:
    return facts.key


# Clock events of a thread read per page past the first read of a window.
_PAGE = 200


# The statements run by every batch, built once: building a select costs
# SQLAlchemy more than SQLite takes to run it, and a batch of one event (the
# HTTP intake under light load) runs a dozen of them.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_STORED_IDS = select(E.c.external_id, E.c.id).where(
    E.c.source == bindparam("source"), E.c.external_id.in_(_IDS)
)
_THREAD_REFS = select(REFS.c.external_id, REFS.c.thread_id).where(
    REFS.c.source == bindparam("source"), REFS.c.external_id.in_(_IDS)
)
_STORED_IDS_SQL = "SELECT external_id, id FROM event WHERE source = ? AND external_id IN ({marks})"
_THREAD_REFS_SQL = (
    "SELECT external_id, thread_id FROM threadref WHERE source = ? AND external_id IN ({marks})"
)
_TITLED, _LINKED = E.alias("titled"), E.alias("linked")
_THREAD_ROWS = (
    select(
        *[T.c[name] for name in _THREAD_COLUMNS],
        _TITLED.c.occurred_at.label("title_at"),
        _TITLED.c.source.label("title_source"),
        _TITLED.c.external_id.label("title_id"),
        _LINKED.c.occurred_at.label("url_at"),
        _LINKED.c.source.label("url_source"),
        _LINKED.c.external_id.label("url_id"),
    )
    .select_from(
        T.outerjoin(_TITLED, _TITLED.c.id == T.c.title_event).outerjoin(
            _LINKED, _LINKED.c.id == T.c.url_event
        )
    )
    .where(T.c.id.in_(_IDS))
    # On PostgreSQL the rows stay locked until the batch commits (SQLite's writer holds
    # the whole database already): a writer storing events of the same thread waits,
    # rather than replace the clocks this batch read between two of its statements.
    # Locked in the order of their ids, so two writers do not deadlock on them. NO KEY
    # UPDATE, the lock an UPDATE of the row takes anyway: writers still wait for each
    # other, but a row inserted elsewhere that refers to the thread (an alert, its key
    # checked with KEY SHARE) does not wait for the batch to commit.
    .order_by(T.c.id)
    .with_for_update(of=T, key_share=True)
)
_CLOCKS_BY_ID = select(C).where(C.c.id.in_(_IDS))
_CLOCKS_BY_OPENER = select(C).where(C.c.opened_by.in_(_IDS))
_DELETE_CLOCK = delete(C).where(C.c.id == bindparam("clock"))
_OPENER = E.alias("opener")
_OPENER_KEY = (
    _OPENER.c.occurred_at.label("opener_at"),
    _OPENER.c.source.label("opener_source"),
    _OPENER.c.external_id.label("opener_external_id"),
)
_NEWEST = C.alias("newest")
# Each thread's newest clocks (several when they started at the same instant:
# the opener's order key decides), with their openers' keys.
_LATEST_CLOCKS = (
    select(C, *_OPENER_KEY)
    .select_from(C.join(_OPENER, _OPENER.c.id == C.c.opened_by))
    .where(
        C.c.thread_id.in_(_IDS),
        C.c.started_at
        == select(func.max(_NEWEST.c.started_at))
        .where(_NEWEST.c.thread_id == C.c.thread_id)
        .scalar_subquery(),
    )
)
# What a clock replay reads of an event, and the kinds it reads.
_FACT_COLUMNS = (
    E.c.id,
    E.c.thread_id,
    E.c.source,
    E.c.external_id,
    E.c.kind,
    E.c.occurred_at,
    E.c.author_role,
    E.c.internal,
    E.c.staff_id,
)
_CLOCK_KINDS = (EventKind.MESSAGE.value, EventKind.NO_REPLY_NEEDED.value)
_NEXT_EVENTS = (
    select(*_FACT_COLUMNS)
    .where(
        E.c.thread_id == bindparam("thread"),
        E.c.occurred_at > bindparam("after"),
        E.c.kind.in_(_CLOCK_KINDS),
    )
    .order_by(E.c.occurred_at)
    .limit(bindparam("size"))
)
# One page of a thread's clock events past an instant, for SQLite (joined by
# UNION ALL for many threads: _Batch._more_events).
_PAGE_SQL = (
    "SELECT * FROM (SELECT id, thread_id, source, external_id, kind, occurred_at, "
    "author_role, internal, staff_id FROM event WHERE thread_id = ? AND occurred_at > ? "
    f"AND kind IN {tuple(_CLOCK_KINDS)!r} ORDER BY occurred_at LIMIT ?)"
)
# The same, only the events that stop a running clock (`EventFacts.stops`, see
# _stops_only; a test holds the two to the same events), through their own
# index, named: without statistics SQLite may take the index of all the
# thread's events instead, and can use a partial index only for a query
# repeating its condition (an error here otherwise, which a test would meet).
_STOPS_SQL = _PAGE_SQL.replace(
    "FROM event WHERE", "FROM event INDEXED BY ix_event_stops WHERE"
).replace("ORDER BY", f"AND ({STOP_EVENTS}) ORDER BY")
_NEXT_STOPS = _NEXT_EVENTS.where(sql_text(f"({STOP_EVENTS})"))
_EVENTS_AT = select(*_FACT_COLUMNS).where(
    E.c.thread_id == bindparam("thread"),
    E.c.occurred_at == bindparam("at"),
    E.c.kind.in_(_CLOCK_KINDS),
)
# The newest events of some kinds on each thread: from the newest end of the
# thread's index, walking back only as far as the first of those kinds.
_KINDS: BindParameter[Any] = bindparam("kinds", expanding=True)
_OLDER = E.alias("older")
_NEWEST_OF_KINDS = (
    select(E.c.id, E.c.thread_id, E.c.kind, E.c.value, E.c.occurred_at, E.c.source, E.c.external_id)
    .select_from(
        T.join(
            E,
            and_(
                E.c.thread_id == T.c.id,
                E.c.occurred_at
                == select(_OLDER.c.occurred_at)
                .where(_OLDER.c.thread_id == T.c.id, _OLDER.c.kind.in_(_KINDS))
                .order_by(_OLDER.c.occurred_at.desc())
                .limit(1)
                .scalar_subquery(),
            ),
        )
    )
    .where(T.c.id.in_(_IDS), E.c.kind.in_(_KINDS))
)


def _windows(windows: list[_Window], *, with_hi: bool) -> CTE:
    instant = E.c.occurred_at.type
    columns = [column("t", Integer), column("lo", instant)]
    if with_hi:
        columns.append(column("hi", instant))
    rows = [
        (window.thread_id, window.lo, window.hi) if with_hi else (window.thread_id, window.lo)
        for window in windows
    ]
    # A common table expression: SQLite knows no column names for
    # VALUES in FROM, PostgreSQL takes either.
    return values(*columns, name="w").data(rows).cte("w")


def _sqlite_windows(
    windows: list[_Window], sqlite_text: str, *, with_hi: bool
) -> tuple[str, tuple[Any, ...]]:
    """A query over the windows as plain SQL for SQLite: "WITH w(t, lo[, hi]) AS (VALUES ...)"."""
    marks = ", ".join(["(?, ?, ?)" if with_hi else "(?, ?)"] * len(windows))
    params: list[Any] = []
    for window in windows:
        params += [window.thread_id, stamp(window.lo)]
        if with_hi:
            params.append(stamp(window.hi))
    columns = "t, lo, hi" if with_hi else "t, lo"
    return f"WITH w({columns}) AS (VALUES {marks}) {sqlite_text}", tuple(params)


def _stored_facts(row: Sequence[Any]) -> EventFacts:
    """EventFacts of a row of _WINDOW_SQL or _PAGE_SQL, as SQLite stores it."""
    event_id, _thread, source, external_id, kind, occurred_at, role, internal, staff = row
    at = datetime.fromisoformat(occurred_at).replace(tzinfo=UTC)
    return EventFacts(
        event_id, (at, source, len(external_id), external_id), kind, role, bool(internal), staff
    )


class _Record(dict[str, Any]):
    """A row read as plain SQL: its columns as keys and as attributes, like SQLAlchemy's."""

    __getattr__ = dict.__getitem__

    @property
    def _mapping(self) -> dict[str, Any]:
        return self


_INSTANT_COLUMNS = frozenset(
    {"started_at", "due_at", "warn_at", "escalate_at", "stopped_at", "opener_at", "occurred_at"}
)
_CLOCK_SQL_COLUMNS = ", ".join(f"clock.{column.name}" for column in C.columns)
# The same as _priors_query and _window_query, for SQLite, after "WITH w(...)".
_PRIORS_SQL = (
    f"SELECT {_CLOCK_SQL_COLUMNS}, opener.occurred_at AS opener_at, "
    "opener.source AS opener_source, opener.external_id AS opener_external_id "
    "FROM w JOIN clock ON clock.thread_id = w.t AND clock.started_at = ("
    "SELECT max(earlier.started_at) FROM clock AS earlier "
    "WHERE earlier.thread_id = w.t AND earlier.started_at < w.lo) "
    "JOIN event AS opener ON opener.id = clock.opened_by"
)
_LATEST_SQL = (
    f"SELECT {_CLOCK_SQL_COLUMNS}, opener.occurred_at AS opener_at, "
    "opener.source AS opener_source, opener.external_id AS opener_external_id "
    "FROM clock JOIN event AS opener ON opener.id = clock.opened_by "
    "WHERE clock.thread_id IN ({marks}) AND clock.started_at = ("
    "SELECT max(newest.started_at) FROM clock AS newest WHERE newest.thread_id = clock.thread_id)"
)
_WINDOW_SQL = (
    "SELECT event.id, event.thread_id, event.source, event.external_id, event.kind, "
    "event.occurred_at, event.author_role, event.internal, event.staff_id "
    "FROM w JOIN event ON event.thread_id = w.t "
    "AND event.occurred_at >= w.lo AND event.occurred_at <= w.hi "
    f"WHERE event.kind IN {tuple(_CLOCK_KINDS)!r}"
)


def _priors_query(windows: list[_Window]) -> Select[Any]:
    """For each window, the clocks of its thread started last before its `lo`."""
    w = _windows(windows, with_hi=False)
    earlier = C.alias("earlier")
    last_start = (
        select(func.max(earlier.c.started_at))
        .where(earlier.c.thread_id == w.c.t, earlier.c.started_at < w.c.lo)
        .scalar_subquery()
    )
    return select(C, *_OPENER_KEY).select_from(
        w.join(C, and_(C.c.thread_id == w.c.t, C.c.started_at == last_start)).join(
            _OPENER, _OPENER.c.id == C.c.opened_by
        )
    )


def _window_query(windows: list[_Window]) -> Select[Any]:
    """The clock events of each window's thread from its `lo` to its `hi`."""
    w = _windows(windows, with_hi=True)
    return (
        select(*_FACT_COLUMNS)
        .select_from(
            w.join(
                E,
                and_(E.c.thread_id == w.c.t, E.c.occurred_at >= w.c.lo, E.c.occurred_at <= w.c.hi),
            )
        )
        .where(E.c.kind.in_(_CLOCK_KINDS))
    )


_CLIENT_POLICY = select(CLIENT.c.policy).where(CLIENT.c.id == bindparam("id"))
_UNASSIGN = delete(ASSIGNMENT).where(
    ASSIGNMENT.c.thread_id == bindparam("thread"), ASSIGNMENT.c.role == "assignee"
)
_SQLITE_UNASSIGN = "DELETE FROM assignment WHERE thread_id = ? AND role = 'assignee'"


def _copy_clock(clock: ClockState) -> ClockState:
    """A shallow copy of a clock: `copy.copy` and `dataclasses.replace` cost several times more."""
    twin = ClockState.__new__(ClockState)
    twin.__dict__.update(clock.__dict__)
    return twin


def _later(known: datetime | None, candidate: datetime) -> datetime:
    return candidate if known is None or candidate > known else known


# Plain strings for comparisons made for every event: an enum member lookup
# costs more than the comparison.
_SEEN, _NEW = TriageState.SEEN.value, TriageState.NEW.value
_STATUS, _DEADLINE, _ASSIGNEE = (
    EventKind.STATUS.value,
    EventKind.DEADLINE.value,
    EventKind.ASSIGNEE.value,
)
_CLOSED, _REOPENED = EventKind.TASK_CLOSED.value, EventKind.TASK_REOPENED.value
# The kinds that set a thread's own state (_apply_to_thread).
_THREAD_STATE_KINDS = frozenset({_STATUS, _DEADLINE, _CLOSED, _REOPENED})
_MESSAGE = EventKind.MESSAGE.value
_KIND_TEXT = {kind: kind.value for kind in EventKind}
# The kinds whose event row holds a value (_Batch._value).
_VALUED_KINDS = frozenset({_STATUS, _DEADLINE, _ASSIGNEE})
# What pmdesk's own staff events send to the client: a reply, a progress report.
_DELIVERED = frozenset({_MESSAGE, EventKind.REPORT.value})
# What `Ingestor.withdraw` takes back: a reply or note, and "no reply needed".
_WITHDRAWABLE = frozenset({_MESSAGE, EventKind.NO_REPLY_NEEDED.value})
_CLIENT, _RUNNING = AuthorRole.CLIENT.value, Outcome.RUNNING.value
_STAFF, _SYSTEM = AuthorRole.STAFF.value, AuthorRole.SYSTEM.value
# An event row's columns besides id and its two instants, as _event_row names them.
_EVENT_VALUES = (
    "source",
    "external_id",
    "thread_id",
    "kind",
    "author_name",
    "author_email",
    "author_role",
    "staff_id",
    "contact_id",
    "text",
    "internal",
    "value",
    "triage",
)
_EVENT_COLUMNS = ("occurred_at", "received_at", *_EVENT_VALUES)
# Positions in an event row (_Batch._event_row) read after it is built.
_R_KIND, _R_NAME, _R_ROLE, _R_STAFF, _R_TEXT, _R_INTERNAL, _R_VALUE = (
    _EVENT_VALUES.index(name)
    for name in ("kind", "author_name", "author_role", "staff_id", "text", "internal", "value")
)
_STATE_KINDS = (
    (_STATUS,),
    (_DEADLINE,),
    (_CLOSED, _REOPENED),
    (_ASSIGNEE,),
)
_CLOCK_COLUMNS = ("id", *CONTENT_FIELDS)
_STOP_COLUMNS = (
    "id",
    "outcome",
    "stopped_at",
    "stopped_by",
    "stopped_by_staff",
    "business_seconds",
    "wall_seconds",
)
_STOP_CLOCK = (
    "UPDATE clock SET " + ", ".join(f"{name} = ?" for name in _STOP_COLUMNS[1:]) + " WHERE id = ?"
)


def _facts(event_id: int, row: Mapping[Any, Any]) -> EventFacts:
    return EventFacts(
        event_id,
        _key(row),
        row["kind"],
        row["author_role"],
        bool(row["internal"]),
        row["staff_id"],
    )


def _key(row: Mapping[Any, Any]) -> OrderKey:
    return order_key(row["occurred_at"], row["source"], row["external_id"])


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()
