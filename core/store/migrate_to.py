"""Copying a whole database into an empty one of the other engine (`pmdesk db migrate-to`).

SQLite -> PostgreSQL when an agency grows, and PostgreSQL -> a new SQLite file
to come back. The target is first brought to the source's schema revision
(built fresh when it has no tables), then every table is copied in
dependency order (parents before children), in batches, with the ids as they
are; PostgreSQL's sequences are then set past the highest id copied.

The copy is one transaction on the target, verified before it commits: each
table's row count and a digest of its rows (ordered by primary key, values
normalised so that both engines give the same digest: instants as UTC ISO,
decimals and text as text, booleans as 0 or 1) must equal the source's. Any
failure rolls it back: the target is left as it was found, its schema made
but every table empty. The source is read in one read transaction: a
consistent picture even if something writes meanwhile.

Refused before anything is written: a target that holds rows, a target at
another schema revision than the source, a source whose services' lease is
held (pmdesk serve runs on it), a target that cannot be reached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, String, Table, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from core.base.paths import shown_database
from core.store.db import create_db_engine, current_revision, migrate
from core.store.lease import SERVICES
from core.store.reader import HEAD_REVISION, DatabaseError, instant
from core.store.schema import whole_schema

BATCH = 2_000
_SKIPPED = {"alembic_version", "sqlite_sequence"}

# (table, rows copied so far in it, its rows in all)
Progress = Callable[[str, int, int], None]


class MigrateError(DatabaseError):
    """The copy refused or failed; the message says why and in what state the target is."""


@dataclass(frozen=True)
class TableCopy:
    name: str
    rows: int
    digest: str


@dataclass(frozen=True)
class Migrated:
    revision: str
    tables: list[TableCopy]

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


def tables() -> list[Table]:
    """Every table of the schema, parents before the tables that refer to them."""
    return [table for table in whole_schema().sorted_tables if table.name not in _SKIPPED]


def migrate_to(
    source: Engine,
    target_url: str,
    now: datetime,
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> Migrated:
    """Copy `source` into the empty database at `target_url` and verify it; see the module."""
    revision = current_revision(source)
    if revision is None:
        raise MigrateError("the source database has no schema")
    _refuse_running(source, now)
    unknown = set(inspect(source).get_table_names()) - _SKIPPED - {t.name for t in tables()}
    if unknown:
        raise MigrateError(
            f"the source has tables this pmdesk does not know ({', '.join(sorted(unknown))}): "
            "they would not be copied"
        )
    target = _reach(target_url)
    try:
        _prepare(target, revision)
        return _copy(source, target, revision, progress, batch)
    finally:
        target.dispose()


def _reach(url: str) -> Engine:
    """The target's engine, once a connection to it worked."""
    try:
        engine = create_db_engine(url)
    except DatabaseError as error:
        raise MigrateError(str(error)) from None
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        engine.dispose()
        problem = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise MigrateError(f"cannot reach {shown_database(url)!r}: {problem}") from None
    return engine


def _refuse_running(source: Engine, now: datetime) -> None:
    with source.connect() as connection:
        row = connection.execute(
            text("SELECT holder, expires_at FROM lease WHERE name = :name"), {"name": SERVICES}
        ).first()
    if row is None:
        return
    expires = instant(row[1])
    if expires is not None and expires > now:
        raise MigrateError(
            f"the services run on the source database ({row[0]}): stop pmdesk serve first"
        )


def _prepare(target: Engine, revision: str) -> None:
    """The target at the source's revision, every table empty; else MigrateError."""
    found = current_revision(target)
    names = set(inspect(target).get_table_names()) - _SKIPPED
    if found is None and names:
        raise MigrateError(
            "the target is not empty: it has tables but no pmdesk schema "
            f"({', '.join(sorted(names)[:3])}...)"
        )
    if found is not None and found != revision:
        raise MigrateError(
            f"the source is at schema revision {revision}, the target at {found}: "
            "bring both to the same pmdesk version first"
        )
    if found is None:
        try:
            migrate(target, "head" if revision == HEAD_REVISION else revision)
        except DatabaseError as error:
            raise MigrateError(str(error)) from None
        if current_revision(target) != revision:
            raise MigrateError(f"the target could not be brought to schema revision {revision}")
    with target.connect() as connection:
        for table in tables():
            if connection.execute(select(table).limit(1)).first() is not None:
                raise MigrateError(
                    f"the target is not empty (table {table.name} has rows): give an empty database"
                )


