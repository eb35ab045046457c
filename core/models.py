"""The tables pmdesk keeps, as SQLModel classes.

Datetimes are aware and in UTC: SQLModel's UTCDateTime refuses naive values
on the way in, stores UTC (without an offset in SQLite, so columns compare
as text in index order) and hands back aware UTC values.

Hot paths (bulk ingestion, the clock queries) use these tables through
SQLAlchemy Core (`Model.__table__`), not the ORM session, so columns and
indexes here are chosen for those queries.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .kinds import (
    AuthorRole,
    ClockKind,
    DeliveryStatus,
    InvoiceState,
    NotificationStatus,
    Outcome,
    StaffRole,
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


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    role: str = StaffRole.SPECIALIST.value
    telegram_id: int | None = Field(default=None, unique=True)
    # Removed staff stay (their events and clocks name them) but are inactive.
    active: bool = True
    created_at: datetime
    # Notifications wait while this is in the future (see core.outbox).
    muted_until: datetime | None = None


class StaffEmail(SQLModel, table=True):
    """A staff member may write from several addresses (work, personal, alias)."""

    email: str = Field(primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True, ondelete="CASCADE")


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


class Event(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_event_thread_occurred", "thread_id", "occurred_at"),
        # The dashboard counts unread events every time something arrives:
        # a partial index holds just those, a few among a million.
        Index(
            "ix_event_unread",
            "id",
            sqlite_where=text("triage = 'new'"),
            postgresql_where=text("triage = 'new'"),
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
    # The event exactly as it arrived, so nothing a source said is ever lost.
    raw: str = Field(sa_column=Column(Text, nullable=False))
    triage: str = TriageState.NEW.value
    triage_by: int | None = Field(default=None, foreign_key="staff.id")
    triage_at: datetime | None = None


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
    it (see core.outbox), so nothing is announced that did not happen and
    nothing that happened goes unannounced. `text` is plain and holds what
    clients wrote as they wrote it: whoever shows it escapes it.
    """

    __table_args__ = (
        # The bot's drain: pending rows in id order, a few among many sent ones.
        Index(
            "ix_notification_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
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


class ChatLink(SQLModel, table=True):
    """A client's Telegram group: its messages are that client's messages."""

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    client_id: int = Field(foreign_key="client.id", index=True)
    linked_by: int | None = Field(default=None, foreign_key="staff.id")
    linked_at: datetime
    title: str = ""


class Invoice(SQLModel, table=True):
    """An invoice to a client. Amounts are integer cents, so sums are exact."""

    __table_args__ = (Index("ix_invoice_state_due", "state", "due_on"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    issued_on: date
    due_on: date
    currency: str = "EUR"
    total_cents: int
    # Kept equal to the payments allocated to the invoice by the receivables code.
    paid_cents: int = 0
    state: str = InvoiceState.OPEN.value
    # The last reminder level reached (0: none yet) and what comes next, in words.
    dunning_level: int = 0
    next_step: str | None = None
    promised_on: date | None = None
    created_at: datetime
    updated_at: datetime
    # ISO 11649 "RF.." creditor reference built from the number: what a
    # payer is asked to quote, and what bank matching looks for first.
    creditor_reference: str | None = Field(default=None, index=True)
    # When the next dunning level falls due (see core.dunning); None: nothing planned.
    next_step_on: date | None = None
    # The day of the last reminder step, so an invoice gets at most one a day.
    reminded_on: date | None = None
    # Recovery fee claimed by a reminder (once per invoice), in cents.
    fee_cents: int = 0
    # paid_cents as the last dunning run saw it: a rise is a payment, which pauses reminders.
    dunning_paid_cents: int = 0
    paused_until: date | None = None


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


# -- Worksection connector (see core.worksection) --------------------------------


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
    webhook, hence the snapshot the poller compares `get_all_tasks` with.
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


# -- Reminders (see core.dunning) ---------------------------------------------


class Reminder(SQLModel, table=True):
    """The reminder a client gets on one day: one message listing its overdue invoices.

    Written as a draft by the daily dunning run; someone sends it and marks
    it sent (or cancels it). One per client and day, which makes the run
    idempotent.
    """

    __table_args__ = (UniqueConstraint("client_id", "run_on"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id")
    run_on: date = Field(index=True)
    language: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    # draft, sent or cancelled
    status: str = Field(default="draft", index=True)
    created_at: datetime
    status_at: datetime | None = None


class DunningStep(SQLModel, table=True):
    """An invoice reaching a dunning level: in a reminder, a staff alert or a suspension flag."""

    __table_args__ = (UniqueConstraint("invoice_id", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    # 1 for the first level of receivables.levels.
    level: int
    name: str
    action: str
    run_on: date
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    # What the step claimed and showed, as the reminder's text says it.
    balance_cents: int
    fee_cents: int = 0
    interest_cents: int = 0
    created_at: datetime


# -- Bank statements and payment matching (see core.statements, core.matching) --


class BankTransaction(SQLModel, table=True):
    """One line of a bank statement, whatever the file's format (camt, MT940, OFX, CSV).

    Amounts are integer cents, credits positive. `dedupe_key` is what makes a
    line the same line when a file, or an overlapping one, comes again
    (see core.statements.records.dedupe_keys).
    """

    __table_args__ = (Index("ix_banktransaction_state", "match_state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True)
    # The statement's own account; "" when the file does not say.
    account_iban: str = ""
    booking_date: date
    value_date: date | None = None
    amount_cents: int
    currency: str
    counterparty_name: str = ""
    # Compact and valid, or None; an invalid one is kept as written in the raw column.
    counterparty_iban: str | None = Field(default=None, index=True)
    counterparty_account_raw: str | None = None
    end_to_end_id: str | None = None
    bank_reference: str | None = None
    # A creditor reference (RF, ISO 11649) or another structured reference.
    structured_reference: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    file_hash: str = Field(index=True)
    file_name: str
    # The entry's place in its file (1-based), for finding it again.
    position: int
    imported_at: datetime
    # new, matched, review, unmatched (a credit nothing fits), rejected, debit.
    match_state: str = "new"
    matched_by: str | None = None
    matched_at: datetime | None = None


class Allocation(SQLModel, table=True):
    """Cents of a statement line given to an invoice (payment or fee) or to a client's credit.

    An invoice's `paid_cents` is the sum of its allocations not reversed.
    Reversing keeps the row (who, when) rather than deleting it.
    """

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="banktransaction.id", index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    # payment, fee (kept by the bank, within tolerance) or credit (overpayment).
    kind: str = "payment"
    cents: int
    # The rule ("rule:reference") or the person who made it.
    by: str
    at: datetime
    confidence: float | None = None
    # Why, in words: the evidence that made the match.
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reversed_at: datetime | None = None
    reversed_by: str | None = None


class MatchCandidate(SQLModel, table=True):
    """The review queue: what a statement line may pay, best first."""

    __table_args__ = (UniqueConstraint("transaction_id", "rank"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="banktransaction.id")
    rank: int
    # Invoice ids in the order they would be paid, comma-separated.
    invoice_ids: str
    confidence: float
    # A JSON list of the reasons, in words.
    reasons: str = Field(sa_column=Column(Text, nullable=False))


class ClientIban(SQLModel, table=True):
    """An account a client pays from: configured, or learned from a confirmed match."""

    iban: str = Field(primary_key=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    # config or confirmed
    source: str
    learned_at: datetime
