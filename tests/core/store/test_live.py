"""Live updates on PostgreSQL: a commit that wrote is announced, a listener wakes at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from core.store.db import open_database, write
from core.store.live import ChangeListener
from tests.pg import Server, a_database
from tests.support import START

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine_url(postgres_server: Server) -> Iterator[str]:
    """PostgreSQL only: SQLite has no notifications (its data_version does that job)."""
    yield from a_database(postgres_server)


@pytest.fixture
def engine(engine_url: str) -> Iterator[Engine]:
    engine = open_database(engine_url)
    yield engine
    engine.dispose()


def test_another_connections_commit_wakes_the_listener_within_a_second(
    engine: Engine, engine_url: str
) -> None:
    listener = ChangeListener(engine_url)
    try:
        assert listener.wait_ready(10)
        before = listener.version
        other = open_database(engine_url)  # another process's engine, as it would open it
        with write(other) as connection:
            connection.execute(
                text("INSERT INTO client (name, language, created_at) VALUES ('Acme', 'fr', :at)"),
                {"at": START},
            )
        committed = time.monotonic()
        seen = listener.wait(before, timeout=1.0)
        assert seen != before, "the commit was not announced within a second"
        assert time.monotonic() - committed < 1.0
        other.dispose()
    finally:
        listener.close()


def test_reads_and_rolled_back_writes_announce_nothing(engine: Engine, engine_url: str) -> None:
    listener = ChangeListener(engine_url)
    try:
        assert listener.wait_ready(10)
        before = listener.version
        with engine.begin() as connection:
            connection.execute(text("SELECT count(*) FROM client")).scalar()
        with pytest.raises(RuntimeError), write(engine) as connection:
            connection.execute(
                text("INSERT INTO client (name, language, created_at) VALUES ('B', 'fr', :at)"),
                {"at": START},
            )
            raise RuntimeError("changed my mind")
        assert listener.wait(before, timeout=1.0) == before
    finally:
        listener.close()


def test_the_dashboards_version_follows_the_notifications(engine: Engine, engine_url: str) -> None:
    """The dashboard's watcher asks `version()` four times a second: on PostgreSQL it reads
    the listener's count, no query, and sees another process's commit within a second."""
    from core.config.settings import Settings
    from tui.sources.backend import Backend

    settings = Settings(db=engine_url)
    backend = Backend(settings)  # type: ignore[arg-type]
    try:
        seen = backend.version()
        assert isinstance(seen, tuple) and seen[0] == "notified"
        with write(engine) as connection:
            connection.execute(
                text("INSERT INTO client (name, language, created_at) VALUES ('C', 'fr', :at)"),
                {"at": START},
            )
        deadline = time.monotonic() + 1.0
        while backend.version() == seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert backend.version() != seen
    finally:
        backend.close()


def test_the_dashboards_wait_ends_when_another_process_commits(
    engine: Engine, engine_url: str
) -> None:
    """Between two looks the watcher waits on the listener: a commit wakes it at once,
    not at the end of the wait (on SQLite it sleeps the wait out)."""
    import threading

    from core.config.settings import Settings
    from tui.sources.backend import Backend

    backend = Backend(Settings(db=engine_url))  # type: ignore[arg-type]
    try:
        seen = backend.version()

        def commit() -> None:
            time.sleep(0.2)
            with write(engine) as connection:
                connection.execute(
                    text("INSERT INTO client (name, language, created_at) VALUES ('W', 'fr', :at)"),
                    {"at": START},
                )

        writer = threading.Thread(target=commit)
        started = time.monotonic()
        writer.start()
        backend.wait(seen, 30.0)
        waited = time.monotonic() - started
        writer.join()
        assert backend.version() != seen
        assert waited < 10.0
        # Nothing committed since: the wait lasts its time.
        now = backend.version()
        started = time.monotonic()
        backend.wait(now, 0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        backend.close()
