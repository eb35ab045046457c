"""Make pmdesk's copy of a window of logged time equal to Worksection's answer.

A window is the days `since`..`until` (both included), of the whole
account or of one project. What the answer holds is inserted or updated by
row id; what pmdesk holds in the window and the answer no longer does is
deleted (deleted in Worksection, or moved out of the window). Applying the
same answer twice changes nothing. A malformed row is refused alone, logged
the first time it is seen (`TimeRefusal`), and any copy of it pmdesk had is
dropped: the copy is equal to what Worksection says, never to a guess.
The monthly sums of the months it changed are made equal to the rows in
the same transaction (core.time.sums).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from core.base.instants import Now, utc_now
from core.store.db import write
from core.store.models.system import table
from core.store.models.time import TimeRefusal, TimeRow
from core.time.rows import BadRow, TimeEntry, read_row
from core.time.sums import refresh

log = logging.getLogger("pmdesk.time")

# Rows written per statement.
BATCH = 1_000
ROWS, REFUSALS = table(TimeRow), table(TimeRefusal)
_COMPARED = tuple(name for name in TimeRow.model_fields if name not in ("id", "synced_at"))


@dataclass
class SyncSummary:
    """What a sync did: rows added, changed, removed, and refused (id, reason)."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)

    def __iadd__(self, other: SyncSummary) -> SyncSummary:
        self.added += other.added
        self.changed += other.changed
        self.removed += other.removed
        self.unchanged += other.unchanged
        self.refused.extend(other.refused)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "refused": [{"id": row_id, "reason": reason} for row_id, reason in self.refused],
        }


def apply_window(
    engine: Engine,
    answer: Iterable[Mapping[str, Any]],
    since: date,
    until: date,
    *,
    project_id: str | None = None,
    clock: Now = utc_now,
) -> SyncSummary:
    """Make the stored rows of `since`..`until` (of `project_id`) equal to `answer`."""
    if until < since:
        raise ValueError("the window ends before it starts")
    now = clock()
    summary = SyncSummary()
    entries: dict[str, TimeEntry] = {}
    bad: dict[str, BadRow] = {}
    for data in answer:
        try:
            entry = read_row(data)
        except BadRow as error:
            if error.row_id is None:
                log.warning("a time row without an id was refused")
                summary.refused.append(("?", error.reason))
            else:
                bad[error.row_id] = error
            continue
        if since <= entry.day <= until and (project_id is None or entry.project_id == project_id):
            entries[entry.id] = entry
    window = (ROWS.c.day >= since) & (ROWS.c.day <= until)
    if project_id is not None:
        window &= ROWS.c.project_id == project_id
    columns = [ROWS.c[name] for name in ("id", *_COMPARED)]
    # A writer's transaction (BEGIN IMMEDIATE on SQLite): it reads the window
    # before it writes, and a deferred one fails at its first write, without
    # waiting, when another connection committed since its read.
    with write(engine) as connection:
        held = {
            row[0]: tuple(row[1:]) for row in connection.execute(select(*columns).where(window))
        }
        added: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for row_id, entry in entries.items():
            values = entry.stored()
            old = held.get(row_id)
            if old is None:
                added.append({**values, "synced_at": now})
            elif old != tuple(values[name] for name in _COMPARED):
                changed.append({**values, "synced_at": now})
            else:
                summary.unchanged += 1
        gone = [row_id for row_id in held if row_id not in entries]
        # A row edited into the window from outside it is held under its id already.
        moved = _existing(connection, [values["id"] for values in added])
        for values in [values for values in added if values["id"] in moved]:
            added.remove(values)
            changed.append(values)
        stale = list(bad)
        # The months whose sums change: where the rows were, and where they are now.
        months = _months(connection, gone + stale + [values["id"] for values in changed])
        months.update(values["month"] for values in added + changed)
        for part in _batches(gone + stale):
            connection.execute(delete(ROWS).where(ROWS.c.id.in_(part)))
        for part in _batches(added):
            connection.execute(insert(ROWS), part)
        for values in changed:
            connection.execute(update(ROWS).where(ROWS.c.id == values["id"]).values(**values))
        summary.added, summary.changed, summary.removed = len(added), len(changed), len(gone)
        refresh(connection, months, now)
        summary.refused.extend(_refusals(connection, bad, set(entries), since, until, now))
    return summary


def _existing(connection: Any, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in _batches(ids):
        found.update(connection.execute(select(ROWS.c.id).where(ROWS.c.id.in_(part))).scalars())
    return found


def _months(connection: Any, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in _batches(ids):
        query = select(ROWS.c.month).where(ROWS.c.id.in_(part)).distinct()
        found.update(connection.execute(query).scalars())
    return found


def _refusals(
    connection: Any,
    bad: dict[str, BadRow],
    good: set[str],
    since: date,
    until: date,
    now: Any,
) -> list[tuple[str, str]]:
    """Record the malformed rows, logging each the first time (or when its fault changes)."""
    known = {
        row_id: reason
        for row_id, reason in connection.execute(
            select(REFUSALS.c.id, REFUSALS.c.reason).where(
                REFUSALS.c.id.in_(list(bad) + list(good))
            )
        )
    }
    fixed = [row_id for row_id in good if row_id in known]
    for part in _batches(fixed):
        connection.execute(delete(REFUSALS).where(REFUSALS.c.id.in_(part)))
    refused: list[tuple[str, str]] = []
    for row_id, error in bad.items():
        refused.append((row_id, error.reason))
        if known.get(row_id) == error.reason:
            continue
        log.warning("time row %s refused: %s", row_id, error.reason)
        values = {"reason": error.reason, "day": error.day, "seen_at": now}
        if row_id in known:
            connection.execute(update(REFUSALS).where(REFUSALS.c.id == row_id).values(**values))
        else:
            connection.execute(insert(REFUSALS).values(id=row_id, **values))
    return refused


def _batches(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
