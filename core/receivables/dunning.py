"""Dunning: reminders by level for overdue invoices, drafted once a business day.

The ladder is `receivables.levels` (French B2B by default: a friendly
reminder at D+1, a firm one at D+15, a formal notice at D+30 claiming the
40 EUR recovery fee and late interest at the ECB rate + 10 points, a
suspension flag at D+45). The rules:

- level N comes only after level N-1, and an invoice takes at most one step
  a day: an invoice found 40 days late gets the friendly reminder today and
  the firm one on the next run;
- a dispute stops reminders (state `disputed`); a promise to pay stops them
  until the promised day has passed; a payment seen since the last run
  pauses them for `payment_pause_days`, and the next step is then planned
  from the new balance (a full payment ends them);
- the recovery fee is claimed once per invoice (EUR invoices only: it is a
  French legal amount); interest runs per day on the balance from the due
  date and is shown in the reminder's text;
- the daily run happens on business days of the configured calendar only,
  and writes one draft per client listing each of its invoices with its
  level, in the client's language (`data/reminders/<language>/`); a level
  whose action is `alert_staff` or `flag_suspension` tells the assistant on
  duty through the outbox instead.

A client gets at most one reminder a day (the table keeps client and day
unique) and every step is stored with its level (invoice and level unique),
so running the day twice adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, update

from core.base.instants import Now
from core.base.kinds import Actor, InvoiceState
from core.base.templates import template_environment
from core.config.settings import DunningLevelConfig, Settings
from core.notify.rules import queue_invoice_alert
from core.receivables.aging import ALL_LEVELS_DONE
from core.receivables.invoices import language_of
from core.store.audit import audit_row, write_audit
from core.store.db import insert_many, insert_with_ids, update_many, write
from core.store.models.receivables import DunningStep, Invoice, Reminder
from core.store.models.system import table
from core.store.models.threads import Client

INVOICE, CLIENT, REMINDER, STEP = (
    table(Invoice),
    table(Client),
    table(Reminder),
    table(DunningStep),
)
CENTS = Decimal(100)
DRAFT, SENT, CANCELLED = "draft", "sent", "cancelled"


class UnknownInvoice(LookupError):
    pass


class UnknownReminder(LookupError):
    pass


@dataclass(frozen=True)
class Due:
    """An invoice as the dunning run sees it."""

    id: int
    number: str
    reference: str | None
    client_id: int
    client: str
    issued_on: date
    due_on: date
    currency: str
    total_cents: int
    paid_cents: int
    level: int
    reminded_on: date | None
    promised_on: date | None
    paused_until: date | None
    fee_cents: int
    # paid_cents when dunning last looked: a rise since is a payment.
    seen_paid_cents: int

    @property
    def balance_cents(self) -> int:
        return self.total_cents - self.paid_cents


@dataclass(frozen=True)
class Step:
    """An invoice reaching a level today, with what that level claims."""

    invoice: Due
    level: int
    config: DunningLevelConfig
    fee_cents: int
    interest_cents: int


@dataclass
class RunSummary:
    day: date
    business_day: bool
    reminders: list[int] = field(default_factory=list)
    steps: int = 0
    alerts: int = 0
    flagged_clients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "day": self.day.isoformat()}


@dataclass(frozen=True)
class ReminderView:
    id: int
    client: str
    run_on: date
    language: str
    status: str
    text: str
    created_at: datetime
    # (invoice number, level, level name) of each invoice the reminder lists.
    invoices: tuple[tuple[str, int, str], ...]


# -- planning -------------------------------------------------------------------


def next_level_on(invoice: Due, levels: list[DunningLevelConfig]) -> date | None:
    """The first day the invoice may take its next level; None when none is left."""
    if invoice.level >= len(levels) or invoice.balance_cents <= 0:
        return None
    candidates = [invoice.due_on + timedelta(days=levels[invoice.level].days)]
    if invoice.reminded_on is not None:
        candidates.append(invoice.reminded_on + timedelta(days=1))
    if invoice.promised_on is not None:
        candidates.append(invoice.promised_on + timedelta(days=1))
    if invoice.paused_until is not None:
        candidates.append(invoice.paused_until)
    return max(candidates)


def interest_cents(balance_cents: int, due_on: date, today: date, rate_percent: Decimal) -> int:
    """Late interest on the balance, per day since the due date, on a 365-day year."""
    days = (today - due_on).days
    if days <= 0 or balance_cents <= 0:
        return 0
    amount = Decimal(balance_cents) * rate_percent / 100 * days / 365
    return int(amount.to_integral_value(ROUND_HALF_UP))


def step_for(invoice: Due, settings: Settings, today: date) -> Step | None:
    """The level the invoice reaches today, if any."""
    levels = settings.receivables.levels
    when = next_level_on(invoice, levels)
    if when is None or when > today:
        return None
    config = levels[invoice.level]
    return Step(
        invoice=invoice,
        level=invoice.level + 1,
        config=config,
        fee_cents=_fee_cents(invoice, config, settings),
        interest_cents=(
            interest_cents(invoice.balance_cents, invoice.due_on, today, _rate(settings))
            if config.interest
            else 0
        ),
    )


def _fee_cents(invoice: Due, config: DunningLevelConfig, settings: Settings) -> int:
    if not config.fee or invoice.fee_cents or invoice.currency != "EUR":
        return 0
    return int(settings.receivables.recovery_fee * CENTS)


def _rate(settings: Settings) -> Decimal:
    return settings.receivables.ecb_rate + settings.receivables.interest_points


def plan_text(
    invoice: Due, settings: Settings, today: date, days: BusinessDays
) -> tuple[str | None, date | None]:
    """What comes next for an invoice, in words, and the business day it will happen."""
    levels = settings.receivables.levels
    if invoice.balance_cents <= 0:
        return None, None
    if invoice.level >= len(levels):
        return ALL_LEVELS_DONE, None
    when = next_level_on(invoice, levels)
    assert when is not None
    when = days.on_or_after(max(when, today))
    balance = Decimal(invoice.balance_cents) / CENTS
    return f"{levels[invoice.level].name} on {when.isoformat()} ({balance:.2f} due)", when


# -- the daily run ----------------------------------------------------------------


class BusinessDays:
    """The days the reminders run: those with open time in the dunning calendar.

    Each date is worked out once per instance (a run plans thousands of
    invoices, most of them on the same few days).
    """

    def __init__(self, settings: Settings) -> None:
        self._zone = ZoneInfo(settings.dunning_timezone)
        self._calendar = settings.dunning_calendar()
        self._known: dict[date, bool] = {}

    def __contains__(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._calendar.is_business_day(day, self._zone)
        return known

    def on_or_after(self, day: date) -> date:
        """The first business day from `day` on (`day` itself if none within a year)."""
        for offset in range(366):
            candidate = day + timedelta(days=offset)
            if candidate in self:
                return candidate
        return day


def is_business_day(settings: Settings, day: date) -> bool:
    """Whether the dunning calendar has open time on `day` (its local date)."""
    return day in BusinessDays(settings)


def local_today(settings: Settings, now: datetime) -> date:
    """Today in the dunning calendar's time zone (the agency's for round-the-clock ones)."""
    return now.astimezone(ZoneInfo(settings.dunning_timezone)).date()


def daily_dunning(engine: Engine, settings: Settings, clock: Now) -> RunSummary | None:
    """For the scheduler: today's run once `receivables.run_at` has passed, else None.

    Safe to call as often as wanted (every hour, at start-up): the run is
    idempotent for a day.
    """
    instant = clock()
    today = local_today(settings, instant)
    if instant.astimezone(ZoneInfo(settings.dunning_timezone)).time() < settings.receivables.run_at:
        return None
    return run_dunning(engine, settings, today, instant)


def run_dunning(engine: Engine, settings: Settings, today: date, now: datetime) -> RunSummary:
    """Take every invoice due a step today to it, and draft one reminder per client."""
    days = BusinessDays(settings)
    summary = RunSummary(day=today, business_day=today in days)
    with write(engine) as connection:
        invoices = _observe_payments(connection, _open_invoices(connection), settings, today, now)
        if not summary.business_day:
            _store_plans(connection, invoices, settings, today, days)
            return summary
        done_today = set(
            connection.execute(
                select(REMINDER.c.client_id).where(REMINDER.c.run_on == today)
            ).scalars()
        )
        by_client: dict[int, list[Step]] = defaultdict(list)
        for invoice in invoices:
            step = step_for(invoice, settings, today)
            # A client already written to today waits for the next run: one message a day.
            if step is not None and invoice.client_id not in done_today:
                by_client[invoice.client_id].append(step)
        stepped: dict[int, Step] = {}
        for steps in by_client.values():
            _client_steps(connection, settings, steps, today, now, summary)
            stepped.update({step.invoice.id: step for step in steps})
        after = [_after(invoice, stepped, today) for invoice in invoices]
        _store_plans(connection, after, settings, today, days)
    return summary


def _client_steps(
    connection: Connection,
    settings: Settings,
    steps: list[Step],
    today: date,
    now: datetime,
    summary: RunSummary,
) -> None:
    client = steps[0].invoice.client
    drafted = [step for step in steps if step.config.action == "draft"]
    reminder_id = None
    if drafted:
        language, text = render_reminder(settings, client, drafted, today)
        [reminder_id] = insert_with_ids(
            connection,
            REMINDER,
            [
                {
                    "client_id": steps[0].invoice.client_id,
                    "run_on": today,
                    "language": language,
                    "text": text,
                    "status": DRAFT,
                    "created_at": now,
                    "status_at": None,
                }
            ],
        )
        summary.reminders.append(reminder_id)
    insert_many(
        connection,
        STEP,
        [
            {
                "invoice_id": step.invoice.id,
                "level": step.level,
                "name": step.config.name,
                "action": step.config.action,
                "run_on": today,
                "reminder_id": reminder_id if step.config.action == "draft" else None,
                "balance_cents": step.invoice.balance_cents,
                "fee_cents": step.fee_cents,
                "interest_cents": step.interest_cents,
                "created_at": now,
            }
            for step in steps
        ],
    )
    for step in steps:
        summary.steps += 1
        if step.config.action != "draft":
            summary.alerts += queue_invoice_alert(
                connection,
                step.invoice.id,
                f"dunning:{step.invoice.id}:{step.level}",
                _alert_text(step),
                now,
            )
        if step.config.action == "flag_suspension" and client not in summary.flagged_clients:
            summary.flagged_clients.append(client)


def _alert_text(step: Step) -> str:
    invoice = step.invoice
    balance = Decimal(invoice.balance_cents) / CENTS
    what = (
        "flag the client for service suspension"
        if step.config.action == "flag_suspension"
        else "follow up with the client"
    )
    return (
        f"{invoice.client} · invoice {invoice.number}: {step.config.name} "
        f"(level {step.level}), {balance:.2f} {invoice.currency} due since "
        f"{invoice.due_on.isoformat()}: {what}"
    )


def _after(invoice: Due, stepped: dict[int, Step], today: date) -> Due:
    step = stepped.get(invoice.id)
    if step is None:
        return invoice
    return _replace(
        invoice,
        level=step.level,
        reminded_on=today,
        fee_cents=invoice.fee_cents + step.fee_cents,
    )


def _replace(invoice: Due, **changes: Any) -> Due:
    return Due(**{**invoice.__dict__, **changes})


def _open_invoices(connection: Connection) -> list[Due]:
    query = (
        select(
            INVOICE.c.id,
            INVOICE.c.number,
            INVOICE.c.creditor_reference.label("reference"),
            INVOICE.c.client_id,
            CLIENT.c.name.label("client"),
            INVOICE.c.issued_on,
            INVOICE.c.due_on,
            INVOICE.c.currency,
            INVOICE.c.total_cents,
            INVOICE.c.paid_cents,
            INVOICE.c.dunning_level.label("level"),
            INVOICE.c.reminded_on,
            INVOICE.c.promised_on,
            INVOICE.c.paused_until,
            INVOICE.c.fee_cents,
            INVOICE.c.dunning_paid_cents.label("seen_paid_cents"),
        )
        .join(CLIENT, CLIENT.c.id == INVOICE.c.client_id)
        .where(INVOICE.c.state == InvoiceState.OPEN.value)
        .order_by(CLIENT.c.name, INVOICE.c.due_on, INVOICE.c.number)
    )
    return [Due(**row._mapping) for row in connection.execute(query)]


def _observe_payments(
    connection: Connection, invoices: list[Due], settings: Settings, today: date, now: datetime
) -> list[Due]:
    """Pause invoices paid into since the last look; drop those now settled."""
    pause = timedelta(days=settings.receivables.payment_pause_days)
    rows: list[dict[str, Any]] = []
    kept: list[Due] = []
    for invoice in invoices:
        if invoice.paid_cents > invoice.seen_paid_cents:
            paused = today + pause if invoice.balance_cents > 0 else None
            rows.append(
                {
                    "id": invoice.id,
                    "dunning_paid_cents": invoice.paid_cents,
                    "paused_until": paused,
                    "updated_at": now,
                }
            )
            invoice = _replace(invoice, paused_until=paused, seen_paid_cents=invoice.paid_cents)
        if invoice.balance_cents > 0:
            kept.append(invoice)
    update_many(connection, INVOICE, rows)
    return kept


def _store_plans(
    connection: Connection,
    invoices: Iterable[Due],
    settings: Settings,
    today: date,
    days: BusinessDays,
) -> None:
    """Write each invoice's level and next step, for the dashboard and `invoices overdue`."""
    rows = []
    for invoice in invoices:
        step, when = plan_text(invoice, settings, today, days)
        rows.append(
            {
                "id": invoice.id,
                "dunning_level": invoice.level,
                "reminded_on": invoice.reminded_on,
                "fee_cents": invoice.fee_cents,
                "next_step": step,
                "next_step_on": when,
            }
        )
    update_many(connection, INVOICE, rows)


