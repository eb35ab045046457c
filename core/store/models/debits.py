"""The tables of direct debit: one row per collection of an invoice, and each
mandate's sequence state (see core.billing.debits).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class Debit(SQLModel, table=True):
    """One SEPA direct debit collecting an invoice (or what is left of it) on a date.

    planned -> exported (in a pain.008 file) -> collected (the statement's credit
    matched) or returned (reason code and date); a returned invoice may be
    collected again by a new row.
    """

    __table_args__ = (Index("ix_debit_state_collect", "state", "collect_on"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    invoice_number: str
    mandate_reference: str = Field(index=True)
    mandate_signed_on: date
    iban: str
    bic: str = ""
    amount_cents: int
    collect_on: date
    # FRST, RCUR, OOFF or FNAL.
    sequence: str
    # Derived from the invoice number: what the bank statement carries back.
    end_to_end_id: str = Field(unique=True)
    # planned, exported, collected, returned
    state: str = "planned"
    file_name: str | None = None
    exported_at: datetime | None = None
    collected_at: datetime | None = None
    return_code: str | None = None
    returned_on: date | None = None
    created_at: datetime


class MandateState(SQLModel, table=True):
    """Where a mandate stands: its last collection, and whether the next must be FRST."""

    reference: str = Field(primary_key=True)
    last_sequence: str | None = None
    last_collect_on: date | None = None
    # A FRST collection returned: the next one is FRST again.
    first_again: bool = False
    updated_at: datetime
