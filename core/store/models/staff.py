"""The tables of the agency's people: staff, their emails, Telegram invites and web links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from core.base.kinds import (
    StaffRole,
)


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    role: str = StaffRole.SPECIALIST.value
    # Telegram user ids pass 2**31: 64 bits on PostgreSQL; SQLite's INTEGER is 64 bits already.
    telegram_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), nullable=True, unique=True
        ),
    )
    # Removed staff stay (their events and clocks name them) but are inactive.
    active: bool = True
    created_at: datetime
    # Notifications wait while this is in the future (see core.notify).
    muted_until: datetime | None = None


class StaffEmail(SQLModel, table=True):
    """A staff member may write from several addresses (work, personal, alias)."""

    email: str = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")


class Invite(SQLModel, table=True):
    """A one-time code that binds a Telegram account to a staff member.

    Only the code's SHA-256 is kept: a copy of the database gives no one a
    way in.
    """

    code_hash: str = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by_telegram_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )


class WebLink(SQLModel, table=True):
    """A one-time link that opens the dashboard in a browser as a staff member.

    Made like the Telegram invites: only the code's SHA-256 is kept, it
    expires, and opening it once uses it up (core.conversations.web_links).
    """

    code_hash: str = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