def refresh_plans(engine: Engine, settings: Settings, today: date, now: datetime) -> int:
    """Recompute every open invoice's next step (after an import, a promise...)."""
    with write(engine) as connection:
        invoices = _observe_payments(connection, _open_invoices(connection), settings, today, now)
        _store_plans(connection, invoices, settings, today, BusinessDays(settings))
    return len(invoices)


# -- rendering ------------------------------------------------------------------------


def render_reminder(
    settings: Settings, client: str, steps: list[Step], today: date
) -> tuple[str, str]:
    """The language and text of one client's reminder listing every step's invoice."""
    import jinja2
    from babel import Locale
    from babel.dates import format_date
    from babel.numbers import format_currency, format_decimal

    language = language_of(settings, client)
    environment = _environment()
    top = max(steps, key=lambda step: step.level)
    template = None
    for candidate in dict.fromkeys((language, settings.default_language, "en")):
        try:
            template = environment.get_template(f"{candidate}/{top.config.template}.txt.j2")
        except jinja2.TemplateNotFound:
            continue
        language = candidate
        break
    if template is None:
        raise LookupError(f"no reminder template {top.config.template!r} in any language")
    # Parsed once: babel parses a locale given as text on every call.
    locale = Locale.parse(
        settings.locale if settings.locale.split("_")[0] == language else language
    )

    def money(cents: int, currency: str) -> str:
        return str(format_currency(Decimal(cents) / CENTS, currency, locale=locale))

    def day(value: date) -> str:
        return str(format_date(value, format="long", locale=locale))

    totals: dict[str, int] = defaultdict(int)
    items = []
    for step in sorted(steps, key=lambda step: (step.invoice.due_on, step.invoice.number)):
        invoice = step.invoice
        owed = invoice.balance_cents + step.fee_cents + step.interest_cents
        totals[invoice.currency] += owed
        items.append(
            {
                "number": invoice.number,
                "reference": _formatted_reference(invoice.reference),
                "level": step.level,
                "level_name": step.config.name,
                "issued_on": day(invoice.issued_on),
                "due_on": day(invoice.due_on),
                "days_late": (today - invoice.due_on).days,
                "total": money(invoice.total_cents, invoice.currency),
                "balance": money(invoice.balance_cents, invoice.currency),
                "paid": money(invoice.paid_cents, invoice.currency) if invoice.paid_cents else None,
                "fee": money(step.fee_cents, invoice.currency) if step.fee_cents else None,
                "interest": (
                    money(step.interest_cents, invoice.currency) if step.config.interest else None
                ),
                "owed": money(owed, invoice.currency),
            }
        )
    text = template.render(
        agency=settings.agency,
        client=client,
        today=day(today),
        invoices=items,
        totals=[money(cents, currency) for currency, cents in sorted(totals.items())],
        rate=str(format_decimal(_rate(settings), locale=locale)),
        ecb_rate=str(format_decimal(settings.receivables.ecb_rate, locale=locale)),
        points=str(format_decimal(settings.receivables.interest_points, locale=locale)),
    )
    return language, text


