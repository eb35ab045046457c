"""Totals wrap between amounts, never inside one."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.display.format import Formatter
from tui.panels.invoices import InvoicesPanel
from tui.widgets.flow import Flow


def test_a_flow_starts_a_new_line_before_a_piece_that_does_not_fit() -> None:
    money = Formatter("fr_FR").money
    pieces = [Text(f"{b}: {money(Decimal('5980'), 'EUR')}") for b in ("1-30", "31-60", "90+")]

    lines = [line.plain.rstrip() for line in Flow(pieces).lines(30)]

    assert lines == [
        "1-30: 5\u202f980,00\xa0€",
        "31-60: 5\u202f980,00\xa0€",
        "90+: 5\u202f980,00\xa0€",
    ]
    assert [line.plain.rstrip() for line in Flow(pieces).lines(40)] == [
        "1-30: 5\u202f980,00\xa0€   31-60: 5\u202f980,00\xa0€",
        "90+: 5\u202f980,00\xa0€",
    ]
    assert all(line.cell_len <= 30 for line in Flow(pieces).lines(30))


def test_a_flow_renders_its_lines_in_a_console() -> None:
    console = Console(width=24, record=True, color_system=None)
    console.print(Flow([Text("EUR"), Text("90+: 12 345,00 €"), Text("61-90: 1,00 €")]))

    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines == ["EUR   90+: 12 345,00 €", "61-90: 1,00 €"]


async def test_the_overdue_totals_never_break_inside_an_amount(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    french = dashboard_settings.model_copy(update={"locale": "fr_FR"})
    async with make_app(french, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(InvoicesPanel)
        await until(pilot, lambda: bool(panel.invoices))
        totals = panel._totals()
        money = panel.formatter.money

    amounts = [money(Decimal(cents) / 100, "EUR") for cents in (120_000, 50_050, 9_900)]
    assert "1\u202f200,00\xa0€" in amounts
    for width in range(24, 60):
        console = Console(width=width, record=True, color_system=None)
        console.print(totals)
        lines = console.export_text().splitlines()
        assert len(lines) > 1
        for amount in amounts:
            assert any(amount in line for line in lines), (width, amount, lines)
