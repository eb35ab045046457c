"""What usage lines bill: the volumes of their sources, and the usage files.

Three sources (core.billing.contracts.UsageSource):
- `worksection_hours`: the hours logged on the client's projects, from the
  time rows core.time keeps (a project's client: the `[worksection].projects`
  mapping, else the project's name);
- `pmdesk_events`: the events of the client's threads (UTC days);
- `file`: the quantities a usage file gives per client, service and month.

A usage file is a CSV with the columns `client`, `service` (or `line`),
`quantity` and `period` (`YYYY-MM`), comma or semicolon separated. Each row
is taken or refused on its own (an unknown client, a negative quantity, a
period not a month); importing the same file again changes nothing, and a
new quantity for the same client, service and month replaces the old one.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, or_, select

from core.billing.contracts import UsageSource, client_ids, decimal_of
from core.store.db import insert_many
from core.store.models.contracts import UsageRecord
from core.store.models.system import table
from core.store.models.threads import Event, Thread
from core.store.models.time import TimeRow

USAGE = table(UsageRecord)
TIME = table(TimeRow)
EVENT = table(Event)
THREAD = table(Thread)

_COLUMNS = {
    "client": ("client", "customer"),
    "service": ("service", "line"),
    "quantity": ("quantity", "qty"),
    "period": ("period", "month"),
}


class UsageFileError(ValueError):
    """A usage file that cannot be read as a whole (nothing of it is imported)."""


@dataclass(frozen=True)
class UsageRow:
    line: int
    status: str  # created, updated, unchanged, rejected
    client: str = ""
    service: str = ""
    period: str = ""
    reason: str = ""


@dataclass
class UsageSummary:
    file: str
    rows: list[UsageRow] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def rejections(self) -> list[UsageRow]:
        return [row for row in self.rows if row.status == "rejected"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "counts": {
                status: self.count(status)
                for status in ("created", "updated", "unchanged", "rejected")
            },
            "rejected": [{"line": row.line, "reason": row.reason} for row in self.rejections],
        }


def month_text(text: str) -> str:
    """`YYYY-MM` from `2026-11` or `2026-11-01`; ValueError otherwise."""
    cleaned = text.strip()
    try:
        day = date.fromisoformat(cleaned if len(cleaned) > 7 else f"{cleaned}-01")
    except ValueError:
        raise ValueError(f"period {text!r} is not a month (write it like 2026-11)") from None
    return f"{day.year:04d}-{day.month:02d}"


def import_usage(connection: Connection, path: Path, *, at: datetime) -> UsageSummary:
    """Import a usage file in the caller's transaction; each row taken or refused alone."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageFileError(f"{path}: cannot be read ({error})") from None
    summary = UsageSummary(str(path))
    reader = _reader(text, path)
    clients = client_ids(connection)
    existing = {
        (row[0], row[1], row[2]): (row[3], row[4])
        for row in connection.execute(
            select(USAGE.c.client_id, USAGE.c.service, USAGE.c.month, USAGE.c.quantity, USAGE.c.id)
        )
    }
    new: dict[tuple[int, str, str], dict[str, Any]] = {}
    for number, row in enumerate(reader, 2):
        values = {key: (row.get(name) or "").strip() for key, name in reader.names.items()}
        problems = []
        client = clients.get(values["client"].casefold())
        if client is None:
            problems.append(f"unknown client {values['client']!r}")
        if not values["service"]:
            problems.append("no service")
        quantity = Decimal(0)
        try:
            quantity = decimal_of(values["quantity"], "quantity")
            if quantity < 0:
                problems.append(f"quantity {values['quantity']} is negative")
        except ValueError as error:
            problems.append(str(error))
        month = ""
        try:
            month = month_text(values["period"])
        except ValueError as error:
            problems.append(str(error))
        if problems or client is None:
            summary.rows.append(UsageRow(number, "rejected", reason="; ".join(problems)))
            continue
        key = (client[0], values["service"].casefold(), month)
        found = existing.get(key)
        shown = UsageRow(number, "created", client[1], values["service"], month)
        if found is not None and Decimal(found[0]) == quantity:
            summary.rows.append(_with(shown, "unchanged"))
            continue
        if found is not None:
            connection.execute(
                USAGE.update()
                .where(USAGE.c.id == found[1])
                .values(quantity=str(quantity), file=path.name, imported_at=at)
            )
            existing[key] = (str(quantity), found[1])
            summary.rows.append(_with(shown, "updated"))
            continue
        new[key] = {
            "client_id": key[0],
            "service": key[1],
            "month": month,
            "quantity": str(quantity),
            "file": path.name,
            "imported_at": at,
        }
        summary.rows.append(shown)
    insert_many(connection, USAGE, list(new.values()))
    return summary


def _with(row: UsageRow, status: str) -> UsageRow:
    return UsageRow(row.line, status, row.client, row.service, row.period, row.reason)


class _Reader:
    def __init__(self, rows: csv.DictReader[str], names: dict[str, str]) -> None:
        self.rows = rows
        self.names = names

    def __iter__(self) -> Any:
        return iter(self.rows)


def _reader(text: str, path: Path) -> _Reader:
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = {name.strip().casefold(): name for name in rows.fieldnames or ()}
    names = {}
    for key, accepted in _COLUMNS.items():
        found = next((header[name] for name in accepted if name in header), None)
        if found is None:
            raise UsageFileError(f"{path}: no column {key!r} (columns: {', '.join(header)})")
        names[key] = found
    return _Reader(rows, names)


# -- measures ------------------------------------------------------------------------