def _formatted_reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    from stdnum import iso11649

    return str(iso11649.format(reference))


def _environment() -> Any:
    """The reminders' templates (data/reminders/), compiled once for the process."""
    return template_environment("reminders")


# -- facts recorded by hand ---------------------------------------------------------


def record_promise(
    engine: Engine,
    settings: Settings,
    number: str,
    on: date,
    actor: Actor,
    now: datetime,
    *,
    today: date | None = None,
) -> None:
    """The client promised to pay by `on`: no reminder until that day has passed."""
    today = today or local_today(settings, now)
    if on < today:
        raise ValueError(f"the promised day {on.isoformat()} is already past")
    with write(engine) as connection:
        row = _invoice_row(connection, number)
        connection.execute(
            update(INVOICE).where(INVOICE.c.id == row.id).values(promised_on=on, updated_at=now)
        )
        detail = {"number": number, "on": on.isoformat()}
        write_audit(connection, [audit_row(now, actor, "promise", "invoice", row.id, detail)])
    refresh_plans(engine, settings, today, now)


def record_dispute(
    engine: Engine,
    settings: Settings,
    number: str,
    reason: str | None,
    actor: Actor,
    now: datetime,
    *,
    resolved: bool = False,
) -> None:
    """The client disputes the invoice (reminders stop), or the dispute is settled."""
    with write(engine) as connection:
        row = _invoice_row(connection, number)
        state = InvoiceState.OPEN if resolved else InvoiceState.DISPUTED
        connection.execute(
            update(INVOICE).where(INVOICE.c.id == row.id).values(state=state.value, updated_at=now)
        )
        action = "dispute_resolved" if resolved else "dispute"
        detail = {"number": number, "reason": reason}
        write_audit(connection, [audit_row(now, actor, action, "invoice", row.id, detail)])
        if not resolved:
            # Shown as "disputed: reminders paused" until it is settled.
            connection.execute(
                update(INVOICE)
                .where(INVOICE.c.id == row.id)
                .values(next_step=None, next_step_on=None)
            )
    if resolved:
        refresh_plans(engine, settings, local_today(settings, now), now)


