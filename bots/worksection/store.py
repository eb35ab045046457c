"""What the Worksection connector keeps: webhook inbox, task cache, tag snapshots, poll cursors.

No network here: `bots/` talks to Worksection and calls these to remember.

- **inbox**: every item a webhook delivers is stored first (one row per
  item; a request's items commit together) and processed afterwards, so the
  webhook answers within Worksection's 5 seconds whatever the processing
  costs, and a crash between the two loses nothing.
- **task cache**: webhook and event-log items carry no task title; the
  connector asks `get_task` once and keeps the answer here, refreshed by
  renames and by every tag poll.
- **tag snapshots**: tag changes made in Worksection's interface fire no
  webhook; the poller compares each project's `get_tasks` with the tags kept here.
- **cursors**: when each poll last succeeded; the next one reaches back
  from there (with an overlap), and `/healthz` reports how far behind it is.
- **tokens**: with OAuth2, the access and refresh tokens last renewed
  (bots.worksection.oauth), so a restart goes on with them.
- **echoes**: a reply posted with `post_comment` comes back as a comment;
  `claim_echo` recognises it by the comment id the delivery recorded, or,
  when the delivery was never recorded, by thread, author and text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.base.kinds import DeliveryStatus
from core.store.db import chunks, write
from core.store.models.outbox import Delivery
from core.store.models.staff import StaffEmail
from core.store.models.system import table
from core.store.models.threads import Event, ThreadRef
from core.store.models.worksection import (
    WorksectionCursor,
    WorksectionInbox,
    WorksectionTask,
    WorksectionToken,
)
from core.store.reader import instant

SOURCE = "worksection"
EVENTS_POLL, TAGS_POLL = "events", "tags"

INBOX, TASKS, CURSORS = table(WorksectionInbox), table(WorksectionTask), table(WorksectionCursor)
TOKENS = table(WorksectionToken)
DELIVERY, EVENT, REFS, EMAILS = table(Delivery), table(Event), table(ThreadRef), table(StaffEmail)

PENDING, DONE, IGNORED, FAILED = "pending", "done", "ignored", "failed"


@dataclass(frozen=True)
class InboxItem:
    id: int
    body: str


@dataclass(frozen=True)
class TaskInfo:
    """A Worksection task as the connector needs it for events."""

    task_id: str
    title: str
    page: str | None = None
    project_id: str | None = None
    project_name: str | None = None


@dataclass(frozen=True)
class TagState:
    tags: tuple[str, ...] | None
    version: int
    # The task as stored: a poll that finds it unchanged has nothing to write.
    info: TaskInfo | None = None


# -- inbox --------------------------------------------------------------------


def store_inbox(
    engine: Engine, bodies: Sequence[str], now: datetime, error: str | None = None
) -> list[int]:
    """Keep what a webhook delivered, in one transaction; the new rows' ids.

    With `error`, the rows are stored as failed (a body that was not JSON):
    kept for a person to look at, never processed.
    """
    [ids] = store_inbox_groups(engine, [(bodies, error)], now)
    return ids


def store_inbox_groups(
    engine: Engine, groups: Sequence[tuple[Sequence[str], str | None]], now: datetime
) -> list[list[int]]:
    """Several deliveries' items (each with its error, if any) in one transaction.

    One commit for many requests: under a burst of webhooks, the commit,
    not the rows, is what costs.
    """
    rows = [
        {
            "received_at": now,
            "body": body,
            "status": FAILED if error is not None else PENDING,
            "error": error,
        }
        for bodies, error in groups
        for body in bodies
    ]
    if not rows:
        return [[] for _ in groups]
    with write(engine) as connection:
        ids = [
            int(row[0])
            for row in connection.execute(
                insert(INBOX).returning(INBOX.c.id, sort_by_parameter_order=True), rows
            )
        ]
    found: list[list[int]] = []
    for bodies, _ in groups:
        found.append(ids[: len(bodies)])
        ids = ids[len(bodies) :]
    return found


def pending_inbox(engine: Engine, limit: int = 200) -> list[InboxItem]:
    """Items still to process, in the order they arrived."""
    query = (
        select(INBOX.c.id, INBOX.c.body)
        .where(INBOX.c.status == PENDING)
        .order_by(INBOX.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [InboxItem(row.id, row.body) for row in connection.execute(query)]


def finish_inbox(
    engine: Engine, outcomes: Iterable[tuple[int, str, str | None]], now: datetime
) -> None:
    """Record what became of items: (id, done | ignored | failed, why)."""
    rows = [{"row": row, "st": status, "why": why} for row, status, why in outcomes]
    if not rows:
        return
    statement = (
        update(INBOX)
        .where(INBOX.c.id == bindparam("row"))
        .values(status=bindparam("st"), error=bindparam("why"), processed_at=now)
    )
    with write(engine) as connection:
        connection.execute(statement, rows)


def inbox_counts(engine: Engine) -> dict[str, int]:
    """How many inbox rows are in each state."""
    query = select(INBOX.c.status, func.count()).group_by(INBOX.c.status)
    with engine.connect() as connection:
        return {status: count for status, count in connection.execute(query)}


# -- task cache and tag snapshots --------------------------------------------


def cached_tasks(engine: Engine, task_ids: Iterable[str]) -> dict[str, TaskInfo]:
    wanted = sorted(set(task_ids))
    found: dict[str, TaskInfo] = {}
    with engine.connect() as connection:
        for chunk in chunks(wanted):
            query = select(
                TASKS.c.task_id,
                TASKS.c.title,
                TASKS.c.page,
                TASKS.c.project_id,
                TASKS.c.project_name,
            ).where(TASKS.c.task_id.in_(chunk))
            for row in connection.execute(query):
                found[row.task_id] = TaskInfo(**row._mapping)
    return found


def remember_tasks(engine: Engine, tasks: Iterable[TaskInfo], now: datetime) -> None:
    """Keep (or refresh) tasks' titles and projects; their tag snapshots are left alone."""
    rows = [_task_row(task, now) for task in tasks]
    if not rows:
        return
    with write(engine) as connection:
        connection.execute(
            _upsert(
                connection,
                TASKS,
                ["task_id"],
                ["title", "page", "project_id", "project_name", "fetched_at"],
            ),
            rows,
        )


