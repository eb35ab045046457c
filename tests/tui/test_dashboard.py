"""The dashboard driven through Textual's pilot on a real database and a frozen clock.

Every action and filter is exercised here the way a person would: keys on
the real screens, with what they wrote checked in the database afterwards.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Select, TextArea

from core.base.paths import ConfigError
from core.config.quick import read_quick
from core.config.settings import DashboardConfig, Settings
from core.conversations.feed import FeedFilter
from tests.support import MovableClock, make_event
from tests.tui.conftest import HOSTILE
from tui.app import Dashboard
from tui.messages import DataChanged
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.thread import ThreadView
from tui.screens.help import COMMON_GROUP, HelpScreen
from tui.screens.main import MainScreen
from tui.screens.manager import ManagerScreen
from tui.sources.backend import Backend
from tui.widgets import conversation
from tui.widgets.conversation import Conversation
from tui.widgets.keybar import KeyBar
from tui.widgets.pickers import FilterScreen, StaffPicker
from tui.widgets.rows import RowList

Predicate = Callable[[], Any]


def make_app(settings: Settings, clock: MovableClock) -> Dashboard:
    return Dashboard(settings, Backend(settings, clock))


async def until(pilot: Pilot[None], predicate: Predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the screen never got there")
        await pilot.pause(0.02)


async def main_screen(pilot: Pilot[None]) -> MainScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
    assert isinstance(app.screen, MainScreen)
    return app.screen


def thread_shown(pilot: Pilot[None]) -> ThreadView | None:
    """The thread view, while it is shown in the main screen in front."""
    app = pilot.app
    assert isinstance(app, Dashboard)
    return app.thread_shown()


def on_the_panels(pilot: Pilot[None]) -> bool:
    """The main screen in front, its panels shown (no thread)."""
    return isinstance(pilot.app.screen, MainScreen) and thread_shown(pilot) is None


async def read_ahead_second_row(pilot: Pilot[None]) -> tuple[IncomingPanel, Any]:
    """The feed's cursor on its second row, once that row's thread is read ahead."""
    screen = await main_screen(pilot)
    incoming = screen.query_one(IncomingPanel)
    incoming.table.focus()
    await pilot.press("down")
    wanted = incoming.selected
    assert wanted is not None
    app = pilot.app
    assert isinstance(app, Dashboard)
    await until(pilot, lambda: app.pages.get(wanted.thread_id) is not None)
    return incoming, wanted


async def open_thread(pilot: Pilot[None], title: str) -> ThreadView:
    screen = await main_screen(pilot)
    incoming = screen.query_one(IncomingPanel)
    index = next(i for i, item in enumerate(incoming.items) if item.thread == title)
    incoming.table.focus()
    incoming.table.move_cursor(row=index)
    await pilot.press("enter")
    await until(pilot, lambda: thread_shown(pilot) is not None)
    thread = thread_shown(pilot)
    assert thread is not None
    await until(pilot, lambda: thread.detail is not None)
    return thread


def rows(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query))]


def clock_of(engine: Engine, title: str) -> tuple[Any, ...]:
    return rows(
        engine,
        "SELECT c.outcome, c.stopped_by_staff FROM clock c JOIN thread t ON t.id = c.thread_id"
        f" WHERE t.title = '{title}' ORDER BY c.id DESC LIMIT 1",
    )[0]


async def test_the_main_screen_shows_feed_clocks_invoices_and_sla(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert [item.thread for item in incoming.items][:3] == ["Task T5", "Task T4", "Task T3"]
        assert incoming.unread == 5
        assert "5 unread" in str(incoming.border_subtitle)
        clocks = screen.query_one(ClocksPanel)
        assert [c.thread for c in clocks.clocks] == ["Task T2", "Task T3", "Task T4", "Task T5"]
        assert [clocks.line_state(i) for i in range(4)] == [
            "breached",
            "warning",
            "safe",
            "safe",
        ]
        invoices = screen.query_one("#invoice-table", RowList)
        assert invoices.row_count == 3
        assert "Overdue" in str(screen.query_one("#invoices").border_title)
        sla = screen.query_one("#sla")
        await until(pilot, lambda: sla.figures is not None)  # type: ignore[attr-defined]
        assert sla.figures.today.overall.answered == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("client", "Bigco", {"Task T2"}),
        ("kind", "message", {"Task T1", "Task T2", "Task T3", "Task T4", "Task T5"}),
        ("assignee", "Pat PM", set()),
    ],
)
async def test_the_feed_filters_by_kind_client_and_assignee(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    field: str,
    value: str,
    expected: set[str],
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))
        pilot.app.screen.query_one(f"#filter-{field}", Select).value = value
        await pilot.click("#filter-apply")
        incoming = screen.query_one(IncomingPanel)
        await until(pilot, lambda: incoming.feed == FeedFilter(**{field: value}))
        await until(pilot, lambda: {item.thread for item in incoming.items} == expected)
        assert f"{field}: {value}" in str(incoming.border_subtitle)

        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))
        await pilot.click("#filter-clear")
        await until(pilot, lambda: len(incoming.items) == 7)


async def test_enter_opens_the_thread_with_notes_set_apart_and_escape_goes_back(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        assert thread.detail is not None
        assert [event.text for event in thread.detail.events] == [
            "Any news on the logo?",
            "ask Pat about the logo",
        ]
        shown = str(thread.query_one(Conversation).text)
        assert shown.count("internal note") == 1
        assert "┊ ask Pat about the logo" in shown
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot))


async def test_a_reply_is_stored_pending_and_stops_the_clock(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T2")
        await pilot.press("r")
        area = thread.query_one("#reply-text", TextArea)
        assert area.has_focus
        area.insert("We are on it, back in 10 minutes.")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(rows(agency, "SELECT * FROM delivery")))
        await until(
            pilot,
            lambda: thread.detail is not None and thread.detail.events[-1].delivery == "pending",
        )
        assert rows(agency, "SELECT channel, status FROM delivery") == [("webhook", "pending")]
        ana = rows(agency, "SELECT id FROM staff WHERE name = 'Ana Assistant'")[0][0]
        assert clock_of(agency, "Task T2") == ("breached", ana)


async def test_an_internal_note_is_kept_but_not_sent(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        await pilot.press("i")
        thread.query_one("#reply-text", TextArea).insert("Pat knows this client")
        await pilot.press("ctrl+s")
        await until(
            pilot,
            lambda: thread.detail is not None and thread.detail.events[-1].internal,
        )
        assert rows(agency, "SELECT count(*) FROM delivery") == [(0,)]
        assert clock_of(agency, "Task T4") == ("running", None)


@pytest.mark.parametrize(("key", "role"), [("a", "assignee"), ("w", "watcher")])
async def test_assign_and_tag_pick_a_staff_member(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, key: str, role: str
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        await pilot.press(key)
        await until(pilot, lambda: isinstance(pilot.app.screen, StaffPicker))
        options = pilot.app.screen.query_one(OptionList)
        options.highlighted = next(
            i
            for i in range(options.option_count)
            if str(options.get_option_at_index(i).prompt) == "Pat PM"
        )
        await pilot.press("enter")
        people = "assignees" if role == "assignee" else "watchers"
        await until(
            pilot,
            lambda: thread.detail is not None and getattr(thread.detail, people) == ["Pat PM"],
        )
        assert rows(
            agency,
            "SELECT a.role, s.name FROM assignment a JOIN staff s ON s.id = a.staff_id",
        ) == [(role, "Pat PM")]


async def test_no_reply_needed_on_the_focused_clock(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("2")  # focus the clocks; the most urgent is T2
        assert screen.query_one(ClocksPanel).has_focus
        await pilot.press("n")
        await until(pilot, lambda: clock_of(agency, "Task T2")[0] == "no_reply_needed")
        clocks = screen.query_one(ClocksPanel)
        await until(pilot, lambda: clocks.clocks[0].thread == "Task T3")


async def test_handled_clears_the_unread_marks_of_the_thread(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert incoming.selected is not None and incoming.selected.thread == "Task T5"
        await pilot.press("h")
        await until(pilot, lambda: incoming.unread == 4)
        assert not incoming.items[0].unread
        assert rows(
            agency,
            "SELECT e.triage FROM event e JOIN thread t ON t.id = e.thread_id"
            " WHERE t.title = 'Task T5'",
        ) == [("handled",)]


async def test_open_task_hands_the_link_to_the_browser(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, no_browser: list[str]
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: no_browser == ["https://tracker.example/T1"])


async def test_help_lists_every_binding_with_its_id(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        ids = {
            binding.id
            for where, bindings in pilot.app.screen.groups  # type: ignore[attr-defined]
            for binding in bindings
            if where != COMMON_GROUP  # Textual's own keys: listed, no id to remap them by
        }
        everything = (
            MainScreen,
            ThreadView,
            ManagerScreen,
            Dashboard,
            ClocksPanel,
            IncomingPanel,
            RowList,
            FilterScreen,
            StaffPicker,
            HelpScreen,
        )
        for holder in everything:
            assert {binding.id for binding in holder.BINDINGS} <= ids  # type: ignore[union-attr]
        assert None not in ids
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))


async def test_keys_are_remapped_from_the_configuration(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    settings = dashboard_settings.model_copy(
        update={"dashboard": DashboardConfig(keys={"main.filter": "e"})}
    )
    async with make_app(settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("f")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, MainScreen)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))


async def test_theme_and_manager_view(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("t")
        assert pilot.app.theme == "pmdesk-light"
        await pilot.press("t")
        assert pilot.app.theme == "pmdesk-dark"
        await pilot.press("m")
        await until(pilot, lambda: isinstance(pilot.app.screen, ManagerScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))


async def test_a_clock_crossing_its_target_raises_a_toast_and_the_bell(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        assert not app._notifications  # T2 was breached and T3 amber before we looked
        clock.advance(minutes=4)  # T3 (due at minute 23) breaches
        await until(pilot, lambda: bool(app._notifications), seconds=3)
        [toast] = list(app._notifications)
        assert "Task T3 has breached" in toast.message
        assert bells == [1]


async def test_hostile_text_is_shown_literally(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one(IncomingPanel).table
        shown = table.row(0)[-1].plain
        assert "[bold red]URGENT[/]" in shown and "[link=https://evil.example]" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        thread = await open_thread(pilot, "Task T5")
        rendered = str(thread.query_one(Conversation).text)
        assert "[bold red]URGENT[/]" in rendered and "\x1b" not in rendered
        assert HOSTILE not in rendered  # the escape sequences were taken out


async def test_another_process_commits_and_the_row_appears_within_a_second(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, tmp_path: Any
) -> None:
    event = {
        "id": "live-1",
        "source": "webhook",
        "kind": "message",
        "occurred_at": "2026-11-23T09:21:00+00:00",
        "client": "Acme",
        "task": {"id": "T9", "title": "Live one"},
        "author": {"name": "Claire Client", "role": "client"},
        "text": "written by another process",
    }
    source = tmp_path / "live.jsonl"
    source.write_text(json.dumps(event) + "\n")
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        subprocess.run(
            [sys.executable, "-m", "pmdesk", "--db", dashboard_settings.db, "ingest", str(source)],
            check=True,
            capture_output=True,
        )
        committed = time.monotonic()
        await until(pilot, lambda: incoming.items[0].thread == "Live one", seconds=2)
        assert time.monotonic() - committed < 1.0
        clocks = screen.query_one(ClocksPanel)
        assert "Live one" in [c.thread for c in clocks.clocks]


async def test_the_palette_goes_to_a_client(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"client: Bigco")
        await pilot.pause(0.5)
        await pilot.press("enter")
        incoming = screen.query_one(IncomingPanel)
        await until(pilot, lambda: incoming.feed == FeedFilter(client="Bigco"))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_every_panel_keeps_room_from_80x24_to_a_wide_monitor(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, size: tuple[int, int]
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=size) as pilot:
        screen = await main_screen(pilot)
        for panel in ("#incoming", "#clocks", "#invoices", "#sla"):
            region = screen.query_one(panel).region
            assert region.width >= 40 and region.height >= 4, (panel, region)
            assert region.right <= size[0] and region.bottom <= size[1]


async def test_the_palette_goes_to_a_thread_and_to_an_invoice(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        app = pilot.app
        assert isinstance(app, Dashboard)
        targets = app.goto_targets()
        assert ("invoice", "F-102 (Delta Invoicing)", "F-102") in targets
        thread_id = next(value for kind, label, value in targets if label == "Task T4 (Corvid)")

        app.go_to("invoice", "F-102")
        table = screen.query_one("#invoice-table", RowList)
        await until(pilot, lambda: table.has_focus)
        assert table.row(table.cursor_row)[0].plain == "F-102"

        app.go_to("thread", thread_id)
        await until(pilot, lambda: thread_shown(pilot) is not None)
        shown = thread_shown(pilot)
        assert shown is not None and shown.thread_id == int(thread_id)


async def test_the_thread_view_says_how_long_ago_and_when_due(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        first = str(thread.query_one(Conversation).text).split("\n")[0]
        assert "(2 minutes ago)" in first
        await until(
            pilot,
            lambda: "due 13 minutes from now" in str(thread.query_one("#thread-clock").render()),
        )


async def test_threads_open_one_after_another_in_the_same_view(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        first = await open_thread(pilot, "Task T3")
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot))
        second = await open_thread(pilot, "Task T4")
        assert second is first
        assert second.detail is not None and second.detail.title == "Task T4"
        shown = str(second.query_one(Conversation).text)
        assert "New photos attached." in shown and "logo" not in shown


async def test_sla_figures_follow_a_change_once_they_are_due(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    ingestor: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The change lands while the figures are fresh; nothing changes after it.
    monkeypatch.setattr("tui.screens.main.SLOW_SECONDS", 1.5)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        sla = screen.query_one("#sla")
        await until(pilot, lambda: sla.figures is not None)  # type: ignore[attr-defined]
        assert sla.figures.today.overall.answered == 1  # type: ignore[attr-defined]
        ingestor.ingest([make_event("t4-r", 19.5, task="T4", client="Corvid", role="staff")])
        await until(
            pilot,
            lambda: sla.figures.today.overall.answered == 2,  # type: ignore[attr-defined]
            seconds=4,
        )


async def test_a_database_error_pauses_live_updates_says_so_and_recovers(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    ingestor: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tui.screens.main.RETRY_SECONDS", 0.2)
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        version = app.backend.version
        failures = [sqlite3.OperationalError("disk I/O error")]

        def flaky() -> object:
            if failures:
                raise failures.pop()
            return version()

        monkeypatch.setattr(app.backend, "version", flaky)
        await until(pilot, lambda: bool(app._notifications), seconds=3)
        [toast] = list(app._notifications)
        assert "Cannot read the database: disk I/O error" in toast.message
        ingestor.ingest([make_event("late-1", 20, task="T8", client="Acme")])
        incoming = screen.query_one(IncomingPanel)
        await until(pilot, lambda: incoming.items[0].thread == "Task T8", seconds=3)


async def test_the_thread_under_the_cursor_is_read_ahead_and_enter_shows_it_at_once(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        _, wanted = await read_ahead_second_row(pilot)

        await pilot.press("enter")

        # No "Loading…" in between: the page was there before Enter.
        thread = thread_shown(pilot)
        assert thread is not None
        assert thread.detail is not None and thread.detail.id == wanted.thread_id
        assert "Loading" not in str(thread.query_one("#thread-info").render())


async def test_pages_read_ahead_stay_until_something_is_committed(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    ingestor: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watcher's turns that only look at the services change no thread: Enter still
    finds the page read ahead. A commit makes it stale."""
    monkeypatch.setattr("tui.screens.main.SERVICES_SECONDS", 0.05)  # such a turn every poll
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        assert thread.detail is not None
        thread_id = thread.detail.id
        await until(pilot, lambda: app.pages.get(thread_id) is not None)
        await pilot.press("escape")  # not shown: nothing reads it again

        await pilot.pause(0.8)  # three turns of the watcher or more, nothing committed

        assert app.pages.get(thread_id) is not None
        ingestor.ingest([make_event("later-1", 30, task="T9", client="Bigco", text="Hi")])
        await until(pilot, lambda: app.pages.get(thread_id) is None, seconds=2)


