"""What an Ingestor remembers between batches, beside other writers of the same process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.models.threads import Clock, Thread
from core.store.reader import instant
from tests.support import START, MovableClock, make_event


def outcomes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Clock.__table__.c.kind, Clock.__table__.c.outcome).order_by(Clock.started_at)
        )
        return [(row.kind, row.outcome) for row in rows]


def test_a_reply_stored_by_another_ingestor_of_the_process_is_seen(
    engine: Engine, settings: Settings, clock: MovableClock
) -> None:
    # The intake, the bot and the poller each have an Ingestor on the same engine.
    intake = Ingestor(engine, PolicyBook(settings), clock=clock)
    bot = Ingestor(engine, PolicyBook(settings), clock=clock)

    intake.ingest([make_event("m1", 0)])
    bot.ingest([make_event("r1", 5, role="staff")])
    intake.ingest([make_event("m2", 10)])

    # The reply met the first clock; the next message opens the next one.
    assert outcomes(engine) == [("first", "met"), ("next", "running")]


def statements(engine: Engine, ingestor: Ingestor) -> Iterator[list[str]]:
    """Every statement run meanwhile: through SQLAlchemy, and straight on the driver of the
    ingestor's own connection (core.store.db.plain_rows and plain_many)."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(" ".join(args[2].split()))

    driver = ingestor._connection().connection.dbapi_connection
    assert isinstance(driver, sqlite3.Connection)
    event.listen(engine, "before_cursor_execute", note)
    driver.set_trace_callback(lambda text: seen.append(" ".join(text.split())))
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
        driver.set_trace_callback(None)


@pytest.mark.sqlite_only  # data_version tells it that nobody else wrote; PostgreSQL cannot
def test_a_batch_rereads_nothing_it_knows_when_nobody_else_wrote(
    engine: Engine, ingestor: Ingestor
) -> None:
    ingestor.ingest([make_event("m1", 0)])
    # Other readers of the process (the health check, the scheduler) leave
    # several connections in the pool, handed out in turn.
    with engine.connect(), engine.connect(), engine.connect():
        pass
    ingestor.ingest([make_event("m2", 1)])
    ingestor.ingest([make_event("m3", 2)])

    watch = statements(engine, ingestor)
    seen = next(watch)
    ingestor.ingest([make_event("m4", 3)])
    watch.close()

    reads = [text for text in seen if text.startswith("SELECT")]
    # The watch sees the plain statements too: the batch's look for duplicates is one.
    assert [text for text in reads if "FROM event WHERE" in text], seen
    assert not [text for text in reads if "FROM thread" in text.split(" WHERE")[0]], reads
    assert not [text for text in reads if " FROM clock" in text], reads
    assert not [text for text in reads if "client.policy" in text], reads
    assert not [text for text in reads if "max(id)" in text], reads


def test_ids_handed_out_after_another_writer_are_new(
    engine: Engine, settings: Settings, clock: MovableClock
) -> None:
    intake = Ingestor(engine, PolicyBook(settings), clock=clock)
    bot = Ingestor(engine, PolicyBook(settings), clock=clock)
    results = []
    for minute in range(6):
        for name, ingestor in (("intake", intake), ("bot", bot)):
            task = f"{name}-{minute % 2}"
            message = make_event(f"{name}-m{minute}", minute, task=task)
            answer = make_event(f"{name}-r{minute}", minute + 0.5, role="staff", task=task)
            results += ingestor.ingest([message, answer])

    assert {result.status for result in results} == {"created"}
    assert len({result.event_id for result in results}) == len(results)
    assert len(outcomes(engine)) == 12


@pytest.mark.sqlite_only  # on PostgreSQL the server hands out a new thread's id as it is stored
def test_a_new_thread_is_written_once_with_what_its_first_batch_makes_of_it(
    engine: Engine, ingestor: Ingestor
) -> None:
    ingestor.ingest([make_event("m0", 0, task="T0")])

    watch = statements(engine, ingestor)
    seen = next(watch)
    ingestor.ingest(
        [
            make_event("m1", 0, task="T1"),
            make_event("r1", 5, role="staff", task="T1"),
            make_event("m2", 7, task="T1"),
        ]
    )
    watch.close()

    writes = [text for text in seen if text.startswith(("INSERT INTO thread ", "UPDATE thread "))]
    assert len(writes) == 1 and writes[0].startswith("INSERT"), writes
    with engine.connect() as connection:
        row = connection.execute(select(Thread.__table__).where(Thread.__table__.c.id == 2)).one()
        clocks = connection.execute(
            select(Clock.__table__.c.id).where(Clock.__table__.c.thread_id == 2)
        ).all()
    # The row holds what its events gave it: the newest event and clock.
    assert instant(row.last_event_at) == START + timedelta(minutes=7)
    assert row.clock_id == max(clock.id for clock in clocks)
