"""The write-ahead log folded back into the database off the committing thread.

SQLite's automatic checkpoint runs in the connection that commits, once the
log holds `wal_autocheckpoint` pages (1,000 by default): that writer copies
the log's pages into the database file and syncs it before it can begin its
next transaction. Under the intake's steady stream of small commits that was
several times a second, 10 to 50 ms each, and those stalls of the one writer
were most of its slowest requests.

While a `Checkpointer` runs, the engine's connections checkpoint only past
`BACKSTOP_PAGES`, and a thread of its own runs a PASSIVE checkpoint every
`interval`: PASSIVE takes no lock a writer or reader waits for, and copies
only what no reader may still need, so nobody sees less. Every commit is
still synced to the log before it returns (`synchronous = FULL`), so what was
acknowledged is on disk whichever connection folds it back.

The log starts again from its beginning at the first write after a
checkpoint that copied all of it; a commit landing during a checkpoint
leaves its frames uncopied, so the thread goes again at once, a few times,
to catch a quiet moment. If it cannot (writes without a pause, a reader
holding an old snapshot) the committing connections' own checkpoint at
BACKSTOP_PAGES still bounds the log, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger("pmdesk.store")

# A committing connection's own checkpoint while the thread runs: the log's
# bound should the thread fall behind (SQLite's default is 1,000 pages, 4 MB).
BACKSTOP_PAGES = 10_000
DEFAULT_PAGES = 1_000
# Tries of the FULL checkpoint of the log's last frames, while a writer holds the lock.
TRIES = 5
TRY_PAUSE = 0.002
_MARK = "pmdesk_autocheckpoint"


class Checkpointer:
    """PASSIVE checkpoints every `interval` seconds from a thread of their own (SQLite only).

    `start` and `stop` (which waits for the thread and runs a last
    checkpoint); a no-op on other databases. `backstop`: the pages past
    which the engine's connections checkpoint themselves, from `start` on.

    Half a second: the intake at full speed wrote up to 8,600 pages of log
    in a second on the benchmark's load, so a turn of a second came close to
    the backstop; four turns a second overlapped more of the writer's commits
    (a checkpoint competes with them for the disk) than fewer, larger ones.
    """

    def __init__(
        self, engine: Engine, interval: float = 0.5, backstop: int = BACKSTOP_PAGES
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.backstop = backstop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._limit: Any = None

    def start(self) -> None:
        if self.engine.dialect.name != "sqlite" or self._thread is not None:
            return
        if self._limit is None:
            self._limit = self._pages_limit
            event.listen(self.engine, "checkout", self._limit)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pmdesk-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _pages_limit(self, dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        """At a checkout: the backstop while the thread runs, SQLite's default otherwise."""
        pages = self.backstop if self._thread is not None else DEFAULT_PAGES
        # Once per connection and value: a checkout costs a dict look-up after that.
        if record.info.get(_MARK) != pages:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint = {pages}")
            record.info[_MARK] = pages

    def _run(self) -> None:
        # Its own connection, made and used in this thread only; its FULL checkpoint
        # never waits for a writer or a reader (see _fold). Detached: with that busy
        # timeout, back in the pool it would fail another's write instead of waiting.
        connection = self.engine.raw_connection()
        connection.detach()
        try:
            connection.execute("PRAGMA busy_timeout = 0")
            while not self._stop.wait(self.interval):
                self._fold(connection)
            self._fold(connection)
        finally:
            connection.close()

    def _fold(self, connection: Any) -> None:
        """Copy the log into the database, then its last frames, so the next write restarts it.

        PASSIVE copies the bulk beside the writer. Commits that landed during
        it leave frames uncopied, and the log restarts only once all are: a
        FULL checkpoint copies those few holding the write lock, for as long
        as copying them and syncing takes, and only if no transaction holds
        it at that moment (the connection's busy timeout is zero: otherwise it
        returns at once, having copied what it could); then it tries again
        a moment later, a few times.
        """
        try:
            frames, copied = _checkpoint(connection, "PASSIVE")
            for _ in range(TRIES):
                if frames == copied:
                    break
                time.sleep(TRY_PAUSE)
                frames, copied = _checkpoint(connection, "FULL")
        except sqlite3.Error:
            if not self._failing:
                log.warning("a checkpoint of the write-ahead log failed", exc_info=True)
            self._failing = True
            return
        self._failing = False


def _checkpoint(connection: Any, mode: str) -> tuple[int, int]:
    """The log's frames, and how many of them are in the database now."""
    _, frames, copied = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(frames), int(copied)
