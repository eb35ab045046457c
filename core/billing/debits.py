"""Direct debits of issued invoices: planning each collection with its SEPA
sequence, and the mandates' sequence state.

The sequence rule (SEPA Core rulebook): a mandate's first collection is FRST,
the later ones RCUR. The next collection is FRST again when the mandate's FRST
collection was returned or rejected, or when the mandate has not been used for
36 months (it has then lapsed and is used again as a new one). A one-off
mandate would be OOFF and a mandate's last collection FNAL; pmdesk's recurring
mandates plan FRST and RCUR only, and a FNAL is not needed to end one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schwifty import IBAN, exceptions
from sqlalchemy import Connection, select

from core.billing.model import Mandate
from core.store.audit import audit_row, write_audit
from core.store.models.debits import Debit, MandateState
from core.store.models.receivables import Invoice
from core.store.models.system import table

FRST, RCUR, OOFF, FNAL = "FRST", "RCUR", "OOFF", "FNAL"
SEQUENCES = (FRST, RCUR, OOFF, FNAL)
PLANNED, EXPORTED, COLLECTED, RETURNED = "planned", "exported", "collected", "returned"
# A mandate not used for this long has lapsed: its next collection is FRST again.
DORMANT_MONTHS = 36
# The longest end-to-end id a pain.008 carries.
END_TO_END_LIMIT = 35

DEBIT, MANDATE, INVOICE = table(Debit), table(MandateState), table(Invoice)


class DebitError(ValueError):
    """A debit that cannot be planned or exported; the message says why."""


@dataclass(frozen=True)
class PlannedDebit:
    id: int
    end_to_end_id: str
    sequence: str
    collect_on: date
    amount_cents: int
    # False when the invoice already had this debit (planning is idempotent).
    new: bool


def end_to_end_id(number: str, attempt: int = 1) -> str:
    """The id a debit's statement line carries back: the invoice number, then the attempt."""
    ident = number if attempt == 1 else f"{number}-{attempt}"
    if len(ident) > END_TO_END_LIMIT:
        raise DebitError(f"invoice number {number!r} is too long for an end-to-end id")
    return ident


def _months_between(first: date, later: date) -> int:
    months = (later.year - first.year) * 12 + later.month - first.month
    return months - (1 if later.day < first.day else 0)


def next_sequence(state: Any | None, collect_on: date) -> str:
    """FRST or RCUR for a mandate's next collection on `collect_on` (see the module's rule)."""
    if state is None or state.last_sequence is None or state.first_again:
        return FRST
    last = state.last_collect_on
    if last is not None and _months_between(last, collect_on) >= DORMANT_MONTHS:
        return FRST
    return RCUR


def _checked_iban(value: str) -> str:
    try:
        return str(IBAN(value).compact)
    except exceptions.SchwiftyException as error:
        raise DebitError(f"IBAN {value!r} is not valid: {error}") from None


def plan_debit(
    connection: Connection,
    invoice_id: int,
    mandate: Mandate,
    amount_cents: int,
    collect_on: date,
    *,
    now: datetime,
    actor: str = "billing",
) -> PlannedDebit:
    """Plan the collection of an issued invoice under `mandate` on `collect_on`.

    Called in the issuing transaction. Idempotent per invoice: an invoice with
    a debit planned, exported or collected gets that one back. An invoice whose
    debits were all returned gets a new one (a new end-to-end id), with the
    sequence the mandate then requires.
    """
    if amount_cents <= 0:
        raise DebitError(f"a debit needs a positive amount, not {amount_cents} cents")
    if not mandate.reference.strip():
        raise DebitError("the mandate has no reference")
    if mandate.signed_on > collect_on:
        raise DebitError(
            f"mandate {mandate.reference} is signed on {mandate.signed_on},"
            f" after the collection date {collect_on}"
        )
    iban = _checked_iban(mandate.iban)
    number = connection.execute(select(INVOICE.c.number).where(INVOICE.c.id == invoice_id)).scalar()
    if number is None:
        raise DebitError(f"no invoice #{invoice_id}")
    existing = connection.execute(
        select(DEBIT).where(DEBIT.c.invoice_id == invoice_id).order_by(DEBIT.c.id)
    ).all()
    live = [row for row in existing if row.state != RETURNED]
    if live:
        row = live[-1]
        return PlannedDebit(
            row.id, row.end_to_end_id, row.sequence, row.collect_on, row.amount_cents, False
        )
    state = connection.execute(
        select(MANDATE).where(MANDATE.c.reference == mandate.reference)
    ).first()
    sequence = next_sequence(state, collect_on)
    ident = end_to_end_id(number, len(existing) + 1)
    values = {
        "invoice_id": invoice_id,
        "invoice_number": number,
        "mandate_reference": mandate.reference,
        "mandate_signed_on": mandate.signed_on,
        "iban": iban,
        "bic": mandate.bic.replace(" ", "").upper(),
        "amount_cents": amount_cents,
        "collect_on": collect_on,
        "sequence": sequence,
        "end_to_end_id": ident,
        "state": PLANNED,
        "created_at": now,
    }
    inserted = connection.execute(DEBIT.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    debit_id = int(inserted[0])
    mandate_values = {
        "last_sequence": sequence,
        "last_collect_on": collect_on,
        "first_again": False,
        "updated_at": now,
    }
    if state is None:
        connection.execute(MANDATE.insert().values(reference=mandate.reference, **mandate_values))
    else:
        connection.execute(
            MANDATE.update()
            .where(MANDATE.c.reference == mandate.reference)
            .values(**mandate_values)
        )
    detail = {"invoice": number, "sequence": sequence, "collect_on": collect_on.isoformat()}
    write_audit(connection, [audit_row(now, actor, "plan_debit", "debit", debit_id, detail)])
    return PlannedDebit(debit_id, ident, sequence, collect_on, amount_cents, True)


def mark_first_again(connection: Connection, reference: str, now: datetime) -> None:
    """The mandate's next collection is FRST again (its FRST collection came back)."""
    connection.execute(
        MANDATE.update()
        .where(MANDATE.c.reference == reference)
        .values(first_again=True, updated_at=now)
    )


def debits_on(connection: Connection, on: date | None = None) -> list[Any]:
    """The debits (of one collection date, or all), by date and id."""
    query = select(DEBIT).order_by(DEBIT.c.collect_on, DEBIT.c.id)
    if on is not None:
        query = query.where(DEBIT.c.collect_on == on)
    return list(connection.execute(query).all())
