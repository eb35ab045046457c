"""The manager's Billing page, through Textual's pilot on a real database with contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from textual.widgets import Static

from tests.core.billing.support import add_clients, contract, fee, store
from tests.tui.screens.billing_support import (
    DEC,
    BillingApp,
    agency,
    billing_settings,
    desk,
    issued_and_read,
    settled,
    until,
)
from tui.screens.billing import BillingScreen, ConfirmIssue
from tui.widgets.rows import RowList


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> BillingApp:
    agency(engine)
    assert engine.url.database
    return BillingApp(desk(engine, billing_settings(tmp_path / "invoices")), engine.url.database)


def documents(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(text("SELECT number FROM billingdocument ORDER BY number")).scalars()
        )


def rows(screen: BillingScreen, table: str) -> list[list[str]]:
    found = screen.query_one(f"#{table}", RowList)
    return [[cell.plain for cell in found.row(index)] for index in range(found.row_count)]


def said(screen: BillingScreen, id_: str) -> str:
    return str(screen.query_one(f"#{id_}", Static).content)


async def billing(pilot: object) -> BillingScreen:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    await settled(pilot)
    await pilot.press("b")
    screen = await settled(pilot)
    assert isinstance(screen, BillingScreen)
    return screen


async def test_the_preview_shows_each_draft_with_its_amounts(app: BillingApp) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        december = "01.12–31.12.2026"
        assert rows(screen, "billing-drafts") == [
            ["Acme", "C-ACME", december, "to issue", "330.00 EUR", "66.00 EUR", "396.00 EUR"],
            ["Bigco", "C-BIG", december, "to issue", "100.00 EUR", "20.00 EUR", "120.00 EUR"],
            ["Cido", "C-CIDO", december, "to issue", "310.00 EUR", "62.00 EUR", "372.00 EUR"],
        ]
        title = said(screen, "billing-title")
        assert "December 2026" in title and "3 to issue" in title
        assert "740.00 EUR HT, 148.00 EUR TVA, 888.00 EUR TTC" in title
        # Acme's lines, and what changed since November: Backup added.
        detail = said(screen, "billing-detail")
        assert "Hosting · 1 month × 310.00 EUR = 310.00 EUR" in detail
        assert "Backup · 1 month × 20.00 EUR = 20.00 EUR" in detail
        assert "lines added: Backup" in detail
        await pilot.press("down")
        await pilot.pause()
        assert "new, 100.00 EUR" in said(screen, "billing-detail")
        assert rows(screen, "billing-issued") == []


async def test_confirm_issues_once_and_shows_the_numbers(app: BillingApp, engine: Engine) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        await pilot.press("i")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmIssue)
        assert confirm.question == "Issue 3 invoices for December 2026, 888.00 EUR TTC?"
        # A second press while the question is open asks nothing more.
        await pilot.press("i")
        await pilot.pause()
        assert sum(isinstance(item, ConfirmIssue) for item in app.screen_stack) == 1
        await pilot.press("enter")
        # A press while the issue runs does nothing either.
        await pilot.press("i")
        await until(pilot, issued_and_read(screen))
        await settled(pilot)
        assert app.screen is screen
        numbers = ["F2026-00001", "F2026-00002", "F2026-00003"]
        assert documents(engine) == numbers
        result = said(screen, "billing-result")
        assert "3 invoices issued, 888.00 EUR TTC: F2026-00001, F2026-00002, F2026-00003" in result
        assert [row[0] for row in rows(screen, "billing-issued")] == numbers
        assert rows(screen, "billing-issued")[0][3:] == ["396.00 EUR", "396.00 EUR"]
        assert {row[3] for row in rows(screen, "billing-drafts")} == {
            f"billed {number}" for number in numbers
        }
        # Nothing left: `i` says so and issues nothing.
        await pilot.press("i")
        await settled(pilot)
        assert not isinstance(app.screen, ConfirmIssue)
        assert documents(engine) == numbers


async def test_cancel_issues_nothing(app: BillingApp, engine: Engine) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmIssue)
        await pilot.press("escape")
        await settled(pilot)
        assert app.screen is screen and not screen.busy
        assert documents(engine) == []
        # Asked again, then refused with n.
        await pilot.press("i", "n")
        await settled(pilot)
        assert documents(engine) == []


async def test_the_month_moves_with_brackets_up_to_next_month(app: BillingApp) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        await pilot.press("left_square_bracket")
        await settled(pilot)
        assert "November 2026" in said(screen, "billing-title")
        assert [row[1] for row in rows(screen, "billing-drafts")] == ["C-ACME", "C-CIDO"]
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settled(pilot)
        assert "January 2027" in said(screen, "billing-title")
        await pilot.press("right_square_bracket")
        await settled(pilot)
        assert "January 2027" in said(screen, "billing-title")


async def test_a_month_with_nothing_to_bill_says_so(app: BillingApp, engine: Engine) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        await pilot.press("left_square_bracket", "left_square_bracket")
        await settled(pilot)
        assert said(screen, "billing-title") == (
            "October 2026: nothing to bill, no contract bills this month"
        )
        assert rows(screen, "billing-drafts") == []
        await pilot.press("i")
        await settled(pilot)
        assert not isinstance(app.screen, ConfirmIssue)
        assert documents(engine) == []


async def test_the_audit_shows_what_is_not_billed_until_the_month_is_issued(
    app: BillingApp,
) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        await pilot.press("a")
        await pilot.pause()
        audit = said(screen, "billing-detail")
        assert audit.startswith("Audit of December 2026")
        assert "Active contracts not billed" in audit
        assert "Acme SARL C-ACME · 01.12–31.12.2026 · 330.00 EUR HT" in audit
        assert "Not billed 740.00 EUR, billed without a contract 0.00 EUR." in audit
        await pilot.press("i", "enter")
        await until(pilot, issued_and_read(screen))
        await settled(pilot)
        assert "Nothing to report" in said(screen, "billing-detail")
        # a again: the highlighted draft.
        await pilot.press("a")
        await pilot.pause()
        assert said(screen, "billing-detail").startswith("Acme · C-ACME")


async def test_a_refused_draft_says_why_and_is_not_counted(engine: Engine, tmp_path: Path) -> None:
    agency(engine)
    add_clients(engine, "Dora")
    free = contract("C-DORA", "Dora", start=DEC, legal_name="Dora SAS", lines=(fee("Free", 0),))
    store(engine, free)
    assert engine.url.database
    app = BillingApp(desk(engine, billing_settings(tmp_path)), engine.url.database)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await billing(pilot)
        dora = next(row for row in rows(screen, "billing-drafts") if row[1] == "C-DORA")
        assert dora[3] == "refused"
        title = said(screen, "billing-title")
        assert "3 to issue" in title and "1 refused" in title
        assert "888.00 EUR TTC" in title
        index = [row[1] for row in rows(screen, "billing-drafts")].index("C-DORA")
        screen.query_one("#billing-drafts", RowList).move_cursor(index)
        await pilot.pause()
        assert "Refused: its total is 0.00" in said(screen, "billing-detail")
        await pilot.press("i")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmIssue)
        assert confirm.question.startswith("Issue 3 invoices")
        await pilot.press("enter")
        await until(pilot, issued_and_read(screen))
        await settled(pilot)
        assert documents(engine) == ["F2026-00001", "F2026-00002", "F2026-00003"]
        assert "Refused: Dora C-DORA: its total is 0.00" in said(screen, "billing-result")