def tag_states(engine: Engine, task_ids: Sequence[str] | None = None) -> dict[str, TagState]:
    """Stored tags (None: never seen by a tag poll) and change count, of these tasks or all."""
    query = select(
        TASKS.c.task_id,
        TASKS.c.tags,
        TASKS.c.tags_version,
        TASKS.c.title,
        TASKS.c.page,
        TASKS.c.project_id,
        TASKS.c.project_name,
    )
    groups = (
        [query]
        if task_ids is None
        else [query.where(TASKS.c.task_id.in_(part)) for part in chunks(list(task_ids))]
    )
    with engine.connect() as connection:
        rows = [row for group in groups for row in connection.execute(group).all()]
    # Tasks mostly share a few tag sets: each distinct one is read once.
    read: dict[str | None, tuple[str, ...] | None] = {None: None}
    states: dict[str, TagState] = {}
    for task_id, tags, version, title, page, project_id, project_name in rows:
        if tags not in read:
            read[tags] = tuple(json.loads(tags))
        states[task_id] = TagState(
            read[tags], version, TaskInfo(task_id, title, page, project_id, project_name)
        )
    return states


def save_tags(
    engine: Engine, seen: Iterable[tuple[TaskInfo, Sequence[str], int]], now: datetime
) -> None:
    """Store tasks as a tag poll saw them: (task, its tags, the change count reached)."""
    rows = [
        {
            **_task_row(task, now),
            "tags": json.dumps(sorted(tags), ensure_ascii=False),
            "tags_version": version,
        }
        for task, tags, version in seen
    ]
    if not rows:
        return
    columns = ["title", "page", "project_id", "project_name", "fetched_at", "tags", "tags_version"]
    with write(engine) as connection:
        connection.execute(_upsert(connection, TASKS, ["task_id"], columns), rows)


def _task_row(task: TaskInfo, now: datetime) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "title": task.title,
        "page": task.page,
        "project_id": task.project_id,
        "project_name": task.project_name,
        "fetched_at": now,
    }


# -- poll cursors ---------------------------------------------------------------


def last_success(engine: Engine, name: str) -> datetime | None:
    with engine.connect() as connection:
        value = connection.execute(
            select(CURSORS.c.succeeded_at).where(CURSORS.c.name == name)
        ).scalar()
    return instant(value)


def record_success(engine: Engine, name: str, at: datetime) -> None:
    with write(engine) as connection:
        connection.execute(
            _upsert(connection, CURSORS, ["name"], ["succeeded_at"]),
            [{"name": name, "succeeded_at": at}],
        )


