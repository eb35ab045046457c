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
from tui.app import Dashboard
from tui.display.themes import THEMES
from tui.screens.main import MainScreen
from tui.sources.backend import Backend
from tui.sources.watch import Changes, first_read


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


@pytest.mark.parametrize(("size", "mark"), [((80, 24), "-narrow"), ((120, 40), "-wide")])
async def test_the_main_screen_has_its_width_class_before_its_first_frame(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
    mark: str,
) -> None:
    # Pushed after Textual's start-up batch, the screen is styled and laid out
    # before its first Resize: the class the stylesheet lays it out by comes first.
    seen: list[set[str]] = []
    show_changes = MainScreen.show_changes

    def shown(screen: MainScreen, changes: Changes) -> None:
        seen.append(set(screen.classes))
        show_changes(screen, changes)

    monkeypatch.setattr(MainScreen, "show_changes", shown)
    # As pmdesk starts it: the first read under way before the app, shown on mount.
    backend = Backend(dashboard_settings, clock)
    backend.prefetch(first_read)
    async with Dashboard(dashboard_settings, backend).run_test(size=size) as pilot:
        await main_screen(pilot)
    assert seen and mark in seen[0]
