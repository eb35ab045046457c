"""The words the tables use: roles, kinds, states and outcomes.

Apart from core.store.models so that what only needs the words (the dashboard's
reads, the read commands) does not import SQLModel and SQLAlchemy's ORM,
the slowest part of starting up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

# Who did something by hand, as the audit trail, the allocations and the
# review decisions record it: a staff member's name, or "cli" for the
# command line. Thread actions carry the staff member's id instead, and are
# recorded under their name.
Actor: TypeAlias = str


class StaffRole(StrEnum):
    ASSISTANT = "assistant"
    PM = "pm"
    MANAGER = "manager"
    SPECIALIST = "specialist"


class AuthorRole(StrEnum):
    CLIENT = "client"
    STAFF = "staff"
    SYSTEM = "system"


class EventKind(StrEnum):
    MESSAGE = "message"
    STATUS = "status"
    DEADLINE = "deadline"
    ASSIGNEE = "assignee"
    TASK_CREATED = "task_created"
    TASK_CLOSED = "task_closed"
    TASK_REOPENED = "task_reopened"
    # Recorded by pmdesk itself when the assistant decides a client message
    # needs no answer ("thanks!"): being an event keeps it audited and lets the
    # clocks stay a pure function of the thread's events.
    NO_REPLY_NEEDED = "no_reply_needed"
    # Changes the assistant makes in the tracker from pmdesk (core.tracker):
    # checklist items added, a subtask created, tags added or removed.
    CHECKLIST = "checklist"
    SUBTASK = "subtask"
    TAGS = "tags"
    # A client's progress report sent through the thread's channel
    # (core.reports.drafts): delivered as a reply is, but it answers nothing,
    # so it neither stops nor opens a clock.
    REPORT = "report"


class TriageState(StrEnum):
    NEW = "new"
    SEEN = "seen"
    HANDLED = "handled"


class ClockKind(StrEnum):
    FIRST = "first"
    NEXT = "next"


class Outcome(StrEnum):
    RUNNING = "running"
    MET = "met"
    BREACHED = "breached"
    NO_REPLY_NEEDED = "no_reply_needed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class InvoiceState(StrEnum):
    """What is stored; "due today", "overdue" and "partially paid" follow from dates and balance."""

    OPEN = "open"
    DISPUTED = "disputed"
    PAID = "paid"
    WRITTEN_OFF = "written_off"


class ThreadKind(StrEnum):
    TASK = "task"
    CHAT = "chat"


class NotificationKind(StrEnum):
    """Why a staff member is told something (on Telegram)."""

    CLIENT_MESSAGE = "client_message"
    CLOCK_WARNING = "clock_warning"
    CLOCK_BREACH = "clock_breach"
    CLOCK_ESCALATION = "clock_escalation"
    REPLY_FAILED = "reply_failed"
    # Once a day: reminders drafted and statement lines awaiting review (core.receivables.digest).
    RECEIVABLES_DIGEST = "receivables_digest"
    # The month's billing run, previewed with its Issue and Later buttons (core.billing.monthly).
    BILLING_RUN = "billing_run"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # Given up after errors; `error` says the last one.
    FAILED = "failed"
    # Deliberately not sent (recipient not bound to Telegram...); `error` keeps why.
    SKIPPED = "skipped"
