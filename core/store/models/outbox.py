"""The outbox's tables: notifications to staff, and deliveries of replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from core.base.kinds import (
    DeliveryStatus,
    NotificationStatus,
)


class Delivery(SQLModel, table=True):
    """An outgoing reply on its way to the client through its thread's channel.

    Written in the same transaction as the reply's event; the services
    deliver pending rows and record the outcome here, which the thread view
    shows as pending, delivered or failed.
    """

    __table_args__ = (Index("ix_delivery_status_next", "status", "next_attempt_at"),)

    event_id: int = Field(primary_key=True, foreign_key="event.id", ondelete="CASCADE")
    thread_id: int = Field(foreign_key="thread.id", index=True, ondelete="CASCADE")
    channel: str
    status: str = DeliveryStatus.PENDING.value
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    # The id the channel gave the delivered message (a Worksection comment id...).
    channel_message_id: str | None = None
    updated_at: datetime


class Notification(SQLModel, table=True):
    """Something to tell a staff member on Telegram: the outbox the bot drains.

    Written by the domain in the same transaction as the change that causes
    it (see core.notify), so nothing is announced that did not happen and
    nothing that happened goes unannounced. `text` is plain and holds what
    clients wrote as they wrote it: whoever shows it escapes it.
    """

    __table_args__ = (
        # The bot's drain: pending rows in id order, a few among many sent ones.
        Index(
            "ix_notification_pending",
            "id",
            sqlite_where=text("status = 'pending'"),  # PostgreSQL's too: see core.store.schema
        ),
        # A quick reply names the message it answers: (chat, message) finds its thread.
        Index("ix_notification_message", "chat_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="staff.id")
    kind: str
    thread_id: int | None = Field(default=None, foreign_key="thread.id")
    # A replayed thread may drop a clock: its notifications stay, unlinked.
    clock_id: int | None = Field(
        default=None, foreign_key="clock.id", index=True, ondelete="SET NULL"
    )
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    # The event the notification is about (the client's message, the failed reply).
    event_id: int | None = Field(default=None, foreign_key="event.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    # What makes two notifications the same one, e.g. "breach:{clock}:{staff}".
    dedupe_key: str = Field(unique=True)
    status: str = NotificationStatus.PENDING.value
    attempts: int = 0
    next_attempt_at: datetime | None = None
    error: str | None = None
    # Telegram's ids of the message once sent; 64-bit, as Telegram's ids are.
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime
    sent_at: datetime | None = None
    updated_at: datetime
