"""Batches in turn, each committed while the next is parsed (`Ingestor.ingest_batches`).

Real SQLite throughout. The commits that fail here fail in SQLite itself: a
foreign key broken by a trigger and checked only at COMMIT (`PRAGMA
defer_foreign_keys`), and a database not allowed to grow (`PRAGMA
max_page_count`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import OperationalError

from core.config.settings import Settings
from core.conversations.ingest import Ingestor, Item, Result
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.system import table
from core.store.models.threads import Event
from tests.core.conversations.test_late_events import outcome
from tests.hostile import HOSTILE
from tests.support import MovableClock, make_event

E = table(Event)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(str(tmp_path / "pmdesk.db"))
    yield engine
    engine.dispose()


def ingestor_of(engine: Engine, settings: Settings) -> Ingestor:
    return Ingestor(engine, PolicyBook(settings), clock=MovableClock())


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(E.c.external_id)).scalars())


def committing_threads(engine: Engine) -> list[str]:
    """The name of the thread each commit on `engine` runs in, from now on."""
    names: list[str] = []

    @event.listens_for(engine, "commit")
    def _commit(connection: Connection) -> None:
        names.append(threading.current_thread().name)

    return names


def mixed_stream() -> list[Item]:
    """Messages, replies and status changes on a few threads, some late, some
    repeated in a later batch, and hostile lines among them."""
    events: list[Item] = []
    for number in range(30):
        task = f"T{number % 4}"
        if number % 3 == 2:
            events.append(make_event(f"r{number}", number * 2, role="staff", task=task))
        elif number % 7 == 6:
            events.append(
                make_event(f"s{number}", number * 2, kind="status", role="staff", status="Doing")
            )
        else:
            events.append(make_event(f"m{number}", number * 2, task=task))
    events.insert(12, make_event("late", 1, task="T1"))  # before the thread's first
    events.insert(20, json.dumps(events[3]))  # a retry of an event of the first batch
    events.insert(7, HOSTILE["year 9999"](7))
    events.insert(25, b"{oops")
    return events


def in_batches(lines: list[Item], size: int) -> list[list[Item]]:
    return [lines[start : start + size] for start in range(0, len(lines), size)]


def test_each_batch_commits_while_the_next_is_parsed_and_ends_as_if_stored_one_at_a_time(
    tmp_path: Path, settings: Settings
) -> None:
    batches = in_batches(mixed_stream(), 5)
    alone = open_database(str(tmp_path / "alone.db"))
    behind = open_database(str(tmp_path / "behind.db"))
    one_at_a_time: list[Result] = []
    ingestor = ingestor_of(alone, settings)
    for batch in batches:
        one_at_a_time += ingestor.ingest_batch(batch, start=len(one_at_a_time))
    threads = committing_threads(behind)

    told = list(ingestor_of(behind, settings).ingest_batches(batches))

    assert [len(results) for results in told] == [len(batch) for batch in batches]
    assert [result for results in told for result in results] == one_at_a_time
    statuses = [result.status for result in one_at_a_time]
    assert statuses.count("rejected") == 2 and statuses.count("duplicate") == 1
    assert outcome(behind) == outcome(alone)
    assert len(outcome(behind)[0]) >= 10  # the comparison means something
    # Every batch but the last committed in a thread of its own; the last in place.
    assert threads == ["pmdesk-commit_0"] * (len(batches) - 1) + [threading.current_thread().name]
    alone.dispose()
    behind.dispose()


@pytest.mark.parametrize("poisoned_batch", [1, 2], ids=["committed behind", "the last, in place"])
def test_a_commit_that_fails_rejects_its_event_alone_and_the_batches_after_go_on(
    engine: Engine, settings: Settings, poisoned_batch: int
) -> None:
    """A failed COMMIT used to leave SQLite's transaction open: every batch after it
    failed to begin ("cannot start a transaction within a transaction")."""
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER orphan AFTER INSERT ON event WHEN NEW.text = 'poison' "
            "BEGIN INSERT INTO event_raw (event_id, raw) VALUES (-1, 'no such event'); END"
        )

    @event.listens_for(engine, "begin")
    def _defer(connection: Connection) -> None:
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")

    events = [make_event(f"e{n}", n, task=f"T{n % 3}") for n in range(12)]
    poisoned = 4 * poisoned_batch + 1
    events[poisoned]["text"] = "poison"
    threads = committing_threads(engine)
    ingestor = ingestor_of(engine, settings)

    told = [
        result
        for results in ingestor.ingest_batches(in_batches(list(events), 4))
        for result in results
    ]

    assert [result.position for result in told if result.status == "rejected"] == [poisoned]
    assert told[poisoned].reason == "could not be stored: internal error (IntegrityError)"
    assert stored_ids(engine) == {f"e{n}" for n in range(12)} - {f"e{poisoned}"}
    committed_behind = threads[poisoned_batch] == "pmdesk-commit_0"
    assert committed_behind is (poisoned_batch == 1)
    assert ingestor.ingest([make_event("later", 30)])[0].status == "created"


def test_a_database_that_cannot_grow_stops_at_the_batch_and_keeps_the_ones_before(
    engine: Engine, settings: Settings
) -> None:
    """SQLITE_FULL for real in the second batch, while the first was committed behind."""
    ingestor = ingestor_of(engine, settings)
    limit = {"pages": 0}

    @event.listens_for(engine, "begin")
    def _cap(connection: Connection) -> None:
        connection.exec_driver_sql(f"PRAGMA max_page_count = {limit['pages'] or 4294967294}")

    def _full_after_the_first(written: set[int], alone: bool) -> None:
        if not limit["pages"]:
            with engine.connect() as connection:
                pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            limit["pages"] = pages

    ingestor.on_commit = _full_after_the_first
    big: list[Any] = [make_event(f"big-{n}", n, task=f"B{n}", text="x" * 5000) for n in range(30)]
    batches = in_batches(big, 10)
    threads = committing_threads(engine)

    with pytest.raises(OperationalError, match="full"):
        list(ingestor.ingest_batches(batches))

    assert threads[0] == "pmdesk-commit_0"
    assert stored_ids(engine) == {f"big-{n}" for n in range(10)}
    limit["pages"], ingestor.on_commit = -1, None  # -1: no limit from now on
    told = [result.status for results in ingestor.ingest_batches(batches) for result in results]
    assert told == ["duplicate"] * 10 + ["created"] * 20
