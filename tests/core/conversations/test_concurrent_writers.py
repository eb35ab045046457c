"""Two writers storing events of the same thread at once on PostgreSQL.

Each batch reads its threads' rows, then their newest clocks by the id the row
names. Under READ COMMITTED every statement sees what was committed before it
ran: a writer that replays the thread in between (a late message deletes the
clock it opened and names another) left the first batch with a clock id that
no longer exists. These tests commit the second writer's batch at exactly that
moment, on a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.notify.rules import notify_clocks
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.system import table
from core.store.models.threads import Event
from tests.core.conversations.test_late_events import outcome
from tests.pg import Server, a_database, two_writers
from tests.support import START, MovableClock, make_event

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine_url(postgres_server: Server) -> Iterator[str]:
    """PostgreSQL only: SQLite has one writer at a time."""
    yield from a_database(postgres_server)


@pytest.fixture
def engines(engine_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database, as two processes have."""
    yield from two_writers(engine_url)


def waiting_for_a_lock(engine: Engine) -> bool:
    """Whether any connection to the server waits for a lock another holds."""
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return bool(connection.execute(query).scalar())


class Meanwhile:
    """`other()` run in a thread just before `engine` first runs a statement holding
    `part`; that statement goes on once `other` has finished or waits for a lock."""

    def __init__(self, engine: Engine, part: str, other: Callable[[], Any], watch: Engine) -> None:
        self.part, self.other, self.watch = part, other, watch
        self.worker: threading.Thread | None = None
        self.result: Any = None
        # Whether `other` was still waiting for a lock when the statement went on.
        self.waited = False
        event.listen(engine, "before_cursor_execute", self._before)

    def _run(self) -> None:
        self.result = self.other()

    def _before(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.worker is not None or self.part not in statement:
            return
        self.worker = threading.Thread(target=self._run)
        self.worker.start()
        deadline = time.monotonic() + 30
        while self.worker.is_alive() and not waiting_for_a_lock(self.watch):
            assert time.monotonic() < deadline, "the other writer neither finished nor waited"
            time.sleep(0.01)
        self.waited = self.worker.is_alive()

    def finished(self) -> Any:
        assert self.worker is not None, "the statement never ran"
        self.worker.join(30)
        assert not self.worker.is_alive()
        return self.result


def test_a_clock_replaced_by_another_writer_meanwhile_is_no_internal_error(
    engines: tuple[Engine, Engine],
    postgres_server: Server,
    settings: Settings,
    clock: MovableClock,
) -> None:
    first, second = engines
    opening, late, reply = (
        make_event("m10", 10),
        make_event("m5", 5),
        make_event("r20", 20, role="staff"),
    )
    # A client message opens a clock on the thread.
    assert (
        Ingestor(first, PolicyBook(settings), clock=clock).ingest([opening])[0].status == "created"
    )
    # While the reply's batch has read the thread's row but not its clock, a
    # late message from before m10 is stored by another writer: the clock m10
    # opened goes, and one m5 opens takes its place.
    other = Ingestor(second, PolicyBook(settings), clock=clock)
    meanwhile = Meanwhile(first, "FROM clock", lambda: other.ingest([late])[0], watch=second)

    stored = Ingestor(first, PolicyBook(settings), clock=clock).ingest([reply])[0]

    assert stored.status == "created", stored.reason
    assert meanwhile.finished().status == "created"
    # Both writers together stored what the three events give in one batch.
    name = postgres_server.new_database()
    alone = open_database(postgres_server.url(name))
    try:
        Ingestor(alone, PolicyBook(settings), clock=clock).ingest([opening, late, reply])
        assert outcome(first) == outcome(alone)
    finally:
        alone.dispose()
        postgres_server.give_back(name, migrated=True)


def test_an_alert_of_a_thread_a_batch_holds_is_written_without_waiting_for_the_batch(
    engines: tuple[Engine, Engine], settings: Settings, clock: MovableClock
) -> None:
    first, second = engines
    add_staff(second, "Ana", "assistant", ["ana@agency.example"], START)
    Ingestor(first, PolicyBook(settings), clock=clock).ingest([make_event("m1", 0)])
    # While a batch holds the thread's row, the services write the breach of its clock:
    # the alert's reference to the thread needs the row's key alone, which the batch
    # does not change.
    meanwhile = Meanwhile(
        first,
        "FROM clock",
        lambda: notify_clocks(second, START + timedelta(minutes=15)),
        watch=second,
    )

    stored = Ingestor(first, PolicyBook(settings), clock=clock).ingest([make_event("m2", 1)])[0]

    assert stored.status == "created", stored.reason
    assert meanwhile.finished() == 1
    assert not meanwhile.waited


def waiting_for_locks(engine: Engine, count: int) -> None:
    """Until `count` connections wait for a lock another holds."""
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype <> 'virtualxid'")
    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as connection:
            if (connection.execute(query).scalar() or 0) >= count:
                return
        assert time.monotonic() < deadline, f"{count} writers never waited"
        time.sleep(0.02)


def test_a_writer_waits_for_one_transaction_of_an_import_not_for_all_of_it(
    engines: tuple[Engine, Engine],
    engine_url: str,
    settings: Settings,
    clock: MovableClock,
    tmp_path: Path,
) -> None:
    """The intake storing an event of a thread an import is filling gets its turn
    between two of the import's transactions, not after the whole file."""
    holder, intake = engines
    Ingestor(holder, PolicyBook(settings), clock=clock).ingest([make_event("first", 0)])
    lines = [json.dumps(make_event(f"import-{n}", 1 + n / 100)) for n in range(300)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    config = tmp_path / "pmdesk.toml"
    config.write_text('[policies.default]\ncalendar = "24/7"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    env.update(PMDESK_DB=engine_url, PMDESK_CONFIG=str(config))
    with holder.begin() as held:
        # The thread's row held, the import queues for it first, then the intake.
        held.execute(text("SELECT id FROM thread FOR UPDATE"))
        command = [sys.executable, "-m", "pmdesk", "ingest", "--json", str(path)]
        importing = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        waiting_for_locks(intake, 1)
        stored: list[Any] = []
        writer = threading.Thread(
            target=lambda: stored.extend(
                Ingestor(intake, PolicyBook(settings), clock=clock).ingest(
                    [make_event("intake", 10)]
                )
            )
        )
        writer.start()
        waiting_for_locks(intake, 2)
    out, _ = importing.communicate(timeout=120)
    writer.join(60)

    assert importing.returncode == 0 and json.loads(out)["created"] == 300
    assert [result.status for result in stored] == ["created"]
    # Events take their ids as their transaction inserts them, after it has the
    # thread's row: some of the import's came after the intake's.
    events = table(Event)
    with intake.connect() as connection:
        imported_after = connection.execute(
            select(func.count()).where(
                events.c.external_id.like("import-%"), events.c.id > stored[0].event_id
            )
        ).scalar()
    assert imported_after
