"""Opening the database: URL handling, SQLite pragmas, migrations at start.

SQLite runs in WAL mode so the dashboard can read while the services and
`pmdesk ingest` write. Writers begin with BEGIN IMMEDIATE: a deferred
transaction that reads and then writes can fail at once with SQLITE_BUSY when
another process committed in between, whereas an immediate one waits for the
lock within the busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from . import models  # noqa: F401  (registers the tables on SQLModel.metadata)

# The newest migration; compared with the database's stamp so that a
# database already up to date costs one query at start, not an Alembic run.
HEAD_REVISION = "0001"
BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message says why."""


def database_url(value: str) -> str:
    """A SQLite path or an SQLAlchemy URL, as given in PMDESK_DB or --db."""
    if "://" not in value:
        path = Path(value).expanduser()
        return f"sqlite:///{path}"
    try:
        url = make_url(value)
    except ArgumentError:
        raise DatabaseError(f"{value!r} is not a database URL or a file path") from None
    return url.render_as_string(hide_password=False)


def create_db_engine(value: str) -> Engine:
    url = database_url(value)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        _ensure_parent(url)
    try:
        engine = create_engine(
            url,
            # SQLite connections are cheap to open, and a pool would keep file
            # handles across fork() in the services.
            poolclass=NullPool if is_sqlite else None,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite else {},
        )
    except (ArgumentError, ModuleNotFoundError) as error:
        raise DatabaseError(f"cannot use database {value!r}: {error}") from None
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _ensure_parent(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on error."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.execution_options(sqlite_begin="IMMEDIATE")
        with connection.begin():
            yield connection


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError as error:
        if "alembic_version" in str(error.orig):
            return None
        raise DatabaseError(f"cannot open database {_where(engine)}: {error.orig}") from None
    return row[0] if row else None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default), in place."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    # Alembic is only imported when there is something to do: it is the
    # slowest import of a command that otherwise answers in a blink.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, revision)
        except DBAPIError as error:
            raise DatabaseError(f"cannot upgrade database {_where(engine)}: {error.orig}") from None
        connection.commit()


def open_database(value: str) -> Engine:
    """The engine for PMDESK_DB, with the schema up to date."""
    engine = create_db_engine(value)
    migrate(engine)
    return engine


def _where(engine: Engine) -> str:
    """The database named for an error message, without its password."""
    url = engine.url
    return url.database or "" if url.get_backend_name() == "sqlite" else url.render_as_string()
