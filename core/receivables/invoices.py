"""Importing invoices from accounting tools: CSV (French or not) and JSON.

A file is read whole before anything is written, so a file that cannot be
read as a whole (wrong encoding, broken quoting, a required column missing,
malformed JSON) is refused with the file and line named, and nothing of it
is imported. A readable file is imported in one transaction: each line is
created, updated (same number, something changed), unchanged, or rejected
with its line number and the reason, and the good lines go in even when
others are rejected.

CSV dialects: the delimiter is whichever of `;`, `,` and tab the header uses
most; amounts take a decimal comma (`1 234,50`, French accounting tools) in
files delimited otherwise than by `,`, and a decimal point (`1234.50`) in
`,` files. Columns are named by a profile of the configuration
(`receivables.profiles`), one per accounting tool's export.

Unknown clients are created (with the default language) unless
`receivables.unknown_clients = "refuse"`, in which case their lines are
rejected: an accountant importing last month's invoices expects new clients
to appear, while a firm that keeps its client list elsewhere may prefer
refusing typos.

Each invoice gets an ISO 11649 creditor reference (`RF` + check digits +
the number's letters and digits), stored, so that payers can quote it and
bank matching can find it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from core.base.csvtable import CsvTableError, read_csv_table
from core.base.instants import Now, utc_now
from core.base.kinds import InvoiceState
from core.config.settings import CsvProfileConfig, Settings
from core.store.db import chunks, insert_many, insert_with_ids, update_many, write
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client

INVOICE, CLIENT = table(Invoice), table(Client)
CENTS = Decimal(100)
# ISO 11649 allows 21 characters of reference after "RF" and the check digits.
REFERENCE_LIMIT = 21
# Spaces that accounting tools put between thousands (normal, no-break, narrow no-break).
THOUSANDS_SPACES = str.maketrans("", "", " \u00a0\u202f'")

Status = Literal["created", "updated", "unchanged", "rejected"]
Progress = Callable[[int, int], None]


class InvoiceFileError(ValueError):
    """The file cannot be read as a whole; nothing of it was imported."""


class UnknownProfile(LookupError):
    pass


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice as the file gives it, checked and normalised."""

    line: int
    number: str
    client: str
    issued_on: date
    due_on: date
    currency: str
    total_cents: int


@dataclass(frozen=True)
class LineResult:
    # The line of the file where the invoice starts (for JSON: its position in the list).
    line: int
    number: str | None
    status: Status
    reason: str | None = None


@dataclass
class ImportSummary:
    file: str
    results: list[LineResult] = field(default_factory=list)
    clients_created: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def rejections(self) -> list[LineResult]:
        return [result for result in self.results if result.status == "rejected"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            **{status: self.count(status) for status in _STATUSES},
            "clients_created": self.clients_created,
            "lines": [result.__dict__ for result in self.results],
        }


_STATUSES: tuple[Status, ...] = ("created", "updated", "unchanged", "rejected")


# -- references and states ------------------------------------------------------


def creditor_reference(number: str) -> str:
    """The ISO 11649 reference of an invoice number: RF, two check digits, the number.

    Only the number's letters and digits are kept (upper case), as the
    standard allows nothing else: "F-2026/0001" gives "RF..F20260001".
    """
    compact = "".join(char for char in number.upper() if char.isascii() and char.isalnum())
    if not compact:
        raise ValueError(f"invoice number {number!r} has no letter or digit for a reference")
    if len(compact) > REFERENCE_LIMIT:
        raise ValueError(
            f"invoice number {number!r} is too long for a creditor reference "
            f"({len(compact)} letters and digits, at most {REFERENCE_LIMIT})"
        )
    reference = "RF" + mod_97_10.calc_check_digits(compact + "RF") + compact
    iso11649.validate(reference)  # a bug here must not reach a payer
    return reference


def invoice_state(stored: str, total_cents: int, paid_cents: int, due_on: date, today: date) -> str:
    """The state of design section 3, from what is stored plus dates and balance.

    Only open, disputed, paid and written off are stored; the rest follows:
    disputed and written off win, then paid (nothing left to pay), overdue
    (past its due date with a balance, paid in part or not), due today,
    partially paid, open.
    """
    if stored in (InvoiceState.DISPUTED, InvoiceState.WRITTEN_OFF):
        return stored.replace("_", " ")
    if stored == InvoiceState.PAID or paid_cents >= total_cents:
        return "paid"
    if due_on < today:
        return "overdue"
    if due_on == today:
        return "due today"
    if paid_cents > 0:
        return "partially paid"
    return "open"


# -- reading files --------------------------------------------------------------


