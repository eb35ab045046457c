"""Issuing an invoice from a draft: its number, its rows and its receivables row,
in one transaction.

`issue` checks the draft first (lines, a total above zero, the buyer's name,
a mandate for a direct debit, ...): a refused draft takes no number. Then,
in one write transaction: the billing key (contract, period start) is looked
up, and a contract and period already billed is skipped, whatever is re-run
and however many runs go at once; else the next number is taken
(core.billing.numbering), the document and its lines are stored as printed,
the receivables get their `Invoice` row (number, client, dates, total TTC
and the RF creditor reference) so that the invoice is aged, reminded and
matched as an imported one is, and the issue is audited. Anything failing
before the commit leaves nothing behind, and no gap in the numbering.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from core.base.instants import Now, utc_now
from core.base.kinds import Actor, InvoiceState
from core.billing.model import Draft, Line, Mandate, Party, PaymentMethod, Totals
from core.billing.numbering import (
    Numbered,
    NumberingError,
    insert_one,
    new_ids,
    sql_rows,
    take_number,
)
from core.config.settings import Settings
from core.receivables.invoices import creditor_reference
from core.store.audit import audit_row, write_audit
from core.store.db import insert_many, write_on
from core.store.models.billing import BillingDocument, BillingLine
from core.store.models.receivables import Invoice
from core.store.models.system import table

DOCUMENT, LINE, INVOICE = table(BillingDocument), table(BillingLine), table(Invoice)

Status = Literal["issued", "already billed", "refused", "would issue"]


class IssueRefused(ValueError):
    """The document cannot be issued; nothing was stored and no number taken."""


@dataclass(frozen=True)
class Outcome:
    """What became of one draft: issued (with its number), already billed, or refused."""

    contract_id: int
    client_id: int
    period_start: date
    status: Status
    number: str | None = None
    gross_cents: int = 0
    reason: str | None = None


# -- checking a draft -----------------------------------------------------------


def refusal(draft: Draft, totals: Totals | None = None) -> str | None:
    """Why a draft cannot be issued, in words; None if it can (`totals`: the draft's)."""
    if draft.period_end < draft.period_start:
        return f"its period ends ({draft.period_end}) before it starts ({draft.period_start})"
    if not draft.lines:
        return "it has no lines"
    for position, line in enumerate(draft.lines, start=1):
        problem = _line_refusal(line)
        if problem:
            return f"line {position}: {problem}"
    totals = draft.totals if totals is None else totals
    if totals.gross_cents <= 0:
        return f"its total is {totals.gross_cents / 100:.2f}: an invoice must be above zero"
    if not draft.buyer.name.strip():
        return "the buyer has no name"
    if draft.payment_terms_days < 0:
        return f"payment terms of {draft.payment_terms_days} days"
    if len(draft.currency) != 3 or not draft.currency.isalpha():
        return f"currency {draft.currency!r} is not an ISO 4217 code"
    if draft.payment_method == PaymentMethod.SEPA_DEBIT and draft.mandate is None:
        return "a direct debit without a mandate"
    return None


def _line_refusal(line: Line) -> str | None:
    if not line.description.strip():
        return "no description"
    if not line.quantity.is_finite() or not line.vat_rate.is_finite():
        return "a quantity or VAT rate that is not a number"
    if line.vat_rate < 0 or line.vat_rate > 100:
        return f"VAT rate {line.vat_rate} %"
    if line.service_end < line.service_start:
        return f"its service ends ({line.service_end}) before it starts ({line.service_start})"
    return None


# -- issuing --------------------------------------------------------------------


_BILLED = (
    "SELECT number FROM billingdocument WHERE contract_id = :contract AND period_start = :start"
)
# The client exists, the number is not an imported invoice's already.
_CHECKS = (
    "SELECT (SELECT count(*) FROM client WHERE id = :client), "
    "(SELECT count(*) FROM invoice WHERE number = :number)"
)


def issue(
    engine: Engine,
    settings: Settings,
    draft: Draft,
    *,
    on: date,
    actor: Actor,
    clock: Now = utc_now,
) -> Outcome:
    """Issue `draft` on `on`: one transaction; see the module's text."""
    with engine.connect() as connection:
        return issue_through(connection, settings, draft, on=on, actor=actor, clock=clock)


def issue_through(
    connection: Connection,
    settings: Settings,
    draft: Draft,
    *,
    on: date,
    actor: Actor,
    clock: Now = utc_now,
) -> Outcome:
    """`issue` on a connection its caller keeps from one draft to the next (a run).

    The invoice is committed on its own: `issue_in_group` in a write
    transaction of one.
    """
    with write_on(connection):
        return issue_in_group(connection, settings, draft, on=on, actor=actor, clock=clock)


def issue_in_group(
    connection: Connection,
    settings: Settings,
    draft: Draft,
    *,
    on: date,
    actor: Actor,
    clock: Now = utc_now,
) -> Outcome:
    """`issue` inside the caller's write transaction, in a savepoint of its own.

    A run commits its invoices in groups (core.billing.run): each invoice is
    still all or nothing, its savepoint rolled back on a refusal, which
    takes no number; the group's commit makes them durable together.
    """
    totals = draft.totals
    problem = refusal(draft, totals)
    if problem is not None:
        return _outcome(draft, "refused", reason=problem)
    savepoint = connection.begin_nested()
    try:
        billed = billed_number(connection, draft)
        if billed is not None:
            savepoint.commit()
            return _outcome(draft, "already billed", totals, number=billed)
        number = issue_on(connection, settings, draft, totals, on=on, actor=actor, now=clock())
    except (IssueRefused, NumberingError) as error:
        savepoint.rollback()
        return _outcome(draft, "refused", totals, reason=str(error))
    except IntegrityError:
        # Another transaction billed the same key between our check and our
        # insert (PostgreSQL; SQLite's writers take turns).
        savepoint.rollback()
        billed = billed_number(connection, draft)
        if billed is not None:
            return _outcome(draft, "already billed", totals, number=billed)
        raise
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return _outcome(draft, "issued", totals, number=number)


def billed_number(connection: Connection, draft: Draft) -> str | None:
    """The number of the invoice already issued for the draft's billing key, if any."""
    found = sql_rows(
        connection, _BILLED, {"contract": draft.contract_id, "start": draft.period_start}
    )
    return str(found[0][0]) if found else None


def issue_on(
    connection: Connection,
    settings: Settings,
    draft: Draft,
    totals: Totals,
    *,
    on: date,
    actor: Actor,
    now: datetime,
) -> str:
    """Issue a checked draft in the caller's write transaction (no billing key check).

    Returns the number.
    """
    numbered = take_number(connection, settings.billing.invoice_series, on)
    [(client, taken)] = sql_rows(
        connection, _CHECKS, {"client": draft.client_id, "number": numbered.number}
    )
    if not client:
        raise IssueRefused(f"no client #{draft.client_id}")
    if taken:
        raise IssueRefused(
            f"number {numbered.number} is already an invoice of the receivables (imported): "
            "choose another invoice series"
        )
    due_on = on + timedelta(days=draft.payment_terms_days)
    reference = creditor_reference(numbered.number)
    receivable = receivables_row(numbered.number, draft, on, due_on, totals, reference, now)
    invoice_id, document_id = new_ids(connection, INVOICE, DOCUMENT)
    invoice_id = insert_one(connection, INVOICE, receivable, invoice_id)
    debit_on = (
        on + timedelta(days=settings.billing.debit_notice_days)
        if draft.payment_method == PaymentMethod.SEPA_DEBIT
        else None
    )
    document = {
        **_numbered(numbered),
        "kind": "invoice",
        "contract_id": draft.contract_id,
        "period_start": draft.period_start,
        "period_end": draft.period_end,
        "client_id": draft.client_id,
        "issued_on": on,
        "due_on": due_on,
        "service_start": draft.period_start,
        "service_end": draft.period_end,
        "currency": draft.currency,
        "language": draft.language,
        "payment_method": draft.payment_method.value,
        **_totals(totals),
        "buyer_name": draft.buyer.name,
        "buyer": party_json(draft.buyer),
        "billing_email": draft.billing_email,
        "mandate": mandate_json(draft.mandate),
        "debit_on": debit_on,
        "creditor_reference": reference,
        "corrects": None,
        "corrects_id": None,
        "invoice_id": invoice_id,
        "reason": "",
        "issued_by": actor,
        "created_at": now,
    }
    document_id = insert_one(connection, DOCUMENT, document, document_id)
    insert_many(connection, LINE, line_rows(document_id, draft.lines))
    write_audit(
        connection,
        [
            audit_row(
                now,
                actor,
                "issue",
                "billingdocument",
                document_id,
                {
                    "number": numbered.number,
                    "contract": draft.contract_id,
                    "period_start": draft.period_start,
                    "client": draft.client_id,
                    "gross_cents": totals.gross_cents,
                },
            )
        ],
    )
    return numbered.number


def receivables_row(
    number: str,
    draft: Draft,
    on: date,
    due_on: date,
    totals: Totals,
    reference: str,
    now: datetime,
) -> dict[str, Any]:
    """The receivables' `Invoice` row of an issued invoice, as an import writes one."""
    return {
        "number": number,
        "client_id": draft.client_id,
        "issued_on": on,
        "due_on": due_on,
        "currency": draft.currency,
        "total_cents": totals.gross_cents,
        "paid_cents": 0,
        "state": InvoiceState.OPEN.value,
        "dunning_level": 0,
        "dunning_paid_cents": 0,
        "fee_cents": 0,
        "creditor_reference": reference,
        "created_at": now,
        "updated_at": now,
    }


def line_rows(
    document_id: int, lines: tuple[Line, ...], credits: tuple[int, ...] | None = None
) -> list[dict[str, Any]]:
    """The stored lines of a document.

    `credits`: on a credit note, the invoice positions its lines credit.
    """
    return [
        {
            "document_id": document_id,
            "position": position,
            "description": line.description,
            "quantity": str(line.quantity),
            "unit": line.unit,
            "unit_price_cents": line.unit_price_cents,
            "vat_rate": str(line.vat_rate),
            "amount_cents": line.amount_cents,
            "service_start": line.service_start,
            "service_end": line.service_end,
            "note": line.note,
            "credits_position": None if credits is None else credits[position - 1],
        }
        for position, line in enumerate(lines, start=1)
    ]


def party_json(party: Party) -> str:
    return json.dumps({**party.__dict__, "address": list(party.address)}, ensure_ascii=False)


def mandate_json(mandate: Mandate | None) -> str | None:
    if mandate is None:
        return None
    return json.dumps(asdict(mandate), ensure_ascii=False, default=str)


def _numbered(numbered: Numbered) -> dict[str, Any]:
    return {
        "number": numbered.number,
        "series": numbered.series,
        "year": numbered.year,
        "sequence": numbered.sequence,
    }


def _totals(totals: Totals) -> dict[str, int]:
    return {
        "net_cents": totals.net_cents,
        "vat_cents": totals.vat_cents,
        "gross_cents": totals.gross_cents,
    }


def _outcome(
    draft: Draft,
    status: Status,
    totals: Totals | None = None,
    *,
    number: str | None = None,
    reason: str | None = None,
) -> Outcome:
    return Outcome(
        draft.contract_id,
        draft.client_id,
        draft.period_start,
        status,
        number,
        0 if totals is None else totals.gross_cents,
        reason,
    )
