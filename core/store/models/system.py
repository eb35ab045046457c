"""pmdesk's own bookkeeping: the services' lease and the audit trail.

`table` gives any model's SQLAlchemy `Table`, for the SQL layer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Table, Text
from sqlmodel import Field, SQLModel


class Lease(SQLModel, table=True):
    """Which process runs a database's background services, until when.

    One services instance per database: a process holds the row while it
    renews it, and a crashed holder loses it once `expires_at` passes.
    """

    name: str = Field(primary_key=True)
    holder: str
    # Each service's state as the holder last reported it, as JSON text:
    # {"intake": "running", "scheduler": "running", "bot": "stopped"}.
    services: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime


class Audit(SQLModel, table=True):
    """Who changed what by hand, and why: policy changes, closures, triage."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str
    action: str
    entity: str
    entity_id: int | None = None
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


def table(model: type[SQLModel]) -> Table:
    """A model's table, for the Core queries of the hot paths (typed for mypy)."""
    found: Table = model.__table__  # type: ignore[attr-defined]
    return found