def mark_reminder(
    engine: Engine, reminder_id: int, status: str, actor: Actor, now: datetime
) -> None:
    """A draft went out (`sent`) or was dropped (`cancelled`)."""
    with write(engine) as connection:
        current = connection.execute(
            select(REMINDER.c.status).where(REMINDER.c.id == reminder_id)
        ).scalar()
        if current is None:
            raise UnknownReminder(f"no reminder #{reminder_id}")
        if current != DRAFT:
            raise ValueError(f"reminder #{reminder_id} is already {current}")
        connection.execute(
            update(REMINDER)
            .where(REMINDER.c.id == reminder_id)
            .values(status=status, status_at=now)
        )
        write_audit(
            connection, [audit_row(now, actor, f"reminder_{status}", "reminder", reminder_id, {})]
        )


def mark_todays_sent(
    engine: Engine, settings: Settings, client: str, actor: Actor, now: datetime
) -> list[int]:
    """Mark the drafts written today for `client` sent; their ids.

    Today on the reminders' calendar: a draft from an earlier day is not
    today's, and LookupError says that none waits rather than marking it.
    """
    drafts = todays_drafts(engine, settings, client, now)
    for reminder_id in drafts:
        mark_reminder(engine, reminder_id, SENT, actor, now)
    return drafts


