"""The one record every statement format becomes, and what makes two of them the same.

Parsers yield `StatementLine`s in file order; `dedupe_keys` gives each the
key stored in `banktransaction.dedupe_key`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from stdnum import iso11649


class StatementError(Exception):
    """A file that cannot be imported; the message names the file and where in it."""


@dataclass
class StatementLine:
    booking_date: date
    value_date: date | None
    # Integer cents, credits positive.
    amount_cents: int
    currency: str
    account_iban: str
    counterparty_name: str
    # As written in the file; validated on the way into the database.
    counterparty_account: str | None
    end_to_end_id: str | None
    bank_reference: str | None
    structured_reference: str | None
    text: str
    # 1-based place of the entry in its file.
    position: int


# What banks write when a payer gave no end-to-end id.
_NO_ID = {"", "NOTPROVIDED", "NONREF", "NONE"}


def dedupe_keys(lines: Iterable[StatementLine]) -> Iterator[tuple[StatementLine, str]]:
    """Each line with the key that identifies it across files.

    The bank's own reference for the entry (camt AcctSvcrRef, MT940's
    "//" reference, OFX FITID) is unique per account, so when present the
    key is account + that reference: the same entry in a re-sent or
    overlapping statement gets the same key whatever else the bank
    reformatted. Failing that, a payer's end-to-end id with the amount
    (payers reuse ids less than banks do, and never for another amount).
    Failing both, the content: account, both dates, amount, currency,
    payer and text, plus the occurrence number of that content within the
    file, so two identical payments on one day stay two lines while the
    same day repeated by a later statement (which holds the whole day
    again, in the same order) adds nothing.
    """
    seen: Counter[str] = Counter()
    for line in lines:
        # The account as an IBAN is written compact: a CSV profile may give it spaced.
        account = line.account_iban.replace(" ", "").upper()
        if line.bank_reference and line.bank_reference.upper() not in _NO_ID:
            raw = f"ref|{account}|{line.bank_reference}"
        elif line.end_to_end_id and line.end_to_end_id.upper() not in _NO_ID:
            raw = f"e2e|{account}|{line.end_to_end_id}|{line.amount_cents}|{line.currency}"
        else:
            content = "|".join(
                (
                    account,
                    line.booking_date.isoformat(),
                    line.value_date.isoformat() if line.value_date else "",
                    str(line.amount_cents),
                    line.currency,
                    line.counterparty_name,
                    line.counterparty_account or "",
                    line.text,
                )
            )
            seen[content] += 1
            raw = f"txt|{content}|{seen[content]}"
        yield line, hashlib.sha256(raw.encode()).hexdigest()[:40]


def to_cents(text: str, decimal: str = ".") -> int:
    """'1 234,50' (decimal ',') or '-1,234.50' (decimal '.') as integer cents; exact or refused."""
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if decimal == ",":
        cleaned = cleaned.replace(".", "").replace("'", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "").replace("'", "")
    if cleaned.endswith("-"):  # some banks write the sign last
        cleaned = "-" + cleaned[:-1]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    cents = value * 100
    if not value.is_finite() or cents != cents.to_integral_value():
        raise ValueError(f"{text!r} is not an amount in cents")
    return int(cents)


_RF = re.compile(r"\bRF\s?\d{2}(?:\s?[0-9A-Z]){1,21}\b", re.IGNORECASE)


def creditor_reference(*texts: str | None) -> str | None:
    """The first valid ISO 11649 creditor reference (RF..) in the texts, compact."""
    for text in texts:
        if not text:
            continue
        for found in _RF.finditer(text):
            candidate = iso11649.compact(found.group())
            if iso11649.is_valid(candidate):
                return candidate
    return None


def clean(text: str | None) -> str:
    """Whitespace runs (line breaks of fixed-width formats) as one space."""
    return " ".join((text or "").split())