async def test_a_change_seen_while_the_dashboard_closes_is_dropped_without_a_crash(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    """The main screen's last poll can post a change after the app has closed its screens
    (seen once in a full run): the message finds no thread to read again, and no error."""
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T3")
    assert not app.screen_stack

    app.on_data_changed(DataChanged(clocks=True))

    assert app.thread_shown() is None


async def test_a_page_read_before_a_change_is_read_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        assert thread.detail is not None
        thread_id = thread.detail.id
        assert app.pages.get(thread_id) is not None

        app.pages.forget()  # what the main screen does when the data change

        assert app.pages.get(thread_id) is None
        await pilot.press("escape")
        await pilot.press("enter")
        await until(pilot, lambda: app.pages.get(thread_id) is not None)


async def test_a_long_conversation_opens_on_its_newest_event_and_stays_there_on_resize(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Any
) -> None:
    # Forty more client lines on T3 (opened at minute 8): far more than a screen.
    ingestor.ingest(
        [
            make_event(f"t3-{n}", 8 + n / 10, task="T3", client="Acme", text=f"line {n}")
            for n in range(40)
        ]
    )
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        conversation = thread.query_one(Conversation)
        await until(pilot, lambda: "line 39" in conversation.text.plain)
        await until(pilot, lambda: conversation.max_scroll_y > 0)
        assert conversation.scroll_offset.y == conversation.max_scroll_y

        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: conversation.size.width < 100)
        await pilot.pause()
        assert conversation.scroll_offset.y == conversation.max_scroll_y
        assert "line 39" in conversation.text.plain


