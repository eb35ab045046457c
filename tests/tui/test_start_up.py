"""Start-up work the dashboard leaves out: the stylesheet parsed once, the collector held.

Both were measured in docs/benchmarks.md (dashboard round 11); here, that
what is left out does not change what the screen shows or how it behaves.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from textual.color import Color
from textual.css.stylesheet import Stylesheet

from core.config.settings import Settings
from pmdesk.start import hold_collector
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.display.themes import THEMES


def background(name: str) -> Color:
    [theme] = [theme for theme in THEMES if theme.name == name]
    return Color.parse(theme.background or "")


@pytest.fixture
def reparses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the app's stylesheet is parsed again from scratch."""
    seen: list[int] = []
    reparse = Stylesheet.reparse

    def counted(stylesheet: Stylesheet) -> None:
        seen.append(1)
        reparse(stylesheet)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    return seen


async def test_the_stylesheet_is_parsed_with_the_theme_once_and_again_on_a_theme_change(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, reparses: list[int]
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        # Parsed once, with the dashboard's theme: its colours, no second parse.
        assert reparses == []
        assert pilot.app.theme == "pmdesk-dark"
        assert screen.styles.background == background("pmdesk-dark")
        await pilot.press("t")
        await pilot.pause()
        # A theme changed once running: parsed again and applied.
        assert reparses == [1]
        assert screen.styles.background == background("pmdesk-light")


@pytest.fixture
def collector() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


async def test_the_collector_held_at_start_runs_again_once_the_first_data_are_shown(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, collector: None
) -> None:
    hold_collector()
    assert not gc.isenabled()
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await until(pilot, gc.isenabled)
    assert gc.isenabled()
