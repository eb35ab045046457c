"""Every text and background pair the dashboard draws reaches 4.5:1 (WCAG AA), in both themes.

The ratios are computed from the cells on screen, as a truecolor terminal
and as a 256-colour terminal show them (tests/tui/contrast.py): the themes'
colours, the styles of the stylesheet and the styles the code gives rows
and clocks all end up there. Borders and scrollbars, which are not text,
need 3:1 (WCAG's contrast for the parts of a control).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import Engine
from textual.pilot import Pilot

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.contrast import too_faint
from tests.tui.panels.test_invoices import review_opened, review_queue_of
from tests.tui.test_dashboard import main_screen, make_app, open_thread, until
from tui.display.themes import DARK, LIGHT
from tui.panels.clocks import ClocksPanel
from tui.screens.manager import ManagerScreen

THEMES = [DARK, LIGHT]
Visit = Callable[[Pilot[None]], Awaitable[None]]


async def feed(pilot: Pilot[None]) -> None:
    await main_screen(pilot)


async def clocks_on_a_breach(pilot: Pilot[None]) -> None:
    screen = await main_screen(pilot)
    await pilot.press("2")  # the clocks, the cursor on the breached one
    assert screen.query_one(ClocksPanel).has_focus


async def thread(pilot: Pilot[None]) -> None:
    await open_thread(pilot, "Task T3")
    await pilot.press("r")


async def manager(pilot: Pilot[None]) -> None:
    await main_screen(pilot)
    await pilot.press("m")
    await until(pilot, lambda: isinstance(pilot.app.screen, ManagerScreen))
    await until(
        pilot, lambda: "read at" in str(pilot.app.screen.query_one("#manager-period").render())
    )


async def review(pilot: Pilot[None]) -> None:
    await review_opened(pilot)


async def help_screen(pilot: Pilot[None]) -> None:
    await main_screen(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.3)


async def log_view(pilot: Pilot[None]) -> None:
    import logging

    await main_screen(pilot)
    logging.getLogger("pmdesk.services").error("the HTTP intake cannot listen (in use)")
    await pilot.press("l")
    await pilot.pause(1.2)


VISITS = {
    "feed": feed,
    "clocks": clocks_on_a_breach,
    "thread": thread,
    "manager": manager,
    "review": review,
    "help": help_screen,
    "log": log_view,
}


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("where", list(VISITS))
async def test_every_pair_drawn_reaches_the_wcag_ratio(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    theme: str,
    where: str,
) -> None:
    if where == "review":
        review_queue_of(agency, dashboard_settings, clock)
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        app.theme = theme
        await VISITS[where](pilot)
        await pilot.pause(0.2)
        found = {
            colours: [
                f"{pair.text[:24]!r} {pair.ratio:.2f}:1 fg {pair.foreground.hex} "
                f"bg {pair.background.hex} at {pair.where}"
                for pair in too_faint(app, eight_bit=colours == "256")
            ]
            for colours in ("truecolor", "256")
        }
        assert found == {"truecolor": [], "256": []}