async def test_the_key_bar_shows_the_keys_that_apply_and_a_click_presses_one(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        bar = screen.query_one(KeyBar)
        shown = str(bar.render())
        assert "f Filter" in shown and "? Help" in shown
        x = shown.index("f Filter")

        await pilot.click(KeyBar, offset=(x + 1, 0))

        await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))


async def test_threads_open_after_the_manager_view_without_a_crash(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The manager reads in worker threads the app's other readers reuse: what
    # it opens it closes, and nothing else.
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        for _ in range(3):
            await pilot.press("m")
            await until(
                pilot, lambda: "read at" in str(app.screen.query_one("#manager-period").render())
            )
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, MainScreen))
        for title in ("Task T3", "Task T4", "Task T2"):
            thread = await open_thread(pilot, title)
            assert thread.detail is not None and thread.detail.title == title
            await pilot.press("escape")
        assert app.return_code is None


async def test_the_manager_switches_periods_and_opens_a_breach_without_a_crash(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, ManagerScreen))
        manager = app.screen
        assert isinstance(manager, ManagerScreen)
        period = manager.query_one("#manager-period")
        for key, title in (("1", "Today"), ("3", "30 days"), ("2", "7 days"), ("1", "Today")):
            await pilot.press(key)
            await until(pilot, lambda title=title: f"{title}:" in str(period.render()))
            await until(pilot, lambda: "read at" in str(period.render()))
            assert "could not read" not in str(period.render())
        breaches = manager.query_one("#manager-breaches", DataTable)
        await until(pilot, lambda: breaches.row_count > 0)
        breaches.focus()
        await pilot.press("enter")
        await until(pilot, lambda: thread_shown(pilot) is not None)
        thread = thread_shown(pilot)
        assert thread is not None
        await until(pilot, lambda: thread.detail is not None)
        assert thread.detail is not None and thread.detail.title == "Task T2"
        assert app.return_code is None


