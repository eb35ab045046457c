"""SWIFT MT940 statements, read with the mt-940 package after a line-by-line check.

mt-940 is lenient: a line it does not understand is skipped, or folded
into the previous field, without a word. A statement must either come in
whole or not at all, so the file is checked first, line by line, against
the shapes of the fields that carry money (:25:, :60x:, :61:, :62x:), and
any broken one is refused with its line number. The package then does the
parsing proper (dates across year ends, signs, reversals).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date as date_type
from pathlib import Path

import mt940

from .records import StatementError, StatementLine, clean, creditor_reference

_TAG = re.compile(r"^:(\d{2}[A-Z]?):")
_LINE_61 = re.compile(r"^\d{6}(\d{4})?R?[CD][A-Z]?\d{1,12},\d{0,2}[A-Z0-9]{4}")
_BALANCE = re.compile(r"^[CD]\d{6}[A-Z]{3}\d{1,12},\d{0,2}\s*$")
# The SEPA subfields banks put in :86: (/EREF/..., /REMI/..., /ORDP//NAME/...).
_CODES = (
    "EREF|KREF|MREF|CRED|DEBT|REMI|ORDP|BENM|NAME|IBAN|BIC|ADDI|MARF|PREF|RTRN|PURP|SVCL|CSID|ID"
)
_SUBFIELD = re.compile(rf"/({_CODES})/")


def read_mt940(path: Path, content: str) -> Iterator[StatementLine]:
    lines_61 = _check(path.name, content)
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(content)
    except Exception as error:  # the package raises plain exceptions of several kinds
        raise StatementError(f"{path.name}: MT940 not understood ({error})") from None
    account = clean(str(transactions.data.get("account_identification") or ""))
    parsed = list(transactions)
    if len(parsed) != len(lines_61):
        raise StatementError(
            f"{path.name}: {len(lines_61)} :61: lines but {len(parsed)} transactions understood"
        )
    for position, (transaction, number) in enumerate(zip(parsed, lines_61, strict=True), 1):
        yield _line(path.name, transaction.data, account, number, position)


def _check(name: str, content: str) -> list[int]:
    """Refuse a file with a broken field; the line numbers of its :61: fields."""
    lines_61: list[int] = []
    seen_tag = False
    tags: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.startswith(("{1:", "{2:", "{3:", "{4:", "-}", "-")):
            continue
        found = _TAG.match(line)
        if found is None:
            if not seen_tag:
                raise StatementError(f"{name}: line {number}: expected an MT940 field (:20:...)")
            continue  # the continuation of the previous field (:86: spans lines)
        seen_tag = True
        tag, value = found.group(1), line[found.end() :]
        tags.add(tag[:2])
        if tag == "61":
            if not _LINE_61.match(value):
                raise StatementError(f"{name}: line {number}: :61: is not a transaction line")
            lines_61.append(number)
        elif tag[:2] in ("60", "62", "64", "65") and not _BALANCE.match(value):
            raise StatementError(f"{name}: line {number}: :{tag}: is not a balance")
        elif tag == "25" and not value.strip():
            raise StatementError(f"{name}: line {number}: :25: names no account")
    for required in ("20", "25"):
        if required not in tags:
            raise StatementError(f"{name}: no :{required}: field: not an MT940 statement")
    return lines_61


def _line(
    name: str, data: dict[str, object], account: str, number: int, position: int
) -> StatementLine:
    amount = data.get("amount")
    value = getattr(amount, "amount", None)
    if value is None:
        raise StatementError(f"{name}: line {number}: :61: has no amount")
    details = str(data.get("transaction_details") or "").replace("\n", "")
    fields = _subfields(details)
    text = clean(" ".join(v for k, v in fields.items() if k in ("REMI", "ADDI")) or details)
    text = re.sub(r"^/?(USTD|STRD)//?", "", text)
    party = fields.get("NAME") or fields.get("ORDP") or fields.get("BENM") or ""
    counterparty = clean(party.split("/NAME/")[-1].lstrip("/"))
    bank_ref = str(data.get("bank_reference") or "").strip() or None
    booking = data.get("entry_date") or data.get("date")
    value_date = data.get("date")
    return StatementLine(
        booking_date=_as_date(booking, name, number),
        value_date=_as_date(value_date, name, number),
        amount_cents=int(value * 100),
        currency=str(data.get("currency") or getattr(amount, "currency", "") or ""),
        account_iban=account,
        counterparty_name=counterparty,
        counterparty_account=clean(fields.get("IBAN")) or None,
        end_to_end_id=clean(fields.get("EREF")) or None,
        bank_reference=bank_ref,
        structured_reference=creditor_reference(fields.get("CRED"), text),
        text=text,
        position=position,
    )


def _subfields(details: str) -> dict[str, str]:
    """'/EREF/E1/REMI/Invoice 42' as {"EREF": "E1", "REMI": "Invoice 42"}."""
    parts = _SUBFIELD.split(details)
    if len(parts) < 3:
        return {}
    found: dict[str, str] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        found.setdefault(code, value.strip("/ "))
    return found


def _as_date(value: object, name: str, number: int) -> date_type:
    if isinstance(value, date_type):
        return date_type(value.year, value.month, value.day)
    raise StatementError(f"{name}: line {number}: :61: has no valid date")
