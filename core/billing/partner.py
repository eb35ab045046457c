"""The partner's usage report: what the partner billed the agency, per client and service.

The partner's invoice export (or any CSV) lists, per line, a client, a
service, a quantity and a period (a month: `2026-11`, `11/2026`, or any day
of it). The file is read like the invoices' exports (UTF-8, delimiter `;`,
`,` or tab, decimal comma in files not delimited by `,`, the same date
formats); a file that cannot be read as a whole (not UTF-8, broken quoting,
a column missing from the header) is refused whole with PartnerFileError. A
bad row (empty field, negative quantity, unreadable period, too few
fields) is refused alone with its line and reason; the other rows count.

`compare_partner` compares the month's rows with what was billed to each
client: a client name the agency does not know is a finding ("unknown
client"), not an error; a service whose quantity differs from the billed
line's is under-billed or over-billed, with the quantity and the amount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.base.csvtable import CsvTableError, read_csv_table
from core.billing.audit import (
    BilledItem,
    UsageDifference,
    compare_usage,
    month_bounds,
)
from core.billing.model import Line
from core.config.billing import PartnerProfileConfig
from core.receivables.invoices import THOUSANDS_SPACES, InvoiceFileError, _decoded


class PartnerFileError(ValueError):
    """The file cannot be read as a whole; none of it was used."""


@dataclass(frozen=True)
class PartnerProfile:
    """Which column of the partner's export holds what."""

    client: str = "client"
    service: str = "service"
    quantity: str = "quantity"
    period: str = "period"
    # strftime formats tried for a period after `YYYY-MM`, `MM/YYYY` and ISO days.
    date_formats: tuple[str, ...] = ("%d/%m/%Y", "%d.%m.%Y")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.client, self.service, self.quantity, self.period)


def profile_of(config: PartnerProfileConfig) -> PartnerProfile:
    """The profile a `[billing.partner_profiles.NAME]` table describes."""
    return PartnerProfile(
        config.client, config.service, config.quantity, config.period, tuple(config.date_formats)
    )


@dataclass(frozen=True)
class UsageRow:
    """One row of the partner's report, checked: the period is its month's first day."""

    line: int
    client: str
    service: str
    quantity: Decimal
    period: date


@dataclass(frozen=True)
class RefusedRow:
    line: int
    reason: str


@dataclass(frozen=True)
class UnknownClient:
    """A client the partner bills for and the agency does not know (by name)."""

    client: str
    services: tuple[str, ...]
    lines: tuple[int, ...]


@dataclass
class PartnerComparison:
    """The partner's report against the month's billing."""

    file: str
    rows: int = 0
    refused: list[RefusedRow] = field(default_factory=list)
    differences: list[UsageDifference] = field(default_factory=list)
    unknown_clients: list[UnknownClient] = field(default_factory=list)
    # Rows of another month than the audited one, left aside.
    other_months: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "other_months": self.other_months,
            "refused": [vars(row) for row in self.refused],
            "differences": [
                {
                    "client_id": item.client_id,
                    "client": item.client,
                    "service": item.service,
                    "line": item.line,
                    "measured": str(item.measured),
                    "billed": str(item.billed),
                    "difference": str(item.difference),
                    "unit_price_cents": item.unit_price_cents,
                    "amount_cents": item.amount_cents,
                    "direction": item.direction,
                }
                for item in self.differences
            ],
            "unknown_clients": [
                {"client": item.client, "services": list(item.services), "lines": list(item.lines)}
                for item in self.unknown_clients
            ],
        }


def read_partner_file(
    path: Path, profile: PartnerProfile | None = None
) -> tuple[list[UsageRow], list[RefusedRow]]:
    """The good rows of a partner's report and the refused ones; PartnerFileError if unreadable."""
    profile = profile or PartnerProfile()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PartnerFileError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        text = _decoded(path, data)
    except InvoiceFileError as error:
        raise PartnerFileError(str(error)) from None
    try:
        sheet = read_csv_table(path, text, profile.columns)
    except CsvTableError as error:
        raise PartnerFileError(str(error)) from None
    header, raw = sheet.header, sheet.rows
    decimal_comma = sheet.decimal_comma(profile.quantity)
    good: list[UsageRow] = []
    bad: list[RefusedRow] = []
    for line, cells in raw:
        try:
            good.append(_row(line, header, cells, profile, decimal_comma))
        except ValueError as error:
            bad.append(RefusedRow(line, str(error)))
    return good, bad