async def test_a_thread_that_cannot_be_read_says_so_and_the_dashboard_stays(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)

        def broken(*args: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr("tui.app.read_page", broken)
        app.pages.forget()
        await pilot.press("enter")
        await until(pilot, lambda: thread_shown(pilot) is not None)
        info = screen.query_one("#thread-info")
        await until(pilot, lambda: "Could not read" in str(info.render()))
        assert "disk I/O error" in str(info.render())
        assert app.return_code is None

        monkeypatch.undo()
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot))
        thread = await open_thread(pilot, "Task T4")
        assert thread.detail is not None and thread.detail.title == "Task T4"


async def test_relative_times_in_the_thread_view_move_with_the_clock(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Any
) -> None:
    ingestor.ingest([make_event("t4-now", 20, task="T4", client="Corvid", text="just now")])
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        conversation = thread.query_one(Conversation)
        await until(pilot, lambda: "just now" in conversation.text.plain)
        assert "(2 minutes ago)" in conversation.text.plain
        assert "(now)" in conversation.text.plain
        conversation.scroll_to(y=0, animate=False, immediate=True, force=True)

        clock.advance(seconds=65)

        await until(pilot, lambda: "(3 minutes ago)" in conversation.text.plain, seconds=5)
        assert "(a minute ago)" in conversation.text.plain
        assert "(now)" not in conversation.text.plain
        assert thread.detail is not None and thread.detail.title == "Task T4"


