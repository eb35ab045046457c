"""The incoming feed: what arrived, newest first, read a page or a trickle at a time.

The dashboard shows the latest few hundred events and then asks only for
rows after the newest id it holds, so a live feed over a million events
costs one indexed range read per change, never a reload. On PostgreSQL an
event may commit after a newer one was read (`FeedCursor`): the ids missing
below the newest are asked for again, by primary key, for a while.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.base.kinds import EventKind
from core.store.reader import Reader, Row, commits_in_id_order, required_instant

# Rows the dashboard keeps: the panel shows twenty or so, and every row is
# laid out at start; older events are a thread away.
FEED_PAGE = 150

# PostgreSQL takes an event's id as the row is inserted, not as it commits: a
# writer may commit id 100 after another committed 101 and a live feed moved
# past it. Ids missing below the newest read are asked for again with every
# change for this long (far longer than a writer's transaction lasts; an id
# that never commits -- an insert rolled back, a duplicate skipped -- is let
# go then) ...
LATE_SECONDS = 600.0
# ... and no further below the newest id than this: the feed keeps 150 rows,
# and an import in flight beneath a small commit must not make every read ask
# for tens of thousands of ids.
LATE_SPAN = 1000

_ASSIGNEE = (
    "(SELECT min(s.name) FROM assignment a JOIN staff s ON s.id = a.staff_id"
    " WHERE a.thread_id = e.thread_id AND a.role = 'assignee')"
)

_SELECT = f"""
SELECT e.id, e.thread_id, e.occurred_at, cl.name, p.name, t.title, e.kind,
       e.author_name, e.author_role, e.text, e.internal, e.triage, {_ASSIGNEE}
  FROM event e
  JOIN thread t ON t.id = e.thread_id
  LEFT JOIN client cl ON cl.id = t.client_id
  LEFT JOIN project p ON p.id = t.project_id
"""


@dataclass(frozen=True)
class FeedFilter:
    """Narrow the feed; None means any. `assignee` is a staff member's name."""

    kind: str | None = None
    client: str | None = None
    assignee: str | None = None
    unread: bool = False  # only events nobody has looked at yet
    from_client: bool = False  # only what clients wrote
    # Words found in the event's text, its thread's title or its client's name.
    search: str | None = None

    @property
    def active(self) -> bool:
        return any(
            (self.kind, self.client, self.assignee, self.unread, self.from_client, self.search)
        )

    def where(self) -> tuple[list[str], dict[str, object]]:
        clauses: list[str] = []
        params: dict[str, object] = {}
        if self.kind:
            clauses.append("e.kind = :kind")
            params["kind"] = self.kind
        if self.client:
            clauses.append("cl.name = :client")
            params["client"] = self.client
        if self.assignee:
            clauses.append(f"{_ASSIGNEE} = :assignee")
            params["assignee"] = self.assignee
        if self.unread:
            clauses.append("e.triage = 'new'")
        if self.from_client:
            clauses.append("e.author_role = 'client'")
        if self.search:
            # Taken literally (% and _ typed are not wildcards), in any case on any database.
            literal = re.sub(r"([\\%_])", r"\\\1", self.search.lower())
            clauses.append(
                "(" + " OR ".join(
                    f"lower({column}) LIKE :search ESCAPE '\\'"
                    for column in ("e.text", "t.title", "cl.name")
                ) + ")"
            )  # fmt: skip
            params["search"] = f"%{literal}%"
        return clauses, params


@dataclass(frozen=True)
class FeedItem:
    id: int
    thread_id: int
    occurred_at: datetime
    client: str | None
    project: str | None
    thread: str
    kind: str
    author: str | None
    author_role: str
    text: str
    internal: bool
    triage: str
    assignee: str | None

    @property
    def from_client(self) -> bool:
        return self.author_role == "client"

    @property
    def unread(self) -> bool:
        return self.triage == "new"

    @classmethod
    def from_row(cls, row: Row) -> FeedItem:
        return cls(
            id=row[0],
            thread_id=row[1],
            occurred_at=required_instant(row[2]),
            client=row[3],
            project=row[4],
            thread=row[5],
            kind=row[6],
            author=row[7],
            author_role=row[8],
            text=row[9],
            internal=bool(row[10]),
            triage=row[11],
            assignee=row[12],
        )


def latest_events(
    reader: Reader, feed: FeedFilter | None = None, after_id: int = 0, limit: int = FEED_PAGE
) -> list[FeedItem]:
    """The newest events matching `feed`, newest first; only those after `after_id` if given."""
    clauses, params = (feed or FeedFilter()).where()
    if after_id:
        clauses.append("e.id > :after")
        params["after"] = after_id
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"{_SELECT}{where} ORDER BY e.id DESC LIMIT {int(limit)}"
    return [FeedItem.from_row(row) for row in reader.rows(sql, params)]


@dataclass(frozen=True)
class FeedCursor:
    """Where a live feed stands: every event up to `after` read, but those in `missing`.

    `missing`: ids below `after` not committed when last read, each with the
    time (time.monotonic()) it was first found missing. Always empty on SQLite.
    """

    after: int = 0
    missing: Mapping[int, float] = field(default_factory=dict)