def _row(
    line: int, header: list[str], cells: list[str], profile: PartnerProfile, decimal_comma: bool
) -> UsageRow:
    if len(cells) < len(header):
        absent = [name for name in profile.columns if header.index(name) >= len(cells)]
        raise ValueError(
            f"{len(cells)} fields, the header has {len(header)}"
            + (f" (no {', '.join(absent)})" if absent else "")
        )
    if len(cells) > len(header):
        raise ValueError(f"{len(cells)} fields, the header has {len(header)}")
    fields = dict(zip(header, (cell.strip() for cell in cells), strict=True))
    for name in profile.columns:
        if not fields[name]:
            raise ValueError(f"{name} is empty")
    quantity = _quantity(fields[profile.quantity], profile.quantity, decimal_comma)
    period = _period(fields[profile.period], profile.period, profile.date_formats)
    return UsageRow(line, fields[profile.client], fields[profile.service], quantity, period)


def _quantity(value: str, name: str, decimal_comma: bool) -> Decimal:
    written = value.translate(THOUSANDS_SPACES)
    written = (
        written.replace(".", "").replace(",", ".") if decimal_comma else written.replace(",", "")
    )
    try:
        quantity = Decimal(written)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not quantity.is_finite():
        raise ValueError(f"{name} {value!r} is not a number")
    if quantity < 0:
        raise ValueError(f"{name} {value!r} is negative")
    return quantity


def _period(value: str, name: str, formats: Sequence[str]) -> date:
    for form in ("%Y-%m", "%m/%Y", "%m.%Y", "%Y-%m-%d", *formats):
        try:
            return datetime.strptime(value, form).date().replace(day=1)
        except ValueError:
            continue
    raise ValueError(
        f"{name} {value!r} is not a month (YYYY-MM, MM/YYYY, or a day: ISO or {', '.join(formats)})"
    )


def compare_partner(
    rows: list[UsageRow],
    billed: list[BilledItem],
    month: date,
    clients: Mapping[str, int],
    mapping: Mapping[str, str] | None = None,
    file: str = "",
    refused: list[RefusedRow] | None = None,
) -> PartnerComparison:
    """The month's rows against the lines billed to each client.

    `clients`: the agency's client names -> ids (matched whatever the case);
    `mapping`: a service name -> the description of the line that bills it
    (else the same words, else the closest description by rapidfuzz).
    Quantities of a client's service are summed over its rows.
    """
    first, last = month_bounds(month)
    result = PartnerComparison(file, len(rows), list(refused or []))
    known = {name.casefold().strip(): (client_id, name) for name, client_id in clients.items()}
    lines: dict[int, list[Line]] = {}
    for item in billed:
        if item.client_id is not None and item.period_start <= last and item.period_end >= first:
            lines.setdefault(item.client_id, []).extend(item.lines)
    measured: dict[tuple[int, str], Decimal] = {}
    unknown: dict[str, tuple[list[str], list[int]]] = {}
    for row in rows:
        if row.period != first:
            result.other_months += 1
            continue
        client = known.get(row.client.casefold().strip())
        if client is None:
            services, at = unknown.setdefault(row.client, ([], []))
            if row.service not in services:
                services.append(row.service)
            at.append(row.line)
            continue
        key = (client[0], row.service)
        measured[key] = measured.get(key, Decimal(0)) + row.quantity
    names = {client_id: name for client_id, name in known.values()}
    for (client_id, service), quantity in sorted(
        measured.items(), key=lambda entry: (names[entry[0][0]].casefold(), entry[0][1])
    ):
        difference = compare_usage(
            client_id, names[client_id], service, quantity, lines.get(client_id, []), mapping
        )
        if difference is not None:
            result.differences.append(difference)
    result.unknown_clients = [
        UnknownClient(name, tuple(services), tuple(at))
        for name, (services, at) in sorted(unknown.items(), key=lambda entry: entry[0].casefold())
    ]
    return result
