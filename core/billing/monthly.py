"""The monthly billing run, shared by `pmdesk billing run`, the dashboard's Billing page
and the scheduled run: a **preview** step and an **issue** step.

`preview(connection, month, settings)` plans the month (core.billing.plan:
`drafts_for`) and says, per client and contract, what each draft bills (its
lines, quantities and amounts HT, TVA, TTC), whether it would be issued, is
already billed (with its number) or would be refused (with the reason), and
what changed since last month (`planned_changes` against the previous
month's drafts). It writes nothing and takes no number.

`issue_month(engine, settings, month, on, actor, progress)` plans the month
again and issues every draft on day `on` (core.billing.run: one
transaction per draft). It is idempotent: a contract and period already
billed is reported as such and never issued twice, whoever runs it and
however many times (a command, the dashboard, a button pressed twice, two
processes at once).

After the issue, each invoice of a contract paying by SEPA direct debit gets
its debit planned (core.billing.debits.`plan_debit`), to be collected on the
issue date plus `[billing] debit_notice_days` (the day its invoice prints),
each in its own transaction. An invoice found already billed gets one only
if it never had any (an earlier run stopped between the issue and the
debit): a debit that was returned is never planned again by a re-run.

Then, with `documents`, each invoice of the run gets its Factur-X PDF in
`[billing] folder` (core.billing.files.`write_documents`): those issued now,
and those found already billed whose file is missing (an earlier run
stopped, or ran without documents). A file already there is never
rewritten. A document that cannot be made is reported with its number
(`document_problem`); the invoices stay issued and a re-run writes what
is missing.

Then, with `send`, each invoice of the run whose PDF is in the folder has
its email queued (core.mail.compose.`queue_document_email`: the PDF
attached, the text in the client's language, to the contract's billing
email, else the client's known address), once per invoice whatever is
re-run; the services' email drain sends it. An invoice with no address is
reported (`email_problems`), the others queued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from core.base.business_time import BusinessCalendar
from core.base.instants import Now, utc_now
from core.base.kinds import Actor, NotificationKind, NotificationStatus, StaffRole
from core.billing.contracts import StoredContract, load_contracts
from core.billing.debits import DEBIT, INVOICE, DebitError, PlannedDebit, plan_debit
from core.billing.documents import issued_document
from core.billing.files import file_name, write_documents
from core.billing.issue import Outcome, Status, billed_number, refusal
from core.billing.model import Draft, PaymentMethod, Totals, totals_of
from core.billing.pdf import LOCALES, DocumentProblem, day, language, money
from core.billing.plan import PlanChange, drafts_for, first_of_month, planned_changes
from core.billing.run import RunResult, run_drafts
from core.config.settings import Settings
from core.mail.compose import NoAddress, billing_address, queue_document_email
from core.mail.message import BadAddress
from core.notify.rules import active_with_role, insert_new
from core.store.db import write, write_on
from core.store.models.outbox import Notification
from core.store.models.staff import Staff
from core.store.models.system import table

NOTIFICATION, STAFF = table(Notification), table(Staff)

# (step, done, in all): step is "issue", "debits", "documents" or "emails".
MonthProgress = Callable[[str, int, int], None]

__all__ = [
    "DraftPreview",
    "MonthPreview",
    "MonthProgress",
    "MonthResult",
    "issue_month",
    "month_of",
    "preview",
    "previous_month",
]


def month_of(text: str) -> date:
    """The first day of the month written `YYYY-MM`; ValueError otherwise."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month like 2026-12") from None


def previous_month(month: date) -> date:
    return first_of_month(first_of_month(month) - timedelta(days=1))


@dataclass(frozen=True)
class DraftPreview:
    """One draft of the month as the preview shows it.

    `status`: "would issue", "already billed" (`number`: the invoice's) or
    "refused" (`reason`).
    """

    draft: Draft
    reference: str
    client: str
    status: Status
    number: str | None = None
    reason: str | None = None

    @property
    def totals(self) -> Totals:
        return self.draft.totals

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "contract_id": self.draft.contract_id,
            "reference": self.reference,
            "client_id": self.draft.client_id,
            "client": self.client,
            "buyer": self.draft.buyer.name,
            "period_start": self.draft.period_start.isoformat(),
            "period_end": self.draft.period_end.isoformat(),
            "status": self.status,
            "number": self.number,
            "reason": self.reason,
            "lines": [
                {
                    "description": line.description,
                    "quantity": f"{line.quantity.normalize():f}",
                    "unit": line.unit,
                    "unit_price_cents": line.unit_price_cents,
                    "vat_rate": f"{line.vat_rate.normalize():f}",
                    "amount_cents": line.amount_cents,
                    "note": line.note,
                }
                for line in self.draft.lines
            ],
            "net_cents": totals.net_cents,
            "vat_cents": totals.vat_cents,
            "gross_cents": totals.gross_cents,
        }