class Measures:
    """The volumes of usage sources over windows of days, each window read once.

    `projects`: Worksection project id or name -> client name (the connector's
    mapping); a project not listed is its own client. `around`: the month of
    the run, whose windows (that month and the year before) are read at once.
    `hour_clients`: the only clients whose hours are asked for (None: any);
    only their projects' rows are read.
    """

    def __init__(
        self,
        connection: Connection,
        projects: Mapping[str, str] | None = None,
        around: date | None = None,
        hour_clients: Collection[str] | None = None,
    ) -> None:
        self.connection = connection
        self._hour_clients = None if hour_clients is None else set(hour_clients)
        self.projects = dict(projects or {})
        self._hours: dict[tuple[date, date], dict[str, Decimal]] = {}
        self._days: dict[str, tuple[list[date], list[int]]] = {}
        # The days a run's windows fall in (the run's month and the year before): read at once.
        self._span: tuple[date, date] | None = None
        self._around = around
        self._events: dict[tuple[date, date], dict[int, Decimal]] = {}
        self._files: dict[tuple[str, str], dict[tuple[int, str], Decimal]] = {}

    def measure(
        self,
        source: UsageSource,
        client_id: int,
        client: str,
        service: str,
        first: date,
        last: date,
    ) -> Decimal:
        """The quantity `source` gives for a client over `first`..`last` (both included)."""
        if source == UsageSource.WORKSECTION_HOURS:
            return self._hours_in(first, last).get(client.casefold(), Decimal(0))
        if source == UsageSource.PMDESK_EVENTS:
            return self._events_in(first, last).get(client_id, Decimal(0))
        return self._files_in(first, last).get((client_id, service), Decimal(0))

    def _hours_in(self, first: date, last: date) -> dict[str, Decimal]:
        """Hours per client (name folded) over the window, from the days read once.

        The logged minutes are read per day and client over every day a window
        asks for (read again, wider, only for a window outside them), and a
        window is summed from running totals: a month of many contracts
        starting on different days costs no query per window.
        """
        found = self._hours.get((first, last))
        if found is None:
            self._read_days(first, last)
            found = {}
            for client, (days, totals) in self._days.items():
                low = bisect_left(days, first)
                high = bisect_right(days, last)
                minutes = (totals[high - 1] if high else 0) - (totals[low - 1] if low else 0)
                if minutes:
                    found[client] = Decimal(minutes) / 60
            self._hours[(first, last)] = found
        return found

    def _read_days(self, first: date, last: date) -> None:
        if self._span is not None and self._span[0] <= first and last <= self._span[1]:
            return
        if self._span is not None:
            first, last = min(first, self._span[0]), max(last, self._span[1])
        if self._around is not None:
            first = min(first, self._around - timedelta(days=400))
            last = max(last, self._around + timedelta(days=31))
        query = (
            select(TIME.c.day, TIME.c.project_id, TIME.c.project_name, func.sum(TIME.c.minutes))
            .where(TIME.c.day >= first, TIME.c.day <= last)
            .group_by(TIME.c.day, TIME.c.project_id, TIME.c.project_name)
        )
        if self._hour_clients is not None:
            # The clients' own projects (named as they are) and the projects mapped to them.
            folded = {name.casefold() for name in self._hour_clients}
            mapped = [key for key, client in self.projects.items() if client.casefold() in folded]
            names = sorted({*self._hour_clients, *mapped})
            query = query.where(
                or_(TIME.c.project_name.in_(names), TIME.c.project_id.in_(mapped or [""]))
            )
        per_client: dict[str, dict[date, int]] = {}
        for day, project_id, name, total in self.connection.execute(query).all():
            client = next(
                (self.projects[key] for key in (project_id, name) if key and key in self.projects),
                name,
            )
            if client:
                days = per_client.setdefault(str(client).casefold(), {})
                days[day] = days.get(day, 0) + int(total or 0)
        self._days = {}
        for client, days in per_client.items():
            ordered = sorted(days)
            self._days[client] = (ordered, list(accumulate(days[day] for day in ordered)))
        self._span = (first, last)
        self._hours = {}

    def _events_in(self, first: date, last: date) -> dict[int, Decimal]:
        found = self._events.get((first, last))
        if found is None:
            since = datetime.combine(first, time(), UTC)
            until = datetime.combine(last + timedelta(days=1), time(), UTC)
            query = (
                select(THREAD.c.client_id, func.count())
                .select_from(EVENT.join(THREAD, THREAD.c.id == EVENT.c.thread_id))
                .where(EVENT.c.occurred_at >= since, EVENT.c.occurred_at < until)
                .where(THREAD.c.client_id.is_not(None))
                .group_by(THREAD.c.client_id)
            )
            found = {
                int(client): Decimal(count)
                for client, count in self.connection.execute(query).all()
            }
            self._events[(first, last)] = found
        return found

    def _files_in(self, first: date, last: date) -> dict[tuple[int, str], Decimal]:
        """The usage files' quantities of the months `first`..`last` touch."""
        key = (f"{first:%Y-%m}", f"{last:%Y-%m}")
        found = self._files.get(key)
        if found is None:
            found = {}
            query = select(USAGE.c.client_id, USAGE.c.service, USAGE.c.quantity).where(
                USAGE.c.month >= key[0], USAGE.c.month <= key[1]
            )
            for client_id, service, quantity in self.connection.execute(query).all():
                found[(client_id, service)] = found.get((client_id, service), Decimal(0)) + Decimal(
                    quantity
                )
            self._files[key] = found
        return found
