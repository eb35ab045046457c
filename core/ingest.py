"""Ingestion: events in, threads, people and clocks updated, in one transaction.

Every source goes through `Ingestor.ingest`. A batch is validated first, then
written in one BEGIN IMMEDIATE transaction: either every valid event of the
batch is stored with its effects, or none is. Each input gets a result:
created, duplicate (the same source and id were stored before) or rejected
with a reason, so a caller can report per line and nothing valid is dropped
because a neighbour was bad.

The hot path uses SQLAlchemy Core with executemany and in-memory caches of
ids: the ORM's unit of work costs more per row than the whole budget of
10,000 events per second allows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from .clocks import ClockState, EventFacts, ThreadClocks, order_key, replay
from .db import write
from .events import EventIn, Rejected, parse_event
from .models import (
    Assignment,
    AuthorRole,
    Client,
    Clock,
    Contact,
    Event,
    EventKind,
    Project,
    Staff,
    StaffEmail,
    Thread,
    ThreadRef,
    TriageState,
    table,
)
from .policies import PolicyBook
from .timeutil import Now, utc_now

Item = str | bytes | dict[str, Any]
Status = Literal["created", "duplicate", "rejected"]
IN_CHUNK = 500  # bound parameters per IN (...) query, well under SQLite's limit
# Actions taken in pmdesk itself (no reply needed, assignments, replies) are
# events of this source, addressed to a thread by its own id.
OWN_SOURCE = "pmdesk"

E, T, C = table(Event), table(Thread), table(Clock)
CLIENT, PROJECT, CONTACT = table(Client), table(Project), table(Contact)
STAFF, EMAILS, REFS, ASSIGNMENT = (
    table(Staff),
    table(StaffEmail),
    table(ThreadRef),
    table(Assignment),
)


@dataclass(frozen=True)
class Result:
    """What became of one input: `index` is its position in what was given."""

    index: int
    status: Status
    event_id: int | None = None
    reason: str | None = None
    source: str | None = None
    external_id: str | None = None


@dataclass
class Summary:
    created: int = 0
    duplicate: int = 0
    rejected: int = 0
    results: list[Result] = field(default_factory=list)

    def add(self, results: Iterable[Result]) -> None:
        for result in results:
            setattr(self, result.status, getattr(self, result.status) + 1)
            if result.status == "rejected":
                self.results.append(result)


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
    last_event_at: datetime | None
    dirty: bool = False


@dataclass
class _Pending:
    """A valid, new event on its way into the database."""

    index: int
    event: EventIn
    raw: str
    thread_id: int = 0
    row: dict[str, Any] = field(default_factory=dict)
    id: int = 0


class Ingestor:
    """Takes events from any source; safe to keep for the life of a process."""

    def __init__(
        self,
        engine: Engine,
        policies: PolicyBook,
        now: Now = utc_now,
        batch_size: int = 2000,
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.now = now
        self.batch_size = batch_size
        self._cache = _IdCache()

    def ingest(self, items: Iterable[Item]) -> list[Result]:
        """Ingest any number of events, `batch_size` per transaction."""
        results: list[Result] = []
        iterator = iter(items)
        while batch := list(islice(iterator, self.batch_size)):
            results.extend(self.ingest_batch(batch, start=len(results)))
        return results

    def ingest_one(self, item: Item) -> Result:
        return self.ingest_batch([item])[0]

    def ingest_batch(self, items: Sequence[Item], start: int = 0) -> list[Result]:
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
        if pending:
            try:
                with write(self.engine) as connection:
                    stored = _Batch(self, connection).run(pending)
            except BaseException:
                # Ids cached during a rolled-back transaction point at nothing.
                self._cache = _IdCache()
                raise
            results.update({result.index: result for result in stored})
        return [results[start + offset] for offset in range(len(items))]


class _IdCache:
    """Ids of rows that exist; rows are never renamed, so ids stay valid."""

    def __init__(self) -> None:
        self.clients: dict[str, tuple[int, str | None]] = {}
        self.client_policy: dict[int, str | None] = {}
        self.projects: dict[tuple[int | None, str], int] = {}
        self.threads: dict[tuple[str, str], int] = {}
        self.staff_by_email: dict[str, int] = {}
        self.staff_by_name: dict[str, int] = {}
        self.contacts: dict[tuple[int | None, str], int] = {}


class _Batch:
    """One transaction's worth of ingestion."""

    def __init__(self, ingestor: Ingestor, connection: Connection) -> None:
        self.ingestor = ingestor
        self.db = connection
        self.cache = ingestor._cache
        self.now = ingestor.now()
        self.threads: dict[int, _ThreadRow] = {}

    def run(self, pending: list[_Pending]) -> list[Result]:
        fresh, results = self._deduplicate(pending)
        if not fresh:
            return results
        for item in list(fresh):
            try:
                item.thread_id = self._thread_for(item.event)
            except Rejected as error:
                fresh.remove(item)
                results.append(Result(item.index, "rejected", reason=error.reason))
                continue
            item.row = self._event_row(item)
        if not fresh:
            return results
        self._insert_events(fresh)
        self._load_threads({item.thread_id for item in fresh})
        self._advance_threads(fresh)
        self._write_threads()
        results.extend(
            Result(
                item.index,
                "created",
                event_id=item.id,
                source=item.event.source,
                external_id=item.event.id,
            )
            for item in fresh
        )
        return results

    # -- deduplication ------------------------------------------------------

    def _deduplicate(self, pending: list[_Pending]) -> tuple[list[_Pending], list[Result]]:
        by_source: dict[str, set[str]] = defaultdict(set)
        for item in pending:
            by_source[item.event.source].add(item.event.id)
        stored: dict[tuple[str, str], int] = {}
        for source, ids in by_source.items():
            for chunk in _chunks(sorted(ids)):
                query = select(E.c.external_id, E.c.id).where(
                    E.c.source == source, E.c.external_id.in_(chunk)
                )
                stored.update({(source, ext): id_ for ext, id_ in self.db.execute(query)})
        fresh: list[_Pending] = []
        results: list[Result] = []
        seen: set[tuple[str, str]] = set()
        for item in pending:
            key = (item.event.source, item.event.id)
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

    # -- entities -----------------------------------------------------------

    def _client(self, name: str | None) -> tuple[int | None, str | None]:
        if name is None:
            return None, None
        cached = self.cache.clients.get(name)
        if cached is None:
            row = self.db.execute(
                select(CLIENT.c.id, CLIENT.c.policy).where(CLIENT.c.name == name)
            ).first()
            if row is not None:
                cached = (row.id, row.policy)
            else:
                policy, language = self.ingestor.policies.for_new_client(name)
                statement = insert(CLIENT).values(
                    name=name, language=language, policy=policy, created_at=self.now
                )
                cached = (self._insert(statement, CLIENT), policy)
            self.cache.clients[name] = cached
            self.cache.client_policy[cached[0]] = cached[1]
        return cached

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

    def _thread_for(self, event: EventIn) -> int:
        key = (event.source, event.task.id)
        thread_id = self.cache.threads.get(key)
        if thread_id is None:
            thread_id = self.db.execute(
                select(REFS.c.thread_id).where(
                    REFS.c.source == event.source, REFS.c.external_id == event.task.id
                )
            ).scalar()
            if thread_id is None:
                if event.source == OWN_SOURCE:
                    raise Rejected(f"task.id: no thread {event.task.id!r}")
                thread_id = self._create_thread(event)
            self.cache.threads[key] = thread_id
        return thread_id

    def _create_thread(self, event: EventIn) -> int:
        client_id, _ = self._client(event.client)
        project_id = self._project(client_id, event.project)
        statement = insert(T).values(
            kind=event.task.kind.value,
            channel=event.source,
            title=event.task.title or f"{event.source} {event.task.id}",
            url=event.task.url,
            client_id=client_id,
            project_id=project_id,
            created_at=self.now,
        )
        thread_id = self._insert(statement, T)
        self.db.execute(
            insert(REFS),
            [
                {"source": event.source, "external_id": event.task.id, "thread_id": thread_id},
                {"source": OWN_SOURCE, "external_id": str(thread_id), "thread_id": thread_id},
            ],
        )
        return thread_id

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

    def _event_row(self, item: _Pending) -> dict[str, Any]:
        event = item.event
        author = event.author
        staff_id = contact_id = None
        role = AuthorRole.SYSTEM.value
        if author is not None:
            role = author.role
            if author.role == "staff":
                staff_id = self._staff(author.name, author.email)
            else:
                client_id, _ = self._client(event.client)
                contact_id = self._contact(client_id, author.key, author.display_name, author.email)
        return {
            "source": event.source,
            "external_id": event.id,
            "thread_id": item.thread_id,
            "kind": event.kind.value,
            "occurred_at": event.occurred_at,
            "received_at": self.now,
            "author_name": author.display_name if author else None,
            "author_email": author.email if author else None,
            "author_role": role,
            "staff_id": staff_id,
            "contact_id": contact_id,
            "text": event.text,
            "internal": event.internal,
            "value": self._value(event),
            "raw": item.raw,
            "triage": (
                TriageState.SEEN.value if role == AuthorRole.STAFF else TriageState.NEW.value
            ),
        }

    def _value(self, event: EventIn) -> str | None:
        if event.kind is EventKind.STATUS:
            return event.status
        if event.kind is EventKind.DEADLINE:
            return _iso(event.deadline)
        if event.kind is EventKind.ASSIGNEE:
            if event.assignee is None:
                return ""  # unassigned
            return str(self._staff(event.assignee.name, event.assignee.email))
        return None

    def _insert_events(self, fresh: list[_Pending]) -> None:
        statement = insert(E).returning(E.c.id, sort_by_parameter_order=True)
        ids = self.db.execute(statement, [item.row for item in fresh]).scalars().all()
        for item, event_id in zip(fresh, ids, strict=True):
            item.id = event_id

    # -- threads and clocks -------------------------------------------------

    def _load_threads(self, thread_ids: set[int]) -> None:
        columns = [T.c[name] for name in _ThreadRow.__dataclass_fields__ if name != "dirty"]
        for chunk in _chunks(sorted(thread_ids)):
            for row in self.db.execute(select(*columns).where(T.c.id.in_(chunk))):
                self.threads[row.id] = _ThreadRow(**row._mapping)

    def _advance_threads(self, fresh: list[_Pending]) -> None:
        by_thread: dict[int, list[_Pending]] = defaultdict(list)
        for item in fresh:
            by_thread[item.thread_id].append(item)
        in_order: dict[int, list[_Pending]] = {}
        replays: list[int] = []
        for thread_id, items in by_thread.items():
            items.sort(key=lambda item: _key(item.row))
            self._fill_thread_details(self.threads[thread_id], items)
            last = self.threads[thread_id].last_event_at
            if last is None or items[0].event.occurred_at > last:
                in_order[thread_id] = items
            else:
                # An event older than what the thread has seen: its clocks
                # and state are rebuilt from all its events, in order.
                replays.append(thread_id)
        self._advance_in_order(in_order)
        for thread_id in replays:
            self._replay(thread_id)

    def _fill_thread_details(self, thread: _ThreadRow, items: list[_Pending]) -> None:
        """A later event may name a client, project, title or URL the first did not."""
        for item in items:
            event = item.event
            if thread.client_id is None and event.client:
                thread.client_id, _ = self._client(event.client)
                thread.dirty = True
            if thread.project_id is None and event.project:
                thread.project_id = self._project(thread.client_id, event.project)
                thread.dirty = True
            newest = thread.last_event_at is None or event.occurred_at >= thread.last_event_at
            if event.task.title and event.task.title != thread.title and newest:
                thread.title, thread.dirty = event.task.title, True
            if event.task.url and event.task.url != thread.url:
                thread.url, thread.dirty = event.task.url, True

    def _policy_of(self, thread: _ThreadRow) -> str | None:
        if thread.client_id is None:
            return None
        if thread.client_id not in self.cache.client_policy:
            self.cache.client_policy[thread.client_id] = self.db.execute(
                select(CLIENT.c.policy).where(CLIENT.c.id == thread.client_id)
            ).scalar()
        return self.cache.client_policy[thread.client_id]

    def _advance_in_order(self, in_order: dict[int, list[_Pending]]) -> None:
        if not in_order:
            return
        running: dict[int, ClockState] = {}
        with_clocks: set[int] = set()
        for chunk in _chunks(sorted(in_order)):
            rows = self.db.execute(
                select(C).where(C.c.thread_id.in_(chunk), C.c.outcome == "running")
            )
            running.update({row.thread_id: ClockState.from_row(row) for row in rows})
            with_clocks.update(
                self.db.execute(
                    select(C.c.thread_id).where(C.c.thread_id.in_(chunk)).distinct()
                ).scalars()
            )
        touched: list[ClockState] = []
        for thread_id, items in in_order.items():
            thread = self.threads[thread_id]
            policy = self.ingestor.policies.get(self._policy_of(thread))
            clocks = ThreadClocks(
                thread_id, policy, running.get(thread_id), thread_id in with_clocks
            )
            for item in items:
                clocks.apply(_facts(item.id, item.row))
                _apply_to_thread(thread, item.row)
            self._set_assignee(thread_id, items)
            touched.extend(clocks.touched)
        self._write_clocks(touched)

    def _set_assignee(self, thread_id: int, items: Sequence[_Pending | dict[str, Any]]) -> None:
        rows = [item.row if isinstance(item, _Pending) else item for item in items]
        changes = [row for row in rows if row["kind"] == EventKind.ASSIGNEE]
        if not changes:
            return
        latest = changes[-1]
        self.db.execute(
            delete(ASSIGNMENT).where(
                ASSIGNMENT.c.thread_id == thread_id, ASSIGNMENT.c.role == "assignee"
            )
        )
        if latest["value"]:
            self.db.execute(
                insert(ASSIGNMENT).values(
                    thread_id=thread_id,
                    staff_id=int(latest["value"]),
                    role="assignee",
                    since=latest["occurred_at"],
                )
            )

    def _replay(self, thread_id: int) -> None:
        thread = self.threads[thread_id]
        rows = [
            dict(row._mapping)
            for row in self.db.execute(
                select(
                    E.c.id,
                    E.c.source,
                    E.c.external_id,
                    E.c.kind,
                    E.c.occurred_at,
                    E.c.author_role,
                    E.c.internal,
                    E.c.staff_id,
                    E.c.value,
                ).where(E.c.thread_id == thread_id)
            )
        ]
        rows.sort(key=_key)
        thread.status = thread.deadline = thread.last_event_at = None
        thread.closed = False
        for row in rows:
            _apply_to_thread(thread, row)
        self._set_assignee(thread_id, rows)
        policy = self.ingestor.policies.get(self._policy_of(thread))
        wanted = replay(thread_id, [_facts(row["id"], row) for row in rows], policy)
        existing = {
            row.opened_by: row.id
            for row in self.db.execute(
                select(C.c.id, C.c.opened_by).where(C.c.thread_id == thread_id)
            )
        }
        for clock in wanted:
            clock.id = existing.pop(clock.opened_by, None)
        if existing:
            self.db.execute(delete(C).where(C.c.id.in_(list(existing.values()))))
        self._write_clocks(wanted)

    def _write_clocks(self, clocks: list[ClockState]) -> None:
        new = [clock.row() for clock in clocks if clock.id is None]
        changed = [clock.row() for clock in clocks if clock.id is not None]
        if new:
            self.db.execute(insert(C), new)
        if changed:
            fields = [name for name in changed[0] if name != "id"]
            statement = (
                update(C)
                .where(C.c.id == bindparam("_id"))
                .values({name: bindparam(name) for name in fields})
            )
            self.db.execute(statement, [{**row, "_id": row["id"]} for row in changed])

    def _write_threads(self) -> None:
        rows = [thread for thread in self.threads.values() if thread.dirty]
        if not rows:
            return
        fields = ["client_id", "project_id", "title", "url", "status", "deadline", "closed"]
        statement = (
            update(T)
            .where(T.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in [*fields, "last_event_at"]})
        )
        self.db.execute(
            statement,
            [
                {
                    "_id": thread.id,
                    "last_event_at": thread.last_event_at,
                    **{name: getattr(thread, name) for name in fields},
                }
                for thread in rows
            ],
        )


def _apply_to_thread(thread: _ThreadRow, row: dict[str, Any]) -> None:
    """Thread state follows its events in order: the last word wins."""
    kind = row["kind"]
    if kind == EventKind.STATUS:
        thread.status = row["value"]
    elif kind == EventKind.DEADLINE:
        thread.deadline = row["value"]
    elif kind == EventKind.TASK_CLOSED:
        thread.closed = True
    elif kind == EventKind.TASK_REOPENED:
        thread.closed = False
    if thread.last_event_at is None or row["occurred_at"] > thread.last_event_at:
        thread.last_event_at = row["occurred_at"]
    thread.dirty = True


def _facts(event_id: int, row: dict[str, Any]) -> EventFacts:
    return EventFacts(
        id=event_id,
        key=_key(row),
        kind=row["kind"],
        role=row["author_role"],
        internal=bool(row["internal"]),
        staff_id=row["staff_id"],
    )


def _key(row: dict[str, Any]) -> Any:
    return order_key(row["occurred_at"], row["source"], row["external_id"])


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def read_json_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each non-blank line of a JSON Lines stream."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped:
            yield number, stripped


def dumps_result(result: Result) -> str:
    return json.dumps(result.__dict__)
