"""The staff pickers and the task link, driven through Textual's pilot.

Assigning, unassigning and the watchers are checked in the database after
the keys; the task link is checked with a browser stand-in, since no real
browser can run here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, TextArea

from core.actions import assign, watch
from core.config import Settings
from core.ingest import Ingestor
from tests.support import MovableClock
from tests.tui.test_dashboard import make_app, open_thread, rows, until
from tests.tui.test_snapshots import RunBefore, SnapCompare, settle
from tui.app import Dashboard
from tui.conversation import Conversation
from tui.help import HelpScreen
from tui.links import LinkScreen, why_no_browser
from tui.pickers import NOBODY, StaffPicker
from tui.thread import ThreadScreen


def staff_id(engine: Engine, name: str) -> int:
    return int(rows(engine, f"SELECT id FROM staff WHERE name = '{name}'")[0][0])


def thread_id(engine: Engine, title: str) -> int:
    return int(rows(engine, f"SELECT id FROM thread WHERE title = '{title}'")[0][0])


async def picker(pilot: Pilot[None], key: str) -> StaffPicker:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, StaffPicker))
    screen = pilot.app.screen
    assert isinstance(screen, StaffPicker)
    return screen


def prompts(screen: StaffPicker) -> list[str]:
    options = screen.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def toasted(pilot: Pilot[None], words: str) -> bool:
    return any(words in str(toast.message) for toast in pilot.app._notifications)


async def test_typing_filters_the_staff_list_and_enter_assigns_the_one_left(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "a")
        assert screen.query_one(Input).has_focus
        assert prompts(screen) == ["Ana Assistant", "Pat PM", "Sam Staff"]
        await pilot.press("p", "A")  # any case, anywhere in the name
        assert prompts(screen) == ["Pat PM"]
        await pilot.press("x")
        assert prompts(screen) == []
        await pilot.press("enter")  # nothing matches: nothing is picked
        assert isinstance(pilot.app.screen, StaffPicker)
        await pilot.press("backspace")
        await pilot.press("enter")
        await until(
            pilot, lambda: thread.detail is not None and thread.detail.assignees == ["Pat PM"]
        )
    assert rows(agency, "SELECT role FROM assignment") == [("assignee",)]


async def test_up_and_down_move_through_the_list_while_typing(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "a")
        await pilot.press("down", "down", "up", "down")
        assert screen.query_one(OptionList).highlighted == 2
        await pilot.press("enter")
        await until(
            pilot, lambda: thread.detail is not None and thread.detail.assignees == ["Sam Staff"]
        )


async def test_the_assignee_is_marked_and_nobody_unassigns(
    agency: Engine,
    ingestor: Ingestor,
    dashboard_settings: Settings,
    clock: MovableClock,
) -> None:
    task = thread_id(agency, "Task T4")
    assign(ingestor, task, staff_id(agency, "Ana Assistant"), staff_id(agency, "Pat PM"), clock)
    clock.advance(minutes=1)  # the unassignment comes after, not at the same instant
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "a")
        assert prompts(screen) == [
            "Nobody (unassign)",
            "Ana Assistant",
            "✓ Pat PM · assignee",
            "Sam Staff",
        ]
        # The cursor starts on the current assignee.
        assert screen.query_one(OptionList).highlighted == 2
        await pilot.press("up", "up", "enter")
        await until(pilot, lambda: thread.detail is not None and thread.detail.assignees == [])
        await until(pilot, lambda: toasted(pilot, "Unassigned"))
        conversation = thread.query_one(Conversation)
        await until(pilot, lambda: "assignee: nobody" in conversation.text.plain)
    assert rows(agency, "SELECT count(*) FROM assignment") == [(0,)]
    assert rows(
        agency, "SELECT author_name, value FROM event WHERE kind = 'assignee' ORDER BY id"
    ) == [("Ana Assistant", str(staff_id(agency, "Pat PM"))), ("Ana Assistant", "")]


async def test_nobody_is_offered_only_when_someone_is_assigned(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "a")
        assert screen.query_one(OptionList).get_option_at_index(0).id != str(NOBODY)
        assert not any("Nobody" in prompt for prompt in prompts(screen))


async def test_a_watcher_picked_again_is_removed(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    pat = staff_id(agency, "Pat PM")
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "w")
        assert "watcher" in str(screen.title_text).lower()
        await pilot.press("p", "a", "t", "enter")
        await until(
            pilot, lambda: thread.detail is not None and thread.detail.watchers == ["Pat PM"]
        )
        assert toasted(pilot, "Added as a watcher")

        screen = await picker(pilot, "w")
        assert "✓ Pat PM · watcher" in prompts(screen)
        await pilot.press("p", "a", "t", "enter")
        await until(pilot, lambda: thread.detail is not None and thread.detail.watchers == [])
        assert toasted(pilot, "Removed from the watchers")
    assert rows(agency, "SELECT count(*) FROM assignment") == [(0,)]
    assert rows(agency, "SELECT actor, action, entity_id FROM audit ORDER BY id") == [
        ("Ana Assistant", "watch", thread_id(agency, "Task T4")),
        ("Ana Assistant", "unwatch", thread_id(agency, "Task T4")),
    ]
    assert pat  # the audit names whom: see tests/core/test_threads.py


async def test_removed_staff_are_not_offered_unless_they_still_watch(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    task = thread_id(agency, "Task T4")
    watch(agency, task, staff_id(agency, "Sam Staff"), clock)
    with agency.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE staff SET active = 0 WHERE name IN ('Sam Staff', 'Pat PM')"
        )
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "w")
        assert prompts(screen) == ["Ana Assistant", "✓ Sam Staff · watcher"]


def test_the_interface_says_watchers_not_tags() -> None:
    words = [
        binding.description
        for holder in (ThreadScreen, StaffPicker, Dashboard)
        for binding in holder.BINDINGS
        if isinstance(binding, Binding)
    ]
    assert "Watchers" in words
    assert not any("tag" in word.lower() for word in words)


async def test_help_and_palette_name_the_watchers_key(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        names = [name for name, _run, _id in pilot.app.palette_actions(thread)]  # type: ignore[attr-defined]
        assert "Watchers" in names and not any("Tag" in name for name in names)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        groups = dict(pilot.app.screen.groups)  # type: ignore[attr-defined]
        descriptions = [b.description for bindings in groups.values() for b in bindings]
        assert "Watchers" in descriptions and "Tag" not in descriptions
        ids = {b.id for bindings in groups.values() for b in bindings}
        for holder in (StaffPicker, LinkScreen):
            assert {b.id for b in holder.BINDINGS if isinstance(b, Binding)} <= ids


# -- the task link ---------------------------------------------------------------


@pytest.fixture
def over_ssh(monkeypatch: pytest.MonkeyPatch, no_browser: list[str]) -> Iterator[list[str]]:
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.9 52311 198.51.100.4 22")
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield no_browser


async def test_over_ssh_o_shows_the_link_to_copy_instead_of_a_browser(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, over_ssh: list[str]
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(pilot.app.screen, LinkScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LinkScreen)
        assert "SSH" in screen.reason
        shown = screen.query_one(TextArea)
        assert shown.text == "https://tracker.example/T1"
        assert shown.read_only and shown.selected_text == "https://tracker.example/T1"
        await pilot.press("c")
        assert pilot.app.clipboard == "https://tracker.example/T1"
        assert toasted(pilot, "copied")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, ThreadScreen))
    assert over_ssh == []  # no browser was started on the server


async def test_o_says_so_when_no_browser_is_found(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    no_browser: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import webbrowser

    def none(*args: object, **kwargs: object) -> None:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr("webbrowser.get", none)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(pilot.app.screen, LinkScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LinkScreen)
        assert "no web browser" in screen.reason


async def test_o_never_starts_a_browser_that_would_take_over_the_terminal(
    agency: Engine,
    dashboard_settings: Settings,
    clock: MovableClock,
    no_browser: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import webbrowser

    class Lynx(webbrowser.GenericBrowser):
        def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
            raise AssertionError("a text browser was started inside the dashboard")

    monkeypatch.setattr("webbrowser.get", lambda *args: Lynx("lynx"))
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(pilot.app.screen, LinkScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LinkScreen)
        assert "lynx" in screen.reason


# -- pictures ------------------------------------------------------------------------

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
THEMES = [pytest.param("textual-dark", id="dark"), pytest.param("textual-light", id="light")]


@pytest.fixture
def assigned(
    agency: Engine, ingestor: Ingestor, dashboard_settings: Settings, clock: MovableClock
) -> Dashboard:
    """The dashboard over the agency, with Task T4 assigned to Pat PM."""
    task = thread_id(agency, "Task T4")
    assign(ingestor, task, staff_id(agency, "Ana Assistant"), staff_id(agency, "Pat PM"), clock)
    return make_app(dashboard_settings, clock)


def picker_shown(theme: str) -> RunBefore:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme
        await open_thread(pilot, "Task T4")
        screen = await picker(pilot, "a")
        screen.query_one(Input).cursor_blink = False
        await settle(pilot)

    return run_before


def link_shown(theme: str) -> RunBefore:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme
        await open_thread(pilot, "Task T1")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(pilot.app.screen, LinkScreen))
        pilot.app.screen.query_one(TextArea).cursor_blink = False
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_the_assign_picker(
    snap_compare: SnapCompare, assigned: Dashboard, size: tuple[int, int], theme: str
) -> None:
    assert snap_compare(assigned, terminal_size=size, run_before=picker_shown(theme))


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
def test_the_task_link_over_ssh(
    snap_compare: SnapCompare,
    assigned: Dashboard,
    over_ssh: list[str],
    size: tuple[int, int],
    theme: str,
) -> None:
    assert snap_compare(assigned, terminal_size=size, run_before=link_shown(theme))


@pytest.mark.parametrize(
    ("environ", "platform", "reason"),
    [
        ({"DISPLAY": ":0"}, "linux", None),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", None),
        # X forwarding: the browser shows on the person's screen.
        ({"SSH_CONNECTION": "a b c d", "DISPLAY": "localhost:10.0"}, "linux", None),
        ({"SSH_TTY": "/dev/pts/3"}, "darwin", "SSH"),
        ({"SSH_CLIENT": "a b c"}, "linux", "SSH"),
        ({}, "linux", "no graphical display"),
        ({}, "darwin", None),
        ({}, "win32", None),
    ],
)
def test_why_no_browser_reads_the_session(
    environ: dict[str, str], platform: str, reason: str | None
) -> None:
    found = why_no_browser(environ, platform)
    assert found is None if reason is None else reason in (found or "")
