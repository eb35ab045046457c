"""SWIFT MT940 statements, read field by field as banks actually write them.

Banks wrap MT940 in envelopes (SWIFT blocks `{1:...}{4:`, a `ABNANL2A / 940`
or `0000 01INGBNL2AXXXX00001 / 940 00` header, Rabobank's `:940:`, a SOH
byte, `-` separators) and bend its fields (13-digit balances, a `.`
decimal, amounts without decimals, a missing transaction type, an 18-char
customer reference). The envelope is skipped, the fields are read by
their shape; a field that carries money and does not read refuses the
whole file with its line number.

A file may hold several statements (a `:20:`...`:62F:` each, for one
account or several): every line goes to the account of its own `:25:`.
Signs follow `:61:`'s mark: C credit, D debit, RC (reversal of a credit)
a debit, RD (reversal of a debit) a credit. The payer, their IBAN and the
payment's text come from `:86:` in whichever dialect the bank writes (see
`details86.read_details`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.receivables.statements.details86 import Details, read_details
from core.receivables.statements.records import (
    StatementError,
    StatementLine,
    checked_iban,
    clean,
    creditor_reference,
)

# Numbered fields, and the :NS: field some German banks add (ignored).
_TAG = re.compile(r"^:(\d{2}[A-Z]?|NS):")
# Value date, entry date, mark, funds code, amount; the rest is read apart.
_LINE_61 = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4}| {4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?"
    r"(?P<amount>\d[\d.,]*)(?P<rest>.*)$"
)
_TYPE_CODE = re.compile(r"^[NSF][A-Z0-9]{3}")
# Mark, date, currency, amount: any number of digits, ',' or '.' as the decimal.
_BALANCE = re.compile(r"^[CD]\d{6}(?P<currency>[A-Z]{3})\d[\d.,]*$")
# Fields of one line: what follows them up to the next field is not theirs (a
# bank's header between two statements); :28C: may wrap, its parts are glued.
_ONE_LINE = {"25", "60F", "60M", "62F", "62M", "64", "65"}
# What banks write where a reference is not given.
_NO_REFERENCE = {"", "NONREF", "NOTPROVIDED", "NONE"}


@dataclass
class _Field:
    tag: str
    number: int
    lines: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        if self.tag in _ONE_LINE:
            return self.lines[0].strip()
        if self.tag[:2] in ("20", "28"):
            return "".join(part.strip() for part in self.lines)
        return join_wrapped(self.lines)


def read_mt940(path: Path, content: str) -> Iterator[StatementLine]:
    """Every :61: line of every statement in the file, in file order."""
    name = path.name
    fields = list(_fields(content))
    if not any(found.tag == "25" for found in fields):
        raise StatementError(f"{name}: no :25: field (the account): not an MT940 statement")
    account = currency = ""
    position = 0
    pending: tuple[_Field, dict[str, str]] | None = None
    for found in fields:
        tag = found.tag
        if tag == "86" and pending is not None:
            position += 1
            yield _line(name, pending, found.value, account, currency, position)
            pending = None
            continue
        if pending is not None:
            position += 1
            yield _line(name, pending, "", account, currency, position)
            pending = None
        if tag == "20":
            account = currency = ""  # a new statement: nothing carries over
        elif tag == "25":
            account = _account(found.value)
            if not account:
                raise StatementError(f"{name}: line {found.number}: :25: names no account")
        elif tag[:2] in ("60", "62", "64", "65"):
            balance = _BALANCE.match(found.value.replace(" ", ""))
            if tag[:2] == "60":
                # The opening balance gives the lines their currency: it must read.
                if balance is None:
                    raise StatementError(f"{name}: line {found.number}: :{tag}: is not a balance")
                currency = balance.group("currency")
            elif balance is not None and not currency:
                currency = balance.group("currency")
        elif tag == "61":
            if not account:
                raise StatementError(
                    f"{name}: line {found.number}: :61: comes before any :25: account"
                )
            pending = (found, _parse_61(name, found))
    if pending is not None:
        position += 1
        yield _line(name, pending, "", account, currency, position)


def _fields(content: str) -> Iterator[_Field]:
    """The fields of the file, each with its continuation lines; the envelope left out."""
    current: _Field | None = None
    for number, raw in enumerate(content.splitlines(), start=1):
        # Control bytes (SOH, ETX) and block markers frame messages; they carry nothing.
        # Trailing spaces are kept: a padded line ends a word where a full one may cut it.
        line = raw.strip("\x00\x01\x02\x03\x04\x1a\r")
        if line.startswith("{"):
            # SWIFT blocks: `{1:F01...}{2:...}{4:` may be followed by a field on that line.
            line = re.sub(r"^(\{[^{}]*(\{[^{}]*\})*[^{}]*\})*\{4:", "", line)
            if line.startswith("{"):
                continue
        found = _TAG.match(line)
        if found is not None:
            if current is not None:
                yield current
            current = _Field(found.group(1), number, [line[found.end() :]])
            continue
        if line.startswith("-}") or (line.startswith("-") and not line.strip("- ")):
            # The end of a message: what follows up to the next field is envelope.
            if current is not None:
                yield current
            current = None
            continue
        if current is None or not line.strip():
            continue  # a header line (ABNANL2A, 940, :940:, 0000 01INGBNL2A...), or blank
        current.lines.append(line)
    if current is not None:
        yield current


def join_wrapped(lines: list[str]) -> str:
    """Physical lines of one field as one text.

    A wrapped line is joined with a space, except where the break falls
    inside a code or a number: at a '/', '?' or '>' subfield boundary, or
    after a full 65-character line not padded with spaces (the bank cut it
    where the line ended).
    """
    text = ""
    for index, part in enumerate(lines):
        previous = lines[index - 1] if index else ""
        part = part.rstrip()
        if not text:
            text = part.strip()
            continue
        # A line padded with spaces ended at a word; a full one without may have cut one.
        full = len(previous) + (4 if index == 1 else 0) >= 65 and previous == previous.rstrip()
        boundary = text.endswith("/") or part.startswith(("/", "?", ">"))
        text += part if full or boundary else " " + part.lstrip()
    return text


def _parse_61(name: str, found: _Field) -> dict[str, str]:
    first = found.lines[0].strip()
    matched = _LINE_61.match(first)
    if matched is None:
        raise StatementError(f"{name}: line {found.number}: :61: is not a transaction line")
    parts = matched.groupdict()
    rest = parts.pop("rest")
    if not re.search(r"[.,]", parts["amount"]) and rest and not _TYPE_CODE.match(rest):
        # "C500NTRF" is 500.00, but in "C5O,00NTRF" the amount is broken, not 5.00.
        raise StatementError(f"{name}: line {found.number}: :61: is not a transaction line")
    # The transaction type (NTRF, NMSC...) is sometimes left out; "NONREF" is not one.
    code = _TYPE_CODE.match(rest)
    if code is not None and not rest.startswith("NONREF"):
        rest = rest[code.end() :]
    customer, _, bank = rest.partition("//")
    parts["customer"] = customer.strip()
    parts["bank"] = bank.strip()
    parts["supplementary"] = " ".join(line.strip() for line in found.lines[1:])
    return parts


def _line(
    name: str,
    pending: tuple[_Field, dict[str, str]],
    details_text: str,
    account: str,
    currency: str,
    position: int,
) -> StatementLine:
    found, parts = pending
    where = f"{name}: line {found.number}"
    value_date = _date(parts["value"], where)
    entry = (parts["entry"] or "").strip()
    booking = _entry_date(entry, value_date, where) if entry else value_date
    cents = _cents(parts["amount"], where)
    # A reversal of a credit takes the money back out: a debit; and the other way round.
    sign = {"C": 1, "D": -1, "RC": -1, "RD": 1}[parts["mark"]]
    details: Details = read_details(details_text)
    customer = parts["customer"]
    given = customer.upper() not in _NO_REFERENCE
    counter_account = details.iban
    if not counter_account and given and _looks_like_iban(customer):
        counter_account = customer  # SNS/ASN write the payer's IBAN here
    supplementary = parts["supplementary"]
    if not counter_account and _looks_like_iban(supplementary):
        counter_account = supplementary  # and Rabobank on the line below :61:
    bank = parts["bank"]
    text = details.text or ("" if counter_account == supplementary else clean(supplementary))
    if counter_account and text.startswith(counter_account):
        text = text[len(counter_account) :].strip()  # the IBAN again, SNS's first word
    return StatementLine(
        booking_date=booking,
        value_date=value_date,
        amount_cents=sign * cents,
        currency=currency,
        account_iban=account,
        counterparty_name=details.name,
        counterparty_account=counter_account or None,
        end_to_end_id=details.end_to_end_id or None,
        bank_reference=bank if bank.upper() not in _NO_REFERENCE else None,
        structured_reference=creditor_reference(details.reference, text),
        text=text,
        position=position,
    )


def _account(text: str) -> str:
    """:25: as written, but an IBAN followed by its currency (ING, Rabobank) as the IBAN."""
    account = clean(text)
    suffixed = re.fullmatch(r"([A-Z]{2}\d{2}[A-Z0-9 ]+?)\s?[A-Z]{3}", account)
    if suffixed is not None:
        iban, _raw = checked_iban(suffixed.group(1))
        if iban is not None:
            return iban
    return account


def _looks_like_iban(text: str) -> bool:
    return re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", text) is not None


def _date(text: str, where: str) -> date:
    found = _day(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    if found is None:
        raise StatementError(f"{where}: :61: {text!r} is not a date (YYMMDD)")
    return found


def _day(year: int, month: int, day: int) -> date | None:
    """The date; a day past the month's end (30 February, in 30-day-month
    interest conventions) is the month's last day."""
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    while day > 28:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1
    return date(year, month, day)


def _entry_date(text: str, value_date: date, where: str) -> date:
    """The booking day (MMDD) in the year that puts it nearest the value date."""
    month, day = int(text[:2]), int(text[2:])
    year = value_date.year
    if month - value_date.month > 6:
        year -= 1  # booked in December, value date in January
    elif value_date.month - month > 6:
        year += 1  # booked in January, value date in December
    found = _day(year, month, day)
    if found is None:
        raise StatementError(f"{where}: :61: entry date {text!r} is not a date (MMDD)")
    return found


def _cents(text: str, where: str) -> int:
    """'1234,56', '1234.56', '1234,' or '500' as cents."""
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise StatementError(f"{where}: :61: {text!r} is not an amount") from None
    cents = value * 100
    if cents != cents.to_integral_value():
        raise StatementError(f"{where}: :61: {text!r} is not an amount in cents")
    return int(cents)