def _copy(
    source: Engine, target: Engine, revision: str, progress: Progress | None, batch: int
) -> Migrated:
    copied: list[TableCopy] = []
    with source.connect() as reading, target.connect() as writing:
        if reading.dialect.name == "postgresql":
            reading.execution_options(isolation_level="REPEATABLE READ")
        if writing.dialect.name == "sqlite":
            writing.execution_options(sqlite_begin="IMMEDIATE")
        with reading.begin():
            transaction = writing.begin()
            try:
                for table in tables():
                    copied.append(_copy_table(reading, writing, table, progress, batch))
                if writing.dialect.name == "postgresql":
                    _set_sequences(writing)
                _verify(writing, copied)
            except BaseException as error:
                transaction.rollback()
                if isinstance(error, MigrateError):
                    raise
                if isinstance(error, DBAPIError):
                    raise MigrateError(
                        f"copy failed, nothing kept (the target's tables are empty): {error.orig}"
                    ) from None
                raise
            transaction.commit()
    return Migrated(revision, copied)


def _copy_table(
    reading: Connection,
    writing: Connection,
    table: Table,
    progress: Progress | None,
    batch: int,
) -> TableCopy:
    total = reading.execute(select(func.count()).select_from(table)).scalar_one()
    if progress is not None:
        progress(table.name, 0, total)
    digest = hashlib.sha256()
    count = 0
    for rows in _batches(reading, table, batch):
        writing.execute(table.insert(), [dict(row._mapping) for row in rows])
        for row in rows:
            digest.update(_normalised(row))
        count += len(rows)
        if progress is not None:
            progress(table.name, count, total)
    return TableCopy(table.name, count, digest.hexdigest())


def _batches(connection: Connection, table: Table, batch: int) -> Iterator[Sequence[Any]]:
    result = connection.execution_options(yield_per=batch).execute(_ordered(connection, table))
    yield from result.partitions(batch)


def _ordered(connection: Connection, table: Table) -> Any:
    """Every row of `table` by primary key, text compared byte by byte on both engines."""
    keys = list(table.primary_key.columns) or list(table.columns)
    order: list[Any] = []
    for column in keys:
        if isinstance(column.type, String) and connection.dialect.name == "postgresql":
            order.append(column.collate("C"))
        else:
            order.append(column)
    return select(table).order_by(*order)


def table_digests(engine: Engine) -> dict[str, tuple[int, str]]:
    """Each table's row count and digest (as the copy computes them), to compare databases."""
    with engine.connect() as connection:
        return {table.name: _digest(connection, table) for table in tables()}


def _digest(connection: Connection, table: Table) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for rows in _batches(connection, table, BATCH):
        for row in rows:
            digest.update(_normalised(row))
        count += len(rows)
    return count, digest.hexdigest()


def _verify(writing: Connection, copied: list[TableCopy]) -> None:
    """Every table of the target (as this transaction sees it) against what was read."""
    for done in copied:
        table = whole_schema().tables[done.name]
        rows, digest = _digest(writing, table)
        if (rows, digest) != (done.rows, done.digest):
            raise MigrateError(
                f"verification failed on table {done.name} ({done.rows} rows read, {rows} "
                "written, digests differ): nothing kept, the target's tables are empty"
            )


def _set_sequences(writing: Connection) -> None:
    """Each PostgreSQL sequence behind an id column set past the highest id copied."""
    for table in tables():
        for column in table.primary_key.columns:
            sequence = writing.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar_one()
            if sequence is None:
                continue
            highest = writing.execute(select(func.max(column))).scalar_one()
            if highest is None:
                writing.execute(text("SELECT setval(:sequence, 1, false)"), {"sequence": sequence})
            else:
                writing.execute(
                    text("SELECT setval(:sequence, :value)"),
                    {"sequence": sequence, "value": int(highest)},
                )


def _normalised(row: Any) -> bytes:
    """One row as bytes both engines give alike."""
    return (json.dumps([_value(value) for value in row], ensure_ascii=False) + "\n").encode()


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)
