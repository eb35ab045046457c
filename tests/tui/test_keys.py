"""Keys a newcomer finds without the manual: help, the palette, and the usual list keys."""

from __future__ import annotations

from sqlalchemy import Engine

from core.config import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.app import Dashboard
from tui.feed import IncomingPanel
from tui.help import HelpScreen


async def test_help_names_keys_as_the_keyboard_does(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = [str(cell) for cell in help_screen.table.columns[1].cells]
        assert not any("question_mark" in key for key in keys)
        assert keys[0] == "?"
        assert "^s" in keys  # ctrl+s, as the key bar writes it
        assert "↓, j" in keys and "end, G" in keys


async def test_the_palette_offers_theme_and_quit_once_as_sentences_with_their_keys(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        app = pilot.app
        assert isinstance(app, Dashboard)
        actions = app.palette_actions(screen)
        names = [name for name, _run, _help in actions]
        assert names.count("Switch between the dark and light themes") == 1
        assert names.count("Quit pmdesk") == 1
        assert all("." not in help_text or " " in help_text for *_rest, help_text in actions)
        helps = {name: help_text for name, _run, help_text in actions}
        assert helps["Quit pmdesk"] == "key q"
        assert not any(provider.__name__ == "SystemCommandsProvider" for provider in app.COMMANDS)


async def test_j_k_g_and_shift_g_move_the_feed_cursor(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one(IncomingPanel).table
        table.focus()
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
