"""The receivables digest: one Telegram message a day to the assistant on duty.

It says what the day's reminders run left to do: the reminders drafted
today, per client with the invoices each lists, and how many bank statement
lines wait for review, the largest few named. The services queue it right
after the reminders' daily run (`queue_daily_digest`), on the same business
days and from the same hour; before that hour, on a closed day, or when
there is nothing to say, nothing is queued.

The text is plain and names clients and payers as written (the bot escapes
it for Telegram). Its `dedupe_key` is "digest:<day>:<staff id>", which the
notification table keeps unique: however often it is called in a day, and
by however many processes, each recipient gets one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from core.base.instants import Now
from core.base.kinds import NotificationKind, NotificationStatus
from core.base.text import clip
from core.config.settings import Settings
from core.notify.rules import assistant_on_duty, insert_new
from core.receivables.aging import ReviewLine, review_count, review_queue
from core.receivables.dunning import DRAFT, is_business_day, local_today
from core.store.db import write
from core.store.models.outbox import Notification
from core.store.models.receivables import DunningStep, Invoice, Reminder
from core.store.models.staff import Staff
from core.store.models.system import table
from core.store.models.threads import Client
from core.store.reader import EngineReader

NOTIFICATION, STAFF, REMINDER, STEP, INVOICE, CLIENT = (
    table(Notification),
    table(Staff),
    table(Reminder),
    table(DunningStep),
    table(Invoice),
    table(Client),
)
# Clients listed by name; the rest are counted. Telegram's 4,096 characters
# leave room for about this many lines once escaped.
CLIENTS_SHOWN = 25
# Characters the client lines may take, so that the review section always fits
# in one Telegram message (4,096 characters once escaped) after them.
CLIENTS_BUDGET = 1800
# Statement lines named: the largest amounts first.
REVIEW_SHOWN = 5
# A name or a bank text longer than this is cut with "…".
PIECE_LIMIT = 60


@dataclass(frozen=True)
class DraftedReminder:
    client: str
    status: str
    # (number, level name) of each invoice the reminder lists.
    invoices: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Digest:
    day: date
    reminders: list[DraftedReminder]
    review_total: int
    # The largest lines awaiting review, at most REVIEW_SHOWN of them.
    review_top: list[ReviewLine]

    @property
    def empty(self) -> bool:
        return not self.reminders and not self.review_total


def queue_daily_digest(engine: Engine, settings: Settings, clock: Now) -> int:
    """Queue today's digest for the assistant on duty; returns the rows written (0 or 1).

    Nothing before `receivables.run_at`, on a day the reminders do not run,
    without an active assistant, or when the digest would be empty.
    """
    instant = clock()
    today = local_today(settings, instant)
    if not _after_run_at(settings, instant) or not is_business_day(settings, today):
        return 0
    digest = read_digest(engine, today)
    if digest.empty:
        return 0
    with write(engine) as connection:
        recipient = assistant_on_duty(connection)
        if recipient is None:
            return 0
        row = {
            "recipient_id": recipient,
            "kind": NotificationKind.RECEIVABLES_DIGEST.value,
            "text": digest_text(digest),
            "dedupe_key": f"digest:{today.isoformat()}:{recipient}",
            "status": NotificationStatus.PENDING.value,
            "attempts": 0,
            "created_at": instant,
            "updated_at": instant,
        }
        return insert_new(connection, [row])


def read_digest(engine: Engine, today: date) -> Digest:
    """What the digest of `today` says, read from the database."""
    with engine.connect() as connection:
        reminders = _drafted(connection, today)
    reader = EngineReader(engine)
    total = review_count(reader)
    top = review_queue(reader, REVIEW_SHOWN, largest_first=True) if total else []
    return Digest(today, reminders, total, top)


def digest_text(digest: Digest) -> str:
    """The digest as plain text: a title line, then a section per subject."""
    lines = [f"Receivables · {digest.day.strftime('%a %d %b %Y')}"]
    if digest.reminders:
        count = len(digest.reminders)
        lines.append("")
        lines.append(
            f"{count} reminder{'s' if count != 1 else ''} drafted today "
            "(pmdesk invoices reminders; mark each sent once it has gone out):"
        )
        shown, used = 0, 0
        for reminder in digest.reminders[:CLIENTS_SHOWN]:
            listed = "; ".join(f"{number} {level}" for number, level in reminder.invoices)
            done = "" if reminder.status == DRAFT else f" [{reminder.status}]"
            entry = f"• {_cut(reminder.client)}: {_cut(listed, 200)}{done}"
            used += len(entry) + 1
            if used > CLIENTS_BUDGET:
                break
            lines.append(entry)
            shown += 1
        if count > shown:
            lines.append(f"… and {count - shown} more")
    if digest.review_total:
        total = digest.review_total
        lines.append("")
        lines.append(
            f"{total} statement line{'s' if total != 1 else ''} awaiting review "
            "(the dashboard's review screen, or pmdesk payments matches --review):"
        )
        for line in digest.review_top:
            lines.append(f"• {_review_line(line)}")
        if total > len(digest.review_top):
            lines.append(f"… and {total - len(digest.review_top)} more")
    return "\n".join(lines)


def _review_line(line: ReviewLine) -> str:
    payer = _cut(line.payer) or "unknown payer"
    parts = [line.booking_date.isoformat(), _amount(line.amount, line.currency), payer]
    if line.text:
        parts.append(f"“{_cut(' '.join(line.text.split()))}”")
    text = " · ".join(parts)
    if line.candidates:
        best = line.candidates[0]
        text += f" → {_cut(', '.join(best.numbers))} ({best.confidence:.0%})"
    return text


def _drafted(connection: Connection, today: date) -> list[DraftedReminder]:
    reminders = connection.execute(
        select(REMINDER.c.id, CLIENT.c.name, REMINDER.c.status)
        .join(CLIENT, CLIENT.c.id == REMINDER.c.client_id)
        .where(REMINDER.c.run_on == today)
        .order_by(CLIENT.c.name, REMINDER.c.id)
    ).all()
    listed: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if reminders:
        steps = connection.execute(
            select(STEP.c.reminder_id, INVOICE.c.number, STEP.c.name)
            .join(INVOICE, INVOICE.c.id == STEP.c.invoice_id)
            .where(STEP.c.run_on == today, STEP.c.reminder_id.is_not(None))
            .order_by(INVOICE.c.due_on, INVOICE.c.number)
        )
        for reminder_id, number, name in steps:
            listed[reminder_id].append((number, name))
    return [
        DraftedReminder(client=name, status=status, invoices=tuple(listed[id_]))
        for id_, name, status in reminders
    ]


def _after_run_at(settings: Settings, instant: datetime) -> bool:
    """Whether the reminders' hour has come, on their calendar's wall clock."""
    return (
        instant.astimezone(ZoneInfo(settings.dunning_timezone)).time()
        >= settings.receivables.run_at
    )


def _amount(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _cut(value: str, limit: int = PIECE_LIMIT) -> str:
    return clip(value, limit)
