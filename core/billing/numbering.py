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

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

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


_LAST_DAY = text("SELECT max(last_issued_on) FROM billingcounter WHERE series = :series")
_ENSURE = text(
    "INSERT INTO billingcounter (series, year, last_sequence) VALUES (:series, :year, 0) "
    "ON CONFLICT (series, year) DO NOTHING"
)
_NEXT = text(
    "UPDATE billingcounter SET last_sequence = last_sequence + 1, last_issued_on = :on "
    "WHERE series = :series AND year = :year RETURNING last_sequence"
)


def last_issued_on(connection: Connection, series: str) -> date | None:
    """The day of the last document of `series`, whatever its year; None before the first."""
    value = connection.execute(_LAST_DAY, {"series": series}).scalar()
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
    connection.execute(_ENSURE, parameters)
    sequence = int(connection.execute(_NEXT, parameters).scalar_one())
    return Numbered(number_of(series, on.year, sequence), series, on.year, sequence)