def read_invoices(
    path: Path, profile: CsvProfileConfig, progress: Progress | None = None
) -> tuple[list[InvoiceLine], list[LineResult]]:
    """The invoices of a file and its rejected lines; InvoiceFileError if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvoiceFileError(f"{path}: cannot read it ({error.strerror or error})") from None
    text = _decoded(path, data)
    if text.lstrip().startswith(("[", "{")):
        records = _json_records(path, text)
    else:
        records = _csv_records(path, text, profile)
    return _checked(records, profile, progress)


def _decoded(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvoiceFileError(
            f"{path}: line {line}: not UTF-8 (byte 0x{data[error.start]:02x}); "
            "export the file as UTF-8 and import it again"
        ) from None


Record = tuple[int, Mapping[str, Any], bool]  # line, fields, amounts with a decimal comma


def _csv_records(path: Path, text: str, profile: CsvProfileConfig) -> list[Record]:
    try:
        sheet = read_csv_table(
            path,
            text,
            _required(profile),
            hint="name the columns in a profile under [receivables.profiles]",
        )
    except CsvTableError as error:
        raise InvoiceFileError(str(error)) from None
    header, rows = sheet.header, sheet.rows
    decimal_comma = sheet.decimal_comma(profile.total)
    records: list[Record] = []
    for line, row in rows:
        if len(row) != len(header):
            fields: dict[str, Any] = {
                "__width__": f"{len(row)} fields, the header has {len(header)}"
            }
        else:
            fields = dict(zip(header, row, strict=True))
        records.append((line, fields, decimal_comma))
    return records


def _json_records(path: Path, text: str) -> list[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvoiceFileError(
            f"{path}: line {error.lineno}: malformed JSON ({error.msg})"
        ) from None
    if isinstance(data, dict):
        data = data.get("invoices")
    if not isinstance(data, list):
        raise InvoiceFileError(
            f'{path}: line 1: expected a list of invoices or {{"invoices": [...]}}'
        )
    return [
        (position, item if isinstance(item, dict) else {"__width__": "not an object"}, False)
        for position, item in enumerate(data, start=1)
    ]


def _required(profile: CsvProfileConfig) -> list[str]:
    names = [profile.number, profile.client, profile.issued_on, profile.due_on, profile.total]
    return [*names, profile.currency] if profile.currency else names


def _checked(
    records: Sequence[Record], profile: CsvProfileConfig, progress: Progress | None
) -> tuple[list[InvoiceLine], list[LineResult]]:
    good: list[InvoiceLine] = []
    bad: list[LineResult] = []
    seen: dict[str, int] = {}
    for position, (line, fields, decimal_comma) in enumerate(records, start=1):
        number = _text(fields.get(profile.number)) or None
        try:
            invoice = _invoice(line, fields, profile, decimal_comma)
            if invoice.number in seen:
                raise ValueError(f"number {invoice.number} already on line {seen[invoice.number]}")
        except ValueError as error:
            bad.append(LineResult(line, number, "rejected", str(error)))
        else:
            seen[invoice.number] = line
            good.append(invoice)
        if progress is not None and position % 1000 == 0:
            progress(position, len(records))
    return good, bad


def _invoice(
    line: int, fields: Mapping[str, Any], profile: CsvProfileConfig, decimal_comma: bool
) -> InvoiceLine:
    if "__width__" in fields:
        raise ValueError(str(fields["__width__"]))
    number = _required_text(fields, profile.number)
    client = _required_text(fields, profile.client)
    issued = _date(fields, profile.issued_on, profile.date_formats)
    due = _date(fields, profile.due_on, profile.date_formats)
    if due < issued:
        raise ValueError(f"due date {due} is before the issue date {issued}")
    currency = (
        _required_text(fields, profile.currency).upper()
        if profile.currency
        else profile.default_currency
    )
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as EUR")
    total = _cents(fields.get(profile.total), profile.total, decimal_comma)
    creditor_reference(number)  # refuses numbers that cannot carry a reference
    return InvoiceLine(line, number, client, issued, due, currency, total)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _required_text(fields: Mapping[str, Any], name: str) -> str:
    value = _text(fields.get(name))
    if not value:
        raise ValueError(f"{name} is empty")
    return value


def _date(fields: Mapping[str, Any], name: str, formats: Sequence[str]) -> date:
    value = _required_text(fields, name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    for form in formats:
        try:
            return datetime.strptime(value, form).date()
        except ValueError:
            continue
    raise ValueError(f"{name} {value!r} is not a date (ISO or {', '.join(formats)})")


def _cents(value: Any, name: str, decimal_comma: bool) -> int:
    """Integer cents of an amount written `1 234,50`, `1234.50`, or given as a JSON number."""
    if isinstance(value, bool) or value is None or _text(value) == "":
        raise ValueError(f"{name} is empty")
    if isinstance(value, int | float):
        amount = Decimal(str(value))
    else:
        written = str(value).strip().translate(THOUSANDS_SPACES)
        if decimal_comma:
            written = written.replace(".", "").replace(",", ".")
        else:
            written = written.replace(",", "")
        try:
            amount = Decimal(written)
        except InvalidOperation:
            raise ValueError(f"{name} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise ValueError(f"{name} {value!r} is not an amount")
    if amount < 0:
        raise ValueError(f"{name} {value!r} is negative (a credit note is not an invoice)")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{name} {value!r} has more than two decimals")
    return int((amount * CENTS).to_integral_value(ROUND_HALF_UP))


# -- importing ------------------------------------------------------------------


def import_invoices(
    engine: Engine,
    settings: Settings,
    path: Path,
    profile: str = "default",
    clock: Now = utc_now,
    progress: Progress | None = None,
) -> ImportSummary:
    """Read `path` with the named CSV profile and store its invoices, keyed by number."""
    profiles = settings.receivables.profiles
    if profile not in profiles:
        known = ", ".join(sorted(profiles))
        raise UnknownProfile(f"no CSV profile named {profile!r} (configured: {known})")
    lines, rejected = read_invoices(path, profiles[profile], progress)
    summary = ImportSummary(file=str(path))
    results = list(rejected)
    stamp = clock()
    with write(engine) as connection:
        clients = _client_ids(connection, settings, lines, stamp, summary, results)
        existing = _existing(connection, [line.number for line in lines])
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        references: list[dict[str, Any]] = []
        for line in lines:
            client_id = clients.get(line.client)
            if client_id is None:
                continue  # rejected above: unknown client, refused by configuration
            values = {
                "client_id": client_id,
                "issued_on": line.issued_on,
                "due_on": line.due_on,
                "currency": line.currency,
                "total_cents": line.total_cents,
            }
            stored = existing.get(line.number)
            if stored is None:
                new_rows.append(_new_row(line, values, stamp))
                results.append(LineResult(line.line, line.number, "created"))
            elif all(stored[name] == value for name, value in values.items()):
                results.append(LineResult(line.line, line.number, "unchanged"))
                if stored["creditor_reference"] is None:
                    # Invoices stored before references existed get theirs on re-import.
                    references.append(
                        {"id": stored["id"], "creditor_reference": creditor_reference(line.number)}
                    )
            else:
                reference = creditor_reference(line.number)
                changed = {**values, "creditor_reference": reference, "updated_at": stamp}
                changed_rows.append({"id": stored["id"], **changed})
                results.append(LineResult(line.line, line.number, "updated"))
        insert_many(connection, INVOICE, new_rows)
        update_many(connection, INVOICE, changed_rows)
        update_many(connection, INVOICE, references)
    summary.results = sorted(results, key=lambda result: result.line)
    return summary


def _new_row(line: InvoiceLine, values: dict[str, Any], stamp: datetime) -> dict[str, Any]:
    return {
        "number": line.number,
        **values,
        "paid_cents": 0,
        "dunning_paid_cents": 0,
        "fee_cents": 0,
        "state": InvoiceState.OPEN.value,
        "dunning_level": 0,
        "creditor_reference": creditor_reference(line.number),
        "created_at": stamp,
        "updated_at": stamp,
    }


def _client_ids(
    connection: Connection,
    settings: Settings,
    lines: list[InvoiceLine],
    stamp: datetime,
    summary: ImportSummary,
    results: list[LineResult],
) -> dict[str, int]:
    """Client ids by name, creating the unknown ones (or rejecting their lines)."""
    names = sorted({line.client for line in lines})
    found: dict[str, int] = {}
    for chunk in chunks(names):
        query = select(CLIENT.c.name, CLIENT.c.id).where(CLIENT.c.name.in_(chunk))
        found.update({name: id_ for name, id_ in connection.execute(query)})
    unknown = [name for name in names if name not in found]
    if settings.receivables.unknown_clients == "refuse":
        results.extend(
            LineResult(line.line, line.number, "rejected", f"unknown client {line.client!r}")
            for line in lines
            if line.client in unknown
        )
        return found
    rows = [
        {"name": name, "language": language_of(settings, name), "created_at": stamp}
        for name in unknown
    ]
    found.update(zip(unknown, insert_with_ids(connection, CLIENT, rows), strict=True))
    summary.clients_created = unknown
    return found


def language_of(settings: Settings, client: str) -> str:
    """The language a client is written to in: its configured one, else the default."""
    conf = settings.clients.get(client)
    return (conf.language if conf and conf.language else None) or settings.default_language


def _existing(connection: Connection, numbers: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    columns = [
        INVOICE.c.id,
        INVOICE.c.number,
        INVOICE.c.client_id,
        INVOICE.c.issued_on,
        INVOICE.c.due_on,
        INVOICE.c.currency,
        INVOICE.c.total_cents,
        INVOICE.c.creditor_reference,
    ]
    for chunk in chunks(sorted(numbers)):
        for row in connection.execute(select(*columns).where(INVOICE.c.number.in_(chunk))):
            found[row.number] = dict(row._mapping)
    return found
