"""The manager's Contracts page, through Textual's pilot on a real database with contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from textual.widgets import Static

from tests.tui.screens.billing_support import (
    BillingApp,
    agency,
    billing_settings,
    desk,
    settled,
)
from tui.screens.contracts import ContractsScreen
from tui.widgets.rows import RowList


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> BillingApp:
    agency(engine)
    assert engine.url.database
    return BillingApp(desk(engine, billing_settings(tmp_path)), engine.url.database)


def said(screen: ContractsScreen, id_: str) -> str:
    return str(screen.query_one(f"#{id_}", Static).content)


async def test_every_contract_with_the_highlighted_ones_versions(app: BillingApp) -> None:
    async with app.run_test(size=(140, 45)) as pilot:
        await settled(pilot)
        await pilot.press("e")
        screen = await settled(pilot)
        assert isinstance(screen, ContractsScreen)
        table = screen.query_one("#contracts-table", RowList)
        assert [[cell.plain for cell in table.row(index)] for index in range(3)] == [
            ["Acme", "C-ACME", "2026-11-01", "–", "monthly, in advance", "transfer", "330.00 EUR"],
            ["Bigco", "C-BIG", "2026-12-01", "–", "monthly, in advance", "transfer", "100.00 EUR"],
            ["Cido", "C-CIDO", "2026-11-01", "–", "monthly, in advance", "transfer", "310.00 EUR"],
        ]
        assert said(screen, "contracts-title") == "Contracts · 3 · 3 running today"
        detail = said(screen, "contracts-detail")
        # Acme's two versions: November's one line, December's two.
        assert "From 2026-11-01" in detail and "From 2026-12-01" in detail
        assert detail.count("Hosting: 310.00 EUR a month") == 2
        assert "Backup: 20.00 EUR a month" in detail
        await pilot.press("down")
        await pilot.pause()
        assert "Licence: 100.00 EUR a month" in said(screen, "contracts-detail")
        assert "Read-only" in said(screen, "contracts-help")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ContractsScreen)


async def test_no_contracts_says_how_to_load_them(engine: Engine, tmp_path: Path) -> None:
    assert engine.url.database
    app = BillingApp(desk(engine, billing_settings(tmp_path)), engine.url.database)
    async with app.run_test(size=(140, 45)) as pilot:
        await settled(pilot)
        await pilot.press("e")
        screen = await settled(pilot)
        assert isinstance(screen, ContractsScreen)
        assert said(screen, "contracts-title") == (
            "No contracts yet: pmdesk contracts add or import loads them."
        )
        assert said(screen, "contracts-detail") == ""
