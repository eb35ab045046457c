"""Opening the database: URL handling, SQLite pragmas, migrations at start.

SQLite runs in WAL mode so the dashboard can read while the services and
`pmdesk ingest` write. Writers begin with BEGIN IMMEDIATE: a deferred
transaction that reads and then writes can fail at once with SQLITE_BUSY when
another process committed in between, whereas an immediate one waits for the
lock within the busy timeout.

Commits are durable: `synchronous = FULL` syncs the write-ahead log at every
commit, so that what the intake answered 2xx for, and what the outbox
marked sent, survives a power loss or an OS crash (with NORMAL, WAL mode
may lose the last commits then; a process crash loses nothing either
way). The cost, measured with bench/intake.py, is in docs/benchmarks.md. A
bulk import (`pmdesk ingest`) keeps NORMAL: its input is a file that can be
imported again, deduplicated, after a crash.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    RootTransaction,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from core.base.paths import PRIVATE_FILE, shown_database
from core.store.reader import HEAD_REVISION, DatabaseError, stamp
from core.store.schema import whole_schema

BUSY_TIMEOUT_MS = 10_000
# WAL pages before SQLite folds the log back into the database. A bulk import
# waits for 80 MB instead of SQLite's 4 MB: pages rewritten by many batches
# are then copied once rather than after every commit.
BULK_CHECKPOINT_PAGES = 20_000
# The same for every other connection: 16 MB, four times SQLite's default. A
# commit of one event (the HTTP intake at a steady rate) writes about a dozen
# pages to the log, most of them the same few each time (the SLA rollups, the
# thread's row, the growing ends of the indexes): a longer log holds more
# copies of them, copied back once, so checkpoints come four times less often
# without growing fourfold (docs/benchmarks.md, HTTP intake).
CHECKPOINT_PAGES = 4_000
BULK_CACHE_KIB = 256 * 1024


def database_url(value: str) -> str:
    """A SQLite path or an SQLAlchemy URL, as given in PMDESK_DB or --db."""
    if "://" not in value:
        path = Path(value).expanduser()
        return f"sqlite:///{path}"
    try:
        url = make_url(value)
    except ArgumentError:
        raise DatabaseError(
            f"{shown_database(value)!r} is not a database URL or a file path"
        ) from None
    return url.render_as_string(hide_password=False)


def create_db_engine(value: str, *, bulk: bool = False) -> Engine:
    url = database_url(value)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        _create_private(url)
    try:
        engine = create_engine(url, connect_args=_connect_args(url))
    except (ArgumentError, ModuleNotFoundError) as error:
        raise DatabaseError(f"cannot use database {shown_database(value)!r}: {error}") from None
    if is_sqlite:
        _configure_sqlite(engine, bulk=bulk)
    elif engine.dialect.name == "postgresql":
        from core.store.live import announce_changes

        announce_changes(engine)
    return engine


def _connect_args(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"timeout": BUSY_TIMEOUT_MS / 1000}
    if url.startswith("postgresql"):
        # Sessions in UTC whatever the server's zone: instants come back in UTC,
        # and a naive instant (SQLite's text form) is read as the UTC it is.
        return {"options": "-c timezone=UTC"}
    return {}


def _create_private(url: str) -> None:
    """Create a new SQLite file readable by its owner only (0600), its folder if need be.

    SQLite gives the write-ahead log and the shared-memory file the mode of
    the database file, so they are private too. An existing file keeps its mode.
    """
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError:
        return  # SQLite's own open says what is wrong, naming the file
    os.close(descriptor)


def _configure_sqlite(engine: Engine, *, bulk: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {'NORMAL' if bulk else 'FULL'}")
        cursor.execute("PRAGMA foreign_keys = ON")
        pages = BULK_CHECKPOINT_PAGES if bulk else CHECKPOINT_PAGES
        cursor.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        if bulk:
            # Index pages touched by every batch stay in memory between them.
            cursor.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        # Straight on the driver, as plain_rows runs a statement: SQLAlchemy's
        # execution of it cost 40 to 50 us, most of what a transaction begun
        # and committed costs beside SQLite (a batch of one event takes one).
        statement = f"BEGIN {mode}"
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        try:
            driver.execute(statement)
        except sqlite3.Error as error:
            raise _wrapped(statement, (), error) from error


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on error."""
    with engine.connect() as connection, write_on(connection):
        yield connection


