"""The write-ahead log folded back from a thread of its own (core.store.checkpoints)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.store.checkpoints import DEFAULT_PAGES, Checkpointer
from core.store.db import open_database, write

ROWS_PER_COMMIT = 10
ROW_BYTES = 3_000  # a row to a page: a commit adds about ROWS_PER_COMMIT pages to the log


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(str(tmp_path / "pmdesk.db"))
    with write(engine) as connection:
        connection.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)")
    yield engine
    engine.dispose()


def _log_pages(engine: Engine) -> int:
    """The write-ahead log file's size in pages (it grows, never shrinks, while open): a
    header of 32 bytes, then frames of a page and 24 bytes."""
    path = Path(f"{engine.url.database}-wal")
    return max(0, path.stat().st_size - 32) // (4096 + 24) if path.exists() else 0


def _commit(engine: Engine) -> None:
    with write(engine) as connection:
        connection.exec_driver_sql(
            "INSERT INTO filler (body) VALUES (?)",
            [(os.urandom(ROW_BYTES),) for _ in range(ROWS_PER_COMMIT)],
        )


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM filler")).scalar_one())


def test_the_thread_keeps_the_log_short_and_readers_see_every_commit(engine: Engine) -> None:
    """Commits with short pauses between them, as the intake's at a steady rate: the thread
    folds the log back between them, so the log starts again before it reaches the
    backstop, at which the committing connection would fold it back itself (without the
    thread's copies it would grow to 2,000 pages here), and a reader sees every commit."""
    checkpoints = Checkpointer(engine, interval=0.02, backstop=2_000)
    checkpoints.start()
    longest = 0
    try:
        for done in range(1, 301):  # about 3,000 pages in all
            _commit(engine)
            longest = max(longest, _log_pages(engine))
            assert _count(engine) == done * ROWS_PER_COMMIT
            time.sleep(0.003)
    finally:
        checkpoints.stop()
    assert longest < 1_800


def test_the_log_stays_bounded_when_commits_leave_no_pause(engine: Engine) -> None:
    """A writer that never pauses leaves the thread no moment to finish: the committing
    connection's own checkpoint, at the backstop, still bounds the log."""
    checkpoints = Checkpointer(engine, interval=0.01, backstop=1_000)
    checkpoints.start()
    longest = 0
    try:
        for _ in range(400):  # about 4,000 pages
            _commit(engine)
            longest = max(longest, _log_pages(engine))
    finally:
        checkpoints.stop()
    assert longest <= 1_000 + 3 * (ROWS_PER_COMMIT + 5)
    assert _count(engine) == 400 * ROWS_PER_COMMIT


def test_connections_checkpoint_themselves_at_the_backstop_only_while_the_thread_runs(
    engine: Engine,
) -> None:
    def own_limit() -> int:
        with engine.connect() as connection:
            return int(connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())

    checkpoints = Checkpointer(engine, backstop=7_000)
    assert own_limit() == DEFAULT_PAGES
    checkpoints.start()
    try:
        assert own_limit() == 7_000
    finally:
        checkpoints.stop()
    assert own_limit() == DEFAULT_PAGES


def test_stopping_folds_the_whole_log_back(engine: Engine) -> None:
    """The last checkpoint at stop copies what the log holds into the database file."""
    database = Path(str(engine.url.database))
    before = database.stat().st_size
    checkpoints = Checkpointer(engine, interval=60)
    checkpoints.start()
    for _ in range(20):
        _commit(engine)
    assert database.stat().st_size == before  # all in the log so far
    checkpoints.stop()
    assert database.stat().st_size >= before + 20 * ROWS_PER_COMMIT * 4096
    # All of it copied: the next write starts the log again from its beginning.
    _commit(engine)
    with engine.connect() as connection:
        _, frames, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert frames <= ROWS_PER_COMMIT + 5


def test_the_thread_gives_no_connection_back_to_the_pool_without_its_busy_timeout(
    engine: Engine,
) -> None:
    """The thread's own connection never waits for the write lock (a busy timeout of
    zero): handed back to the pool, it would fail someone else's write at once, "database
    is locked", instead of waiting for the lock as every connection does."""
    checkpoints = Checkpointer(engine, interval=0.01)
    checkpoints.start()
    time.sleep(0.05)
    checkpoints.stop()
    connections = [engine.connect() for _ in range(4)]
    try:
        timeouts = {
            int(each.exec_driver_sql("PRAGMA busy_timeout").scalar_one()) for each in connections
        }
    finally:
        for each in connections:
            each.close()
    assert timeouts == {10_000}