@dataclass(frozen=True)
class MonthPreview:
    """What a month's run would do, and what changed since last month.

    `drafts` are ordered by client and contract reference; `changes` per
    contract (core.billing.plan.PlanChange), `references` and `clients`
    name the contracts and clients the changes speak of.
    """

    month: date
    drafts: tuple[DraftPreview, ...]
    changes: tuple[PlanChange, ...]
    references: dict[int, str] = field(default_factory=dict)
    clients: dict[int, str] = field(default_factory=dict)

    def having(self, status: Status) -> list[DraftPreview]:
        return [item for item in self.drafts if item.status == status]

    @property
    def to_issue(self) -> list[DraftPreview]:
        return self.having("would issue")

    @property
    def already_billed(self) -> list[DraftPreview]:
        return self.having("already billed")

    @property
    def refused(self) -> list[DraftPreview]:
        return self.having("refused")

    @property
    def totals(self) -> Totals:
        """The totals of the drafts still to issue."""
        return totals_of([line for item in self.to_issue for line in item.draft.lines])

    def by_client(self) -> list[tuple[str, list[DraftPreview]]]:
        """The drafts grouped per client, in the drafts' order."""
        groups: dict[str, list[DraftPreview]] = {}
        for item in self.drafts:
            groups.setdefault(item.client, []).append(item)
        return list(groups.items())

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "month": self.month.strftime("%Y-%m"),
            "to_issue": len(self.to_issue),
            "already_billed": len(self.already_billed),
            "refused": len(self.refused),
            "net_cents": totals.net_cents,
            "vat_cents": totals.vat_cents,
            "gross_cents": totals.gross_cents,
            "drafts": [item.as_dict() for item in self.drafts],
            "changes": [
                {
                    **change.as_dict(),
                    "reference": self.references.get(change.contract_id, ""),
                    "client": self.clients.get(change.client_id, ""),
                }
                for change in self.changes
            ],
        }


def preview(connection: Connection, month: date, settings: Settings) -> MonthPreview:
    """The month's drafts with what would become of each, and the changes since last month.

    Reads only: nothing is issued and no number taken.
    """
    month = first_of_month(month)
    contracts = load_contracts(connection)
    current = drafts_for(connection, month, settings, contracts=contracts)
    before = drafts_for(connection, previous_month(month), settings, contracts=contracts)
    references, clients = _names(contracts)
    items = tuple(_previewed(connection, draft, references, clients) for draft in current)
    if connection.in_transaction():
        connection.rollback()
    return MonthPreview(month, items, tuple(planned_changes(before, current)), references, clients)


def _names(contracts: Sequence[StoredContract]) -> tuple[dict[int, str], dict[int, str]]:
    references = {contract.id: contract.reference for contract in contracts}
    clients = {contract.client_id: contract.client for contract in contracts}
    return references, clients


def _previewed(
    connection: Connection, draft: Draft, references: dict[int, str], clients: dict[int, str]
) -> DraftPreview:
    reference = references.get(draft.contract_id, "")
    client = clients.get(draft.client_id, draft.buyer.name)
    problem = refusal(draft)
    if problem is not None:
        return DraftPreview(draft, reference, client, "refused", reason=problem)
    number = billed_number(connection, draft)
    if number is not None:
        return DraftPreview(draft, reference, client, "already billed", number=number)
    return DraftPreview(draft, reference, client, "would issue")


