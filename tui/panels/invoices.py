"""The Overdue invoices panel: what clients owe past due, aged, with the next step.

On the focused panel, `p` records a promise to pay, `d` a dispute and `s`
that today's reminder to the invoice's client went out. The panel asks the
app (an InvoiceAction message), which has the core write it (and audit it)
in a worker, as the dashboard's operator, then shows the overdue list read
again in the same worker.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date
from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from core.base.i18n import N_, gettext, ngettext
from core.receivables.aging import ALL_LEVELS_DONE, BUCKETS, Overdue, OverdueInvoice
from tui.display.format import Formatter
from tui.display.text import as_text
from tui.messages import InvoiceAction
from tui.sources.watch import INVOICES_LISTED
from tui.widgets.flow import Flow
from tui.widgets.rows import GAP, RowList

if TYPE_CHECKING:
    from tui.sources.backend import Backend

COLUMNS = (
    N_("number"), N_("client"), N_("balance"), N_("days"), N_("bucket"), N_("level"),
    N_("next step"),
)  # fmt: skip
# A panel narrower than this (the wide layout at 120 to about 170 columns)
# leaves out the bucket (the totals line sums them) and the level (the next
# step names the level to come), and cuts client names shorter, so that the
# next step and its day stay in view.
FULL_FROM = 110
COMPACT_COLUMNS = ("number", "client", "balance", "days", "next step")
# A client's name takes at most this many cells; in the compact columns, only
# what the other columns leave, and at least CLIENT_MIN.
CLIENT_CELLS = 24
CLIENT_MIN = 10
# The room kept for the next step when sharing out the width: a day and a
# level's name ("15 Dec · suspension flag"), or "disputed: reminders paused";
# a longer step (after a promise) is cut at the right rather than squeezing
# every client's name.
STEP_CELLS = 26
# What the table takes besides its cells: the gap after each column but the
# last, the space before the first, and the vertical scroll bar.
CELL_PADDING = len(GAP)
SCROLLBAR = 2
# The client's reminder of the day, marked after the level (the column keeps its
# width: the next step needs the room) and counted in the panel's corner; in
# the compact columns, before the next step.
REMINDER_MARKS = {"draft": " •", "sent": " ✓"}
EMPTY = N_("No overdue invoice. Invoices arrive with pmdesk invoices import.")
# Rows built for the table, the most overdue first: the panel shows about ten,
# and a row per invoice of a large ledger cost most of the start-up.
SHOWN = INVOICES_LISTED
# The day a promise is asked for by default: a week ahead.
PROMISE_DAYS = 7


class InvoicesPanel(Vertical):
    BINDINGS = [
        Binding(
            "p",
            "promise",
            "Promise to pay",
            id="invoices.promise",
            tooltip=N_("Record a promise to pay the invoice"),
        ),
        Binding(
            "d",
            "dispute",
            "Dispute",
            id="invoices.dispute",
            tooltip=N_("Record a dispute on the invoice"),
        ),
        Binding(
            "s",
            "sent",
            "Reminder sent",
            id="invoices.sent",
            tooltip=N_("Mark today's reminder of the invoice sent"),
        ),
        Binding(
            "e",
            "email",
            "Email reminder",
            id="invoices.email",
            tooltip=N_("Send today's reminder of the invoice by email"),
        ),
    ]

    def __init__(self, backend: Backend, formatter: Formatter, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # Read only: its settings and clock give today's date for a promise.
        self.backend = backend
        self.formatter = formatter
        # The most overdue (SHOWN at most) and the count and totals of all.
        self.overdue = Overdue([], 0, {}, 0)
        self.compact = False
        # Whether the first read was shown (till then the columns stand empty).
        self._shown = False

    @property
    def columns(self) -> tuple[str, ...]:
        return COMPACT_COLUMNS if self.compact else COLUMNS

    def compose(self) -> ComposeResult:
        # Drawn by line, the rows on screen only: Textual's DataTable measured and
        # styled every cell of the hundred rows, and was a tenth of the start-up's
        # work after the imports (docs/benchmarks.md, dashboard round 11).
        labels = [gettext(name) for name in self.columns]
        yield RowList(self._widths([]), labels, id="invoice-table")
        yield Static(gettext(EMPTY), id="invoice-empty", classes="empty")
        yield Static("", id="invoice-totals")

    def on_mount(self) -> None:
        # Its columns, empty, until the first read: saying "no overdue invoice" before
        # then would be wrong, and marking the panel empty only to unmark it with the
        # first data styled the panel and its table twice more before the first frame.
        self.border_title = gettext("Overdue invoices")

    def on_resize(self) -> None:
        if not self.content_size.width:  # hidden under a thread: nothing to lay out
            return
        compact = self.content_size.width < FULL_FROM
        if compact == self.compact:
            return
        self.compact = compact
        if self._shown:
            self.show(self.overdue)
        else:  # nothing read yet: the columns' names only
            self.table.labels = [gettext(name) for name in self.columns]
            self.table.widths = self._widths([])
            self.table.refresh()

    @property
    def table(self) -> RowList:
        return self.query_one("#invoice-table", RowList)

    @property
    def invoices(self) -> list[OverdueInvoice]:
        return self.overdue.invoices

    def show(self, overdue: Overdue) -> None:
        table = self.table
        self._shown = True
        # The cursor stays on its invoice when the list is read again.
        current = self.selected
        self.overdue = overdue
        invoices = overdue.invoices
        columns = self.columns
        rows = [self._cells(invoice) for invoice in invoices[:SHOWN]]
        client_cells = self._client_cells(rows)
        for cells in rows:
            cells["client"].truncate(client_cells, overflow="ellipsis")
        index = 0
        if current is not None:
            listed = invoices[:SHOWN]
            found = next((i for i, inv in enumerate(listed) if inv.id == current.id), None)
            index = found or 0
        table.widths = self._widths(rows)
        table.labels = [gettext(name) for name in columns]
        table.set_rows([tuple(cells[name] for name in columns) for cells in rows], cursor=index)
        # A class, not inline display: the stylesheet decides what a small
        # terminal shows (the totals only).
        self.set_class(not invoices, "-empty")
        self.query_one("#invoice-totals", Static).update(self._totals())
        shown = (
            gettext(" ({count} most overdue shown)").format(count=SHOWN)
            if overdue.counted > SHOWN
            else ""
        )
        waiting = overdue.drafts
        to_send = (
            ngettext(" · • {count} reminder to send", " · • {count} reminders to send", waiting)
            if waiting
            else ""
        ).format(count=waiting)
        counted = gettext("{count} overdue").format(count=f"{overdue.counted:,}")
        self.border_subtitle = f"{counted}{shown}{to_send}" if invoices else ""

    def _widths(self, rows: list[dict[str, Text]]) -> list[int | None]:
        """Each column as wide as its name and its widest cell; the last takes the rest."""
        columns = self.columns
        widths: list[int | None] = [
            max([cell_len(gettext(name))] + [row[name].cell_len for row in rows])
            for name in columns[:-1]
        ]
        return [*widths, None]

    def _client_cells(self, rows: list[dict[str, Text]]) -> int:
        """How wide the client column may be: in the compact columns, what the rest leaves."""
        if not self.compact:
            return CLIENT_CELLS
        others = [name for name in self.columns if name != "client"]
        taken = sum(
            min(max((row[name].cell_len for row in rows), default=0), STEP_CELLS)
            if name == "next step"
            else max((row[name].cell_len for row in rows), default=0)
            for name in others
        )
        padding = CELL_PADDING * len(self.columns) + SCROLLBAR
        room = self.content_size.width - taken - padding
        return max(CLIENT_MIN, min(CLIENT_CELLS, room))

    def select_number(self, number: str) -> bool:
        """Put the cursor on an invoice (from the command palette); False if not shown."""
        shown = self.invoices[:SHOWN]
        index = next((i for i, inv in enumerate(shown) if inv.number == number), None)
        if index is None:
            return False
        table = self.table
        table.move_cursor(index)
        table.focus()
        return True

    def _cells(self, invoice: OverdueInvoice) -> dict[str, Text]:
        style = "bold" if invoice.bucket in ("61-90", "90+") else ""
        step = self._next_step(invoice)
        mark = REMINDER_MARKS.get(invoice.reminder_today or "", "")
        if self.compact and mark:
            step = f"{mark.strip()} {step}"
        return {
            "number": as_text(invoice.number, style),
            "client": as_text(invoice.client, style),
            "balance": Text(
                self.formatter.money(invoice.balance, invoice.currency),
                style=style,
                justify="right",
            ),
            "days": Text(str(invoice.days_past_due), justify="right"),
            "bucket": Text(invoice.bucket),
            "level": self._level(invoice),
            "next step": as_text(step),
        }

    def _level(self, invoice: OverdueInvoice) -> Text:
        level = str(invoice.dunning_level) if invoice.dunning_level else "—"
        mark = REMINDER_MARKS.get(invoice.reminder_today or "", "")
        return Text(level + mark, style="bold" if mark == " •" else "", justify="right")

    def _totals(self) -> Text | Flow:
        if not self.invoices:
            return Text(gettext("Nothing overdue."), style="dim")
        pieces = []
        for currency, buckets in sorted(self.overdue.totals.items()):
            for index, bucket in enumerate(BUCKETS[1:]):  # nothing overdue is "current"
                # One piece per total: a line may end between two, never inside an amount.
                piece = Text()
                if index == 0:
                    piece.append(f"{currency}  ", style="bold")
                piece.append(f"{bucket}: ", style="dim")
                piece.append(self.formatter.money(buckets[bucket], currency))
                pieces.append(piece)
        return Flow(pieces)

    def _next_step(self, invoice: OverdueInvoice) -> str:
        """The day and the next level ("2 Dec · firm reminder"), after what holds it.

        The day comes first: when a narrow panel cuts the words, the day stays.
        """
        if invoice.state == "disputed":
            return gettext("disputed: reminders paused")
        step = self._step(invoice)
        if invoice.promised_on is not None:
            promised = gettext("promised {day}").format(day=self._day(invoice.promised_on))
            return f"{promised} → {step}" if step != "—" else promised
        return step

    def _step(self, invoice: OverdueInvoice) -> str:
        step, when = invoice.next_step, invoice.next_step_on
        if not step:
            return "—"
        if step == ALL_LEVELS_DONE:
            return gettext(ALL_LEVELS_DONE)
        if when is not None:
            # The stored words say "<level> on <ISO day> (<balance> due)": the
            # panel keeps the level and writes the day the local, short way.
            level, found, _rest = step.partition(f" on {when.isoformat()}")
            if found:
                return f"{self._day(when)} · {level}"
        return step

    def _day(self, day: date) -> str:
        return format_date(day, "d MMM", locale=self.formatter.locale)

    # -- actions on the invoice under the cursor -----------------------------------

    @property
    def selected(self) -> OverdueInvoice | None:
        if not self.invoices:
            return None
        row = self.table.cursor_row
        shown = self.invoices[:SHOWN]
        return shown[row] if 0 <= row < len(shown) else None

    def action_promise(self) -> None:
        invoice = self.selected
        if invoice is None:
            return
        from tui.widgets.ask import AskDay

        today = self._today()
        self.app.push_screen(
            AskDay(
                gettext("{number} · {client}: promised to pay by").format(
                    number=invoice.number, client=invoice.client
                ),
                today + timedelta(days=PROMISE_DAYS),
                today,
            ),
            lambda day: self._promised(invoice, day),
        )

    def _promised(self, invoice: OverdueInvoice, day: date | None) -> None:
        if day is not None:
            self.post_message(InvoiceAction(invoice, "promise", day=day))

    def action_dispute(self) -> None:
        invoice = self.selected
        if invoice is None:
            return
        from tui.widgets.ask import AskText

        self.app.push_screen(
            AskText(
                gettext("{number} · {client}: disputed").format(
                    number=invoice.number, client=invoice.client
                ),
                gettext("reason (optional)"),
            ),
            lambda reason: self._disputed(invoice, reason),
        )

    def _disputed(self, invoice: OverdueInvoice, reason: str | None) -> None:
        if reason is not None:
            self.post_message(InvoiceAction(invoice, "dispute", reason=reason))

    def action_sent(self) -> None:
        invoice = self.selected
        if invoice is not None:
            self.post_message(InvoiceAction(invoice, "sent"))

    def action_email(self) -> None:
        invoice = self.selected
        if invoice is not None:
            self.post_message(InvoiceAction(invoice, "email"))

    def _today(self) -> date:
        """Today on the reminders' calendar, as core.receivables.dunning.local_today has it.

        Worked out here rather than imported: the dunning module brings
        SQLAlchemy, which the UI thread never loads.
        """
        settings = self.backend.settings
        zone = ZoneInfo(settings.dunning_timezone)
        return self.backend.clock().astimezone(zone).date()
