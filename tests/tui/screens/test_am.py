"""The manager's Account management page, through Textual's pilot on a real database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline, Static

import tui
from core.base import i18n
from core.config.settings import TimeConfig
from core.conversations.people import add_staff
from core.store.connect import reader_for
from core.time import sums
from core.time.sync import apply_window
from tests.core.time.test_report import ANNA, CONFIG, MONTH, PROJECTS, SAM
from tests.support import MovableClock
from tui.screens.am import AmScreen, ShareBar, shifted
from tui.screens.manager import ManagerScreen

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # a Saturday in December
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"


class AmApp(App[None]):
    """The manager view alone, on the dashboard's stylesheet, with the time rule given."""

    CSS_PATH = STYLESHEET

    def __init__(self, database: str, config: TimeConfig, projects: Mapping[str, str]) -> None:
        super().__init__()
        self.database = database
        self.config = config
        self.projects = projects

    def on_mount(self) -> None:
        self.push_screen(
            ManagerScreen(
                lambda: reader_for(self.database),
                lambda: NOW,
                PARIS,
                time_settings=lambda: (self.config, self.projects),
            )
        )


@pytest.fixture(params=["rows", "sums"])
def database(engine: Engine, clock: MovableClock, request: pytest.FixtureRequest) -> str:
    """Three projects in November (Brioche shop above 10 %), some October, some December."""
    add_staff(engine, "Sam Staff", "assistant", [SAM], clock())
    add_staff(engine, "Anna Designer", "specialist", [ANNA], clock())
    apply_window(engine, MONTH, date(2026, 10, 1), date(2026, 12, 31), clock=clock)
    if request.param == "sums":
        sums.ensure(engine, CONFIG, clock())
    assert engine.url.database
    return engine.url.database


@pytest.fixture
def app(database: str) -> AmApp:
    return AmApp(database, CONFIG, PROJECTS)


async def settled(pilot: Pilot[None]) -> AmScreen:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, AmScreen)
    return screen


async def opened(pilot: Pilot[None]) -> AmScreen:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    assert isinstance(pilot.app.screen, ManagerScreen)
    await pilot.press("a")
    return await settled(pilot)


def rows(screen: AmScreen) -> list[list[str]]:
    table = screen.query_one("#am-projects", DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def title(screen: AmScreen) -> str:
    return str(screen.query_one("#am-period", Static).content)


async def test_the_manager_key_opens_the_page_on_this_month(app: AmApp) -> None:
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        assert screen.month == date(2026, 12, 1)
        assert title(screen).startswith("Account management · December 2026 · all: 0.0 % of 5:00 h")
        assert rows(screen) == [["Acme", "Acme website", "0:00", "5:00", "0.0 %", ""]]


async def test_a_month_sorted_by_share_with_its_bars_and_sparklines(app: AmApp) -> None:
    async with app.run_test(size=(140, 50)) as pilot:
        await opened(pilot)
        await pilot.press("left_square_bracket")
        screen = await settled(pilot)

        assert screen.month == date(2026, 11, 1)
        assert "target 10 %" in title(screen)
        assert rows(screen) == [
            ["Brioche shop", "Brioche shop", "2:00", "8:30", "23.5 %", "above target"],
            ["Acme", "Acme website", "1:00", "10:00", "10.0 %", ""],  # at the target: not above
            ["Acme", "Crumb app", "0:20", "10:20", "3.2 %", ""],
            ["(unassigned)", "(unassigned)", "0:00", "0:40", "0.0 %", ""],
        ]
        bars = list(screen.query(ShareBar))
        assert [bar.share for bar in bars] == [120 / 510, 0.1, 20 / 620, 0.0]
        assert [bar.has_class("-above") for bar in bars] == [True, False, False, False]
        assert all(bar.target == 0.1 for bar in bars)
        drawn = bars[0].render().plain
        assert "│" not in drawn and len(drawn) == bars[0].size.width  # filled past the line
        assert "│" in bars[2].render().plain  # the line stands beyond a short bar
        sparks = list(screen.query(Sparkline))
        assert len(sparks) == 4
        # June to November: Brioche shop logged time in November only.
        assert list(sparks[0].data or []) == [0, 0, 0, 0, 0, pytest.approx(120 / 510)]
        # Acme website: October's kick-off call was all account management.
        assert list(sparks[1].data or []) == [0, 0, 0, 0, 1.0, 0.1]
        rule = str(screen.query_one("#am-rule", Static).content)
        assert "tasks tagged AM, Communication" in rule and "all the time of assistant" in rule


async def test_no_month_to_come_and_back_to_the_manager_view(app: AmApp) -> None:
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        await pilot.press("right_square_bracket")
        screen = await settled(pilot)
        assert screen.month == date(2026, 12, 1)
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        screen = await settled(pilot)
        assert screen.month == date(2026, 9, 1)
        assert "no time logged" in title(screen)
        assert rows(screen) == [] and not list(screen.query(ShareBar))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ManagerScreen)


async def test_a_failed_read_is_said_in_place(engine: Engine) -> None:
    assert engine.url.database
    app = AmApp(engine.url.database, CONFIG, PROJECTS)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE timerow")
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        assert "December 2026 · could not read: no such table: timerow" in title(screen)


async def test_the_page_in_french(app: AmApp) -> None:
    i18n.activate("fr_FR")
    try:
        async with app.run_test(size=(140, 50)) as pilot:
            await opened(pilot)
            await pilot.press("left_square_bracket")
            screen = await settled(pilot)
            assert title(screen).startswith("Gestion de compte · novembre 2026")
            assert rows(screen)[0][-1] == "au-dessus de la cible"
            headers = [
                str(c.label) for c in screen.query_one("#am-projects", DataTable).columns.values()
            ]
            assert headers[0] == "Client"
    finally:
        i18n.activate("en")


def test_months_shift_across_years() -> None:
    assert shifted(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert shifted(date(2025, 12, 1), 1) == date(2026, 1, 1)
    assert shifted(date(2026, 11, 1), -5) == date(2026, 6, 1)
