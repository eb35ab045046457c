"""The review screen: bank statement lines the matcher would not apply on its own.

Top: the lines awaiting review (date, amount, payer, bank text), oldest
first. Middle: the ranked candidates of the line under the cursor (invoice
numbers, client, open balance, confidence, reasons). Bottom: the lines
matched most recently, by a rule or a person, for undoing one.

`a` (or enter) applies the line to the highlighted candidate, `i` to an
open invoice picked from a list (typing narrows it by client, number or
amount; enter on a line with no candidate opens it too), `x` rejects
the line (it pays none of our invoices and stays unallocated). `u` undoes
the last decision made here (a match within five seconds of it, as the
toast says: the invoices owe as before and the account it taught is
forgotten); in the bottom table, the decision under its cursor, at any
time: a match is reversed (its invoices owe again), a rejected line is
brought back. Either way the line comes back for review. After each, the
queue is read again and the cursor stays where it was, which brings up the
next line.

Reads and writes run in workers; the candidates of every line come with the
first read, so moving the cursor reads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from core.base.i18n import N_, gettext
from core.receivables.aging import (
    OpenBalance,
    RecentMatch,
    ReviewLine,
    open_balances,
    recent_matches,
    review_queue,
)
from tui.display.text import as_text, first_line
from tui.undo import UNDO_SECONDS
from tui.widgets.keybar import KeyBar, first_key
from tui.widgets.pickers import InvoicePicker

if TYPE_CHECKING:
    from tui.display.format import Formatter
    from tui.sources.backend import Backend

EMPTY = N_("Nothing to review. Statements arrive with pmdesk payments import.")
NO_CANDIDATE = N_("No candidate for this line: i picks an open invoice, x rejects the line.")
NO_OPEN_INVOICE = N_("No open invoice in {currency} to apply this line to.")
LINE_COLUMNS = (N_("date"), N_("amount"), N_("counterparty"), N_("text"))
CANDIDATE_COLUMNS = (N_("invoices"), N_("client"), N_("balance"), N_("confidence"), N_("reasons"))
RECENT_COLUMNS = (N_("date"), N_("amount"), N_("counterparty"), N_("invoices"), N_("by"))
# Cut in the tables; the whole text is in the database and in pmdesk payments matches.
TEXT_WIDTH = 60
REASONS_WIDTH = 100
RECENT = 20
NOTHING_TO_UNDO = N_(
    "Nothing decided here to undo. In Recent decisions (tab), u undoes the one under the cursor."
)


@dataclass(frozen=True)
class Decision:
    """A decision on a statement line, as undo needs it: which line, and matched or rejected."""

    line_id: int
    state: str  # "matched" or "rejected"
    what: str  # said in the toast: "Match of X-1", "Reject of the line from Acme"
    # When a match was made here: it can be undone for UNDO_SECONDS (None: any time).
    at: datetime | None = None


class ReviewScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "a",
            "accept",
            "Accept",
            id="review.accept",
            tooltip=N_("Apply the line to the highlighted candidate"),
        ),
        Binding(
            "i",
            "pick_invoice",
            "Pick invoice",
            id="review.pick_invoice",
            tooltip=N_("Apply the line to any open invoice, picked from a list"),
        ),
        Binding(
            "x",
            "reject",
            "Reject line",
            id="review.reject",
            tooltip=N_("Reject the line: it pays none of our invoices"),
        ),
        Binding(
            "u",
            "undo",
            "Undo decision",
            id="review.undo",
            tooltip=N_("Undo the last decision, or the one under the cursor"),
        ),
        Binding(
            "tab",
            "app.focus_next",
            "Next table",
            id="review.next_table",
            tooltip=N_("Go to the next table: lines, candidates, recent decisions"),
        ),
        Binding("escape", "back", "Back", id="review.back", tooltip=N_("Go back")),
    ]

    def __init__(self, backend: Backend, formatter: Formatter) -> None:
        super().__init__()
        self.backend = backend
        self.formatter = formatter
        self.lines: list[ReviewLine] = []
        self.recent: list[RecentMatch] = []
        # Decisions made in this screen, the last one last: what u undoes
        # unless the cursor names another in the bottom table.
        self.decisions: list[Decision] = []
        # Set once the first read has been shown (tests and the empty state wait on it).
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="review-lines-box", classes="panel"):
            lines: DataTable[Text] = DataTable(id="review-lines", cursor_type="row")
            lines.add_columns(*map(gettext, LINE_COLUMNS))
            yield lines
            yield Static(gettext(EMPTY), id="review-empty", classes="empty")
        with Vertical(id="review-candidates-box", classes="panel"):
            candidates: DataTable[Text] = DataTable(id="review-candidates", cursor_type="row")
            candidates.add_columns(*map(gettext, CANDIDATE_COLUMNS))
            yield candidates
        with Vertical(id="review-recent-box", classes="panel"):
            recent: DataTable[Text] = DataTable(id="review-recent", cursor_type="row")
            recent.add_columns(*map(gettext, RECENT_COLUMNS))
            yield recent
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#review-lines-box").border_title = gettext("Statement lines to review")
        self.query_one("#review-candidates-box").border_title = gettext("Candidates")
        self.query_one("#review-recent-box").border_title = gettext("Recent decisions")
        self.query_one("#review-lines", DataTable).focus()
        self.load()

    # -- reading ---------------------------------------------------------------

    @work(thread=True, exclusive=True, group="review-read")
    def load(self) -> None:
        reader = self.backend.reader()
        lines = review_queue(reader)
        recent = recent_matches(reader, RECENT)
        self.app.call_from_thread(self.show, lines, recent)

    def show(self, lines: list[ReviewLine], recent: list[RecentMatch]) -> None:
        if not self.is_attached:  # closed while the worker read
            return
        table = self.query_one("#review-lines", DataTable)
        row = table.cursor_row
        self.lines = lines
        table.clear()
        for line in lines:
            table.add_row(*self._line_cells(line), key=str(line.id))
        if lines:
            table.move_cursor(row=min(max(row, 0), len(lines) - 1), animate=False)
        self.set_class(not lines, "-empty")
        self.query_one("#review-lines-box").border_subtitle = (
            gettext("{count} awaiting review").format(count=f"{len(lines):,}") if lines else ""
        )
        self.show_candidates()
        self.recent = recent
        recent_table = self.query_one("#review-recent", DataTable)
        recent_row = recent_table.cursor_row
        recent_table.clear()
        for match in recent:
            recent_table.add_row(*self._recent_cells(match), key=str(match.id))
        if recent:
            recent_table.move_cursor(row=min(max(recent_row, 0), len(recent) - 1), animate=False)
        self.loaded = True

    def show_candidates(self) -> None:
        table = self.query_one("#review-candidates", DataTable)
        table.clear()
        line = self.selected_line
        if line is None:
            return
        for candidate in line.candidates:
            table.add_row(
                as_text(", ".join(candidate.numbers)),
                as_text(first_line(", ".join(candidate.clients), 40)),
                Text(self.formatter.money(candidate.balance, candidate.currency), justify="right"),
                Text(f"{candidate.confidence:.0%}", justify="right"),
                as_text(first_line("; ".join(candidate.reasons), REASONS_WIDTH)),
            )
        box = self.query_one("#review-candidates-box")
        box.border_subtitle = "" if line.candidates else gettext(NO_CANDIDATE)

    def _line_cells(self, line: ReviewLine) -> tuple[Text, ...]:
        return (
            Text(self.formatter.date(line.booking_date)),
            Text(self.formatter.money(line.amount, line.currency), justify="right"),
            as_text(first_line(line.payer, 40)),
            as_text(first_line(" ".join(line.text.split()), TEXT_WIDTH)),
        )

    def _recent_cells(self, match: RecentMatch) -> tuple[Text, ...]:
        by = "auto" if match.by.startswith("rule:") else match.by
        return (
            Text(self.formatter.date(match.booking_date)),
            Text(self.formatter.money(match.amount, match.currency), justify="right"),
            as_text(first_line(match.payer, 40)),
            as_text(first_line(match.invoices, 40)),
            as_text(first_line(by, 20)),
        )

    @property
    def selected_line(self) -> ReviewLine | None:
        row = self.query_one("#review-lines", DataTable).cursor_row
        return self.lines[row] if 0 <= row < len(self.lines) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "review-lines":
            self.show_candidates()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter on a line or a candidate accepts; on a recent match it does nothing.
        if event.data_table.id in ("review-lines", "review-candidates"):
            event.stop()
            self.action_accept()

    # -- deciding ----------------------------------------------------------------

    def action_accept(self) -> None:
        line = self.selected_line
        if line is None:
            return
        if not line.candidates:
            self.action_pick_invoice()
            return
        row = self.query_one("#review-candidates", DataTable).cursor_row
        candidate = line.candidates[row if 0 <= row < len(line.candidates) else 0]
        self._apply(line, list(candidate.numbers))

    def action_pick_invoice(self) -> None:
        line = self.selected_line
        if line is not None:
            self._offer_invoices(line)

    @work(thread=True, exclusive=True, group="review-pick")
    def _offer_invoices(self, line: ReviewLine) -> None:
        """Read the open invoices in the line's currency, then offer them in a picker."""
        invoices = [
            invoice
            for invoice in open_balances(self.backend.reader())
            if invoice.currency == line.currency
        ]
        self.app.call_from_thread(self._show_picker, line, invoices)

    def _show_picker(self, line: ReviewLine, invoices: list[OpenBalance]) -> None:
        if not self.is_attached:
            return
        if not invoices:
            self.app.notify(gettext(NO_OPEN_INVOICE).format(currency=line.currency), markup=False)
            return
        money = self.formatter.money
        choices = picker_lines(invoices, self.formatter)
        title = gettext("Apply {amount} from {payer} to").format(
            amount=money(line.amount, line.currency),
            payer=first_line(line.payer, 30) or gettext("an unnamed payer"),
        )

        def chosen(number: str | None) -> None:
            if number is not None:
                self._apply(line, [number])

        self.app.push_screen(InvoicePicker(title, choices), chosen)

    def _apply(self, line: ReviewLine, numbers: list[str]) -> None:
        """Apply `line` to the invoices `numbers`, as the operator decided."""
        backend = self.backend
        at = backend.clock()

        def run(actor: str) -> None:
            from core.receivables.matching.decisions import accept

            accept(backend.engine, backend.settings.banks, line.id, numbers, actor, at)

        what = gettext("Match of {invoices}").format(invoices=", ".join(numbers))
        decision = Decision(line.id, "matched", what, at)
        key = self._undo_key()
        self._act(
            gettext("Line applied to {invoices} · {key} undoes it for {seconds} seconds").format(
                invoices=", ".join(numbers), key=key, seconds=UNDO_SECONDS
            ),
            gettext("Not applied"),
            run,
            decision,
            timeout=UNDO_SECONDS,
        )

    def action_reject(self) -> None:
        line = self.selected_line
        if line is None:
            return
        backend = self.backend

        def run(actor: str) -> None:
            from core.receivables.matching.decisions import reject

            reject(backend.engine, line.id, actor, backend.clock())

        decision = Decision(
            line.id,
            "rejected",
            gettext("Reject of the line from {payer}").format(payer=first_line(line.payer, 40)),
        )
        self._act(
            gettext("Line rejected: it stays unallocated"), gettext("Not rejected"), run, decision
        )

    def action_undo(self) -> None:
        """The decision under the bottom cursor when that table has the focus, else the last one."""
        recent = self.query_one("#review-recent", DataTable)
        if recent.has_focus:
            row = recent.cursor_row
            if not 0 <= row < len(self.recent):
                self.app.notify(gettext("No recent decision to undo."), markup=False)
                return
            match = self.recent[row]
            what = (
                gettext("Reject")
                if match.state == "rejected"
                else gettext("Match of {invoices}").format(invoices=match.invoices)
            )
            self._undo(Decision(match.id, match.state, what))
        elif self.decisions:
            last = self.decisions[-1]
            window = timedelta(seconds=UNDO_SECONDS)
            if last.at is not None and self.backend.clock() >= last.at + window:
                self.app.notify(
                    gettext(
                        "{action} can no longer be undone: undo works for {seconds} seconds."
                        " In Recent decisions (tab), u reverses the one under the cursor."
                    ).format(action=last.what, seconds=UNDO_SECONDS),
                    title=gettext("Not undone"),
                    severity="warning",
                    markup=False,
                )
                return
            self._undo(self.decisions.pop())
        else:
            self.app.notify(gettext(NOTHING_TO_UNDO), markup=False)

    def _undo_key(self) -> str:
        return first_key(self.backend.first.dashboard.keys, "review.undo", "u")

    def _undo(self, decision: Decision) -> None:
        backend = self.backend

        def run(actor: str) -> None:
            from core.conversations.actions import UNDO_WINDOW
            from core.receivables.matching.decisions import restore, unallocate, undo_accept

            banks, now = backend.settings.banks, backend.clock()
            if decision.state == "rejected":
                restore(backend.engine, banks, decision.line_id, actor, now)
            elif decision.at is not None:  # just made here: taken back as if never made
                undo_accept(backend.engine, banks, decision.line_id, actor, now, UNDO_WINDOW)
            else:
                unallocate(backend.engine, banks, decision.line_id, actor, now)

        self.decisions = [d for d in self.decisions if d.line_id != decision.line_id]
        self._act(
            gettext("{action} undone: back for review").format(action=decision.what),
            gettext("Not undone"),
            run,
        )

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(thread=True, group="review-actions")
    def _act(
        self,
        done: str,
        refused: str,
        run: Callable[[str], None],
        decision: Decision | None = None,
        timeout: float = 3,
    ) -> None:
        """Decide as the operator, then read the queue again; any failure becomes a toast.

        `decision`: what was decided, kept for u once written.
        """
        try:
            run(self.backend.operator().name)
        except Exception as problem:
            self.app.call_from_thread(
                self.app.notify, str(problem), title=refused, severity="error", markup=False
            )
            return
        if decision is not None:
            self.app.call_from_thread(self.decisions.append, decision)
        self.app.call_from_thread(self.app.notify, done, timeout=timeout, markup=False)
        self.app.call_from_thread(self._reload)

    def _reload(self) -> None:
        if self.is_attached:  # closed while the decision was written: nothing to show
            self.load()


def picker_lines(invoices: list[OpenBalance], formatter: Formatter) -> list[tuple[str, str, str]]:
    """The invoice picker's lines: number, what is shown, and more to search.

    The balance is searched as written plainly too, with a point or a comma
    and in whole units ("500", "500.50", "500,50" find "500,50 €").
    """
    return [
        (
            invoice.number,
            gettext("{number} · {client} · {balance} · due {day}").format(
                number=invoice.number,
                client=first_line(invoice.client, 30),
                balance=formatter.money(invoice.balance, invoice.currency),
                day=formatter.date(invoice.due_on),
            ),
            f"{invoice.balance} {str(invoice.balance).replace('.', ',')} {int(invoice.balance)}",
        )
        for invoice in invoices
    ]
