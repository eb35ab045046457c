"""Issued billing documents (invoices and credit notes), their lines, and the
counters that number them without gaps (core.billing.numbering, core.billing.issue).

An issued document never changes: the database refuses any UPDATE or DELETE
of a document or of its lines (triggers created with the tables), so that
what was printed and sent stays what is stored. A correction is a credit note.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DDL, Column, Index, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from core.store.models.system import table


class BillingCounter(SQLModel, table=True):
    """The last number given in a series and year, and the day it was issued on."""

    series: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    last_sequence: int = 0
    last_issued_on: date | None = None


class BillingDocument(SQLModel, table=True):
    """An issued invoice or credit note, as it was printed.

    (`contract_id`, `period_start`) is the billing key of an invoice: unique,
    so that a contract and period is billed once. A credit note leaves both
    empty and names the invoice it corrects (`corrects`, `corrects_id`).
    `invoice_id` is the receivables row the document weighs on: the invoice's
    own, or for a credit note the corrected invoice's.
    """

    __table_args__ = (
        UniqueConstraint("series", "year", "sequence", name="uq_billingdocument_sequence"),
        UniqueConstraint("contract_id", "period_start", name="uq_billingdocument_billing_key"),
        Index("ix_billingdocument_issued", "issued_on", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)
    series: str
    year: int
    sequence: int
    # invoice or credit_note (core.billing.model.DocumentKind)
    kind: str
    contract_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    client_id: int = Field(foreign_key="client.id", index=True)
    issued_on: date
    due_on: date
    service_start: date
    service_end: date
    currency: str
    language: str
    # transfer or sepa_debit (core.billing.model.PaymentMethod)
    payment_method: str
    net_cents: int
    vat_cents: int
    gross_cents: int
    # The buyer as the document printed it (JSON of core.billing.model.Party).
    buyer_name: str
    buyer: str = Field(sa_column=Column(Text, nullable=False))
    billing_email: str = ""
    # The mandate as printed (JSON of core.billing.model.Mandate), for a direct debit.
    mandate: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    debit_on: date | None = None
    creditor_reference: str
    corrects: str | None = None
    corrects_id: int | None = Field(default=None, foreign_key="billingdocument.id", index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", index=True)
    # Why a credit note was made, in words.
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    issued_by: str
    created_at: datetime


class BillingLine(SQLModel, table=True):
    """One line of an issued document. Quantities and rates are Decimals as text."""

    __table_args__ = (UniqueConstraint("document_id", "position", name="uq_billingline_position"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="billingdocument.id")
    # 1 for the first line.
    position: int
    description: str = Field(sa_column=Column(Text, nullable=False))
    quantity: str
    unit: str
    unit_price_cents: int
    vat_rate: str
    amount_cents: int
    service_start: date
    service_end: date
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # On a credit note: the position of the corrected invoice's line it credits.
    credits_position: int | None = None


# The database itself refuses to change an issued document, whoever writes.
IMMUTABLE_TRIGGERS = tuple(
    f"CREATE TRIGGER {name}_{verb} BEFORE {verb.upper()} ON {name} "
    f"BEGIN SELECT RAISE(ABORT, 'an issued billing document never changes'); END"
    for name in ("billingdocument", "billingline")
    for verb in ("update", "delete")
)
# PostgreSQL's form: one function, a row trigger per table (TRUNCATE, which
# only an administrator runs, is not refused).
POSTGRES_IMMUTABLE = (
    "CREATE OR REPLACE FUNCTION billing_never_changes() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'an issued billing document never changes'; END $$",
    *(
        f"CREATE TRIGGER {name}_never_changes BEFORE UPDATE OR DELETE ON {name} "
        "FOR EACH ROW EXECUTE FUNCTION billing_never_changes()"
        for name in ("billingdocument", "billingline")
    ),
)


def _after_create(model: type[SQLModel], statement: str, dialect: str) -> None:
    trigger = DDL(statement)  # type: ignore[no-untyped-call]
    event.listen(table(model), "after_create", trigger.execute_if(dialect=dialect))


for _model in (BillingDocument, BillingLine):
    for _statement in IMMUTABLE_TRIGGERS:
        if f" ON {table(_model).name} " in _statement:
            _after_create(_model, _statement, "sqlite")
# The function first, with the documents' table (the lines' table comes after it).
_after_create(BillingDocument, POSTGRES_IMMUTABLE[0], "postgresql")
for _model in (BillingDocument, BillingLine):
    for _statement in POSTGRES_IMMUTABLE[1:]:
        if f" ON {table(_model).name} " in _statement:
            _after_create(_model, _statement, "postgresql")
