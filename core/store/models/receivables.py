"""The tables of receivables: invoices, reminders and their steps, bank
statement lines, allocations, match candidates and clients' IBANs.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.base.kinds import (
    InvoiceState,
)


class Invoice(SQLModel, table=True):
    """An invoice to a client. Amounts are integer cents, so sums are exact."""

    __table_args__ = (Index("ix_invoice_state_due", "state", "due_on"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    issued_on: date
    due_on: date
    currency: str = "EUR"
    total_cents: int
    # Kept equal to the payments allocated to the invoice by the receivables code.
    paid_cents: int = 0
    state: str = InvoiceState.OPEN.value
    # The last reminder level reached (0: none yet) and what comes next, in words.
    dunning_level: int = 0
    next_step: str | None = None
    promised_on: date | None = None
    created_at: datetime
    updated_at: datetime
    # ISO 11649 "RF.." creditor reference built from the number: what a
    # payer is asked to quote, and what bank matching looks for first.
    creditor_reference: str | None = Field(default=None, index=True)
    # When the next dunning level falls due (see core.receivables.dunning); None: nothing planned.
    next_step_on: date | None = None
    # The day of the last reminder step, so an invoice gets at most one a day.
    reminded_on: date | None = None
    # Recovery fee claimed by a reminder (once per invoice), in cents.
    fee_cents: int = 0
    # paid_cents as the last dunning run saw it: a rise is a payment, which pauses reminders.
    dunning_paid_cents: int = 0
    paused_until: date | None = None


# -- Reminders (see core.receivables.dunning) ---------------------------------------------


class Reminder(SQLModel, table=True):
    """The reminder a client gets on one day: one message listing its overdue invoices.

    Written as a draft by the daily dunning run; someone sends it and marks
    it sent (or cancels it). One per client and day, which makes the run
    idempotent.
    """

    __table_args__ = (UniqueConstraint("client_id", "run_on"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id")
    run_on: date = Field(index=True)
    language: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    # draft, sent or cancelled
    status: str = Field(default="draft", index=True)
    created_at: datetime
    status_at: datetime | None = None


class DunningStep(SQLModel, table=True):
    """An invoice reaching a dunning level: in a reminder, a staff alert or a suspension flag."""

    __table_args__ = (UniqueConstraint("invoice_id", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    # 1 for the first level of receivables.levels.
    level: int
    name: str
    action: str
    run_on: date
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    # What the step claimed and showed, as the reminder's text says it.
    balance_cents: int
    fee_cents: int = 0
    interest_cents: int = 0
    created_at: datetime


# -- Bank statements and payment matching (see core.receivables.statements,
# core.receivables.matching) --


class BankTransaction(SQLModel, table=True):
    """One line of a bank statement, whatever the file's format (camt, MT940, OFX, CSV).

    Amounts are integer cents, credits positive. `dedupe_key` is what makes a
    line the same line when a file, or an overlapping one, comes again
    (see core.receivables.statements.records.dedupe_keys).
    """

    __table_args__ = (Index("ix_banktransaction_state", "match_state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    # The statement's own account; "" when the file does not say.
    account_iban: str = ""
    booking_date: date
    value_date: date | None = None
    amount_cents: int
    currency: str
    counterparty_name: str = ""
    # Compact and valid, or None; an invalid one is kept as written in the raw column.
    counterparty_iban: str | None = Field(default=None, index=True)
    counterparty_account_raw: str | None = None
    end_to_end_id: str | None = None
    bank_reference: str | None = None
    # A creditor reference (RF, ISO 11649) or another structured reference.
    structured_reference: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    file_hash: str = Field(index=True)
    file_name: str
    # The entry's place in its file (1-based), for finding it again.
    position: int
    imported_at: datetime
    # new, matched, review, unmatched (a credit nothing fits), rejected, debit.
    match_state: str = "new"
    matched_by: str | None = None
    matched_at: datetime | None = None


class Allocation(SQLModel, table=True):
    """Cents of a statement line given to an invoice (payment or fee) or to a client's credit.

    An invoice's `paid_cents` is the sum of its allocations not reversed.
    Reversing keeps the row (who, when) rather than deleting it.
    """

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="banktransaction.id", index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    # payment, fee (kept by the bank, within tolerance) or credit (overpayment).
    kind: str = "payment"
    cents: int
    # The rule ("rule:reference") or the person who made it.
    by: str
    at: datetime
    confidence: float | None = None
    # Why, in words: the evidence that made the match.
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reversed_at: datetime | None = None
    reversed_by: str | None = None


class MatchCandidate(SQLModel, table=True):
    """The review queue: what a statement line may pay, best first."""

    __table_args__ = (UniqueConstraint("transaction_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="banktransaction.id")
    rank: int
    # Invoice ids in the order they would be paid, comma-separated.
    invoice_ids: str
    confidence: float
    # A JSON list of the reasons, in words.
    reasons: str = Field(sa_column=Column(Text, nullable=False))


class ClientIban(SQLModel, table=True):
    """An account a client pays from: configured, or learned from a confirmed match."""

    iban: str = Field(primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    # config or confirmed
    source: str
    learned_at: datetime