def todays_drafts(engine: Engine, settings: Settings, client: str, now: datetime) -> list[int]:
    """The ids of the reminders drafted today for `client` and not sent yet.

    LookupError when none waits: a draft from an earlier day is not today's.
    """
    today = local_today(settings, now)
    drafts = [
        reminder.id
        for reminder in list_reminders(engine, DRAFT)
        if reminder.client == client and reminder.run_on == today
    ]
    if not drafts:
        raise LookupError(f"no reminder drafted today for {client} waits to be sent")
    return drafts


def list_reminders(engine: Engine, status: str | None = DRAFT) -> list[ReminderView]:
    """Reminders (drafts by default), newest first, with the invoices each lists."""
    query = (
        select(
            REMINDER.c.id,
            CLIENT.c.name,
            REMINDER.c.run_on,
            REMINDER.c.language,
            REMINDER.c.status,
            REMINDER.c.text,
            REMINDER.c.created_at,
        )
        .join(CLIENT, CLIENT.c.id == REMINDER.c.client_id)
        .order_by(REMINDER.c.run_on.desc(), CLIENT.c.name)
    )
    if status is not None:
        query = query.where(REMINDER.c.status == status)
    with engine.connect() as connection:
        rows = list(connection.execute(query))
        lines: dict[int, list[tuple[str, int, str]]] = defaultdict(list)
        ids = [row.id for row in rows]
        if ids:
            steps = (
                select(STEP.c.reminder_id, INVOICE.c.number, STEP.c.level, STEP.c.name)
                .join(INVOICE, INVOICE.c.id == STEP.c.invoice_id)
                .where(STEP.c.reminder_id.in_(ids))
                .order_by(INVOICE.c.due_on, INVOICE.c.number)
            )
            for reminder_id, number, level, name in connection.execute(steps):
                lines[reminder_id].append((number, level, name))
    return [
        ReminderView(
            id=row.id,
            client=row.name,
            run_on=row.run_on,
            language=row.language,
            status=row.status,
            text=row.text,
            created_at=row.created_at,
            invoices=tuple(lines[row.id]),
        )
        for row in rows
    ]


def flagged_clients(engine: Engine) -> list[str]:
    """Clients flagged for suspension whose flagged invoice is still unpaid."""
    query = (
        select(CLIENT.c.name)
        .distinct()
        .select_from(STEP.join(INVOICE, INVOICE.c.id == STEP.c.invoice_id))
        .join(CLIENT, CLIENT.c.id == INVOICE.c.client_id)
        .where(
            STEP.c.action == "flag_suspension",
            INVOICE.c.state == InvoiceState.OPEN.value,
            INVOICE.c.paid_cents < INVOICE.c.total_cents,
        )
        .order_by(CLIENT.c.name)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def _invoice_row(connection: Connection, number: str) -> Any:
    row = connection.execute(
        select(INVOICE.c.id, INVOICE.c.next_step, INVOICE.c.next_step_on).where(
            INVOICE.c.number == number
        )
    ).first()
    if row is None:
        raise UnknownInvoice(f"no invoice numbered {number!r}")
    return row