@dataclass
class MonthResult:
    """What a month's issue did: each draft's outcome (core.billing.run.RunResult)."""

    month: date
    run: RunResult
    references: dict[int, str] = field(default_factory=dict)
    clients: dict[int, str] = field(default_factory=dict)
    # Per invoice number: the debit planned for it, or why none could be.
    debits: dict[str, PlannedDebit] = field(default_factory=dict)
    debit_problems: dict[str, str] = field(default_factory=dict)
    # The PDF files written by this run; why the documents could not be written, if so.
    files: tuple[Path, ...] = ()
    document_problem: str | None = None
    # The invoices whose email this run queued; why others could not be.
    emailed: list[str] = field(default_factory=list)
    email_problems: dict[str, str] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.run.outcomes

    @property
    def issued(self) -> list[Outcome]:
        return self.run.issued

    @property
    def refused(self) -> list[Outcome]:
        return self.run.refused

    @property
    def already_billed(self) -> list[Outcome]:
        return [item for item in self.run.outcomes if item.status == "already billed"]

    @property
    def already_billed_numbers(self) -> set[str]:
        return {item.number for item in self.already_billed if item.number is not None}

    @property
    def done_before(self) -> bool:
        """Nothing left to issue: every draft was billed already (a second press, a re-run)."""
        return not self.issued and not self.refused and bool(self.already_billed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month.strftime("%Y-%m"),
            "on": self.run.on.isoformat(),
            "issued": len(self.issued),
            "already_billed": len(self.already_billed),
            "refused": len(self.refused),
            "gross_cents": sum(item.gross_cents for item in self.issued),
            "debits": {
                number: {
                    "end_to_end_id": debit.end_to_end_id,
                    "sequence": debit.sequence,
                    "collect_on": debit.collect_on.isoformat(),
                    "amount_cents": debit.amount_cents,
                }
                for number, debit in self.debits.items()
            },
            "debit_problems": dict(self.debit_problems),
            "files": [str(path) for path in self.files],
            "document_problem": self.document_problem,
            "emailed": list(self.emailed),
            "email_problems": dict(self.email_problems),
            "outcomes": [
                {
                    "contract_id": item.contract_id,
                    "reference": self.references.get(item.contract_id, ""),
                    "client_id": item.client_id,
                    "client": self.clients.get(item.client_id, ""),
                    "period_start": item.period_start.isoformat(),
                    "status": item.status,
                    "number": item.number,
                    "gross_cents": item.gross_cents,
                    "reason": item.reason,
                }
                for item in self.run.outcomes
            ],
        }


def issue_month(
    engine: Engine,
    settings: Settings,
    month: date,
    on: date,
    actor: Actor,
    progress: MonthProgress | None = None,
    *,
    clock: Now = utc_now,
    documents: bool = False,
    send: bool = False,
) -> MonthResult:
    """Plan `month` and issue its drafts dated `on`, each in its own transaction.

    Idempotent: what is billed already is reported as such, never issued again.
    `progress` hears ("issue", done, in all) after each draft, then
    ("debits", done, in all) after each direct debit planned, then
    ("documents", done, in all) after each PDF made (with `documents`), then
    ("emails", done, in all) after each email queued (with `send`).
    """
    month = first_of_month(month)
    with engine.connect() as connection:
        contracts = load_contracts(connection)
        drafts = drafts_for(connection, month, settings, contracts=contracts)
        connection.rollback()
    references, clients = _names(contracts)
    step = None if progress is None else (lambda done, total: progress("issue", done, total))
    run = run_drafts(engine, settings, drafts, on=on, actor=actor, progress=step, clock=clock)
    result = MonthResult(month, run, references, clients)
    _plan_debits(engine, settings, drafts, result, actor, progress, clock)
    if documents:
        _write_documents(engine, settings, result, progress)
    if send:
        _queue_emails(engine, settings, result, actor, progress, clock)
    return result


def _queue_emails(
    engine: Engine,
    settings: Settings,
    result: MonthResult,
    actor: Actor,
    progress: MonthProgress | None,
    clock: Now,
) -> None:
    """The email of each invoice of the run whose PDF is in the folder; see the module."""
    folder = Path(settings.billing.folder)
    with engine.connect() as connection:
        batch = [
            issued_document(connection, item.number, settings)
            for item in result.outcomes
            if item.number is not None and item.status in ("issued", "already billed")
        ]
    batch = [document for document in batch if (folder / file_name(document)).exists()]
    client_of = {item.number: item.client_id for item in result.outcomes}
    for done, document in enumerate(batch, start=1):
        locale = LOCALES[language(document)]
        client = result.clients.get(client_of[document.number], document.buyer.name)
        try:
            to = billing_address(engine, settings, client, document.billing_email)
            queued = queue_document_email(
                engine, settings, document.number, to, folder / file_name(document),
                document.language, clock(), kind="invoice", client=document.buyer.name,
                amount=money(document.totals.gross_cents, document.currency, locale),
                due_on=day(document.due_on, locale), actor=actor,
            )  # fmt: skip
        except (NoAddress, BadAddress, OSError) as error:
            result.email_problems[document.number] = str(error)
        else:
            if queued.created:
                result.emailed.append(document.number)
        if progress is not None:
            progress("emails", done, len(batch))


