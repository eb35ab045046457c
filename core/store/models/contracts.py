"""Clients' contracts (engagement letters), their dated versions and lines, and usage files.

A contract's terms are never rewritten: a change is a new `ContractVersion`
that takes effect from its `effective_from`, so the terms in force on any
day stay readable (see core.billing.contracts). Decimals (VAT rates,
quantities) are kept as their text, exact on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Contract(SQLModel, table=True):
    """A client's engagement letter: its reference, its first day and its end.

    `end_on` is None while the contract runs with no end set; `notice_days`
    is what `end` with notice adds to the day the notice is given.
    """

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    start_on: date
    end_on: date | None = None
    notice_days: int = 0
    created_at: datetime
    updated_at: datetime


class ContractVersion(SQLModel, table=True):
    """The terms of a contract from `effective_from` until the next version's."""

    __table_args__ = (
        UniqueConstraint("contract_id", "effective_from", name="uq_contractversion_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", ondelete="CASCADE")
    effective_from: date
    # The buyer as invoices name it; `address` holds its street lines, one a line.
    legal_name: str
    address: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    postcode: str = ""
    city: str = ""
    country: str = "FR"
    siren: str = ""
    vat_number: str = ""
    vat_rate: str
    # monthly, quarterly or yearly; advance or arrears
    frequency: str
    timing: str
    payment_terms_days: int
    # transfer or sepa_debit (then the mandate's four fields)
    payment_method: str
    iban: str = ""
    bic: str = ""
    mandate_reference: str = ""
    mandate_signed_on: date | None = None
    billing_email: str = ""
    language: str
    created_at: datetime


class ContractLine(SQLModel, table=True):
    """A line of a contract version: a fixed fee, an option, or a usage line.

    A fee or an option is `amount_cents` each `per` (month or year). A usage
    line is priced by `unit_price_cents` or by `tiers` (JSON: bands of
    `[up_to or null, unit_price_cents]` over the quantity above the included
    one); `included` is the quantity included per month; its volume comes from
    `source` (worksection_hours, pmdesk_events, file; a file's rows are matched
    on `service`).
    """

    __table_args__ = (UniqueConstraint("version_id", "position", name="uq_contractline_position"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="contractversion.id", ondelete="CASCADE", index=True)
    position: int
    kind: str
    description: str
    amount_cents: int | None = None
    per: str = "month"
    unit_price_cents: int | None = None
    tiers: str | None = None
    included: str = "0"
    unit: str = "unit"
    source: str | None = None
    service: str = ""


class UsageRecord(SQLModel, table=True):
    """A quantity a usage file gives for a client's service and month (`YYYY-MM`).

    One row per client, service and month: importing a file again replaces
    the quantities it gives, never adds them twice.
    """

    __table_args__ = (UniqueConstraint("client_id", "service", "month", name="uq_usagerecord_key"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", ondelete="CASCADE")
    service: str
    month: str = Field(index=True)
    quantity: str
    file: str = ""
    imported_at: datetime
