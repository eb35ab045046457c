"""An event committed after a newer one, as two writers do on PostgreSQL, still reaches the feed.

PostgreSQL hands out event ids as rows are inserted, not as they commit:
writer A takes an id, writer B takes the next one and commits, a running
dashboard reads B's event and moves past it, then A commits. These tests
make exactly that interleaving with two connections on a real server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from core.config.settings import Settings
from tests.pg import Server, a_database, two_writers
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, until
from tui.app import Dashboard
from tui.panels.feed import IncomingPanel
from tui.sources.backend import Backend

pytestmark = pytest.mark.postgres

INSERT = """
INSERT INTO event (source, external_id, thread_id, kind, occurred_at, received_at,
                   author_name, author_role, text, internal, triage)
SELECT 'email', :external_id, min(id), 'message', now(), now(), 'Client', 'client',
       :text, false, 'new'
  FROM thread
RETURNING id
"""


@pytest.fixture
def engine_url(postgres_server: Server) -> Iterator[str]:
    """PostgreSQL only: SQLite has one writer at a time, so ids commit in order."""
    yield from a_database(postgres_server)


@pytest.fixture
def writers(engine_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on the dashboard's database, as two processes have."""
    yield from two_writers(engine_url)


def insert(connection: Connection, name: str) -> int:
    return int(connection.execute(text(INSERT), {"external_id": name, "text": name}).scalar_one())


async def test_an_event_committed_after_a_newer_one_reaches_the_running_feed(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    writers: tuple[Engine, Engine],
) -> None:
    first, second = writers
    async with Dashboard(dashboard_settings, Backend(dashboard_settings, clock)).run_test(
        size=(120, 40)
    ) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        with first.connect() as slow:
            late = insert(slow, "Taken first, committed last")  # A takes its id
            with second.begin() as quick:
                early = insert(quick, "Taken second, committed first")  # B commits
            assert early > late
            # The dashboard reads B's event: its feed now stands past A's id.
            await until(pilot, lambda: incoming.items[0].id == early)
            slow.commit()  # A commits
        await until(pilot, lambda: late in [item.id for item in incoming.items])
        ids = [item.id for item in incoming.items]
        assert ids[:2] == [early, late]  # newest first
        assert len(ids) == len(set(ids))  # each event once
