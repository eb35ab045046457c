"""The email outbox: one row per email to send, and the files it carries (core.mail)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class OutgoingEmail(SQLModel, table=True):
    """An email on its way through the agency's SMTP server.

    `key` says what the email is ("invoice:F2026-00001", "reminder:12"): the
    same thing is never queued twice. The Message-ID is fixed when queued,
    so a resend after a doubt is recognisable as the same message. `state`:
    queued (waiting, maybe for `next_try_at`), sending (claimed by
    `claimed_by` just before the server was given it), sent, failed (refused
    for good or given up; `last_error` says why) or unknown (a sender stopped
    between handing it over and recording the outcome: the assistant resends
    it or marks it sent, pmdesk never guesses).
    """

    __tablename__ = "outgoing_email"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outgoing_email_key"),
        Index("ix_outgoing_email_state_next", "state", "next_try_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    # What the email carries: invoice, credit_note, reminder, test.
    kind: str
    # Addresses separated by commas.
    to_address: str = Field(sa_column=Column(Text, nullable=False))
    cc_address: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    language: str
    message_id: str
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    state: str = "queued"
    attempts: int = 0
    next_try_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


class EmailAttachment(SQLModel, table=True):
    """A file an outgoing email carries, stored as queued: what goes out is what was queued."""

    __tablename__ = "email_attachment"
    __table_args__ = (UniqueConstraint("email_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    email_id: int = Field(foreign_key="outgoing_email.id", ondelete="CASCADE", index=True)
    position: int
    filename: str
    content_type: str
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
