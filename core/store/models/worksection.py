"""The Worksection connector's tables (see bots.worksection.api.store)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class WorksectionInbox(SQLModel, table=True):
    """One item a Worksection webhook delivered, kept before anything is done with it.

    The webhook answers within Worksection's 5 seconds by storing only; the
    connector maps and ingests pending rows afterwards. A body that was not
    JSON is kept whole as a failed row, so nothing sent is ever lost.
    """

    __table_args__ = (Index("ix_worksectioninbox_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime
    # The item as JSON text (or the raw body of a request that was not JSON).
    body: str = Field(sa_column=Column(Text, nullable=False))
    # pending, done, ignored (nothing of ours: a project change...) or failed.
    status: str = "pending"
    error: str | None = None
    processed_at: datetime | None = None


class WorksectionTask(SQLModel, table=True):
    """What the connector knows of a Worksection task: its title and project, and its tags.

    Webhook payloads carry no title, hence the cache; tag changes fire no
    webhook, hence the snapshot the poller compares `get_tasks` with.
    """

    task_id: str = Field(primary_key=True)
    title: str = ""
    page: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    fetched_at: datetime
    # The task's tags as a sorted JSON list; None until the tag poll has seen it.
    tags: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Bumped at every tag change seen: the id of the status event it gave.
    tags_version: int = 0


class WorksectionCursor(SQLModel, table=True):
    """When each kind of poll (events, tags) last succeeded."""

    name: str = Field(primary_key=True)
    succeeded_at: datetime


class WorksectionToken(SQLModel, table=True):
    """The OAuth2 tokens in use, renewed by the connector (access tokens last 24 hours).

    Worksection issues a new refresh token with each access token; the
    latest pair is kept here, so a restart goes on with it. `configured`
    is a digest of the refresh token the configuration gave: a different
    one there (authorised again) replaces what is kept.
    """

    name: str = Field(primary_key=True)
    access_token: str
    refresh_token: str
    expires_at: datetime
    configured: str
    refreshed_at: datetime
