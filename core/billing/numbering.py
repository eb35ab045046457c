"""Numbers of invoices and credit notes: chronological and continuous, without
gaps, per series and year (F2026-00001), as French law requires.

A number is taken only inside the transaction that issues its document
(`take_number`, called by core.billing.issue and core.billing.credit within
`core.store.db.write`): if anything fails before the commit, the counter's
move is rolled back with the document, and the next issue takes the same
number. On SQLite the transaction holds the write lock from its start
(BEGIN IMMEDIATE), so two processes issuing at once take turns and never
share a number; on PostgreSQL the counter row's UPDATE locks it until commit.

Issue dates never go back within a series: a document dated before the last
one issued in its series is refused, so that numbers and dates run in the
same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Connection, Table, text

from core.store.db import insert_many, insert_with_ids, plain_rows

# The digits of the sequence in a number: F2026-00001.
SEQUENCE_DIGITS = 5


class NumberingError(ValueError):
    """A number cannot be given (an issue date before the series' last one)."""


@dataclass(frozen=True)
class Numbered:
    number: str
    series: str
    year: int
    sequence: int


def number_of(series: str, year: int, sequence: int) -> str:
    """The printed number: series, year, a dash and the sequence on five digits."""
    return f"{series}{year}-{sequence:0{SEQUENCE_DIGITS}d}"


def sql_rows(connection: Connection, statement: str, parameters: Mapping[str, Any]) -> list[Any]:
    """The rows of a statement with `:name` parameters, in the caller's write transaction.

    On SQLite straight to the driver (see core.store.db.plain_rows): a run
    issues thousands of small transactions, and SQLAlchemy's work per
    statement would cost more than SQLite's. Elsewhere through SQLAlchemy.
    """
    if connection.dialect.name == "sqlite" and connection.in_transaction():
        # sqlite3 takes a mapping for `:name` parameters.
        return plain_rows(connection, statement, cast(Any, parameters))
    result = connection.execute(text(statement), dict(parameters))
    # An INSERT without RETURNING gives no rows (SQLite's driver says none, SQLAlchemy raises).
    return list(result.all()) if result.returns_rows else []


def new_ids(connection: Connection, *tables: Table) -> list[int | None]:
    """The id the next row of each table takes, on SQLite, in one query; None elsewhere.

    Only inside `write()`: BEGIN IMMEDIATE holds the write lock, so the ids are ours.
    """
    if connection.dialect.name != "sqlite":
        return [None] * len(tables)
    query = ", ".join(f"(SELECT max(id) FROM {table.name})" for table in tables)
    [row] = plain_rows(connection, f"SELECT {query}")
    return [(last or 0) + 1 for last in row]


def insert_one(
    connection: Connection, table: Table, row: dict[str, Any], new_id: int | None
) -> int:
    """Insert one row with the id `new_ids` gave (None: the database's), and return its id."""
    if new_id is None:
        [given] = insert_with_ids(connection, table, [row])
        return given
    insert_many(connection, table, [{**row, "id": new_id}])
    return new_id


_LAST_DAY = "SELECT max(last_issued_on) FROM billingcounter WHERE series = :series"
_FIRST = (
    "INSERT INTO billingcounter (series, year, last_sequence) VALUES (:series, :year, 0) "
    "ON CONFLICT (series, year) DO NOTHING"
)
_NEXT = (
    "UPDATE billingcounter SET last_sequence = last_sequence + 1, last_issued_on = :on "
    "WHERE series = :series AND year = :year RETURNING last_sequence"
)


def last_issued_on(connection: Connection, series: str) -> date | None:
    """The day of the last document of `series`, whatever its year; None before the first."""
    [(value,)] = sql_rows(connection, _LAST_DAY, {"series": series})
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def take_number(connection: Connection, series: str, on: date) -> Numbered:
    """The next number of `series` for a document issued `on`. Only inside `write()`.

    NumberingError if `on` is before the last issue date of the series.
    """
    last = last_issued_on(connection, series)
    if last is not None and on < last:
        raise NumberingError(
            f"cannot issue on {on}: the last document of series {series} was issued on "
            f"{last}, and numbers follow the dates"
        )
    parameters = {"series": series, "year": on.year, "on": on}
    moved = sql_rows(connection, _NEXT, parameters)
    if not moved:  # the first of its series and year
        sql_rows(connection, _FIRST, parameters)
        moved = sql_rows(connection, _NEXT, parameters)
    [(sequence,)] = moved
    return Numbered(number_of(series, on.year, int(sequence)), series, on.year, int(sequence))
