"""OFX statements (1.x SGML and 2.x XML), read with ofxtools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .records import StatementError, StatementLine, clean, creditor_reference


def read_ofx(path: Path) -> Iterator[StatementLine]:
    import warnings

    from ofxtools.Parser import OFXTree

    parser = OFXTree()
    try:
        with warnings.catch_warnings():
            # Long account ids (an IBAN) exceed OFX 1's 22 characters: kept, not a problem.
            warnings.simplefilter("ignore")
            parser.parse(str(path))
    except Exception as error:  # ofxtools raises ParseError, ValueError, KeyError...
        raise StatementError(f"{path.name}: OFX not understood: {_describe(error)}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            document: Any = parser.convert()
    except Exception as error:
        # ofxtools says what failed but not where: find the first bad field ourselves.
        where = _first_bad_field(parser.getroot())
        raise StatementError(f"{path.name}: {where or _describe(error)}") from None
    position = 0
    for number, statement in enumerate(document.statements, start=1):
        account = clean(getattr(statement.account, "acctid", "") or "")
        currency = clean(statement.curdef)
        for index, transaction in enumerate(statement.transactions, start=1):
            where = f"OFX/STMTRS[{number}]/BANKTRANLIST/STMTTRN[{index}]"
            position += 1
            yield _line(path.name, where, transaction, account, currency, position)


def _line(
    name: str, where: str, tx: Any, account: str, currency: str, position: int
) -> StatementLine:
    if tx.trnamt is None or tx.dtposted is None:
        raise StatementError(f"{name}: {where}: no TRNAMT or DTPOSTED")
    cents = tx.trnamt * 100
    if cents != cents.to_integral_value():
        raise StatementError(f"{name}: {where}/TRNAMT: {tx.trnamt} is not in cents")
    memo = clean(tx.memo)
    other = getattr(tx, "bankacctto", None)
    tx_currency = getattr(getattr(tx, "currency", None), "cursym", None)
    return StatementLine(
        booking_date=tx.dtposted.date(),
        value_date=tx.dtuser.date() if tx.dtuser else None,
        amount_cents=int(cents),
        currency=clean(tx_currency) or currency,
        account_iban=account,
        counterparty_name=clean(tx.name or (tx.payee.name if tx.payee else "")),
        counterparty_account=clean(getattr(other, "acctid", None)) or None,
        end_to_end_id=None,
        bank_reference=clean(tx.fitid) or None,
        structured_reference=creditor_reference(tx.refnum, memo),
        text=memo,
        position=position,
    )


def _describe(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())[:300]


def _first_bad_field(root: Any) -> str | None:
    """The path of the first transaction amount or date that does not read, and why."""
    from decimal import Decimal, InvalidOperation

    if root is None:
        return None
    counts: dict[str, int] = {}
    for transaction in root.iter("STMTTRN"):
        counts["STMTTRN"] = counts.get("STMTTRN", 0) + 1
        where = f"OFX/BANKMSGSRSV1/STMTTRNRS/STMTRS/BANKTRANLIST/STMTTRN[{counts['STMTTRN']}]"
        amount = (transaction.findtext("TRNAMT") or "").strip()
        try:
            Decimal(amount.replace(",", "."))
        except InvalidOperation:
            return f"{where}/TRNAMT: {amount!r} is not an amount"
        posted = (transaction.findtext("DTPOSTED") or "").strip()
        if len(posted) < 8 or not posted[:8].isdigit():
            return f"{where}/DTPOSTED: {posted!r} is not a date"
    return None
