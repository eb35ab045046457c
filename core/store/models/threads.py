"""The tables of conversations: clients, contacts, projects, threads, events,
clocks and clients' Telegram groups.

Datetimes are aware and in UTC: SQLModel's UTCDateTime refuses naive values
on the way in, stores UTC (without an offset in SQLite, so columns compare
as text in index order) and hands back aware UTC values.

Hot paths (bulk ingestion, the clock queries) use these tables through
SQLAlchemy Core (`Model.__table__`), not the ORM session, so columns and
indexes here are chosen for those queries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.base.kinds import (
    AuthorRole,
    ClockKind,
    Outcome,
    ThreadKind,
    TriageState,
)


class Client(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    language: str = "fr"
    # Name of a policy from the configuration; None means the default policy.
    policy: str | None = None
    created_at: datetime


class Contact(SQLModel, table=True):
    """A person on the client's side, known by email when the source gives one."""

    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    # Email when known, else the name: what identifies the person across events.
    key: str
    name: str
    email: str | None = None


class Project(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("client_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    name: str


class Thread(SQLModel, table=True):
    """One conversation: a tracker task or a client chat group."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = ThreadKind.TASK.value
    # The source whose channel takes replies (worksection, telegram, ...).
    channel: str
    title: str = ""
    url: str | None = None
    client_id: int | None = Field(default=None, foreign_key="client.id", index=True)
    project_id: int | None = Field(default=None, foreign_key="project.id")
    status: str | None = None
    deadline: str | None = None
    closed: bool = False
    created_at: datetime
    # Kept by ingestion in the transaction that stores the thread's events:
    # the newest event's instant (an event older than this arrives late)...
    last_event_at: datetime | None = None
    # ...and the newest clock (by start), None if the thread never had one.
    # No foreign key: a clock names its thread, and the two would be a cycle.
    clock_id: int | None = None
    # The newest events that gave the title and the URL: an older event that
    # arrives late does not rename the thread. No foreign keys either.
    title_event: int | None = None
    url_event: int | None = None


class ThreadRef(SQLModel, table=True):
    """The id a source knows a thread by; one thread may be known to several."""

    source: str = Field(primary_key=True)
    external_id: str = Field(primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True, ondelete="CASCADE")


class Assignment(SQLModel, table=True):
    thread_id: int = Field(foreign_key="thread.id", primary_key=True, ondelete="CASCADE")
    staff_id: int = Field(foreign_key="staff.id", primary_key=True, ondelete="CASCADE")
    # assignee or watcher
    role: str = Field(default="assignee", primary_key=True)
    since: datetime


# The events that stop a running clock (core.sla.clocks.EventFacts.stops): a
# public reply of staff, or "no reply needed". A late reply that stops a clock
# reads on to the thread's next one through this index alone, past any number
# of client messages (core.conversations.ingest, whose query repeats the
# condition word for word, as SQLite needs to use the index).
STOP_EVENTS = (
    "kind = 'no_reply_needed' OR (kind = 'message' AND author_role = 'staff' AND NOT internal)"
)


class Event(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_event_thread_occurred", "thread_id", "occurred_at"),
        Index(
            "ix_event_stops",
            "thread_id",
            "occurred_at",
            sqlite_where=text(STOP_EVENTS),  # PostgreSQL's too: see core.store.schema
        ),
        # The dashboard counts unread events every time something arrives:
        # a partial index holds just those, a few among a million.
        Index(
            "ix_event_unread",
            "id",
            sqlite_where=text("triage = 'new'"),  # PostgreSQL's too: see core.store.schema
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    external_id: str
    thread_id: int = Field(foreign_key="thread.id")
    kind: str
    occurred_at: datetime
    received_at: datetime
    author_name: str | None = None
    author_email: str | None = None
    author_role: str = AuthorRole.CLIENT.value
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    internal: bool = False
    # The new status, deadline or assignee (a staff id) for those kinds, so a
    # thread's state can be replayed from its events alone.
    value: str | None = None
    triage: str = TriageState.NEW.value
    triage_by: int | None = Field(default=None, foreign_key="staff.id")
    triage_at: datetime | None = None


class EventRaw(SQLModel, table=True):
    """An event exactly as it arrived, so nothing a source said is ever lost.

    Apart from the event row, which every thread and clock query walks
    through: the text is read only to audit or re-import.
    """

    __tablename__ = "event_raw"

    event_id: int = Field(primary_key=True, foreign_key="event.id", ondelete="CASCADE")
    raw: str = Field(sa_column=Column(Text, nullable=False))


class Clock(SQLModel, table=True):
    """A response clock: opened by a client message, stopped by a public reply."""

    __table_args__ = (
        # Running clocks by due time: the dashboard and `pmdesk clocks`.
        Index("ix_clock_running_due", "outcome", "due_at"),
        # A thread's latest clock: ingestion asks it of every thread it touches.
        Index("ix_clock_thread_started", "thread_id", "started_at"),
        # Covering: the SLA report reads these columns for a period's answers
        # straight from the index instead of jumping to every clock row.
        Index(
            "ix_clock_stopped",
            "stopped_at",
            "outcome",
            "business_seconds",
            "wall_seconds",
            "stopped_by_staff",
            "thread_id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id")
    # The clock is identified by the message that opened it, so replaying a
    # thread keeps clock ids stable.
    opened_by: int = Field(foreign_key="event.id", unique=True)
    kind: str = ClockKind.FIRST.value
    policy: str
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    escalate_at: datetime
    stopped_at: datetime | None = None
    stopped_by: int | None = Field(default=None, foreign_key="event.id")
    stopped_by_staff: int | None = Field(default=None, foreign_key="staff.id")
    outcome: str = Outcome.RUNNING.value
    business_seconds: float | None = None
    wall_seconds: float | None = None


class SlaRollup(SQLModel, table=True):
    """The stopped clocks of one local day or month, for one staff member, client, or everyone.

    Kept by core.sla.rollups in the transaction that writes the clocks, so a
    report over any period reads a few rows per day or month instead of
    every clock (docs/sla.md, "Rollups"). Days and months are those of the
    zone in SlaRollupZone.
    """

    # "day" or "month" (a month row is the sum of its day rows; the latest
    # month with rows has none yet: core.sla.rollups._months_built).
    span: str = Field(primary_key=True)
    # The local day, or the first day of the month, as YYYY-MM-DD.
    start: str = Field(primary_key=True)
    # "staff" (who answered), "client" (the thread's) or "all".
    dimension: str = Field(primary_key=True)
    # The staff member's or client's id; 0 for nobody, no client, or everyone.
    member: int = Field(primary_key=True, default=0)
    met: int = 0
    breached: int = 0
    no_reply_needed: int = 0
    # met + breached: the answers whose times are below.
    answered: int = 0
    # The answers' response times in tenths of a second, sorted, as
    # little-endian 32-bit integers: a histogram two rows merge by concatenation.
    business: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    wall: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SlaRollupZone(SQLModel, table=True):
    """The one time zone whose local days and months SlaRollup rows are."""

    zone: str = Field(primary_key=True)


class ChatLink(SQLModel, table=True):
    """A client's Telegram group: its messages are that client's messages."""

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    client_id: int = Field(foreign_key="client.id", index=True)
    linked_by: int | None = Field(default=None, foreign_key="staff.id")
    linked_at: datetime
    title: str = ""
