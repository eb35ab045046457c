"""The time logged in Worksection, as pmdesk keeps a copy of it (see core.time, docs/time.md)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel


class TimeRow(SQLModel, table=True):
    """One row of logged time (`get_costs`), keyed by Worksection's row id.

    `month` is `YYYY-MM` of `day` (grouped on without a date function, the
    same on SQLite and PostgreSQL). `tags` holds the task's tag names folded
    to lower case between bars (`|am|communication|`), `task_key` the task's
    name folded, so that the report's rules are plain `LIKE`s. A user or a
    project pmdesk does not know is kept as it came: the row is unassigned,
    not dropped.
    """

    __table_args__ = (
        Index("ix_timerow_day_project", "day", "project_id"),
        # The report's one pass: every column it reads, in the order it groups by.
        Index(
            "ix_timerow_report",
            "month",
            "project_id",
            "user_email",
            "day",
            "minutes",
            "tags",
            "task_key",
            "project_name",
            "user_name",
        ),
    )

    id: str = Field(primary_key=True)
    day: date
    month: str
    minutes: int
    money_cents: int = 0
    is_timer: bool = False
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    user_id: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    task_id: str | None = None
    task_name: str = ""
    task_key: str = ""
    task_page: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    tags: str = "|"
    synced_at: datetime


class TimeRefusal(SQLModel, table=True):
    """A row Worksection serves that pmdesk cannot read (`time` of "1:75"): said once.

    Kept while the row stays malformed, so that the hourly sync does not log
    it again; dropped once the row is fixed or gone.
    """

    id: str = Field(primary_key=True)
    reason: str
    day: date | None = None
    seen_at: datetime


class OwnTime(SQLModel, table=True):
    """pmdesk's own measure of account management (core.time.own; docs/time.md).

    The time a staff member spent on a thread on a day (the agency's local
    day): `screen_seconds` measured in the dashboard, `telegram_seconds` the
    fixed amounts counted for `telegram_actions` replies and actions taken
    from Telegram. Added to, never rewritten: each flush of the dashboard
    and each Telegram action adds its seconds to the day's row.
    """

    staff_id: int = Field(primary_key=True, foreign_key="staff.id", ondelete="CASCADE")
    thread_id: int = Field(primary_key=True, foreign_key="thread.id", ondelete="CASCADE")
    day: date = Field(primary_key=True, index=True)
    # `YYYY-MM` of `day`, as TimeRow's: the report groups on it without a date function.
    month: str
    screen_seconds: int = 0
    telegram_seconds: int = 0
    telegram_actions: int = 0
    updated_at: datetime


class OwnCost(SQLModel, table=True):
    """A day of pmdesk's own measure, logged to the thread's Worksection task with `add_costs`.

    One row per thread, day and staff member (Worksection's rows of time
    belong to one user), created once the day has ended: the primary key is
    what makes it once. The services send it as a delivery is sent
    (pending, put off with a growing delay, delivered or failed with the
    reason); `cost_id` is the id Worksection gave the new row of time, which
    `get_costs` brings back.
    """

    __table_args__ = (Index("ix_owncost_status_next", "status", "next_attempt_at"),)

    thread_id: int = Field(primary_key=True, foreign_key="thread.id", ondelete="CASCADE")
    day: date = Field(primary_key=True)
    staff_id: int = Field(primary_key=True, foreign_key="staff.id", ondelete="CASCADE")
    task_id: str
    # Who the time is logged as (`email_user_from`); None: the staff member has no address.
    email: str | None = None
    minutes: int
    status: str = "pending"
    attempts: int = 0
    error: str | None = None
    next_attempt_at: datetime | None = None
    cost_id: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


# The rows of time pmdesk logged itself (core.time.own.OWN_COMMENT), a few
# among many: the report finds them through this index, whose condition its
# query repeats word for word.
OWN_ROWS = "comment = 'account management (pmdesk)'"
Index(
    "ix_timerow_own",
    TimeRow.__table__.c.day,  # type: ignore[attr-defined]
    sqlite_where=text(OWN_ROWS),  # PostgreSQL's too: see core.store.schema
)


class TimeSumProject(SQLModel, table=True):
    """A month of a project's logged time: minutes of account management and in all.

    Kept by core.time.sums from the time rows, under the rule of TimeSumRule,
    so that a report over whole months reads these rows and not the rows
    they sum. `project_name` is the greatest of the month's rows.
    """

    __table_args__ = (Index("ix_timesumproject_month", "month", "project_id"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str
    project_id: str | None = None
    project_name: str | None = None
    am_minutes: int
    minutes: int


class TimeSumPerson(SQLModel, table=True):
    """A month of one person's logged time (by e-mail), as TimeSumProject is a project's."""

    __table_args__ = (Index("ix_timesumperson_month", "month", "user_email"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str
    user_email: str | None = None
    user_name: str | None = None
    am_minutes: int
    minutes: int


class TimeSumRule(SQLModel, table=True):
    """The rule the sums were built with (core.time.rule.Rule), and its fingerprint.

    One row, `key` "am"; none while the sums were never built. The sums
    count for a report only while its rule has the same fingerprint.
    """

    key: str = Field(primary_key=True)
    rule: str
    fingerprint: str
    built_at: datetime  # when the sums were last written
