"""Live updates on PostgreSQL: a NOTIFY with every commit that wrote, a LISTEN to wake on it.

SQLite tells a reader that another connection committed through `PRAGMA
data_version`, asked in microseconds. PostgreSQL has no such counter, so
every engine opened on it (core.store.db) sends `NOTIFY pmdesk_changes` in
each transaction that wrote something, as part of that transaction: the
notification is delivered when, and only if, the transaction commits.
`ChangeListener` holds a connection that LISTENs on that channel in a thread
of its own and counts the notifications: a dashboard compares the count
instead of querying the database, and sees another process's commit within
a fraction of a second.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

CHANNEL = "pmdesk_changes"
# A statement that starts with one of these reads only; any other marks its
# transaction as one that wrote (a WITH too, which may hold a write: at worst a
# notification too many).
_READS = ("SELECT", "SHOW", "LISTEN", "NOTIFY")
_WROTE = "pmdesk_wrote"
# Seconds between two attempts to listen again after the connection was lost.
RETRY_SECONDS = 2.0

log = logging.getLogger("pmdesk.store")


def announce_changes(engine: Engine) -> None:
    """Make every transaction on `engine` that wrote send a NOTIFY as it commits."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(
        connection: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if not statement.lstrip()[:6].upper().startswith(_READS):
            connection.info[_WROTE] = True

    @event.listens_for(engine, "commit")
    def _notify(connection: Connection) -> None:
        # Before the COMMIT itself: the NOTIFY is part of the transaction.
        if connection.info.pop(_WROTE, False):
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(f"NOTIFY {CHANNEL}")

    @event.listens_for(engine, "rollback")
    def _forget(connection: Connection) -> None:
        connection.info.pop(_WROTE, None)


def listen_url(url: str) -> str:
    """The libpq connection string of an SQLAlchemy PostgreSQL URL (driver name removed)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listening:
    """A connection that LISTENs on the channel, read by its owner's thread only."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._connection = psycopg.connect(listen_url(url), autocommit=True)
        self._connection.execute(f"LISTEN {CHANNEL}")

    def received(self, timeout: float) -> int:
        """How many notifications came, waiting at most `timeout` seconds for the first."""
        count = sum(1 for _ in self._connection.notifies(timeout=timeout, stop_after=1))
        if count:  # and those that came with it
            count += sum(1 for _ in self._connection.notifies(timeout=0.0))
        return count

    def close(self) -> None:
        self._connection.close()


class ChangeListener:
    """Counts the commits announced on a PostgreSQL database, from a thread of its own.

    `version` changes after every notification; after a lost connection it
    changes too once listening again (what was committed meanwhile is unknown).
    `close` stops the thread within a second.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._count = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pmdesk-listen", daemon=True)
        self._thread.start()

    @property
    def version(self) -> int:
        return self._count

    def wait_ready(self, timeout: float) -> bool:
        """Whether the listener listens (within `timeout` seconds)."""
        return self._ready.wait(timeout)

    def wait(self, after: int, timeout: float) -> int:
        """The version, once it differs from `after` or `timeout` seconds have passed."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != after, timeout)
            return self._count

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(2.0)

    def _bump(self, count: int = 1) -> None:
        with self._changed:
            self._count += count
            self._changed.notify_all()

    def _run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                listening = Listening(self._url)
                try:
                    if self._ready.is_set():
                        self._bump()  # listening again: anything may have changed meanwhile
                    self._ready.set()
                    while not self._stopping.is_set():
                        # A short timeout, so that close() is heard within a second.
                        received = listening.received(0.5)
                        if received:
                            self._bump(received)
                finally:
                    listening.close()
            except psycopg.Error:
                log.warning("live updates: listening failed, trying again", exc_info=True)
                self._stopping.wait(RETRY_SECONDS)
