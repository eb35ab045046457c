"""The time rows summed per month and project, and per month and person (docs/time.md).

A report over a year reads these few thousand sums rather than the hundreds
of thousands of rows they sum. They are kept equal to the rows by the sync
(core.time.sync.apply_window refreshes the months it changed, in the same
transaction as the rows) and hold the minutes of account management under
one rule, stored beside them (TimeSumRule) with its fingerprint
(core.time.rule): the rule of the configuration, and the staff holding its
roles. A report uses them only while its rule has that fingerprint; when the
configuration or the staff's roles change, `build` sums every month again
under the new rule (the report's command and `pmdesk time sync` do it, and
say so), and until then a report reads the rows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.store.reader import Reader, Row
from core.time.rule import AmRule, Rule, am_condition, fingerprint, role_emails

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

KEY = "am"


def stored(reader: Reader) -> tuple[Rule, str] | None:
    """The rule the sums were built with and its fingerprint; None if never built."""
    found = reader.rows("SELECT rule, fingerprint FROM timesumrule WHERE key = :key", {"key": KEY})
    if not found:
        return None
    return Rule.from_json(found[0][0]), str(found[0][1])


def current(reader: Reader, rule: AmRule) -> bool:
    """Whether the sums count as `rule` would (same fingerprint)."""
    found = stored(reader)
    return found is not None and found[1] == fingerprint(reader, rule)


def read(
    reader: Reader, low: str, high: str, skip: Collection[str] = ()
) -> tuple[list[Row], list[Row]]:
    """The sums of the months `low`..`high` (`YYYY-MM`) but those in `skip`.

    Project sums (month, project_id, project_name, am, minutes) and person
    sums (month, user_email, user_name, am, minutes), by month.
    """
    names = {f"skip{number}": month for number, month in enumerate(sorted(skip))}
    params = {"low": low, "high": high, **names}
    where = "month >= :low AND month <= :high" + "".join(f" AND month <> :{name}" for name in names)
    projects = reader.rows(
        "SELECT month, project_id, project_name, am_minutes, minutes FROM timesumproject"
        f" WHERE {where} ORDER BY month",
        params,
    )
    people = reader.rows(
        "SELECT month, user_email, user_name, am_minutes, minutes FROM timesumperson"
        f" WHERE {where} ORDER BY month",
        params,
    )
    return projects, people


class ConnectionReader:
    """A Reader on a connection in a transaction: reads see its writes."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def rows(self, sql: str, params: Any = None) -> list[Row]:
        from sqlalchemy import text

        return [tuple(row) for row in self.connection.execute(text(sql), dict(params or {}))]


def build(
    connection: Connection, rule: AmRule, now: datetime, months: Collection[str] | None = None
) -> None:
    """Sum `months` (every month when None) again from the rows, under `rule`.

    Summing every month also records `rule` and its fingerprint as the sums'.
    """
    from sqlalchemy import delete, insert, text

    rules = _lock(connection, now)
    if months is not None and not months:
        return
    condition, params = am_condition(rule)
    am = f"CASE WHEN {condition} THEN r.minutes ELSE 0 END"
    names = {f"month{number}": month for number, month in enumerate(sorted(months or ()))}
    listed = ", ".join(f":{name}" for name in names)
    only = "" if months is None else f" WHERE month IN ({listed})"
    rows_only = "" if months is None else f" WHERE r.month IN ({listed})"
    for sums, key, name in (
        ("timesumproject", "project_id", "project_name"),
        ("timesumperson", "user_email", "user_name"),
    ):
        connection.execute(text(f"DELETE FROM {sums}{only}"), names)
        connection.execute(
            text(
                f"INSERT INTO {sums} (month, {key}, {name}, am_minutes, minutes)"
                f" SELECT r.month, r.{key}, max(r.{name}), sum({am}), sum(r.minutes)"
                f"   FROM timerow r{rows_only} GROUP BY r.month, r.{key}"
            ),
            {**params, **names},
        )
    if months is None:
        found = Rule.of(rule)
        print_ = found.fingerprint(role_emails(ConnectionReader(connection), found.am_roles))
        connection.execute(delete(rules).where(rules.c.key == KEY))
        connection.execute(
            insert(rules).values(key=KEY, rule=found.as_json(), fingerprint=print_, built_at=now)
        )


def _lock(connection: Connection, now: datetime) -> Any:
    """Take the rule's row: writers of the sums one at a time, on PostgreSQL too."""
    from sqlalchemy import update

    from core.store.models.system import table
    from core.store.models.time import TimeSumRule

    rules = table(TimeSumRule)
    connection.execute(update(rules).where(rules.c.key == KEY).values(built_at=now))
    return rules


def refresh(connection: Connection, months: Collection[str], now: datetime) -> None:
    """After the rows of `months` changed: their sums again, under the sums' own rule.

    Nothing while the sums were never built. When the staff holding the
    rule's roles changed since, every month is summed again.
    """
    if not months:
        return
    _lock(connection, now)
    reader = ConnectionReader(connection)
    found = stored(reader)
    if found is None:
        return
    rule, print_ = found
    if rule.fingerprint(role_emails(reader, rule.am_roles)) != print_:
        build(connection, rule, now)
    else:
        build(connection, rule, now, months)


def ensure(engine: Engine, rule: AmRule, now: datetime) -> bool:
    """Build the sums under `rule` unless they count as it does; True if built."""
    with engine.begin() as connection:
        _lock(connection, now)
        if current(ConnectionReader(connection), rule):
            return False
        build(connection, rule, now)
        return True
