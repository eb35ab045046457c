"""Clients' progress reports of a period, and what became of each (core.reports.drafts)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class ReportDraft(SQLModel, table=True):
    """A client's report of one period: prepared, then sent or skipped, once.

    One row per client and period (`2026-W48`, or `first..last`): the key that
    keeps a report from going out twice. `status` is draft, sent, skipped,
    failed or nothing (nothing to report). A report sent through a thread's
    channel (Worksection, Telegram) is a `report` event with its `Delivery`
    row, `event_id` (retried and its failure told as a reply's is); one
    written as an email draft names its file in `target`. `sends` counts the
    times it went out (more than one only with a resend after a correction).
    """

    __table_args__ = (UniqueConstraint("client_id", "period", name="uq_reportdraft_client_period"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", ondelete="CASCADE")
    period: str = Field(index=True)
    first_day: date
    last_day: date
    status: str = "draft"
    # The free-text introduction the assistant wrote; shown first in the report.
    intro: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    channel: str | None = None
    event_id: int | None = Field(default=None, foreign_key="event.id", ondelete="SET NULL")
    target: str | None = None
    error: str | None = None
    sends: int = 0
    # The status before a skip, so that a skip can be taken back.
    skipped_from: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