async def test_the_first_screenful_comes_from_the_quick_read_and_the_jobs_wait_for_validation(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    quick = read_quick(dashboard_settings.model_dump(exclude_unset=True))
    asked: list[str] = []
    ran = threading.Event()

    def validate() -> Settings:
        asked.append(threading.current_thread().name)
        return dashboard_settings

    backend = Backend(quick, clock, validate=validate)
    app = Dashboard(quick, backend, jobs=[lambda stop: ran.set()])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        assert quick.agency in str(screen.query_one("#status").render())
        await until(pilot, ran.is_set)
        assert len(asked) == 1 and asked[0] != threading.main_thread().name
        assert app.jobs_started and app.config_error is None
        assert backend.settings is dashboard_settings


async def test_a_configuration_found_wrong_once_shown_closes_the_dashboard_and_runs_no_job(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    quick = read_quick(dashboard_settings.model_dump(exclude_unset=True))

    def validate() -> Settings:
        raise ConfigError("policies.default.calendar: unknown calendar 'moon'")

    ran = threading.Event()
    app = Dashboard(quick, Backend(quick, clock, validate=validate), jobs=[lambda s: ran.set()])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.config_error is not None)
        await pilot.pause(0.1)
    assert app.return_code == 2
    assert "unknown calendar 'moon'" in str(app.config_error)
    assert not app.jobs_started and not ran.is_set()


async def test_a_thread_read_ahead_opens_and_closes_without_drawing_anything_anew(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The conversation is not wrapped again on the UI thread, nor the feed's rows drawn again."""
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        incoming, _ = await read_ahead_second_row(pilot)
        await pilot.pause(0.1)
        wrapped: list[int] = []
        drawn: list[object] = []
        real_wrap, real_cells = conversation.wrap, IncomingPanel._cells

        def wrap(text: Any, width: int) -> Any:
            wrapped.append(width)
            return real_wrap(text, width)

        def cells(panel: IncomingPanel, item: Any) -> Any:
            drawn.append(item)
            return real_cells(panel, item)

        monkeypatch.setattr(conversation, "wrap", wrap)
        monkeypatch.setattr(IncomingPanel, "_cells", cells)

        def opened() -> bool:
            view = thread_shown(pilot)
            return view is not None and view.detail is not None

        await pilot.press("enter")
        await until(pilot, opened)
        await pilot.pause(0.1)
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot))
        await pilot.pause(0.1)
        assert wrapped == [] and drawn == []
        assert incoming.table.has_focus


