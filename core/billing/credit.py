"""Credit notes: how an issued invoice is corrected, since it never changes.

A credit note has its own series (AV2026-00001) and negative lines, and
names the invoice it corrects. It credits the whole of what remains of the
invoice, or chosen lines (by position, each with a quantity or all that
remains of it); never more than what remains uncredited, line by line and
in total. Numbered, stored and audited in one transaction, as an invoice is.

The receivables see it on the invoice's own row: its `total_cents` (what
the client owes on it) drops by the credit note's TTC, so its balance
(total less paid), the aging, the overdue list, matching and dunning all
follow; an invoice credited in full owes nothing and its reminders stop.
The issued document keeps the TTC it printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from core.base.instants import Now, utc_now
from core.base.kinds import Actor
from core.billing.issue import IssueRefused, line_rows
from core.billing.model import Line, totals_of
from core.billing.numbering import take_number
from core.config.settings import Settings
from core.receivables.invoices import creditor_reference
from core.store.audit import audit_row, write_audit
from core.store.db import insert_many, insert_with_ids, write
from core.store.models.billing import BillingDocument, BillingLine
from core.store.models.system import table

DOCUMENT, LINE = table(BillingDocument), table(BillingLine)


class CreditRefused(IssueRefused):
    """The credit note cannot be made; nothing was stored and no number taken."""


@dataclass(frozen=True)
class Pick:
    """A line of the invoice to credit: its position (1 for the first) and how much of it.

    `quantity` None: all that remains of the line.
    """

    position: int
    quantity: Decimal | None = None


@dataclass(frozen=True)
class CreditNote:
    number: str
    corrects: str
    gross_cents: int
    # What remains of the invoice to credit after this one (TTC).
    remaining_cents: int


def parse_picks(written: str) -> list[Pick]:
    """`1,3` or `1:0.5,3`: positions, each with an optional quantity."""
    picks: list[Pick] = []
    for part in written.split(","):
        part = part.strip()
        if not part:
            continue
        position, _, quantity = part.partition(":")
        try:
            pick = Pick(int(position), Decimal(quantity) if quantity.strip() else None)
        except (ValueError, ArithmeticError):
            raise CreditRefused(
                f"{part!r} is not a line: write its position, or position:quantity (2:0.5)"
            ) from None
        picks.append(pick)
    if not picks:
        raise CreditRefused("no line given")
    return picks


@dataclass(frozen=True)
class _Remaining:
    line: Line
    quantity: Decimal
    amount_cents: int


_INVOICE = text(
    "SELECT id, kind, client_id, issued_on, currency, language, payment_method, buyer_name, "
    "buyer, billing_email, gross_cents, invoice_id FROM billingdocument WHERE number = :number"
)
_LINES = text(
    "SELECT position, description, quantity, unit_price_cents, vat_rate, service_start, "
    "service_end, unit, note, amount_cents FROM billingline WHERE document_id = :id "
    "ORDER BY position"
)
_CREDITED = text(
    "SELECT l.credits_position, l.quantity, l.amount_cents FROM billingline l "
    "JOIN billingdocument d ON d.id = l.document_id WHERE d.corrects_id = :id"
)
_CREDITED_GROSS = text(
    "SELECT COALESCE(SUM(gross_cents), 0) FROM billingdocument WHERE corrects_id = :id"
)
# The receivables row owes less; credited in full and nothing left to pay, it is settled.
_RECEIVABLE = text(
    "UPDATE invoice SET total_cents = total_cents + :gross, "
    "state = CASE WHEN paid_cents >= total_cents + :gross AND state = 'open' THEN 'paid' "
    "ELSE state END, updated_at = :now WHERE id = :id"
)


def credit_note(
    engine: Engine,
    settings: Settings,
    number: str,
    lines: Sequence[Pick] | None = None,
    *,
    on: date,
    actor: Actor,
    reason: str = "",
    clock: Now = utc_now,
) -> CreditNote:
    """Credit invoice `number` (all that remains, or `lines`) on `on`; CreditRefused if not."""
    now = clock()
    with write(engine) as connection:
        invoice = connection.execute(_INVOICE, {"number": number}).mappings().first()
        if invoice is None:
            raise CreditRefused(f"no issued invoice numbered {number}")
        if invoice["kind"] != "invoice":
            raise CreditRefused(f"{number} is a credit note, not an invoice")
        if on < _day(invoice["issued_on"]):
            raise CreditRefused(f"{number} was issued on {invoice['issued_on']}, after {on}")
        remaining = _remaining(connection, invoice["id"])
        chosen = _chosen(number, remaining, lines)
        credit_lines = tuple(line for _, line in chosen)
        totals = totals_of(credit_lines)
        credited_before = int(
            connection.execute(_CREDITED_GROSS, {"id": invoice["id"]}).scalar_one()
        )
        left = invoice["gross_cents"] + credited_before
        if -totals.gross_cents > left:
            raise CreditRefused(
                f"{number}: crediting {-totals.gross_cents / 100:.2f} is more than the "
                f"{left / 100:.2f} that remains uncredited"
            )
        numbered = take_number(connection, settings.billing.credit_note_series, on)
        document: dict[str, Any] = {
            "number": numbered.number,
            "series": numbered.series,
            "year": numbered.year,
            "sequence": numbered.sequence,
            "kind": "credit_note",
            "contract_id": None,
            "period_start": None,
            "period_end": None,
            "client_id": invoice["client_id"],
            "issued_on": on,
            "due_on": on,
            "service_start": min(line.service_start for line in credit_lines),
            "service_end": max(line.service_end for line in credit_lines),
            "currency": invoice["currency"],
            "language": invoice["language"],
            "payment_method": invoice["payment_method"],
            "net_cents": totals.net_cents,
            "vat_cents": totals.vat_cents,
            "gross_cents": totals.gross_cents,
            "buyer_name": invoice["buyer_name"],
            "buyer": invoice["buyer"],
            "billing_email": invoice["billing_email"],
            "mandate": None,
            "debit_on": None,
            "creditor_reference": creditor_reference(numbered.number),
            "corrects": number,
            "corrects_id": invoice["id"],
            "invoice_id": invoice["invoice_id"],
            "reason": reason,
            "issued_by": actor,
            "created_at": now,
        }
        [document_id] = insert_with_ids(connection, DOCUMENT, [document])
        positions = tuple(position for position, _ in chosen)
        insert_many(connection, LINE, line_rows(document_id, credit_lines, positions))
        if invoice["invoice_id"] is not None:
            connection.execute(
                _RECEIVABLE, {"gross": totals.gross_cents, "now": now, "id": invoice["invoice_id"]}
            )
        write_audit(
            connection,
            [
                audit_row(
                    now,
                    actor,
                    "credit_note",
                    "billingdocument",
                    invoice["id"],
                    {
                        "number": numbered.number,
                        "corrects": number,
                        "lines": list(positions),
                        "gross_cents": totals.gross_cents,
                        "reason": reason,
                    },
                )
            ],
        )
    return CreditNote(numbered.number, number, totals.gross_cents, left + totals.gross_cents)


def _remaining(connection: Connection, invoice_id: int) -> dict[int, _Remaining]:
    """Each line of the invoice with the quantity and amount not yet credited."""
    credited_quantity: dict[int, Decimal] = {}
    credited_amount: dict[int, int] = {}
    for position, quantity, amount in connection.execute(_CREDITED, {"id": invoice_id}):
        credited_quantity[position] = credited_quantity.get(position, Decimal(0)) + Decimal(
            quantity
        )
        credited_amount[position] = credited_amount.get(position, 0) + amount
    remaining: dict[int, _Remaining] = {}
    for row in connection.execute(_LINES, {"id": invoice_id}).mappings():
        line = Line(
            description=row["description"],
            quantity=Decimal(row["quantity"]),
            unit_price_cents=row["unit_price_cents"],
            vat_rate=Decimal(row["vat_rate"]),
            service_start=_day(row["service_start"]),
            service_end=_day(row["service_end"]),
            unit=row["unit"],
            note=row["note"],
        )
        position = row["position"]
        remaining[position] = _Remaining(
            line,
            line.quantity + credited_quantity.get(position, Decimal(0)),
            row["amount_cents"] + credited_amount.get(position, 0),
        )
    return remaining


def _chosen(
    number: str, remaining: dict[int, _Remaining], picks: Sequence[Pick] | None
) -> list[tuple[int, Line]]:
    """The credit note's lines (negative quantities), with the positions they credit."""
    if picks is None:
        picks = [Pick(position) for position, left in remaining.items() if left.quantity > 0]
        if not picks:
            raise CreditRefused(f"{number} is credited in full already")
    chosen: list[tuple[int, Line]] = []
    seen: set[int] = set()
    for pick in picks:
        left = remaining.get(pick.position)
        if left is None:
            raise CreditRefused(
                f"{number} has no line {pick.position} (lines 1 to {len(remaining)})"
            )
        if pick.position in seen:
            raise CreditRefused(f"line {pick.position} is given twice")
        seen.add(pick.position)
        quantity = left.quantity if pick.quantity is None else pick.quantity
        if left.quantity <= 0:
            raise CreditRefused(f"{number}: line {pick.position} is credited in full already")
        if not quantity.is_finite() or quantity <= 0:
            raise CreditRefused(f"line {pick.position}: quantity {quantity} is not above zero")
        if quantity > left.quantity:
            raise CreditRefused(
                f"{number}: line {pick.position} has {left.quantity} left to credit, not {quantity}"
            )
        original = left.line
        line = Line(
            description=original.description,
            quantity=-quantity,
            unit_price_cents=original.unit_price_cents,
            vat_rate=original.vat_rate,
            service_start=original.service_start,
            service_end=original.service_end,
            unit=original.unit,
            note=original.note,
        )
        if -line.amount_cents > left.amount_cents:
            raise CreditRefused(
                f"{number}: line {pick.position} has {left.amount_cents / 100:.2f} left to "
                f"credit, not {-line.amount_cents / 100:.2f}"
            )
        chosen.append((pick.position, line))
    return chosen


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
