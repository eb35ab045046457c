"""Reading: the queries behind the screens and the read commands, as SQL text.

`pmdesk clocks` and `pmdesk report sla` must answer in well under a second,
and on a modest machine importing SQLAlchemy alone
takes longer than that budget. So reads are plain SQL with `:name`
parameters, which the standard library's sqlite3 runs on a SQLite file (no
heavy import at all) and SQLAlchemy's `text()` runs on any other database:
each query is written once for both.

This module imports nothing beyond the standard library at load time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Engine


# The newest migration. A database stamped with it needs no upgrade, which
# a reader can tell with one query and no Alembic.
HEAD_REVISION = "0023"
BUSY_TIMEOUT_S = 10.0

Row = tuple[Any, ...]


class DatabaseError(Exception):
    """The database cannot be opened or upgraded; the message says why."""


class Reader(Protocol):
    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...


class SqliteReader:
    """A read-only stdlib connection to a SQLite file whose schema is current."""

    def __init__(self, path: Path, *, handed_over: bool = False) -> None:
        """`handed_over`: opened by one thread and used by another, one at a time."""
        self.path = path
        self._connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            check_same_thread=not handed_over,
        )

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self._connection.execute(sql, _plain(params)).fetchall()

    def close(self) -> None:
        self._connection.close()


class EngineReader:
    """The same queries through SQLAlchemy, for PostgreSQL and for code holding an Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        from sqlalchemy import text

        if self.engine.dialect.name == "sqlite":
            params = _plain(params)
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), dict(params or {}))]


def commits_in_id_order(reader: Reader) -> bool:
    """Whether rows become visible in the order of their ids, so a reader may keep a cursor.

    SQLite lets one writer at a time commit. PostgreSQL takes an id from a
    sequence as the row is inserted: two writers may commit in either order.
    """
    if isinstance(reader, SqliteReader):
        return True
    return isinstance(reader, EngineReader) and reader.engine.dialect.name == "sqlite"


def sqlite_path(database: str) -> Path | None:
    """The file of a SQLite database given as a path or a sqlite:/// URL, else None."""
    if "://" not in database:
        return Path(database).expanduser()
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if database.startswith(prefix) and database != prefix + ":memory:":
            return Path(database.removeprefix(prefix).split("?")[0])
    return None


def _plain(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters for SQLite: instants in their stored text form, so they compare right."""
    if not params:
        return {}
    return {
        name: stamp(value) if isinstance(value, datetime) else value
        for name, value in params.items()
    }


def stamp(value: datetime) -> str:
    """An instant in the text form SQLAlchemy's DateTime stores in SQLite (naive UTC)."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{value.isoformat()} has no UTC offset")
    if offset:
        value -= offset  # to UTC; cheaper than astimezone on hot paths
    # "YYYY-MM-DD HH:MM:SS.ffffff" is the first 26 characters; slicing off the
    # "+00:00" is cheaper than building a naive copy (ingestion stamps a few
    # hundred thousand instants a minute).
    return value.isoformat(" ", "microseconds")[:26]


def instant(value: str | datetime | None) -> datetime | None:
    """A stored instant (text from SQLite, a datetime from other drivers) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) >= 19 and value[-6] not in "+-" and value[-1] != "Z":
            # Stored naive (stamp's form): read with UTC's offset appended, about
            # six times cheaper than replacing the tzinfo after parsing, which
            # counts on reads of thousands of rows (the running clocks' four each).
            return datetime.fromisoformat(value + "+00:00")
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def required_instant(value: str | datetime | None) -> datetime:
    """`instant` for a NOT NULL column: a missing value is a broken row, said loudly."""
    found = instant(value)
    if found is None:
        raise DatabaseError("a required instant is missing from a row")
    return found