async def test_tab_goes_round_the_thread_never_to_the_panels_under_it(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        for keys in ((), ("r",)):  # the conversation alone, then with the reply box
            await pilot.press(*keys)
            for _ in range(3):
                await pilot.press("tab")
                assert app.focused is not None
                assert thread in app.focused.ancestors_with_self
        await pilot.press("escape", "escape")
        await until(pilot, lambda: on_the_panels(pilot))
        await pilot.press("tab")
        assert app.focused is not None and thread not in app.focused.ancestors_with_self


async def test_the_rows_next_to_the_cursor_are_read_ahead_too(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    """The cursor resting on a row reads its thread, then those of the rows below and
    above: a move and Enter right after find the next page ready, rather than waiting
    for its read."""
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        incoming, _ = await read_ahead_second_row(pilot)
        below, above = incoming.items[2].thread_id, incoming.items[0].thread_id
        await until(pilot, lambda: app.pages.get(below) is not None)
        await until(pilot, lambda: app.pages.get(above) is not None)
        assert len({item.thread_id for item in incoming.items[:3]}) == 3


async def test_a_panel_taken_by_its_key_reads_its_cursor_s_threads_ahead(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    """2 gives the clocks the keys: the thread of the clock under the cursor, and those
    of the clocks next to it, are read ahead, as a move of the cursor would have."""
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        clocks = screen.query_one(ClocksPanel)
        await until(pilot, lambda: len(clocks.clocks) >= 2)
        wanted = {clock.thread_id for clock in clocks.clocks[:2]}

        await pilot.press("2")

        await until(pilot, lambda: all(app.pages.get(thread) is not None for thread in wanted))