@contextmanager
def write_on(connection: Connection) -> Iterator[Connection]:
    """`write`, on a connection its caller keeps from one transaction to the next."""
    with begin_write(connection):
        yield connection


def begin_write(connection: Connection) -> RootTransaction:
    """A transaction that will write, begun on `connection`; its caller ends it.

    On SQLite it takes the write lock at once (BEGIN IMMEDIATE): a
    transaction that reads first and writes later could otherwise find the
    lock taken in between and fail rather than wait.
    """
    if connection.dialect.name == "sqlite":
        connection.execution_options(sqlite_begin="IMMEDIATE")
    return connection.begin()


def plain_rows(connection: Connection, statement: str, parameters: Sequence[Any] = ()) -> list[Any]:
    """The rows of a statement in SQLite's own text, run straight on the driver.

    On PostgreSQL, through SQLAlchemy, its `?` marks made `%s`.

    For the constant statements every ingested batch runs: SQLAlchemy's
    own work per statement (its events, the result's metadata) cost more
    than SQLite's on a small batch. Only inside a transaction already begun
    (else through SQLAlchemy, which begins one); the engine's statement
    events do not see these.
    """
    if connection.dialect.name != "sqlite":
        return list(connection.exec_driver_sql(_formatted(statement), tuple(parameters)).all())
    if connection.in_transaction():
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        try:
            return driver.execute(statement, parameters).fetchall()
        except sqlite3.Error as error:
            raise _wrapped(statement, parameters, error) from error
    return list(connection.exec_driver_sql(statement, tuple(parameters)).all())


def plain_many(connection: Connection, statement: str, rows: Sequence[Sequence[Any]]) -> int:
    """A statement run once per row, as plain_rows runs one; returns the rows changed."""
    if connection.dialect.name != "sqlite":
        if not rows:
            return 0
        # psycopg's rowcount of a batch counts its last statement only: one at a time.
        return sum(
            int(connection.exec_driver_sql(_formatted(statement), tuple(row)).rowcount)
            for row in rows
        )
    if connection.in_transaction():
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        try:
            return int(driver.executemany(statement, rows).rowcount)
        except sqlite3.Error as error:
            raise _wrapped(statement, rows, error) from error
    return int(connection.exec_driver_sql(statement, list(rows)).rowcount)


def _formatted(statement: str) -> str:
    """A statement with SQLite's `?` marks in the `%s` form of PostgreSQL's driver.

    Only for the constant statements of the plain paths, which hold no other
    `?` nor `%`. Instants are best passed as datetimes there: a text instant
    (core.store.reader.stamp) is naive, which PostgreSQL reads in UTC only
    because core.store.db sets its connections' zone to UTC.
    """
    return statement.replace("%", "%%").replace("?", "%s")


def _wrapped(statement: str, parameters: Any, error: sqlite3.Error) -> StatementError:
    """The driver's error as SQLAlchemy raises it (OperationalError, IntegrityError, ...), so
    that callers tell a failing database from a failing row the same way on either path."""
    return DBAPIError.instance(statement, parameters, error, sqlite3.Error)


