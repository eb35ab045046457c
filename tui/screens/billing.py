"""The manager's Billing page (`b`): the month's billing run, previewed, then issued.

One month at a time (the current one by default; `[` and `]` move it, up
to next month): each contract's draft of the month per client with its
status (to issue, already billed with its number, refused with the reason)
and amounts HT, TVA and TTC; the highlighted draft's lines (quantity, unit
price, amount, the pro rata or usage note) and what changed since last
month; the invoices issued during the month, with what remains to pay.
`a` shows the month's audit (core.billing.audit_month, as `pmdesk billing
audit`) in place of the draft: active contracts with no invoice for their
period of the month, invoices no contract expects (or for a period after
the contract's end), clients with activity in the month and no contract,
and usage billed against what its source gives now, with their amounts.

The figures are those of `pmdesk billing run --dry-run` (core.billing.monthly
`preview`), read in a worker thread. `i` issues the month after a
confirmation that says how many invoices and their total; the issue runs in a
worker (core.billing.monthly `issue_month`, the same as the command, each
draft in its own transaction, idempotent) with its progress shown, then the
page names the numbers given. A press while a confirmation is open or an
issue runs does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_date
from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, ProgressBar, Static

from core.base import i18n
from core.base.i18n import N_
from tui.display.text import as_text, first_line
from tui.screens.am import shifted
from tui.widgets.keybar import KeyBar
from tui.widgets.rows import RowList

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.billing.audit import AuditReport
    from core.billing.documents import DocumentSummary
    from core.billing.monthly import DraftPreview, MonthPreview, MonthResult
    from core.billing.plan import PlanChange
    from core.config.settings import Settings

NOTHING = "–"
DRAFT_COLUMNS = (
    N_("Client"),
    N_("Contract"),
    N_("Period"),
    N_("Status"),
    N_("HT"),
    N_("TVA"),
    N_("TTC"),
)
ISSUED_COLUMNS = (N_("Number"), N_("Client"), N_("Issued"), N_("TTC"), N_("Balance"))
STATUSES = {
    "would issue": N_("to issue"),
    "already billed": N_("billed {number}"),
    "refused": N_("refused"),
}
STEPS = {"issue": N_("issuing"), "debits": N_("direct debits"), "documents": N_("documents")}


@dataclass(frozen=True)
class BillingDesk:
    """What the Billing and Contracts pages work with, each made on first use (in a worker)."""

    engine: Callable[[], Engine]
    settings: Callable[[], Settings]
    clock: Callable[[], datetime]
    tz: ZoneInfo
    # An amount in cents and its currency as the dashboard writes it (1 234,50 €).
    money: Callable[[int, str], str]
    # Who issues, as the audit trail names it.
    actor: str = "dashboard"


@dataclass(frozen=True)
class BillingSnapshot:
    """A month's preview and the documents issued during it, read at one instant."""

    month: date
    currency: str
    preview: MonthPreview
    issued: list[DocumentSummary]
    audit: AuditReport


def read_billing(engine: Engine, settings: Settings, month: date) -> BillingSnapshot:
    """The month's preview (core.billing.monthly), the documents issued in it, its audit."""
    from core.billing.audit_month import audit_month
    from core.billing.documents import list_documents
    from core.billing.monthly import preview
    from core.billing.plan import month_end
    from core.store.reader import EngineReader

    with engine.connect() as connection:
        seen = preview(connection, month, settings)
        issued = list_documents(connection, month, month_end(month))
        audit = audit_month(connection, EngineReader(engine), month, settings)
    return BillingSnapshot(month, settings.billing.currency, seen, issued, audit)