def feed_page(reader: Reader, feed: FeedFilter, now: float) -> tuple[list[FeedItem], FeedCursor]:
    """The feed from the top (`latest_events`), and where the reads of what comes next start."""
    if commits_in_id_order(reader):
        items = latest_events(reader, feed)
        return items, FeedCursor(max([item.id for item in items] + [newest_event_id(reader)]))
    seen, items, low = _read_above(reader, feed, 0)
    return items, _moved(FeedCursor(), seen, low, now)


def feed_since(
    reader: Reader, feed: FeedFilter, cursor: FeedCursor, now: float
) -> tuple[list[FeedItem], FeedCursor]:
    """The events committed since `cursor` (newest first, each once), and the cursor moved on."""
    if commits_in_id_order(reader):
        items = latest_events(reader, feed, after_id=cursor.after)
        return items, FeedCursor(max([item.id for item in items] + [cursor.after]))
    found: set[int] = set()
    if cursor.missing:  # before the events, as in `_read_above`
        found = _ids(
            reader, "SELECT id FROM event WHERE id = ANY(:ids)", {"ids": list(cursor.missing)}
        )
    seen, items, low = _read_above(reader, feed, cursor.after)
    if found:
        # Below every id read before: the panel puts them in their place.
        items += _events_with_ids(reader, feed, sorted(found))
    return items, _moved(cursor, seen | found, low, now)


def _read_above(
    reader: Reader, feed: FeedFilter, after: int
) -> tuple[set[int], list[FeedItem], int]:
    """The events above `after` (all if 0), the ids known committed, and the id those start above.

    Unfiltered, the events read in one statement are every id committed above
    `after`, or the newest page of them: the ids below a full page would fall
    off the panel under it anyway. With a filter, the ids are read first: an
    event committed in between is then read with the others, or found missing
    and asked for next time, but never taken for seen unread.
    """
    if not feed.active:
        items = latest_events(reader, feed, after_id=after)
        seen = {item.id for item in items}
        return seen, items, min(seen) - 1 if len(items) == FEED_PAGE else after
    committed = _ids(
        reader,
        f"SELECT id FROM event WHERE id > :after ORDER BY id DESC LIMIT {LATE_SPAN}",
        {"after": after},
    )
    items = latest_events(reader, feed, after_id=after)
    return committed | {item.id for item in items}, items, after


def _moved(cursor: FeedCursor, seen: set[int], low: int, now: float) -> FeedCursor:
    """`cursor` past the ids `seen`; those above `low` skipped over are missing from now on."""
    after = max(seen | {cursor.after})
    floor = after - LATE_SPAN
    missing = {
        id_: since
        for id_, since in cursor.missing.items()
        if id_ not in seen and id_ > floor and now - since < LATE_SECONDS
    }
    for id_ in range(max(low, floor, 0) + 1, after):
        if id_ not in seen:
            missing[id_] = now
    return FeedCursor(after, missing)


def _ids(reader: Reader, sql: str, params: dict[str, object] | None = None) -> set[int]:
    return {int(row[0]) for row in reader.rows(sql, params)}


def _events_with_ids(reader: Reader, feed: FeedFilter, ids: list[int]) -> list[FeedItem]:
    """The events among `ids` matching `feed`, newest first (PostgreSQL: an array parameter)."""
    clauses, params = feed.where()
    clauses.append("e.id = ANY(:ids)")
    params["ids"] = ids
    sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY e.id DESC LIMIT {FEED_PAGE}"
    return [FeedItem.from_row(row) for row in reader.rows(sql, params)]


def unread_count(reader: Reader, feed: FeedFilter | None = None) -> int:
    """Events nobody has looked at yet (staff events arrive already seen), among `feed`'s."""
    clauses, params = (feed or FeedFilter()).where()
    if not clauses:  # the usual case: no join
        rows = reader.rows("SELECT count(*) FROM event WHERE triage = 'new'")
        return int(rows[0][0])
    where = " AND ".join(["e.triage = 'new'", *clauses])
    rows = reader.rows(
        "SELECT count(*) FROM event e JOIN thread t ON t.id = e.thread_id"
        f" LEFT JOIN client cl ON cl.id = t.client_id WHERE {where}",
        params,
    )
    return int(rows[0][0])


def newest_event_id(reader: Reader) -> int:
    rows = reader.rows("SELECT max(id) FROM event")
    return int(rows[0][0] or 0)


def feed_choices(reader: Reader) -> dict[str, list[str]]:
    """What the feed can be filtered by: kinds seen, clients, and staff names."""
    return {
        # The known kinds rather than a DISTINCT over every event: a full scan.
        "kind": [kind.value for kind in EventKind],
        "client": [row[0] for row in reader.rows("SELECT name FROM client ORDER BY name")],
        "assignee": [
            row[0] for row in reader.rows("SELECT name FROM staff WHERE active ORDER BY name")
        ],
    }