def poll_lag(engine: Engine, now: datetime) -> float | None:
    """Seconds since the event log was last polled successfully; None if it never was."""
    last = last_success(engine, EVENTS_POLL)
    return None if last is None else max(0.0, (now - last).total_seconds())


# -- OAuth2 tokens --------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    configured: str


def load_tokens(engine: Engine) -> Tokens | None:
    """The OAuth2 tokens last renewed, if any."""
    with engine.connect() as connection:
        row = connection.execute(select(TOKENS).where(TOKENS.c.name == "oauth")).first()
    if row is None:
        return None
    expires_at = instant(row.expires_at)
    assert expires_at is not None
    return Tokens(row.access_token, row.refresh_token, expires_at, row.configured)


def save_tokens(engine: Engine, tokens: Tokens, now: datetime) -> None:
    """Keep renewed tokens (the old refresh token no longer works once renewed)."""
    columns = ["access_token", "refresh_token", "expires_at", "configured", "refreshed_at"]
    row = {
        "name": "oauth",
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at,
        "configured": tokens.configured,
        "refreshed_at": now,
    }
    with write(engine) as connection:
        connection.execute(_upsert(connection, TOKENS, ["name"], columns), [row])


# -- people and echoes ----------------------------------------------------------


def staff_emails(engine: Engine) -> set[str]:
    """Every address registered to a staff member (lower case)."""
    with engine.connect() as connection:
        return {email.lower() for email in connection.execute(select(EMAILS.c.email)).scalars()}


def reply_author_email(engine: Engine, event_id: int) -> str | None:
    """The email the reply of event `event_id` was written under."""
    with engine.connect() as connection:
        found: str | None = connection.execute(
            select(EVENT.c.author_email).where(EVENT.c.id == event_id)
        ).scalar()
    return found


def claim_echo(
    engine: Engine,
    task_id: str,
    comment_id: str,
    text: str,
    email: str | None,
    now: datetime,
) -> int | None:
    """If the comment is one of our replies coming back, the reply's event id; else None.

    Known by the comment id its delivery recorded. Failing that (the
    comment was posted but the process stopped before recording it), a
    reply on the same task by the same author with the same text whose
    delivery recorded no comment id is the one: it is marked delivered
    with this comment's id, so it is not posted a second time.
    """
    with write(engine) as connection:
        known = connection.execute(
            select(DELIVERY.c.event_id).where(
                DELIVERY.c.channel == SOURCE, DELIVERY.c.channel_message_id == comment_id
            )
        ).scalar()
        if known is not None:
            return int(known)
        candidates = connection.execute(
            select(DELIVERY.c.event_id, DELIVERY.c.status, EVENT.c.text, EVENT.c.author_email)
            .select_from(
                DELIVERY.join(EVENT, EVENT.c.id == DELIVERY.c.event_id).join(
                    REFS, REFS.c.thread_id == DELIVERY.c.thread_id
                )
            )
            .where(
                DELIVERY.c.channel == SOURCE,
                DELIVERY.c.channel_message_id.is_(None),
                DELIVERY.c.status != DeliveryStatus.FAILED.value,
                REFS.c.source == SOURCE,
                REFS.c.external_id == task_id,
            )
            .order_by(DELIVERY.c.event_id)
        ).all()
        for event_id, status, said, author_email in candidates:
            same_author = email is None or (author_email or "").lower() == email.lower()
            if same_author and said.strip() == text.strip():
                values: dict[str, Any] = {"channel_message_id": comment_id, "updated_at": now}
                if status == DeliveryStatus.PENDING.value:
                    values.update(
                        status=DeliveryStatus.DELIVERED.value,
                        delivered_at=now,
                        next_attempt_at=None,
                    )
                connection.execute(
                    update(DELIVERY).where(DELIVERY.c.event_id == event_id).values(**values)
                )
                return int(event_id)
    return None


# -- shared ---------------------------------------------------------------------


def _upsert(connection: Connection, into: Table, keys: list[str], columns: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns = the new values."""
    name = connection.dialect.name
    if name == "sqlite":
        statement = sqlite.insert(into)
        return statement.on_conflict_do_update(
            index_elements=keys, set_={column: statement.excluded[column] for column in columns}
        )
    if name == "postgresql":
        pg = postgresql.insert(into)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={column: pg.excluded[column] for column in columns}
        )
    raise NotImplementedError(f"the Worksection connector needs SQLite or PostgreSQL, not {name}")