def _write_documents(
    engine: Engine, settings: Settings, result: MonthResult, progress: MonthProgress | None
) -> None:
    """The PDFs of the run's invoices not yet in the billing folder; see the module."""
    folder = Path(settings.billing.folder)
    billed_before = result.already_billed_numbers
    with engine.connect() as connection:
        batch = [
            issued_document(connection, item.number, settings)
            for item in result.outcomes
            if item.number is not None and item.status in ("issued", "already billed")
        ]
    batch = [
        document
        for document in batch
        if document.number not in billed_before or not (folder / file_name(document)).exists()
    ]
    step = None if progress is None else (lambda done, total: progress("documents", done, total))
    try:
        written = write_documents(batch, folder, step)
    except (DocumentProblem, OSError) as error:
        result.document_problem = str(error)
        return
    result.files = written.written


def _plan_debits(
    engine: Engine,
    settings: Settings,
    drafts: Sequence[Draft],
    result: MonthResult,
    actor: Actor,
    progress: MonthProgress | None,
    clock: Now,
) -> None:
    """A debit for each invoice of the run paid by direct debit; see the module."""
    due = [
        (draft, outcome)
        for draft, outcome in zip(drafts, result.outcomes, strict=True)
        if draft.payment_method == PaymentMethod.SEPA_DEBIT
        and draft.mandate is not None
        and outcome.number is not None
        and outcome.status in ("issued", "already billed")
    ]
    notice = timedelta(days=settings.billing.debit_notice_days)
    with engine.connect() as connection:
        for done, (draft, outcome) in enumerate(due, start=1):
            number, mandate = outcome.number, draft.mandate
            assert number is not None and mandate is not None
            try:
                with write_on(connection):
                    invoice = connection.execute(
                        select(INVOICE.c.id, INVOICE.c.issued_on, INVOICE.c.total_cents).where(
                            INVOICE.c.number == number
                        )
                    ).one()
                    planned_before = connection.execute(
                        select(DEBIT.c.id).where(DEBIT.c.invoice_id == invoice.id).limit(1)
                    ).first()
                    if outcome.status == "issued" or planned_before is None:
                        result.debits[number] = plan_debit(
                            connection,
                            invoice.id,
                            mandate,
                            invoice.total_cents,
                            invoice.issued_on + notice,
                            now=clock(),
                            actor=actor,
                        )
            except DebitError as error:
                result.debit_problems[number] = str(error)
            if progress is not None:
                progress("debits", done, len(due))


# -- the scheduled run: the preview sent to the assistants, issued on their word ------------

BILLING_RUN_KEY = "billing-run"


@dataclass(frozen=True)
class Confirmation:
    """What pressing Issue did: `status` issued, done (nothing left: issued before),
    refused (not the assistant it was sent to, or not an assistant), or gone."""

    status: str
    text: str
    result: MonthResult | None = None


def preview_text(seen: MonthPreview, currency: str) -> str:
    """The preview as a short plain text: the count, the totals, the changes, the refusals."""
    totals = seen.totals
    lines = [
        f"Billing {seen.month:%Y-%m}: {len(seen.to_issue)} invoice"
        f"{'s' if len(seen.to_issue) != 1 else ''} to issue,"
        f" {_amount(totals.net_cents, currency)} HT, {_amount(totals.gross_cents, currency)} TTC.",
    ]
    if seen.already_billed:
        lines.append(f"Already billed: {len(seen.already_billed)}.")
    if seen.changes:
        lines.append("Changes since last month:")
        for change in seen.changes[:CHANGES_SHOWN]:
            who = (
                f"{seen.clients.get(change.client_id, '?')}"
                f" {seen.references.get(change.contract_id, '')}"
            ).strip()
            lines.append(f"- {who}: {_change(change, currency)}")
        if len(seen.changes) > CHANGES_SHOWN:
            lines.append(f"- and {len(seen.changes) - CHANGES_SHOWN} more")
    else:
        lines.append("No change since last month.")
    if seen.refused:
        lines.append(f"Refused: {len(seen.refused)}")
        for item in seen.refused[:CHANGES_SHOWN]:
            lines.append(f"- {item.client} {item.reference}: {item.reason}")
    return "\n".join(lines)


# Changes and refusals named in the Telegram preview; the rest are counted.
CHANGES_SHOWN = 10


def _change(change: PlanChange, currency: str) -> str:
    before, after = _amount(change.before_cents, currency), _amount(change.after_cents, currency)
    if change.kind == "new":
        return f"new, {after}"
    if change.kind == "not_billed":
        return f"not billed this month (last month {before})"
    if change.kind == "lines":
        added = ", ".join(change.added) or "-"
        removed = ", ".join(change.removed) or "-"
        return f"lines added {added}, gone {removed}; {before} -> {after}"
    return f"{before} -> {after}"


