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
    # The transaction ids that distinguish entries sharing a bank reference
    # (camt TxId, instruction id, NtryRef), joined: part of the line's identity.
    entry_ids: str = ""


# What banks write when a payer gave no end-to-end id.
_NO_ID = {"", "NOTPROVIDED", "NONREF", "NONE"}


def dedupe_keys(lines: Iterable[StatementLine]) -> Iterator[tuple[StatementLine, str]]:
    """Each line with the key that identifies it across files.

    A line is named, per account, by the bank's reference for it (camt
    AcctSvcrRef, MT940's "//" reference, OFX FITID) together with the
    transaction ids that tell apart entries sharing that reference (a batch's
    TxId, an instruction id, NtryRef: see `StatementLine.entry_ids`), its
    amount and booking day: banks reuse one reference for a whole batch, or
    even for a credit and its fee, so the reference alone would merge
    distinct lines. Without a bank reference, the transaction ids, else the
    payer's end-to-end id, stand in for it. Failing all of them, the content:
    both dates, amount, currency, payer and text.

    Every key ends with the rank of the line among the lines of the file
    with that same identity, so two identical payments on one day stay two
    lines while a later statement repeating the day (which holds it whole
    again, in the same order) adds nothing. Into an empty database, no line
    of a file is ever "already known".
    """
    seen: Counter[str] = Counter()
    for line in lines:
        # The account as an IBAN is written compact: a CSV profile may give it spaced.
        account = line.account_iban.replace(" ", "").upper()
        money = f"{line.amount_cents}|{line.currency.upper()}|{line.booking_date.isoformat()}"
        if _given(line.bank_reference):
            identity = f"ref|{account}|{line.bank_reference}|{line.entry_ids}|{money}"
        elif line.entry_ids:
            identity = f"ids|{account}|{line.entry_ids}|{money}"
        elif _given(line.end_to_end_id):
            identity = f"e2e|{account}|{line.end_to_end_id}|{money}"
        else:
            identity = "|".join(
                (
                    "txt",
                    account,
                    money,
                    line.value_date.isoformat() if line.value_date else "",
                    line.counterparty_name,
                    line.counterparty_account or "",
                    line.text,
                )
            )
        seen[identity] += 1
        raw = f"{identity}|{seen[identity]}"
        yield line, KEY_PREFIX + hashlib.sha256(raw.encode()).hexdigest()[:40]


# Every key named as above starts with this; keys sorting before it were
# stored by an earlier version (40 hex digits, see `EarlierKeys`).
KEY_PREFIX = "s2-"


class EarlierKeys:
    """The key an earlier version gave each line: rows it stored still carry it.

    It named a line by the bank's reference alone, else by the end-to-end id
    with the amount, else by the content with its rank, so two lines sharing
    a reference had one key and only the first was kept. A line whose key is
    unknown is still the line such a row holds when the row has its earlier
    key, amount and booking day (see `importer`).
    """

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, line: StatementLine) -> str:
        account = line.account_iban.replace(" ", "").upper()
        if _given(line.bank_reference):
            raw = f"ref|{account}|{line.bank_reference}"
        elif _given(line.end_to_end_id):
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
            self._seen[content] += 1
            raw = f"txt|{content}|{self._seen[content]}"
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _given(reference: str | None) -> bool:
    return bool(reference) and (reference or "").upper() not in _NO_ID


def transaction_ids(*ids: str | None) -> str:
    """The ids that tell apart entries sharing a bank reference, as one text ('' if none)."""
    return "/".join(clean(found) for found in ids if _given(clean(found)))


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


_IBANS: dict[str, tuple[str | None, str | None]] = {}


def checked_iban(text: str | None) -> tuple[str | None, str | None]:
    """(compact IBAN, None) when valid, (None, the text as written) otherwise."""
    if not text:
        return None, None
    found = _IBANS.get(text)
    if found is None:
        from schwifty import IBAN
        from schwifty.exceptions import SchwiftyException

        try:
            found = (IBAN(text).compact, None)
        except SchwiftyException:
            found = (None, text)
        if len(_IBANS) < 100_000:  # payers repeat: validate each once
            _IBANS[text] = found
    return found