# Bound parameters per IN (...) query, well under SQLite's limit.
IN_CHUNK = 500


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """`values` in slices of at most `size`: one IN (...) query each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_many(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    unless_known: str | None = None,
    stamps: dict[datetime, str] | None = None,
) -> int:
    """Insert rows fast: the bulk path of ingestion. Returns how many were inserted.

    On SQLite the rows go straight to the driver's executemany, with
    datetimes written in the exact text form SQLAlchemy's DateTime uses
    (naive UTC, microseconds), so that ORM reads and index order are the
    same as for rows written through SQLAlchemy; per-value bind processing
    in Python would otherwise cost more than the insert itself. Other
    databases take SQLAlchemy's own executemany. `unless_known`: a unique
    column; a row whose value there is stored already is left out (ON
    CONFLICT DO NOTHING: concurrent writers never duplicate), on SQLite and
    PostgreSQL. `stamps`: instants in their stored text form, kept by a caller that
    writes the same instants to several tables (see _driver_rows).
    """
    if not rows:
        return 0
    if connection.dialect.name != "sqlite":
        if unless_known is None:
            # Every row or an error. (A driver's rowcount of an executemany may be -1.)
            connection.execute(insert(table), rows)
            return len(rows)
        if connection.dialect.name != "postgresql":
            raise NotImplementedError(
                f"an insert unless known needs SQLite or PostgreSQL, not {connection.dialect.name}"
            )
        from sqlalchemy.dialects import postgresql

        # The rows inserted are those RETURNING gives back: psycopg's rowcount of a
        # batch is -1.
        ignoring = (
            postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=[unless_known])
            .returning(table.c[unless_known])
        )
        return len(connection.execute(ignoring, rows).all())
    # Python-side defaults, as SQLAlchemy's own insert would apply them.
    defaults = {name: value for name, value in _defaults(table) if name not in rows[0]}
    if defaults:
        rows = [defaults | row for row in rows]
    columns = list(rows[0])
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    if unless_known is not None:
        statement += f" ON CONFLICT ({unless_known}) DO NOTHING"
    return plain_many(connection, statement, _driver_rows(table, columns, rows, stamps))


def insert_with_ids(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    known: dict[str, int] | None = None,
    stamps: dict[datetime, str] | None = None,
) -> list[int]:
    """Insert rows and return their new ids, in order. Only inside `write()`.

    On SQLite the transaction holds the write lock (BEGIN IMMEDIATE), so
    the next ids are ours to hand out and the fast insert needs no RETURNING;
    `known` is the next ids a caller keeps between transactions (see next_ids).
    """
    if not rows:
        return []
    if connection.dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(connection.execute(statement, rows).scalars())
    ids = next_ids(connection, table, len(rows), known)
    insert_many(
        connection,
        table,
        [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)],
        stamps=stamps,
    )
    return ids


def next_ids(
    connection: Connection, table: Table, count: int, known: dict[str, int] | None = None
) -> list[int]:
    """The ids the next `count` rows of `table` take. SQLite only, inside `write()`.

    BEGIN IMMEDIATE holds the write lock, so no other connection can take them.
    `known`: the next id of each table by name, as a caller that knows no one
    else has written since its last transaction keeps it (asked of the
    database when missing); it is moved past the ids handed out.
    """
    first = None if known is None else known.get(table.name)
    if first is None:
        # Plain SQL: a statement built and compiled anew for each table and batch
        # cost more than the query itself on a batch of one event.
        stored = connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar()
        first = (stored or 0) + 1
    if known is not None:
        known[table.name] = first + count
    return list(range(first, first + count))


def insert_stored(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows whose values are already in SQLite's storage form (see insert_many).

    For the hottest insert of all, ingestion's events, which builds each row
    in one step rather than as a dict converted afterwards.
    """
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    plain_many(connection, f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def data_version(connection: Connection) -> tuple[int, int] | None:
    """A token that changes when another connection commits; None if unknown.

    SQLite's `PRAGMA data_version` is per connection and ignores the
    connection's own commits, so the token pairs it with that connection.
    """
    if connection.dialect.name != "sqlite":
        return None
    [(version,)] = plain_rows(connection, "PRAGMA data_version")
    return id(connection.connection.dbapi_connection), int(version)


def update_many(
    connection: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    stamps: dict[datetime, str] | None = None,
) -> None:
    """Update rows by primary key `id`, each with the columns given; fast as insert_many."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    if connection.dialect.name != "sqlite":
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in columns})
        )
        connection.execute(statement, [{**row, "_id": row["id"]} for row in rows])
        return
    assignments = ", ".join(f"{name} = ?" for name in columns)
    plain_many(
        connection,
        f"UPDATE {table.name} SET {assignments} WHERE id = ?",
        _driver_rows(table, [*columns, "id"], rows, stamps),
    )


def _defaults(table: Table) -> list[tuple[str, Any]]:
    """The table's columns with a plain Python-side default, and that default (kept: a
    table's columns do not change, and reading them at every insert cost more than it)."""
    found = _DEFAULTS.get(table)
    if found is None:
        found = _DEFAULTS[table] = [
            (column.name, column.default.arg)
            for column in table.columns
            if isinstance(column.default, ScalarElementColumnDefault)
        ]
    return found


def _stamp_positions(table: Table, columns: Sequence[str]) -> list[int]:
    """Where the datetime columns are among `columns` (kept, as _defaults)."""
    key = (table, tuple(columns))
    found = _STAMPS.get(key)
    if found is None:
        found = _STAMPS[key] = [
            index for index, name in enumerate(columns) if _is_datetime(table.c[name].type)
        ]
    return found


_DEFAULTS: dict[Table, list[tuple[str, Any]]] = {}
_STAMPS: dict[tuple[Table, tuple[str, ...]], list[int]] = {}


def _driver_rows(
    table: Table,
    columns: list[str],
    rows: list[dict[str, Any]],
    stamps: dict[datetime, str] | None = None,
) -> list[tuple[Any, ...]]:
    values = itemgetter(*columns)
    if len(columns) == 1:
        return [(values(row),) for row in rows]
    positions = _stamp_positions(table, columns)
    # Many rows share one instant (every event of a batch has the same
    # received_at, a clock starts and stops at its events' instants): each
    # distinct instant is converted once, here or by the caller of `stamps`.
    texts = {} if stamps is None else stamps
    converted = []
    for row in rows:
        line = list(values(row))
        for index in positions:
            value = line[index]
            if value is not None:
                text = texts.get(value)
                if text is None:
                    text = texts[value] = stamp(value)
                line[index] = text
        converted.append(tuple(line))
    return converted


def _is_datetime(kind: Any) -> bool:
    # SQLModel's UTCDateTime decorates DateTime and reports python_type as object.
    return isinstance(kind, DateTime) or isinstance(getattr(kind, "impl_instance", None), DateTime)


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
    if revision == "head":
        current = current_revision(engine)
        if current == HEAD_REVISION:
            return
        if current is None and _create_fresh(engine):
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


def _create_fresh(engine: Engine) -> bool:
    """Build an empty database straight from the models and stamp it with the head revision.

    The same schema as running every migration (tests/core/store/test_db.py holds
    the two equal), for a fifth of a second less on every new database.
    Returns False, touching nothing, when the database already has tables.
    """
    with engine.begin() as connection:
        if inspect(connection).get_table_names():
            return False
        whole_schema(connection.dialect.name).create_all(connection)
        connection.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        connection.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:head)"),
            {"head": HEAD_REVISION},
        )
    return True


def open_database(value: str, *, bulk: bool = False) -> Engine:
    """The engine for PMDESK_DB, with the schema up to date.

    `bulk` suits a process that writes a lot at once (an import): see
    BULK_CHECKPOINT_PAGES. Dispose of its engine at the end, which folds the
    log back into the database.
    """
    engine = create_db_engine(value, bulk=bulk)
    migrate(engine)
    return engine


def write_refused(engine: Engine, problem: str) -> DatabaseError:
    """The one line to show when the database refuses a write (read-only, full, locked)."""
    return DatabaseError(f"cannot write to the database {_where(engine)}: {problem}")


def _where(engine: Engine) -> str:
    """The database named for an error message, without its password."""
    url = engine.url
    return url.database or "" if url.get_backend_name() == "sqlite" else url.render_as_string()
