"""Keys a newcomer finds without the manual: help, the palette, and the usual list keys."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from textual.binding import Binding
from textual.widgets import Select

from core.config.settings import Settings
from core.conversations.feed import FeedFilter
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, open_thread, until
from tui.app import Dashboard
from tui.panels.feed import IncomingPanel
from tui.screens.help import HelpScreen
from tui.screens.review import ReviewScreen
from tui.widgets.ask import AskText
from tui.widgets.keybar import KeyBar
from tui.widgets.pickers import FilterScreen


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


async def test_u_and_c_narrow_the_feed_to_unread_and_client_messages_and_back(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert len(incoming.items) == 7
        await pilot.press("c")
        await until(pilot, lambda: all(item.from_client for item in incoming.items))
        assert len(incoming.items) == 5
        assert "client messages only" in str(incoming.border_subtitle)
        await pilot.press("u")
        await until(pilot, lambda: incoming.feed.unread and incoming.feed.from_client)
        assert all(item.unread for item in incoming.items)
        assert "unread only, client messages only" in str(incoming.border_subtitle)
        await pilot.press("c", "u")
        await until(pilot, lambda: len(incoming.items) == 7)
        assert "filter" not in str(incoming.border_subtitle)


async def test_the_filter_names_kinds_in_words_and_keeps_the_toggles(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        await pilot.press("u")
        await until(pilot, lambda: incoming.feed.unread)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))
        kinds = pilot.app.screen.query_one("#filter-kind", Select)
        labels = [str(prompt) for prompt, _value in kinds._options]
        assert "no reply needed" in labels and "no_reply_needed" not in labels
        kinds.value = "message"
        await pilot.click("#filter-apply")
        await until(pilot, lambda: incoming.feed == FeedFilter(kind="message", unread=True))
        assert "kind: message, unread only" in str(incoming.border_subtitle)


async def test_the_key_bar_follows_the_reply_box(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        bar = thread.screen.query_one(KeyBar)
        await pilot.pause()
        shown = str(bar.render())
        assert "r Reply" in shown and "Send" not in shown
        # The panels' keys wait under the thread: only the thread's show.
        assert "f Filter" not in shown and "/ Search" not in shown
        await pilot.press("r")
        await until(pilot, lambda: "^s Send" in str(bar.render()))
        shown = str(bar.render())
        assert "^r Discard draft" in shown and "esc Back" in shown
        assert "r Reply" not in shown and "h Handled" not in shown
        await pilot.press("escape")
        await until(pilot, lambda: "r Reply" in str(bar.render()))
        assert "Send" not in str(bar.render())


async def test_the_key_bar_works_out_each_key_once(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bindings change several times a key press (a thread opened or closed, the
    # focus moved): the key bar reads them once a change, and each key's words once.
    readings: list[str] = []
    display = Dashboard.get_key_display

    def counted(app: Dashboard, binding: Binding) -> str:
        readings.append(binding.key)
        return display(app, binding)

    monkeypatch.setattr(Dashboard, "get_key_display", counted)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        bar = thread.screen.query_one(KeyBar)
        await pilot.press("escape")
        await until(pilot, lambda: "f Filter" in str(bar.render()))
        first = len(readings)
        assert first
        for _ in range(2):
            await pilot.press("enter")
            await until(pilot, lambda: "esc Back" in str(bar.render()))
            await pilot.press("escape")
            await until(pilot, lambda: "f Filter" in str(bar.render()))
        assert len(readings) == first


async def test_slash_searches_the_feed_and_an_empty_search_shows_everything(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskText))
        await pilot.press(*"logo", "enter")
        await until(pilot, lambda: {item.thread for item in incoming.items} == {"Task T3"})
        assert "search: 'logo'" in str(incoming.border_subtitle)
        assert "1 unread" in str(incoming.border_subtitle)
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskText))
        await pilot.press("ctrl+u", "enter")  # the search emptied
        await until(pilot, lambda: len(incoming.items) == 7)
        assert incoming.feed == FeedFilter()


@pytest.mark.parametrize("why", ["ssh", "no browser"])
async def test_o_shows_the_link_to_copy_when_no_browser_can_open_it(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    why: str,
) -> None:
    opened: list[str] = []

    def browser(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return False  # what webbrowser says when it found none

    monkeypatch.setattr("webbrowser.open", browser)
    if why == "ssh":
        monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")
    else:
        monkeypatch.delenv("SSH_CONNECTION", raising=False)
        monkeypatch.delenv("SSH_TTY", raising=False)
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: bool(app._notifications))
        [toast] = list(app._notifications)
        assert "https://tracker.example/T1" in toast.message
        assert ("SSH session" in toast.message) == (why == "ssh")
        assert opened == ([] if why == "ssh" else ["https://tracker.example/T1"])


async def test_modals_and_the_review_screen_show_their_own_keys(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))
        bar = pilot.app.screen.query_one(KeyBar)
        await until(pilot, lambda: "esc Cancel" in str(bar.render()))
        await pilot.press("escape")
        await pilot.press("v")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
        bar = pilot.app.screen.query_one(KeyBar)
        await until(pilot, lambda: "tab Next table" in str(bar.render()))


async def test_help_lists_the_keys_of_lists_tables_and_boxes(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # Textual's own keys (tab, the arrows, enter in a table or a list, escape
    # in the palette) work on every screen: the help names them once.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        where, keys = help_screen.table.columns[0].cells, help_screen.table.columns[1].cells
        common = {
            key
            for group, shown in zip(where, keys, strict=True)
            if group == "lists and boxes"
            for key in str(shown).split(", ")
        }
        assert {"tab", "shift+tab", "↑", "↓", "⏎", "esc", "pgup", "pgdn", "^p", "^q"} <= common
