"""The dashboard's way to the database, for worker threads only.

Reads go through `core.store` (a plain sqlite3 connection per thread, since
a SQLite connection belongs to the thread that opened it); actions go
through the core's ingestor on one shared engine. Nothing here runs on the
UI thread: screens call it from `@work(thread=True)` workers and get the
results back as messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from core.base.instants import Now, utc_now
from core.store.connect import reader_for
from core.store.reader import Reader, SqliteReader, sqlite_path

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine

    from core.config.quick import FirstSettings
    from core.config.settings import Settings
    from core.conversations.ingest import Ingestor
    from core.conversations.staff import StaffView
    from core.store.lease import ServicesSeen
    from core.store.live import ChangeListener
    from core.time.screen_file import Batch


log = logging.getLogger("pmdesk.dashboard")
# How long the first look at a PostgreSQL database waits for its LISTEN connection.
LISTEN_READY_SECONDS = 5.0


class NoOperator(LookupError):
    """The dashboard does not know who is acting: nobody is registered as staff."""


class Backend:
    """The database and the configuration, for the dashboard's workers.

    `settings`: the whole configuration, validated; or, with `validate`, the
    few values the first screenful needs (core.config.quick), and how to
    validate the whole of it, which `settings` then does on first use.
    """

    def __init__(
        self,
        settings: FirstSettings,
        clock: Now = utc_now,
        services: Callable[[Reader], ServicesSeen] | None = None,
        mode: str | None = None,
        validate: Callable[[], Settings] | None = None,
    ) -> None:
        # What the first screenful reads: no pydantic needed.
        self.first = settings
        self._validate = validate
        self._settings: Settings | None = None if validate else cast("Settings", settings)
        self._settings_lock = threading.Lock()
        self.clock = clock
        # The background services' states and failures, as the command line wires them.
        self.services = services
        # What the command line opened, when not the agency's own database ("demo").
        self.mode = mode
        self._local = threading.local()
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._ingestor: Ingestor | None = None
        self._prefetch: threading.Thread | None = None
        self._prefetched: tuple[Reader, object, Any] | None = None
        self._listener: ChangeListener | None = None
        self._listener_failed = False

    @property
    def settings(self) -> Settings:
        """The whole configuration, validated; the first use validates it (ConfigError if wrong).

        The dashboard asks for it in a worker once the first screenful is
        shown (Dashboard.loaded), before the services start.
        """
        with self._settings_lock:
            if self._settings is None:
                assert self._validate is not None
                self._settings = self._validate()
            return self._settings

    def prefetch(self, read: Callable[[Backend], Any]) -> None:
        """Start `read` in a thread now; the watcher takes its result with `take_prefetched`.

        The thread's reader goes to the watcher with the result, and with it
        the database version seen before the read began: a commit made in
        between still shows as a change on the watcher's first turn.
        """

        def run() -> None:
            try:
                self._local.reader = reader_for(self.first.db, handed_over=True)
                version = self.version()
                self._prefetched = (self._local.reader, version, read(self))
            except Exception:
                # The watcher reads again and reports what is wrong the usual way.
                log.exception("the dashboard's first read failed")

        self._prefetch = threading.Thread(target=run, name="pmdesk-prefetch", daemon=True)
        self._prefetch.start()

    def prefetched(self, timeout: float | None = None) -> tuple[object, Any] | None:
        """The prefetched (version, result) once the read has ended; None if it failed, was
        never started, or is still running after `timeout` seconds.

        Its reader stays here for the thread that calls `take_prefetched`.
        """
        if self._prefetch is not None:
            self._prefetch.join(timeout)
            if self._prefetch.is_alive():
                return None
            self._prefetch = None
        found = self._prefetched
        return None if found is None else (found[1], found[2])

    def take_prefetched(self) -> tuple[object, Any] | None:
        """The prefetched (version, result), on the calling thread that now owns its reader."""
        if self._prefetch is None and self._prefetched is None:
            return None
        found = self.prefetched()
        reader = self._prefetched[0] if self._prefetched is not None else None
        self._prefetched = None
        if found is None or reader is None:
            return None
        self._local.reader = reader
        return found

    def reader(self) -> Reader:
        """This thread's reader, opened on first use."""
        found: Reader | None = getattr(self._local, "reader", None)
        if found is None:
            found = self._local.reader = reader_for(self.first.db)
        return found

    def forget_reader(self) -> None:
        """After a failed read: this thread's next read opens a fresh reader."""
        found = getattr(self._local, "reader", None)
        self._local.reader = None
        close = getattr(found, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a failed reader", exc_info=True)

    def version(self) -> object:
        """Changes whenever another connection commits: cheap enough to ask four times a second.

        SQLite's data_version is per connection, so this must be asked on the
        same thread each time. On PostgreSQL, the count of the commits announced
        (core.store.live): no query at all. Without it (the listener could not
        start), a signature of the newest rows, which catches every insert and
        clock change.
        """
        reader = self.reader()
        if isinstance(reader, SqliteReader):
            return reader.rows("PRAGMA data_version")[0][0]
        listener = self.listener()
        if listener is not None:
            return ("notified", listener.version)
        return tuple(
            reader.rows(
                "SELECT (SELECT max(id) FROM event), (SELECT count(*) FROM clock"
                " WHERE outcome = 'running'), (SELECT max(updated_at) FROM invoice),"
                " (SELECT max(updated_at) FROM delivery)"
            )[0]
        )

    def wait(self, version: object, seconds: float) -> None:
        """Sleep `seconds`; on PostgreSQL, only until a commit after `version` is announced.

        A watcher that sleeps between two looks at `version` adds up to that
        sleep to every change's way to the screen; the listener wakes it at
        once instead. Commits announced while it reads wake it once, after
        the read: a burst of them is one more read, not one each.
        """
        notified = isinstance(version, tuple) and version[:1] == ("notified",)
        listener = self.listener() if notified else None
        if listener is None:
            time.sleep(seconds)
        else:
            listener.wait(int(cast(tuple[object, int], version)[1]), seconds)

    def listener(self) -> ChangeListener | None:
        """On PostgreSQL, the thread that LISTENs for commits, started on first use."""
        with self._lock:
            if not self.first.db.startswith("postgresql"):
                return None
            if self._listener is None and not self._listener_failed:
                from core.store.live import ChangeListener

                listener = ChangeListener(self.first.db)
                if listener.wait_ready(LISTEN_READY_SECONDS):
                    self._listener = listener
                else:
                    log.warning("live updates: no LISTEN connection; reading a signature instead")
                    listener.close()
                    self._listener_failed = True
            return self._listener

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from core.store.db import open_database

                self._engine = open_database(self.first.db)
            return self._engine

    @property
    def ingestor(self) -> Ingestor:
        engine = self.engine
        with self._lock:
            if self._ingestor is None:
                from core.conversations.ingest import Ingestor

                self._ingestor = Ingestor.for_settings(engine, self.settings, clock=self.clock)
            return self._ingestor

    def operator(self) -> StaffView:
        """Who the dashboard acts as (the `operator` setting, else the first assistant)."""
        # On this thread's reader: finding who acts loads no SQLAlchemy.
        from core.conversations.staff import operator_in

        person = operator_in(self.reader(), self.first.operator)
        if person is None:
            wanted = self.first.operator
            raise NoOperator(
                f"no staff member {wanted!r} (the operator setting)"
                if wanted
                else "no staff yet: set operator in the configuration once your team is in"
            )
        return person

    def add_screen_time(self, staff_id: int, batch: Batch, now: datetime) -> None:
        """A batch of pmdesk's own measure written for `staff_id` (core.time.meter).

        On a SQLite file through sqlite3 alone, as the reads: the dashboard
        never loads SQLAlchemy for it (docs/benchmarks.md, dashboard round 15).
        """
        path = sqlite_path(self.first.db)
        if path is not None:
            from core.time.screen_file import add_screen_time_to_file

            add_screen_time_to_file(path, staff_id, batch, now)
            return
        from core.time.recorder import add_screen_time

        add_screen_time(self.engine, staff_id, batch, now)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._engine is not None:
            self._engine.dispose()
