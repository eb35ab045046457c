"""The live feed's cursor: events read once each, newest first, those committed late too.

On PostgreSQL an event's id is taken as its row is inserted and two writers
may commit in either order; the interleavings are made here with two
connections on a real server. On SQLite writers take turns and the cursor
is the newest id alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from core.conversations.feed import (
    LATE_SECONDS,
    FeedCursor,
    FeedFilter,
    FeedItem,
    feed_page,
    feed_since,
)
from core.conversations.ingest import Ingestor
from core.store.db import open_database
from core.store.reader import Reader
from tests.pg import Server
from tests.support import make_event

INSERT = """
INSERT INTO event (source, external_id, thread_id, kind, occurred_at, received_at,
                   author_name, author_role, text, internal, triage)
SELECT 'email', :name, min(id), 'message', now(), now(), 'Client', :role, :text, false, 'new'
  FROM thread
RETURNING id
"""


def insert(connection: Connection, name: str, role: str = "client") -> int:
    found = connection.execute(
        text(INSERT), {"name": name, "text": name, "role": role}
    ).scalar_one()
    return int(found)


def ids(items: list[FeedItem]) -> list[int]:
    return [item.id for item in items]


class TestOnPostgres:
    pytestmark = pytest.mark.postgres

    @pytest.fixture
    def engine_url(self, postgres_server: Server) -> Iterator[str]:
        """PostgreSQL only: SQLite has one writer at a time, so ids commit in order."""
        name = postgres_server.new_database()
        yield postgres_server.url(name)
        postgres_server.give_back(name, migrated=True)

    @pytest.fixture
    def other(self, engine_url: str) -> Iterator[Engine]:
        """A second writer, as another process has."""
        engine = open_database(engine_url)
        yield engine
        engine.dispose()

    @pytest.fixture
    def started(self, ingestor: Ingestor) -> None:
        ingestor.ingest([make_event("first", 0, task="T1", client="Acme", text="Hello")])

    def test_an_event_committed_after_a_newer_one_was_read_comes_next(
        self, started: None, engine: Engine, other: Engine, reader: Reader
    ) -> None:
        _, cursor = feed_page(reader, FeedFilter(), now=0.0)
        with engine.connect() as slow:
            late = insert(slow, "late")
            with other.begin() as quick:
                early = insert(quick, "early")
            items, cursor = feed_since(reader, FeedFilter(), cursor, now=1.0)
            assert ids(items) == [early]
            assert cursor.after == early and late in cursor.missing
            slow.commit()
        items, cursor = feed_since(reader, FeedFilter(), cursor, now=2.0)
        assert ids(items) == [late]
        assert not cursor.missing
        # Each event once: nothing more to read.
        items, cursor = feed_since(reader, FeedFilter(), cursor, now=3.0)
        assert items == []

    def test_late_and_new_events_come_together_newest_first(
        self, started: None, engine: Engine, other: Engine, reader: Reader
    ) -> None:
        _, cursor = feed_page(reader, FeedFilter(), now=0.0)
        with engine.connect() as slow:
            late = insert(slow, "late")
            with other.begin() as quick:
                early = insert(quick, "early")
            _, cursor = feed_since(reader, FeedFilter(), cursor, now=1.0)
            slow.commit()
        with other.begin() as quick:
            newest = insert(quick, "newest")
        items, cursor = feed_since(reader, FeedFilter(), cursor, now=2.0)
        assert ids(items) == [newest, late]
        assert early not in ids(items)

    def test_a_late_event_the_filter_leaves_out_is_not_shown_and_not_asked_for_again(
        self, started: None, engine: Engine, other: Engine, reader: Reader
    ) -> None:
        clients = FeedFilter(from_client=True)
        _, cursor = feed_page(reader, clients, now=0.0)
        with engine.connect() as slow:
            staff = insert(slow, "late from staff", role="staff")
            late = insert(slow, "late from a client")
            with other.begin() as quick:
                early = insert(quick, "early")
            items, cursor = feed_since(reader, clients, cursor, now=1.0)
            assert ids(items) == [early]
            slow.commit()
        items, cursor = feed_since(reader, clients, cursor, now=2.0)
        assert ids(items) == [late]
        assert staff not in ids(items) and not cursor.missing  # read as committed, not shown

    def test_an_event_in_flight_as_the_page_is_read_comes_with_the_next_read(
        self, started: None, engine: Engine, other: Engine, reader: Reader
    ) -> None:
        with engine.connect() as slow:
            late = insert(slow, "late")
            with other.begin() as quick:
                early = insert(quick, "early")
            items, cursor = feed_page(reader, FeedFilter(), now=0.0)
            assert ids(items)[0] == early and late not in ids(items)
            slow.commit()
        items, cursor = feed_since(reader, FeedFilter(), cursor, now=1.0)
        assert ids(items) == [late]

    def test_an_id_that_never_commits_is_let_go_after_a_while(
        self, started: None, engine: Engine, other: Engine, reader: Reader
    ) -> None:
        _, cursor = feed_page(reader, FeedFilter(), now=0.0)
        with engine.connect() as slow:
            lost = insert(slow, "rolled back")
            with other.begin() as quick:
                insert(quick, "early")
            slow.rollback()
        _, cursor = feed_since(reader, FeedFilter(), cursor, now=1.0)
        _, cursor = feed_since(reader, FeedFilter(), cursor, now=LATE_SECONDS)
        assert lost in cursor.missing
        _, cursor = feed_since(reader, FeedFilter(), cursor, now=1.0 + LATE_SECONDS)
        assert lost not in cursor.missing


@pytest.mark.sqlite_only
def test_on_sqlite_the_cursor_is_the_newest_id_alone(
    engine: Engine, ingestor: Ingestor, reader: Reader
) -> None:
    ingestor.ingest([make_event(f"m{n}", n, task="T1", client="Acme") for n in range(3)])
    items, cursor = feed_page(reader, FeedFilter(), now=0.0)
    with engine.begin() as connection:  # a gap below the newest id
        connection.execute(text("DELETE FROM event_raw WHERE event_id = :id"), {"id": items[1].id})
        connection.execute(text("DELETE FROM event WHERE id = :id"), {"id": items[1].id})
    ingestor.ingest([make_event("m9", 9, task="T1", client="Acme")])
    items, moved = feed_since(reader, FeedFilter(), cursor, now=1.0)
    assert len(items) == 1
    assert moved == FeedCursor(items[0].id)
