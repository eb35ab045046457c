"""Direct debits coming back from the bank: a credit with a debit's end-to-end
id collects it; a return or reject (a negative line with the same id, from a
camt.054 or any statement) reopens the invoice, records the reason code,
alerts the assistant, and makes the mandate's next collection FRST again
where the rulebook requires it (a FRST collection returned).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from core.billing.debits import (
    COLLECTED,
    DEBIT,
    EXPORTED,
    FRST,
    RETURNED,
    mark_first_again,
)
from core.notify.rules import queue_invoice_alert
from core.receivables.matching.matcher import allocate_return
from core.store.audit import audit_row, write_audit
from core.store.db import write
from core.store.models.receivables import Allocation, BankTransaction
from core.store.models.system import table

# The SEPA reason codes of R-transactions, in words (EPC guidance).
REASONS: dict[str, str] = {
    "AC01": "account identifier incorrect",
    "AC04": "account closed",
    "AC06": "account blocked",
    "AC13": "debtor account is a consumer account",
    "AG01": "direct debit forbidden on this account",
    "AG02": "invalid bank operation code",
    "AM04": "insufficient funds",
    "AM05": "duplicate collection",
    "BE05": "creditor identifier unknown to the debtor's bank",
    "CNOR": "creditor bank not registered",
    "DNOR": "debtor bank not registered",
    "FF01": "invalid file format",
    "MD01": "no valid mandate",
    "MD02": "mandate data missing or incorrect",
    "MD06": "refund requested by the debtor",
    "MD07": "debtor deceased",
    "MS02": "refused by the debtor",
    "MS03": "reason not specified",
    "RC01": "bank identifier (BIC) incorrect",
    "RR01": "debtor account or identification missing",
    "RR02": "debtor name or address missing",
    "RR03": "creditor name or address missing",
    "RR04": "regulatory reason",
    "SL01": "specific service offered by the debtor's bank",
}
_CODE = re.compile(r"\b(" + "|".join(REASONS) + r")\b")
UNKNOWN_REASON = "MS03"
# The dedupe key of a return's alert (one per debit).
DEBIT_RETURNED = "debit_returned"
BANK_LINE = table(BankTransaction)
ALLOCATION = table(Allocation)


def reason_in_words(code: str) -> str:
    return REASONS.get(code, "reason not listed")


def reason_of(text: str) -> str:
    """The reason code a return's text carries (RtrInf/Rsn/Cd as the camt reader
    writes it, or the bank's own words); MS03 when it names none."""
    found = _CODE.search(text.upper())
    return found.group(1) if found else UNKNOWN_REASON


@dataclass
class DebitOutcome:
    collected: list[str] = field(default_factory=list)
    # (end-to-end id, reason code)
    returned: list[tuple[str, str]] = field(default_factory=list)


def apply_bank_lines(engine: Engine, now: datetime, actor: str = "billing") -> DebitOutcome:
    """Settle debits from the statement lines carrying their end-to-end ids."""
    with write(engine) as connection:
        return settle_debits(connection, now, actor)


def settle_debits(connection: Connection, now: datetime, actor: str = "billing") -> DebitOutcome:
    outcome = DebitOutcome()
    debits = {
        row.end_to_end_id: row
        for row in connection.execute(
            select(DEBIT).where(DEBIT.c.state.in_([EXPORTED, COLLECTED]))
        ).all()
    }
    if not debits:
        return outcome
    lines = connection.execute(
        select(BANK_LINE)
        .where(BANK_LINE.c.end_to_end_id.in_(list(debits)))
        .order_by(BANK_LINE.c.booking_date, BANK_LINE.c.id)
    ).all()
    states = {ident: row.state for ident, row in debits.items()}
    for line in lines:
        debit = debits[line.end_to_end_id]
        state = states.get(line.end_to_end_id)
        if line.amount_cents > 0 and state == EXPORTED:
            if _allocated(connection, line.id, debit.invoice_id):
                connection.execute(
                    DEBIT.update()
                    .where(DEBIT.c.id == debit.id)
                    .values(state=COLLECTED, collected_at=now)
                )
                states[line.end_to_end_id] = COLLECTED
                outcome.collected.append(debit.end_to_end_id)
        elif line.amount_cents < 0 and state is not None:
            code = _returned(connection, debit, state, line, now, actor)
            del states[line.end_to_end_id]
            outcome.returned.append((debit.end_to_end_id, code))
    return outcome


def _allocated(connection: Connection, line_id: int, invoice_id: int) -> bool:
    found = connection.execute(
        select(ALLOCATION.c.id).where(
            ALLOCATION.c.transaction_id == line_id,
            ALLOCATION.c.invoice_id == invoice_id,
            ALLOCATION.c.reversed_at.is_(None),
            ALLOCATION.c.cents > 0,
        )
    ).first()
    return found is not None


def _returned(
    connection: Connection, debit: Any, state: str, line: Any, now: datetime, actor: str
) -> str:
    code = reason_of(line.text or "")
    words = reason_in_words(code)
    cents = min(-line.amount_cents, debit.amount_cents)
    # Collected (its credit allocated): the payment is given back. Rejected
    # before settlement, nothing was paid and nothing needs reversing.
    if state == COLLECTED:
        allocate_return(
            connection,
            line.id,
            debit.invoice_id,
            cents,
            actor,
            f"direct debit {debit.end_to_end_id} returned: {code} ({words})",
            now,
        )
    connection.execute(
        DEBIT.update()
        .where(DEBIT.c.id == debit.id)
        .values(state=RETURNED, return_code=code, returned_on=line.booking_date)
    )
    if debit.sequence == FRST:
        mark_first_again(connection, debit.mandate_reference, now)
    detail = {"code": code, "reason": words, "line": line.id, "invoice": debit.invoice_number}
    write_audit(connection, [audit_row(now, actor, "debit_returned", "debit", debit.id, detail)])
    amount = f"{cents // 100},{cents % 100:02d}"
    body = (
        f"Direct debit of invoice {debit.invoice_number} returned ({amount} €):"
        f" {code}, {words}. The invoice is open again."
    )
    queue_invoice_alert(
        connection, debit.invoice_id, f"{DEBIT_RETURNED}:{debit.end_to_end_id}", body, now
    )
    return code