class BillingScreen(Screen[None]):
    """The month's billing run: the preview per client, issued on confirmation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "left_square_bracket",
            "month(-1)",
            N_("Month before"),
            id="billing.previous",
            tooltip=N_("Show the month before"),
        ),
        Binding(
            "right_square_bracket",
            "month(1)",
            N_("Month after"),
            id="billing.next",
            tooltip=N_("Show the month after, up to next month"),
        ),
        Binding(
            "i",
            "issue",
            N_("Issue"),
            id="billing.issue",
            tooltip=N_("Issue the month's invoices, after a confirmation"),
        ),
        Binding(
            "a",
            "audit",
            N_("Audit"),
            id="billing.audit",
            tooltip=N_("Show the month's audit instead of the draft, or the draft again"),
        ),
        Binding("r", "reload", N_("Refresh"), id="billing.refresh", tooltip=N_("Read again")),
        Binding("escape", "back", N_("Back"), id="billing.back", tooltip=N_("Go back")),
    ]

    class Loaded(Message):
        def __init__(self, snapshot: BillingSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class LoadFailed(Message):
        def __init__(self, month: date, reason: str) -> None:
            super().__init__()
            self.month = month
            self.reason = reason

    class Progressed(Message):
        """The issue's progress: step (issue, debits, documents), done, in all."""

        def __init__(self, step: str, done: int, total: int) -> None:
            super().__init__()
            self.step = step
            self.done = done
            self.total = total

    class Issued(Message):
        """The issue is over: its result, or why it failed (`reason`)."""

        def __init__(self, result: MonthResult | None, reason: str = "") -> None:
            super().__init__()
            self.result = result
            self.reason = reason

    def __init__(self, desk: BillingDesk) -> None:
        super().__init__(id="billing")
        self.desk = desk
        self.month: date | None = None
        self.snapshot: BillingSnapshot | None = None
        # A confirmation open or an issue running: `i` does nothing.
        self.busy = False
        # The audit shown in place of the highlighted draft.
        self.auditing = False

    def compose(self) -> ComposeResult:
        with Vertical(id="billing-body"):
            yield Static(i18n.gettext("Loading…"), id="billing-title", markup=False)
            yield RowList(
                column_widths(DRAFT_COLUMNS, []), column_labels(DRAFT_COLUMNS), id="billing-drafts"
            )
            with VerticalScroll(id="billing-detail-box"):
                yield Static("", id="billing-detail", markup=False)
            yield ProgressBar(id="billing-progress", show_eta=False)
            yield Static("", id="billing-result", markup=False)
            yield Label(i18n.gettext("Issued this month"), classes="billing-heading")
            yield RowList(
                column_widths(ISSUED_COLUMNS, []),
                column_labels(ISSUED_COLUMNS),
                id="billing-issued",
            )
        yield KeyBar()

    def on_mount(self) -> None:
        self._request(self._today().replace(day=1))

    def _drafts(self) -> RowList:
        return self.query_one("#billing-drafts", RowList)

    def _issued(self) -> RowList:
        return self.query_one("#billing-issued", RowList)

    def _today(self) -> date:
        return self.desk.clock().astimezone(self.desk.tz).date()

    def _money(self, cents: int) -> str:
        currency = self.snapshot.currency if self.snapshot else "EUR"
        return self.desk.money(cents, currency)

    @property
    def selected(self) -> DraftPreview | None:
        if self.snapshot is None or not self.snapshot.preview.drafts:
            return None
        drafts = self.snapshot.preview.drafts
        return drafts[min(self._drafts().cursor_row, len(drafts) - 1)]

    # -- choosing the month

    def action_month(self, by: int) -> None:
        if self.month is None or self.busy:
            return
        wanted = shifted(self.month, by)
        if wanted > shifted(self._today().replace(day=1), 1):
            self.app.bell()
            return
        self._request(wanted)

    def action_reload(self) -> None:
        if self.month is not None and not self.busy:
            self._request(self.month)

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- reading

    def _request(self, month: date) -> None:
        self.month = month
        self.query_one("#billing-title", Static).update(
            i18n.gettext("{month} · loading…").format(month=_month_name(month))
        )
        self._load(month)

    @work(thread=True, exclusive=True, group="billing-load")
    def _load(self, month: date) -> None:
        try:
            snapshot = read_billing(self.desk.engine(), self.desk.settings(), month)
        except Exception as error:  # any driver's error: said, the page stays usable
            self.post_message(self.LoadFailed(month, str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(snapshot))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        if message.month != self.month:
            return
        self.snapshot = None
        self._drafts().set_rows([])
        self._issued().set_rows([])
        self.query_one("#billing-detail", Static).update("")
        self.query_one("#billing-title", Static).update(
            i18n.gettext("{month} · could not read: {reason}").format(
                month=_month_name(message.month), reason=message.reason
            )
        )

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.snapshot.month != self.month:
            return  # an earlier request, answered late
        self.snapshot = snapshot = message.snapshot
        seen = snapshot.preview
        self.query_one("#billing-title", Static).update(self._title(snapshot))
        # Lists of fixed columns, each row drawn when shown: 2,000 drafts fill at once.
        table = self._drafts()
        rows = [self._draft_row(item) for item in seen.drafts]
        table.widths = column_widths(DRAFT_COLUMNS, rows)
        table.set_rows(rows, cursor=max(0, table.cursor_row))
        self._show_selected()
        issued = self._issued()
        documents = [self._issued_row(document) for document in snapshot.issued]
        issued.widths = column_widths(ISSUED_COLUMNS, documents)
        issued.set_rows(documents)

    def _title(self, snapshot: BillingSnapshot) -> str:
        seen = snapshot.preview
        month = _month_name(snapshot.month)
        if not seen.drafts:
            return i18n.gettext("{month}: nothing to bill, no contract bills this month").format(
                month=month
            )
        totals = seen.totals
        return i18n.gettext(
            "Billing · {month} · {count} to issue: {net} HT, {vat} TVA, {gross} TTC"
            " · {billed} already billed · {refused} refused"
        ).format(
            month=month,
            count=len(seen.to_issue),
            net=self._money(totals.net_cents),
            vat=self._money(totals.vat_cents),
            gross=self._money(totals.gross_cents),
            billed=len(seen.already_billed),
            refused=len(seen.refused),
        )

    def _draft_row(self, item: DraftPreview) -> tuple[Text, ...]:
        status = i18n.gettext(STATUSES[item.status]).format(number=item.number or "")
        totals = item.totals
        draft = item.draft
        return (
            _untrusted(item.client, 30),
            _untrusted(item.reference, 16),
            Text(f"{draft.period_start:%d.%m}–{draft.period_end:%d.%m.%Y}"),
            Text(status, style="bold red" if item.status == "refused" else ""),
            Text(self._money(totals.net_cents), justify="right"),
            Text(self._money(totals.vat_cents), justify="right"),
            Text(self._money(totals.gross_cents), justify="right"),
        )

    def _issued_row(self, document: DocumentSummary) -> tuple[Text, ...]:
        sign = -1 if document.kind == "credit_note" else 1
        balance = NOTHING if document.balance_cents is None else self._money(document.balance_cents)
        return (
            Text(document.number),
            _untrusted(document.buyer, 30),
            Text(f"{document.issued_on:%d.%m.%Y}"),
            Text(self._money(sign * document.gross_cents), justify="right"),
            Text(balance, justify="right"),
        )

    @on(RowList.Highlighted, "#billing-drafts")
    def _highlighted(self, _event: RowList.Highlighted) -> None:
        self._show_selected()

    def action_audit(self) -> None:
        self.auditing = not self.auditing
        self.set_class(self.auditing, "-audit")
        self._show_selected()

    def _show_selected(self) -> None:
        detail = self.query_one("#billing-detail", Static)
        if self.auditing:
            detail.update(self._audit_text())
            return
        item = self.selected
        if item is None or self.snapshot is None:
            detail.update(self._changes_text(None))
            return
        detail.update(self._detail(item))

    def _detail(self, item: DraftPreview) -> Text:
        """The highlighted draft's lines, its refusal, and what changed for its contract."""
        text = Text()
        draft = item.draft
        text.append(f"{item.client} · {item.reference} · {draft.buyer.name}\n", style="bold")
        if item.reason:
            text.append(
                i18n.gettext("Refused: {reason}").format(reason=item.reason) + "\n",
                style="bold red",
            )
        for line in draft.lines:
            quantity = _plain(line.quantity)
            text.append(
                f"  {line.description} · {quantity} {line.unit} × "
                f"{self._money(line.unit_price_cents)} = {self._money(line.amount_cents)}"
                f" · {i18n.gettext('TVA')} {_plain(line.vat_rate)} %\n"
            )
            if line.note:
                text.append(f"    {line.note}\n", style="italic")
        totals = item.totals
        text.append(
            f"  {i18n.gettext('HT')} {self._money(totals.net_cents)} · "
            f"{i18n.gettext('TVA')} {self._money(totals.vat_cents)} · "
            f"{i18n.gettext('TTC')} {self._money(totals.gross_cents)}\n",
            style="bold",
        )
        text.append(self._changes_text(draft.contract_id))
        return text

    def _audit_text(self) -> Text:
        """The month's audit: what is not billed, billed without a contract, or unbilled."""
        text = Text()
        if self.snapshot is None:
            return text
        report = self.snapshot.audit
        text.append(
            i18n.gettext("Audit of {month} · a shows the draft again").format(
                month=_month_name(report.month)
            )
            + "\n",
            style="bold",
        )
        if not report.findings:
            text.append(i18n.gettext("Nothing to report: every contract billed, nobody forgotten."))
            return text
        if report.missing:
            text.append(i18n.gettext("Active contracts not billed") + "\n", style="bold")
            for missing in report.missing:
                reference = self.snapshot.preview.references.get(missing.contract_id, "")
                text.append(
                    f"  {missing.client} {reference} · "
                    f"{missing.period_start:%d.%m}–{missing.period_end:%d.%m.%Y} · "
                    f"{self._money(missing.net_cents)} {i18n.gettext('HT')}\n"
                )
        if report.extra:
            text.append(i18n.gettext("Invoices no contract expects") + "\n", style="bold")
            for extra in report.extra:
                why = (
                    i18n.gettext("after the contract's end ({day})").format(
                        day=extra.contract_end.isoformat()
                    )
                    if extra.reason == "after_end" and extra.contract_end
                    else i18n.gettext("no contract bills this period")
                )
                text.append(
                    f"  {extra.number} {extra.client} · "
                    f"{extra.period_start:%d.%m}–{extra.period_end:%d.%m.%Y} · "
                    f"{self._money(extra.net_cents)} {i18n.gettext('HT')} · {why}\n"
                )
        if report.unbilled:
            text.append(i18n.gettext("Activity without a contract") + "\n", style="bold")
            for activity in report.unbilled:
                text.append(
                    "  "
                    + i18n.gettext(
                        "{client}: {events} tracker events, {chats} chat events,"
                        " {threads} threads, {hours} h logged"
                    ).format(
                        client=activity.client,
                        events=activity.tracker_events,
                        chats=activity.chat_events,
                        threads=activity.threads,
                        hours=activity.hours,
                    )
                    + "\n"
                )
        if report.usage:
            text.append(i18n.gettext("Usage billed and measured") + "\n", style="bold")
            for usage in report.usage:
                amount = NOTHING if usage.amount_cents is None else self._money(usage.amount_cents)
                text.append(
                    "  "
                    + i18n.gettext(
                        "{client}: {service}: {measured} measured, {billed} billed ({amount})"
                    ).format(
                        client=usage.client,
                        service=usage.line or usage.service,
                        measured=_plain(usage.measured),
                        billed=_plain(usage.billed),
                        amount=amount,
                    )
                    + "\n"
                )
        totals = report.totals()
        text.append(
            i18n.gettext("Not billed {missing}, billed without a contract {extra}.").format(
                missing=self._money(totals["missing_net_cents"]),
                extra=self._money(totals["extra_net_cents"]),
            )
        )
        return text

    def _changes_text(self, contract_id: int | None) -> Text:
        """What changed since last month: of one contract, or all of them (none highlighted)."""
        text = Text()
        if self.snapshot is None:
            return text
        seen = self.snapshot.preview
        changes = [
            change
            for change in seen.changes
            if contract_id is None or change.contract_id == contract_id
        ]
        if contract_id is not None and not changes:
            return Text(i18n.gettext("No change since last month."), style="dim")
        if changes:
            text.append(i18n.gettext("Since last month:") + "\n", style="bold")
        for change in changes:
            client = seen.clients.get(change.client_id, "?")
            who = f"{client} {seen.references.get(change.contract_id, '')}"
            text.append(f"  {who.strip()}: {self._change(change)}\n")
        return text

    def _change(self, change: PlanChange) -> str:
        before, after = self._money(change.before_cents), self._money(change.after_cents)
        if change.kind == "new":
            return i18n.gettext("new, {after}").format(after=after)
        if change.kind == "not_billed":
            return i18n.gettext("not billed this month (last month {before})").format(before=before)
        if change.kind == "lines":
            return i18n.gettext("lines added: {added}; gone: {removed}; {before} → {after}").format(
                added=", ".join(change.added) or NOTHING,
                removed=", ".join(change.removed) or NOTHING,
                before=before,
                after=after,
            )
        return f"{before} → {after}"

    # -- issuing

    def action_issue(self) -> None:
        if self.busy:
            return  # a confirmation open, or an issue running
        snapshot = self.snapshot
        if snapshot is None or snapshot.month != self.month:
            return
        seen = snapshot.preview
        if not seen.to_issue:
            self.notify(i18n.gettext("Nothing to issue for this month."))
            return
        month = snapshot.month
        question = i18n.ngettext(
            "Issue {count} invoice for {month}, {gross} TTC?",
            "Issue {count} invoices for {month}, {gross} TTC?",
            len(seen.to_issue),
        ).format(
            count=len(seen.to_issue),
            month=_month_name(month),
            gross=self._money(seen.totals.gross_cents),
        )
        self.busy = True

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_issue(month)
            else:
                self.busy = False

        self.app.push_screen(ConfirmIssue(question), answered)

    def _start_issue(self, month: date) -> None:
        bar = self.query_one("#billing-progress", ProgressBar)
        bar.update(total=None, progress=0)
        self.set_class(True, "-issuing")
        self.query_one("#billing-result", Static).update(i18n.gettext("Issuing…"))
        self._issue(month, self._today())

    @work(thread=True, exclusive=True, group="billing-issue")
    def _issue(self, month: date, on_day: date) -> None:
        from core.billing.monthly import issue_month

        def progress(step: str, done: int, total: int) -> None:
            self.post_message(self.Progressed(step, done, total))

        try:
            result = issue_month(
                self.desk.engine(),
                self.desk.settings(),
                month,
                on_day,
                self.desk.actor,
                progress,
                clock=self.desk.clock,
                documents=True,
            )
        except Exception as error:  # said on the page; what was issued stays issued
            self.post_message(self.Issued(None, str(error) or type(error).__name__))
            return
        self.post_message(self.Issued(result))

    @on(Progressed)
    def _progressed(self, message: Progressed) -> None:
        bar = self.query_one("#billing-progress", ProgressBar)
        bar.update(total=message.total, progress=message.done)
        self.query_one("#billing-result", Static).update(
            i18n.gettext("{step}: {done} of {total}").format(
                step=i18n.gettext(STEPS.get(message.step, message.step)),
                done=message.done,
                total=message.total,
            )
        )

    @on(Issued)
    def _issued_done(self, message: Issued) -> None:
        self.busy = False
        self.set_class(False, "-issuing")
        said = self._result_text(message)
        self.query_one("#billing-result", Static).update(said)
        problem = message.result is None or bool(message.result.refused)
        self.notify(said.plain.split("\n")[0], severity="error" if problem else "information")
        self.action_reload()

    def _result_text(self, message: Issued) -> Text:
        result = message.result
        if result is None:
            return Text(
                i18n.gettext("The issue stopped: {reason}").format(reason=message.reason),
                style="bold red",
            )
        issued = [item.number for item in result.issued if item.number]
        text = Text(
            i18n.ngettext(
                "{count} invoice issued, {gross} TTC",
                "{count} invoices issued, {gross} TTC",
                len(issued),
            ).format(
                count=len(issued),
                gross=self._money(sum(item.gross_cents for item in result.issued)),
            ),
            style="bold",
        )
        if issued:
            text.append(": " + _numbers(issued))
        if result.already_billed:
            text.append(
                "\n"
                + i18n.gettext("{count} already billed before").format(
                    count=len(result.already_billed)
                )
            )
        for item in result.refused:
            client = result.clients.get(item.client_id, "?")
            reference = result.references.get(item.contract_id, "")
            text.append(
                "\n"
                + i18n.gettext("Refused: {who}: {reason}").format(
                    who=f"{client} {reference}".strip(), reason=item.reason or ""
                ),
                style="red",
            )
        for number, reason in result.debit_problems.items():
            text.append(
                "\n"
                + i18n.gettext("No direct debit for {number}: {reason}").format(
                    number=number, reason=reason
                ),
                style="red",
            )
        if result.document_problem:
            text.append(
                "\n"
                + i18n.gettext("Documents not written: {reason}").format(
                    reason=result.document_problem
                ),
                style="red",
            )
        return text


class ConfirmIssue(ModalScreen[bool]):
    """Issue the month? Says how many invoices and their total; enter or y issues."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,y", "answer(True)", N_("Issue"), id="billing.confirm"),
        Binding("escape,n", "answer(False)", N_("Cancel"), id="billing.cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(id="billing-confirm")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="billing-confirm-box"):
            yield Static(self.question, id="billing-question", markup=False)
            yield Static(
                i18n.gettext("Invoice numbers are given for good. ⏎ or y issues · escape cancels"),
                markup=False,
            )

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def column_labels(columns: tuple[str, ...]) -> list[str]:
    return [i18n.gettext(column) for column in columns]


def column_widths(columns: tuple[str, ...], rows: list[tuple[Text, ...]]) -> list[int | None]:
    """Each column as wide as its label and its widest cell (a length, not Rich's measure:
    2,000 rows are sized in a few milliseconds)."""
    widths: list[int | None] = [cell_len(label) for label in column_labels(columns)]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index] or 0, cell.cell_len)
    return widths


def _numbers(numbers: list[str]) -> str:
    """The numbers given, the first and last when there are many."""
    if len(numbers) <= 6:
        return ", ".join(numbers)
    return f"{numbers[0]} … {numbers[-1]}"


def _plain(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def _month_name(month: date) -> str:
    return format_date(month, "LLLL y", locale=i18n.locale())


def _untrusted(value: str, width: int = 40) -> Text:
    """Names typed by people: shown literally, on one line."""
    return as_text(first_line(value, width))
