"""The manager's Contracts page (`e`, engagement letters): every engagement letter, read-only.

Each contract with its client, reference, dates, billing frequency and
timing, payment method and fixed amount a month excluding VAT (usage not
counted, as `pmdesk contracts list`); below, the highlighted contract's
versions, each from the day it takes effect, with its lines. Read in a
worker thread (core.billing.contracts `load_contracts`). Contracts are
added and changed with `pmdesk contracts`, never here: the page's help line
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from core.base import i18n
from core.base.i18n import N_
from tui.display.text import as_text, first_line
from tui.screens.billing import column_labels, column_widths
from tui.widgets.keybar import KeyBar
from tui.widgets.rows import RowList

if TYPE_CHECKING:
    from core.billing.contracts import StoredContract, Terms
    from tui.screens.billing import BillingDesk

NOTHING = "–"
COLUMNS = (
    N_("Client"),
    N_("Reference"),
    N_("Start"),
    N_("End"),
    N_("Billing"),
    N_("Payment"),
    N_("A month HT"),
)
FREQUENCIES = {"monthly": N_("monthly"), "quarterly": N_("quarterly"), "yearly": N_("yearly")}
TIMINGS = {"advance": N_("in advance"), "arrears": N_("in arrears")}
METHODS = {"transfer": N_("transfer"), "sepa_debit": N_("direct debit")}
HELP_LINE = N_(
    "Read-only: contracts are added and changed with pmdesk contracts add | edit | end | import."
)


@dataclass(frozen=True)
class ContractRow:
    """A contract and its fixed amount a month (of its latest terms)."""

    contract: StoredContract
    monthly_cents: int


def read_contracts(desk: BillingDesk) -> tuple[list[ContractRow], str]:
    """Every contract by client then reference, and the currency."""
    from core.billing.contracts import fixed_cents_a_month, load_contracts

    with desk.engine().connect() as connection:
        found = load_contracts(connection)
    rows = [
        ContractRow(item, fixed_cents_a_month(item.latest))
        for item in sorted(found, key=lambda item: (item.client.casefold(), item.reference))
    ]
    return rows, desk.settings().billing.currency


class ContractsScreen(Screen[None]):
    """Every contract; the highlighted one's versions and lines. Read-only."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", N_("Refresh"), id="contracts.refresh", tooltip=N_("Read again")),
        Binding("escape", "back", N_("Back"), id="contracts.back", tooltip=N_("Go back")),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[ContractRow], currency: str) -> None:
            super().__init__()
            self.rows = rows
            self.currency = currency

    class LoadFailed(Message):
        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, desk: BillingDesk) -> None:
        super().__init__(id="contracts")
        self.desk = desk
        self.rows: list[ContractRow] = []
        self.currency = "EUR"

    def compose(self) -> ComposeResult:
        with Vertical(id="contracts-body"):
            yield Static(i18n.gettext("Loading…"), id="contracts-title", markup=False)
            yield RowList(column_widths(COLUMNS, []), column_labels(COLUMNS), id="contracts-table")
            with VerticalScroll(id="contracts-detail-box"):
                yield Static("", id="contracts-detail", markup=False)
            yield Static(i18n.gettext(HELP_LINE), id="contracts-help", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_reload()

    def _table(self) -> RowList:
        return self.query_one("#contracts-table", RowList)

    @property
    def selected(self) -> StoredContract | None:
        if not self.rows:
            return None
        return self.rows[min(self._table().cursor_row, len(self.rows) - 1)].contract

    def action_reload(self) -> None:
        self._load()

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(thread=True, exclusive=True, group="contracts-load")
    def _load(self) -> None:
        try:
            rows, currency = read_contracts(self.desk)
        except Exception as error:  # any driver's error: said, the page stays usable
            self.post_message(self.LoadFailed(str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(rows, currency))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.query_one("#contracts-title", Static).update(
            i18n.gettext("Contracts · could not read: {reason}").format(reason=message.reason)
        )

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.rows, self.currency = message.rows, message.currency
        today = self.desk.clock().astimezone(self.desk.tz).date()
        running = sum(1 for row in message.rows if row.contract.runs_on(today))
        title = (
            i18n.gettext("Contracts · {count} · {running} running today").format(
                count=len(message.rows), running=running
            )
            if message.rows
            else i18n.gettext("No contracts yet: pmdesk contracts add or import loads them.")
        )
        self.query_one("#contracts-title", Static).update(title)
        table = self._table()
        rows = [self._row(item) for item in message.rows]
        table.widths = column_widths(COLUMNS, rows)
        table.set_rows(rows, cursor=max(0, table.cursor_row))
        self._show_selected()

    def _row(self, item: ContractRow) -> tuple[Text, ...]:
        contract, terms = item.contract, item.contract.latest
        return (
            _untrusted(contract.client, 30),
            _untrusted(contract.reference, 20),
            Text(contract.start_on.isoformat()),
            Text(contract.end_on.isoformat() if contract.end_on else NOTHING),
            Text(_billing(terms)),
            Text(i18n.gettext(METHODS.get(terms.payment_method.value, terms.payment_method.value))),
            Text(self.desk.money(item.monthly_cents, self.currency), justify="right"),
        )

    @on(RowList.Highlighted, "#contracts-table")
    def _highlighted(self, _event: RowList.Highlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        contract = self.selected
        detail = self.query_one("#contracts-detail", Static)
        detail.update(Text() if contract is None else self._detail(contract))

    def _detail(self, contract: StoredContract) -> Text:
        from core.billing.contracts import LineKind, tiers_text

        money = self.desk.money
        text = Text()
        end = contract.end_on.isoformat() if contract.end_on else NOTHING
        text.append(
            f"{contract.reference} · {contract.client} · {contract.start_on.isoformat()} → {end}\n",
            style="bold",
        )
        for version in contract.versions:
            terms = version.terms
            since = i18n.gettext("From {day}").format(day=version.effective_from.isoformat())
            payment = i18n.gettext(
                METHODS.get(terms.payment_method.value, terms.payment_method.value)
            )
            if terms.mandate is not None:
                payment += f" ({terms.mandate.reference})"
            text.append(f"\n{since}: ", style="bold")
            text.append(
                i18n.gettext(
                    "{name}; {billing}; {days} days; {payment}; TVA {rate} %; {language} {email}"
                ).format(
                    name=terms.legal_name,
                    billing=_billing(terms),
                    days=terms.payment_terms_days,
                    payment=payment,
                    rate=f"{terms.vat_rate.normalize():f}",
                    language=terms.language,
                    email=terms.billing_email,
                )
                + "\n"
            )
            for line in terms.lines:
                if line.kind == LineKind.USAGE:
                    price = (
                        tiers_text(line.tiers)
                        if line.tiers
                        else money(line.unit_price_cents or 0, self.currency)
                    )
                    source = line.source.value if line.source else ""
                    text.append(
                        "  "
                        + i18n.gettext(
                            "{description}: {price} per {unit}, {included} included ({source})"
                        ).format(
                            description=line.description,
                            price=price,
                            unit=line.unit,
                            included=f"{line.included.normalize():f}",
                            source=source,
                        )
                        + "\n"
                    )
                else:
                    per = i18n.gettext("a year") if line.per == "year" else i18n.gettext("a month")
                    text.append(
                        f"  {line.description}: "
                        f"{money(line.amount_cents or 0, self.currency)} {per}\n"
                    )
        return text


def _billing(terms: Terms) -> str:
    frequency = i18n.gettext(FREQUENCIES.get(terms.frequency.value, terms.frequency.value))
    timing = i18n.gettext(TIMINGS.get(terms.timing.value, terms.timing.value))
    return f"{frequency}, {timing}"


def _untrusted(value: str, width: int = 40) -> Text:
    """Names typed by people: shown literally, on one line."""
    return as_text(first_line(value, width))