def _amount(cents: int, currency: str) -> str:
    return f"{Decimal(cents) / 100:,.2f} {currency}"


def run_calendar(settings: Settings) -> tuple[BusinessCalendar, ZoneInfo]:
    """The calendar whose business days the scheduled run keeps: the default policy's."""
    name = settings.policies["default"].calendar
    calendar = settings.calendars.get(name)
    zone = ZoneInfo(calendar.timezone if calendar is not None else settings.timezone)
    return settings.calendar(name), zone


def first_business_day(settings: Settings, month: date) -> date | None:
    """The month's first business day in the default policy's calendar (None: none open)."""
    calendar, zone = run_calendar(settings)
    day = first_of_month(month)
    while day.month == month.month:
        if calendar.is_business_day(day, zone):
            return day
        day += timedelta(days=1)
    return None


def queue_month_preview(engine: Engine, settings: Settings, clock: Now = utc_now) -> int:
    """With `[billing] scheduled_run`: from the month's first business day, at
    `[receivables] run_at` (local), queue this month's preview to every active
    assistant, with its Issue and Later buttons; returns the rows written.

    Once per month and assistant (the notification's dedupe key), however
    often it is called and by however many processes. Nothing when there is
    nothing to issue and nothing refused.
    """
    if not settings.billing.scheduled_run:
        return 0
    now = clock()
    _, zone = run_calendar(settings)
    local = now.astimezone(zone)
    month = first_of_month(local.date())
    first = first_business_day(settings, month)
    if first is None or local.date() < first:
        return 0
    if local.date() == first and local.time() < settings.receivables.run_at:
        return 0
    with engine.connect() as connection:
        seen = preview(connection, month, settings)
    if not seen.to_issue and not seen.refused:
        return 0
    text = preview_text(seen, settings.billing.currency)
    with write(engine) as connection:
        rows = [
            {
                "recipient_id": recipient,
                "kind": NotificationKind.BILLING_RUN.value,
                "text": text,
                "dedupe_key": f"{BILLING_RUN_KEY}:{month:%Y-%m}:{recipient}",
                "status": NotificationStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for recipient in active_with_role(connection, StaffRole.ASSISTANT)
        ]
        return insert_new(connection, rows) if rows else 0


def confirm_month(
    engine: Engine,
    settings: Settings,
    notification_id: int,
    staff_id: int,
    *,
    clock: Now = utc_now,
) -> Confirmation:
    """Issue the month a billing-run preview was about, on the word of the assistant it was
    sent to; dated today (local), with the documents, and the emails queued when
    `[email]` can send. Idempotent: a second press, by them or another assistant, or
    in another process, issues nothing again and says it was done."""
    with engine.connect() as connection:
        row = connection.execute(
            select(
                NOTIFICATION.c.kind, NOTIFICATION.c.dedupe_key, NOTIFICATION.c.recipient_id
            ).where(NOTIFICATION.c.id == notification_id)
        ).first()
        role = connection.execute(
            select(STAFF.c.role, STAFF.c.active).where(STAFF.c.id == staff_id)
        ).first()
    if row is None or row.kind != NotificationKind.BILLING_RUN.value:
        return Confirmation("gone", "This button no longer works.")
    if row.recipient_id != staff_id:
        return Confirmation("refused", "This preview was sent to someone else.")
    if role is None or not role.active or role.role != StaffRole.ASSISTANT.value:
        return Confirmation("refused", "Only an assistant can issue the billing run.")
    month = month_of(str(row.dedupe_key).split(":")[1])
    _, zone = run_calendar(settings)
    on = clock().astimezone(zone).date()
    result = issue_month(
        engine, settings, month, on, f"staff:{staff_id}", clock=clock, documents=True,
        send=bool(settings.email.host and settings.email.sender),
    )  # fmt: skip
    if not result.issued:
        text = f"Already done: billing {month:%Y-%m} has nothing left to issue"
        billed = len(result.already_billed)
        text += f" ({billed} already billed"
        text += f", {len(result.refused)} refused)." if result.refused else ")."
        return Confirmation("done", text, result)
    numbers = [item.number for item in result.issued if item.number]
    text = f"Issued {len(numbers)} invoice{'s' if len(numbers) != 1 else ''}"
    if numbers:
        text += f": {numbers[0]}" + (f" to {numbers[-1]}" if len(numbers) > 1 else "")
    text += f"; {len(result.refused)} refused." if result.refused else "."
    if result.document_problem:
        text += " The PDFs could not be written: run pmdesk billing run to see why."
    return Confirmation("issued", text, result)
