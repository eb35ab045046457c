"""The review screen's invoice picker: any open invoice, for a line with or without candidates.

A real SQLite database and the real matcher; what a pick wrote is read back
from the database (the line's state, who decided, the invoice's paid amount).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine
from textual.pilot import Pilot
from textual.widgets import Label, OptionList

from core.config.settings import Settings
from core.receivables.aging import OpenBalance
from core.receivables.matching.matcher import match_new_lines
from tests.core.receivables.matching.test_matching import line
from tests.support import MovableClock
from tests.tui.panels.test_invoices import (
    TODAY,
    add_client,
    add_invoice,
    line_state,
    paid,
    review_opened,
    review_queue_of,
    toasted,
)
from tests.tui.test_dashboard import main_screen, make_app, rows, until
from tui.display.format import Formatter
from tui.screens.help import HelpScreen
from tui.screens.review import ReviewScreen, picker_lines
from tui.widgets.pickers import InvoicePicker


def listed(picker: InvoicePicker) -> list[str]:
    options = picker.query_one(OptionList)
    return [str(options.get_option_at_index(i).id) for i in range(options.option_count)]


async def picker_opened(pilot: Pilot[None], key: str = "i") -> InvoicePicker:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, InvoicePicker))
    picker = pilot.app.screen
    assert isinstance(picker, InvoicePicker)
    return picker


def matched_by(engine: Engine, line_id: int) -> tuple[str, str]:
    found = rows(
        engine, f"SELECT match_state, matched_by FROM banktransaction WHERE id = {line_id}"
    )
    return str(found[0][0]), str(found[0][1])


async def test_a_credit_with_no_candidate_is_applied_to_an_invoice_picked_by_typing(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    lonely = line(agency, clock(), 4321, "cadeau", "Someone Else")
    assert match_new_lines(agency, dashboard_settings.banks, clock()).unmatched == 1
    f102 = int(rows(agency, "SELECT id FROM invoice WHERE number = 'F-102'")[0][0])

    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        # Enter on a line with no candidate offers the picker, as i does.
        picker = await picker_opened(pilot, "enter")
        assert listed(picker) == ["F-103", "F-102", "F-101"]  # oldest due first
        await pilot.press(*"delta 500")  # the client, and the balance 500,50 as digits
        await until(pilot, lambda: listed(picker) == ["F-102"])
        await pilot.press("enter")

        await until(pilot, lambda: line_state(agency, lonely) == "matched")
        assert matched_by(agency, lonely) == ("matched", "Ana Assistant")
        assert paid(agency, f102) == 4321
        await until(pilot, lambda: not screen.lines)

        # Undone like any decision made here: the invoice owes again, the line is back.
        await pilot.press("u")
        await until(pilot, lambda: paid(agency, f102) == 0)
        await until(pilot, lambda: [line.id for line in screen.lines] == [lonely])
        assert line_state(agency, lonely) == "unmatched"


async def test_a_line_with_candidates_can_go_to_another_invoice_than_they_name(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        assert screen.selected_line is not None and screen.selected_line.candidates
        picker = await picker_opened(pilot)
        await pilot.press(*"F-101")
        await until(pilot, lambda: listed(picker) == ["F-101"])
        await pilot.press("enter")

        await until(pilot, lambda: line_state(agency, ids["first"]) == "matched")
        f101 = int(rows(agency, "SELECT id FROM invoice WHERE number = 'F-101'")[0][0])
        assert paid(agency, f101) > 0
        assert paid(agency, ids["X-1"]) == 0  # the candidate was left alone


async def test_escape_closes_the_picker_and_nothing_is_decided(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    lonely = line(agency, clock(), 4321, "cadeau", "Someone Else")
    match_new_lines(agency, dashboard_settings.banks, clock())
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await review_opened(pilot)
        picker = await picker_opened(pilot)
        await pilot.press(*"nobody by that name")
        await until(pilot, lambda: listed(picker) == [])
        await pilot.press("enter")  # nothing highlighted: nothing picked
        assert pilot.app.screen is picker
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
        assert line_state(agency, lonely) == "unmatched"


async def test_only_invoices_in_the_lines_currency_are_offered_and_none_says_so(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    now = clock()
    dollars = add_invoice(agency, "US-1", add_client(agency, "Yankee", now), 9000, TODAY, now)
    with agency.begin() as connection:
        connection.exec_driver_sql(f"UPDATE invoice SET currency = 'USD' WHERE id = {dollars}")
    lonely = line(agency, now, 4321, "cadeau", "Someone Else")
    with agency.begin() as connection:
        connection.exec_driver_sql(
            f"UPDATE banktransaction SET currency = 'CHF' WHERE id = {lonely}"
        )
    match_new_lines(agency, dashboard_settings.banks, now)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        await pilot.press("i")
        await until(pilot, lambda: toasted(pilot, "No open invoice in CHF"))
        assert pilot.app.screen is screen
        assert line_state(agency, lonely) == "unmatched"


async def test_help_lists_the_picker_and_its_key(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        groups = dict(pilot.app.screen.groups)  # type: ignore[attr-defined]
        assert [b.id for b in groups["invoice picker"]] == ["invoice.cancel"]
        assert "review.pick_invoice" in [b.id for b in groups["review"]]


async def test_hostile_payer_and_client_names_show_literally_in_the_picker(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    now = clock()
    add_invoice(agency, "H-1", add_client(agency, "[bold]Evil[/bold] Corp", now), 999, TODAY, now)
    line(agency, now, 4321, "cadeau", "[red]Payer[/red]")
    match_new_lines(agency, dashboard_settings.banks, now)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await review_opened(pilot)
        picker = await picker_opened(pilot)
        title = picker.query_one(".modal-title", Label)
        assert "[red]Payer[/red]" in str(title.render())
        options = picker.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("[bold]Evil[/bold] Corp" in prompt for prompt in prompts)
        drawn = "".join(options.render_line(y).text for y in range(options.option_count + 2))
        assert "[bold]Evil[/bold] Corp" in drawn


def test_a_balance_is_found_as_written_plainly_and_never_rounded_up() -> None:
    invoices = [
        OpenBalance(1, "A-1", "Acme", "EUR", Decimal("500.50"), date(2026, 11, 1)),
        OpenBalance(2, "B-1", "Bigco", "EUR", Decimal("99.50"), date(2026, 11, 2)),
    ]
    picker = InvoicePicker("t", picker_lines(invoices, Formatter("fr_FR")))

    def found(typed: str) -> list[str]:
        return [str(option.id) for option in picker.options(typed)]

    assert found("500") == found("500.50") == found("500,50") == ["A-1"]
    assert found("99") == ["B-1"]
    assert found("100") == []  # 99,50 is not "100"
    assert found("bigco 99") == ["B-1"] and found("bigco 500") == []
