"""A bank's CSV export, read through its profile from the configuration."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from core.config.banks import BankCsvProfile
from core.receivables.statements.records import (
    StatementError,
    StatementLine,
    clean,
    creditor_reference,
    to_cents,
)


def read_csv(path: Path, profile: BankCsvProfile, profile_name: str) -> Iterator[StatementLine]:
    try:
        handle = path.open(encoding=profile.encoding, newline="")
    except LookupError:
        raise StatementError(
            f"profile {profile_name}: unknown encoding {profile.encoding!r}"
        ) from None
    with handle:
        try:
            yield from _rows(path.name, handle, profile, profile_name)
        except UnicodeDecodeError as error:
            raise StatementError(
                f"{path.name}: not {profile.encoding} text ({error.reason} at byte {error.start})"
            ) from None


def _rows(
    name: str, handle: TextIO, profile: BankCsvProfile, profile_name: str
) -> Iterator[StatementLine]:
    for _ in range(profile.skip_lines):
        next(handle)
    reader = csv.DictReader(handle, delimiter=profile.delimiter)
    header = reader.fieldnames or []
    missing = [column for column in profile.columns() if column not in header]
    if missing:
        raise StatementError(
            f"{name}: line {profile.skip_lines + 1}: no column {', '.join(map(repr, missing))} "
            f"that profile {profile_name!r} reads (the header has {', '.join(header)})"
        )
    position = 0
    for row in reader:
        number = reader.line_num + profile.skip_lines
        if not any((value or "").strip() for value in row.values()):
            continue
        if None in row:
            raise StatementError(f"{name}: line {number}: more fields than the header has")
        position += 1
        try:
            yield _line(row, profile, position)
        except (ValueError, TypeError) as error:
            raise StatementError(f"{name}: line {number}: {error}") from None


def _line(row: dict[str, str], profile: BankCsvProfile, position: int) -> StatementLine:
    def get(column: str | None) -> str:
        return clean(row.get(column) or "") if column else ""

    if profile.amount:
        cents = to_cents(get(profile.amount), profile.decimal)
    else:
        credit, debit = get(profile.credit), get(profile.debit)
        if bool(credit) == bool(debit):
            raise ValueError("exactly one of credit and debit must hold an amount")
        cents = (
            to_cents(credit, profile.decimal) if credit else -abs(to_cents(debit, profile.decimal))
        )
    text = " ".join(get(column) for column in profile.text if get(column))
    reference = get(profile.reference)
    return StatementLine(
        booking_date=_date(get(profile.booking_date), profile.date_format, "booking date"),
        value_date=_date(get(profile.value_date), profile.date_format, "value date")
        if get(profile.value_date)
        else None,
        amount_cents=cents,
        currency=get(profile.currency) or profile.default_currency,
        account_iban=get(profile.account_iban_column) or profile.account_iban or "",
        counterparty_name=get(profile.counterparty_name),
        counterparty_account=get(profile.counterparty_iban) or None,
        end_to_end_id=get(profile.end_to_end_id) or None,
        bank_reference=get(profile.bank_reference) or None,
        structured_reference=creditor_reference(reference, text) or reference or None,
        text=text if not reference or reference in text else f"{text} {reference}".strip(),
        position=position,
    )


def _date(text: str, fmt: str, what: str) -> date:
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        raise ValueError(f"{what} {text!r} does not read as {fmt}") from None
