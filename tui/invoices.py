"""The Overdue invoices panel: what clients owe past due, aged, with the next step."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from core.receivables import BUCKETS, OverdueInvoice, bucket_totals

from .format import Formatter
from .text import as_text

COLUMNS = ("number", "client", "balance", "days", "bucket", "level", "next step")
EMPTY = "No overdue invoice. Invoices arrive with pmdesk invoices import."
# Rows built for the table, the most overdue first: the panel shows about ten,
# and a row per invoice of a large ledger cost most of the start-up.
SHOWN = 100


class InvoicesPanel(Vertical):
    def __init__(self, formatter: Formatter, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.formatter = formatter
        self.invoices: list[OverdueInvoice] = []

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="invoice-table", cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        yield Static(EMPTY, id="invoice-empty", classes="empty")
        yield Static("", id="invoice-totals")

    def on_mount(self) -> None:
        self.border_title = "Overdue invoices"
        self.show([])

    def show(self, invoices: list[OverdueInvoice]) -> None:
        self.invoices = invoices
        table = self.query_one("#invoice-table", DataTable)
        table.clear()
        for invoice in invoices[:SHOWN]:
            table.add_row(*self._cells(invoice), key=str(invoice.id))
        # A class, not inline display: the stylesheet decides what a small
        # terminal shows (the totals only).
        self.set_class(not invoices, "-empty")
        self.query_one("#invoice-totals", Static).update(self._totals())
        shown = f" ({SHOWN} most overdue shown)" if len(invoices) > SHOWN else ""
        self.border_subtitle = f"{len(invoices):,} overdue{shown}" if invoices else ""

    def select_number(self, number: str) -> bool:
        """Put the cursor on an invoice (from the command palette); False if not shown."""
        shown = self.invoices[:SHOWN]
        index = next((i for i, inv in enumerate(shown) if inv.number == number), None)
        if index is None:
            return False
        table = self.query_one("#invoice-table", DataTable)
        table.move_cursor(row=index)
        table.focus()
        return True

    def _cells(self, invoice: OverdueInvoice) -> tuple[Text, ...]:
        style = "bold" if invoice.bucket in ("61-90", "90+") else ""
        return (
            as_text(invoice.number, style),
            as_text(invoice.client, style),
            Text(
                self.formatter.money(invoice.balance, invoice.currency),
                style=style,
                justify="right",
            ),
            Text(str(invoice.days_past_due), justify="right"),
            Text(invoice.bucket),
            Text(str(invoice.dunning_level) if invoice.dunning_level else "—", justify="right"),
            as_text(self._next_step(invoice)),
        )

    def _totals(self) -> Text:
        if not self.invoices:
            return Text("Nothing overdue.", style="dim")
        text = Text()
        for currency, buckets in sorted(bucket_totals(self.invoices).items()):
            text.append(f"{currency}  ", style="bold")
            for bucket in BUCKETS[1:]:  # nothing overdue is "current"
                amount = buckets[bucket]
                text.append(f"{bucket}: ", style="dim")
                text.append(self.formatter.money(amount, currency) + "   ")
        return text

    def _next_step(self, invoice: OverdueInvoice) -> str:
        if invoice.state == "disputed":
            return "disputed: reminders paused"
        if invoice.promised_on is not None:
            return f"promised for {self.formatter.date(invoice.promised_on)}"
        return invoice.next_step or "—"
