"""The Clocks panel, driven through Textual's pilot with clocks built by hand.

Every clock is due a whole number of minutes after NOW, warns 5 minutes
before and escalates 15 minutes after; time moves only when a test ticks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from sqlalchemy import Engine
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Grid
from textual.pilot import Pilot
from textual.screen import Screen
from textual.strip import Strip

import tui
from core.config.settings import PolicyConfig, Settings
from core.sla.views import ClockView
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.panels.clocks import ESCALATED_MARK, ClocksPanel

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"
WARN = timedelta(minutes=5)
ESCALATE = timedelta(minutes=15)


def clock(id_: int, due_in: float, **fields: Any) -> ClockView:
    """A running clock due `due_in` minutes after NOW, on thread 100 + id."""
    due = NOW + timedelta(minutes=due_in)
    values: dict[str, Any] = {
        "id": id_,
        "thread_id": 100 + id_,
        "thread": f"Thread {id_}",
        "url": None,
        "client": "Acme",
        "assignee": "Sam Staff",
        "kind": "first",
        "policy": "default",
        "started_at": due - timedelta(minutes=15),
        "due_at": due,
        "warn_at": due - WARN,
        "escalate_at": due + ESCALATE,
        "outcome": "running",
        "stopped_at": None,
        "business_seconds": None,
        "wall_seconds": None,
    }
    values.update(fields)
    return ClockView(**values)


class PanelApp(App[None]):
    CSS_PATH = STYLESHEET

    def __init__(self) -> None:
        super().__init__()
        self.crossed: list[tuple[int, str]] = []
        self.selected: list[int] = []

    def compose(self) -> ComposeResult:
        yield ClocksPanel(target_minutes=15, id="clocks")

    @property
    def panel(self) -> ClocksPanel:
        return self.query_one(ClocksPanel)

    def on_clocks_panel_crossed(self, message: ClocksPanel.Crossed) -> None:
        self.crossed.append((message.clock.id, message.state))

    def on_clocks_panel_selected(self, message: ClocksPanel.Selected) -> None:
        self.selected.append(message.thread_id)


class PanelScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        with Grid():
            yield ClocksPanel(target_minutes=15)


class ScreenApp(PanelApp):
    """The panel two levels down in a pushed screen, as on the dashboard."""

    def compose(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.push_screen(PanelScreen())

    @property
    def panel(self) -> ClocksPanel:
        return self.screen.query_one(ClocksPanel)


def lines(panel: ClocksPanel) -> list[str]:
    """The lines shown under the header (the message alone when there are no clocks)."""
    header = 1 if panel.clocks else 0
    height = panel.scrollable_content_region.height
    return [panel.render_line(y).text for y in range(header, height)]


def clock_line(panel: ClocksPanel, index: int) -> Strip:
    """The line of the `index`th clock shown, under the header."""
    return panel.render_line(index + 1)


def countdown_style(panel: ClocksPanel, y: int) -> Style:
    first = next(iter(clock_line(panel, y)))
    assert first.style is not None
    return first.style


def theme_colour(app: App[None], variable: str) -> str:
    return Color.parse(app.get_css_variables()[variable]).hex


async def ready(app: PanelApp, pilot: Pilot[None], clocks: list[ClockView]) -> ClocksPanel:
    panel = app.panel
    panel.tick(NOW)
    panel.set_clocks(clocks)
    panel.focus()
    await pilot.pause()
    return panel


async def test_most_urgent_first() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, -2), clock(3, 3), clock(4, 3)])
        assert [c.id for c in panel.clocks] == [2, 3, 4, 1]
        # Each line reads: countdown, kind, client, "Thread", id, assignee.
        assert [line.split()[4] for line in lines(panel)[:4]] == ["2", "3", "4", "1"]


async def test_countdown_and_negative_display() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 15), clock(2, 0)])
        panel.tick(NOW + timedelta(minutes=2, seconds=13))
        await pilot.pause()
        first, second = lines(panel)[:2]
        assert first.split()[0] == "-2m13s"
        assert second.split()[0] == "12m47s"
        panel.tick(NOW + timedelta(minutes=2, seconds=13, milliseconds=500))
        assert lines(panel)[1].split()[0] == "12m46s"  # whole seconds, rounded down
        panel.tick(NOW + timedelta(hours=2))
        assert lines(panel)[1].split()[1] == "-1h45m"


async def test_each_line_has_its_state_colour() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 3), clock(3, -2), clock(4, -20)])
        assert [panel.line_state(i) for i in range(4)] == [
            "escalated",
            "breached",
            "warning",
            "safe",
        ]
        panel.blur()  # the cursor line takes the cursor's colours when focused
        await pilot.pause()
        colours = [countdown_style(panel, y).color for y in range(4)]
        assert [colour.name if colour else None for colour in colours] == [
            theme_colour(app, "error").lower(),
            theme_colour(app, "error").lower(),
            theme_colour(app, "warning").lower(),
            theme_colour(app, "success").lower(),
        ]
        assert countdown_style(panel, 0).bold
        assert lines(panel)[0].startswith(ESCALATED_MARK)
        assert not lines(panel)[1].startswith(ESCALATED_MARK)


async def test_cursor_line_is_highlighted() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 12)])
        cursor = clock_line(panel, 0)
        other = clock_line(panel, 1)
        cursor_background = list(cursor)[-1].style
        other_background = list(other)[-1].style
        assert cursor_background is not None and other_background is not None
        assert cursor_background.bgcolor != other_background.bgcolor
        assert (
            cursor_background.bgcolor == panel.get_visual_style("clocks--cursor").rich_style.bgcolor
        )


async def test_the_cursor_colours_follow_focus_and_theme() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 12)])

        def cursor_background() -> Any:
            style = list(clock_line(panel, 0))[-1].style
            assert style is not None
            return style.bgcolor

        focused = cursor_background()
        panel.blur()
        await pilot.pause()
        blurred = cursor_background()
        assert blurred != focused
        assert blurred == panel.get_visual_style("clocks--cursor-blurred").rich_style.bgcolor
        panel.focus()
        await pilot.pause()
        assert cursor_background() == focused
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert cursor_background() == panel.get_visual_style("clocks--cursor").rich_style.bgcolor
        assert cursor_background() != focused


async def test_crossings_are_posted_exactly_once() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 60)])
        due = NOW + timedelta(minutes=10)
        second = timedelta(seconds=1)
        warned, breached = [(1, "warning")], [(1, "warning"), (1, "breached")]
        steps = [
            (due - WARN - second, []),
            (due - WARN, warned),  # the warning window includes warn_at
            (due - WARN + second, warned),
            (due, warned),  # breached means past due, not at it
            (due + second, breached),
            (due + 2 * second, breached),
            (due + ESCALATE - second, breached),
            (due + ESCALATE, [*breached, (1, "escalated")]),
            (due + ESCALATE + timedelta(minutes=1), [*breached, (1, "escalated")]),
        ]
        for instant, expected in steps:
            panel.tick(instant)
            await pilot.pause()
            assert app.crossed == expected, instant


async def test_a_clock_already_past_its_points_when_loaded_does_not_fire() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 3), clock(2, -1), clock(3, -20)])
        panel.tick(NOW + timedelta(seconds=1))
        await pilot.pause()
        assert app.crossed == []
        panel.tick(NOW + timedelta(minutes=3, seconds=1))
        await pilot.pause()
        assert app.crossed == [(1, "breached")]


async def test_clocks_loaded_before_the_first_tick_do_not_fire_on_it() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        app.panel.set_clocks([clock(1, -1), clock(2, 2)])
        app.panel.tick(NOW)
        await pilot.pause()
        assert app.crossed == []
        assert app.panel.border_subtitle == "1 breached · 1 warning"


async def test_reloading_the_same_clocks_does_not_fire_again() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        clocks = [clock(1, 3), clock(2, 30)]
        panel = await ready(app, pilot, clocks)
        panel.tick(NOW + timedelta(minutes=4))
        panel.set_clocks([replace(c) for c in clocks])
        panel.tick(NOW + timedelta(minutes=4, seconds=1))
        await pilot.pause()
        assert app.crossed == [(1, "breached")]


async def test_a_long_jump_posts_only_the_latest_state() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10)])
        panel.tick(NOW + timedelta(hours=1))
        panel.tick(NOW + timedelta(hours=2))
        await pilot.pause()
        assert app.crossed == [(1, "escalated")]


async def test_a_new_clock_crosses_from_the_tick_it_was_loaded_at() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 30)])
        panel.set_clocks([clock(1, 30), clock(2, 6)])
        panel.tick(NOW + timedelta(minutes=1))
        await pilot.pause()
        assert app.crossed == [(2, "warning")]


async def test_messages_reach_the_app_when_the_screen_drives_the_panel() -> None:
    app = ScreenApp()
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        panel = app.panel
        # Called from the screen's own loop, as its one-second timer does.
        app.screen.call_next(panel.tick, NOW)
        app.screen.call_next(panel.set_clocks, [clock(1, 3)])
        app.screen.call_next(panel.tick, NOW + timedelta(minutes=4))
        app.screen.call_next(panel.action_select)
        await pilot.pause()
        await pilot.pause()
        assert app.crossed == [(1, "breached")]
        assert app.selected == [101]


async def test_enter_posts_the_thread_under_the_cursor() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        await ready(app, pilot, [clock(1, 10), clock(2, 3), clock(3, 20)])
        await pilot.press("enter")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.selected == [102, 101]


async def test_keys_move_the_cursor_and_keep_it_in_view() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 10)) as pilot:
        panel = await ready(app, pilot, [clock(i, i) for i in range(1, 51)])
        page = panel.scrollable_content_region.height - 1  # under the header
        await pilot.press("end")
        assert panel.cursor == 49
        assert panel.scroll_offset.y == 50 - page
        await pilot.press("home")
        assert (panel.cursor, panel.scroll_offset.y) == (0, 0)
        await pilot.press("pagedown")
        assert panel.cursor == page
        await pilot.press("down", "down", "up")
        assert panel.cursor == page + 1
        await pilot.press("pageup")
        assert panel.cursor == 1
        await pilot.press("up", "up", "up")
        assert panel.cursor == 0
        await pilot.pause()
        assert panel.selected is not None and panel.selected.id == 1


async def test_a_click_selects_its_line() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 3), clock(3, 20)])
        await pilot.click(ClocksPanel, offset=(20, 0))  # the header: nothing
        await pilot.pause()
        assert app.selected == []
        await pilot.click(ClocksPanel, offset=(20, 3))
        await pilot.pause()
        assert panel.cursor == 2
        assert app.selected == [103]
        await pilot.click(ClocksPanel, offset=(20, 8))  # below the last clock
        await pilot.pause()
        assert app.selected == [103]


async def test_the_cursor_stays_on_its_clock_across_reloads() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 3), clock(3, 20)])
        await pilot.press("down")
        assert panel.selected is not None and panel.selected.id == 1
        panel.set_clocks([clock(1, 10), clock(2, 3), clock(3, 20), clock(4, 1)])
        assert panel.cursor == 2
        assert panel.selected is not None and panel.selected.id == 1
        # Its clock stopped: the cursor stays where it was, on the next most urgent.
        panel.set_clocks([clock(2, 3), clock(3, 20), clock(4, 1)])
        assert panel.selected is not None and panel.selected.id == 3


async def test_empty_state_is_honest() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = app.panel
        await pilot.pause()
        assert lines(panel)[0].strip() == "Reading clocks…"
        assert panel.selected is None
        panel.set_clocks([])
        panel.tick(NOW)
        await pilot.press("enter", "down")
        assert lines(panel)[0].strip() == "No running clocks"
        assert panel.border_title == "Clocks · 0 running · 15 min target"
        assert app.selected == []


async def test_title_shows_the_count_and_the_target() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        assert app.panel.border_title == "Clocks · 15 min target"
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 3), clock(3, -1), clock(4, -16)])
        assert panel.border_title == "Clocks · 4 running · 15 min target"
        assert panel.border_subtitle == "1 escalated · 1 breached · 1 warning"
        panel.tick(NOW + timedelta(minutes=6))
        assert panel.border_subtitle == "1 escalated · 2 breached · 1 warning"


HOSTILE = "[bold red]URGENT[/] \x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x07click\u202eabc"


async def test_hostile_text_is_shown_literally() -> None:
    app = PanelApp()
    async with app.run_test(size=(120, 20)) as pilot:
        panel = await ready(
            app, pilot, [clock(1, 10, thread=HOSTILE, client="[link=x]Evil[/]", assignee=None)]
        )
        line = clock_line(panel, 0)
        shown = line.text
        assert "[bold red]URGENT[/] red" in shown
        assert "[link=x]Evil[/]" in shown
        assert "\x1b" not in shown and "\u202e" not in shown
        assert "evil.example" not in shown
        assert all(segment.style is None or not segment.style.link for segment in line)


async def test_long_titles_are_cut_to_the_line() -> None:
    app = PanelApp()
    async with app.run_test(size=(60, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10, thread="word " * 200)])
        line = clock_line(panel, 0)
        assert line.cell_length == panel.scrollable_content_region.width
        assert "…" in line.text


def test_bindings_have_ids_and_descriptions() -> None:
    bindings = [binding for binding in ClocksPanel.BINDINGS if isinstance(binding, Binding)]
    assert len(bindings) == len(ClocksPanel.BINDINGS)
    ids = {binding.id: binding for binding in bindings}
    assert set(ids) == {
        "clocks.cursor_up",
        "clocks.cursor_down",
        "clocks.cursor_first",
        "clocks.cursor_last",
        "clocks.cursor_page_up",
        "clocks.cursor_page_down",
        "clocks.select",
    }
    assert all(binding.description for binding in ids.values())


async def test_tick_on_two_thousand_clocks_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tick touched the database")

    monkeypatch.setattr("core.store.reader.Reader.rows", no_database)
    monkeypatch.setattr("sqlalchemy.engine.Engine.connect", no_database)
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(i, 6 + i / 60) for i in range(2_000)])
        order = panel.clocks
        for second in range(1, 121):
            panel.tick(NOW + timedelta(seconds=second))
        await pilot.pause()
        assert panel.clocks is order  # not re-sorted
        # Clock i warns 60 + i seconds after NOW: clocks 0 to 60 did, one a second.
        assert app.crossed == [(i, "warning") for i in range(61)]
        assert lines(panel)[0].split()[0] == "4m00s"


class PoliciesApp(PanelApp):
    """The panel with a VIP policy at 10 minutes beside the default 15."""

    def compose(self) -> ComposeResult:
        policies = {
            "default": PolicyConfig(first_response_minutes=15, next_response_minutes=20),
            "vip": PolicyConfig(first_response_minutes=10, next_response_minutes=10),
        }
        yield ClocksPanel(target_minutes=15, policies=policies, id="clocks")


async def test_a_header_names_the_columns_and_each_line_says_first_or_next() -> None:
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 10), clock(2, 3, kind="next")])
        header = panel.render_line(0).text
        for label in ("left", "reply", "client", "thread", "assignee"):
            assert label in header
        assert [line.split()[1] for line in lines(panel)[:2]] == ["next", "first"]
        # The same at the wide layout's narrow clocks panel.
        await pilot.resize_terminal(48, 20)
        await pilot.pause()
        assert "reply" in panel.render_line(0).text
        assert [line.split()[1] for line in lines(panel)[:2]] == ["next", "first"]


async def test_each_clock_shows_its_own_target_when_they_differ() -> None:
    app = PoliciesApp()
    async with app.run_test(size=(100, 20)) as pilot:
        vip = clock(1, 3, policy="vip", client="Vip Co")
        panel = await ready(app, pilot, [vip, clock(2, 10), clock(3, 12, kind="next")])
        assert panel.border_title == "Clocks · 3 running · targets 10–20 min"
        assert "target" in panel.render_line(0).text
        shown = lines(panel)
        assert "10 min" in shown[0] and "Vip Co" in shown[0]
        assert "15 min" in shown[1]
        assert "20 min" in shown[2]
        # All on one target: the title says it, and the lines need not.
        panel.set_clocks([clock(4, 3, policy="vip"), clock(5, 4, policy="vip", kind="next")])
        await pilot.pause()
        assert panel.border_title == "Clocks · 2 running · 10 min target"
        assert "target" not in panel.render_line(0).text
        assert not any("10 min" in line for line in lines(panel))


async def test_a_clock_of_a_policy_no_longer_configured_counts_on_the_default() -> None:
    app = PoliciesApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = await ready(app, pilot, [clock(1, 3, policy="gone"), clock(2, 4)])
        assert panel.border_title == "Clocks · 2 running · 15 min target"


async def test_on_the_dashboard_a_vip_clock_shows_its_own_target(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # Bigco is on the 10-minute VIP policy, everyone else on the default 15.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(ClocksPanel)
        await until(pilot, lambda: len(panel.clocks) == 4)
        assert panel.border_title == "Clocks · 4 running · targets 10–15 min"
        bigco = next(line for line in lines(panel) if "Bigco" in line)
        assert "10 min" in bigco


async def test_a_tick_repaints_only_the_lines_whose_countdown_changed() -> None:
    # Clocks due days ago read "-2d03h" all hour long: a tick leaves their lines
    # alone; the one clock counting seconds is the one line drawn again.
    app = PanelApp()
    async with app.run_test(size=(100, 20)) as pilot:
        stale = [clock(i, -3_000 - i) for i in range(1, 40)]
        panel = await ready(app, pilot, [*stale, clock(99, 10)])
        drawn: list[int] = []
        original = panel._clock_line

        def counted(index: int, width: int) -> Strip:
            drawn.append(index)
            return original(index, width)

        panel._clock_line = counted  # type: ignore[method-assign]
        panel.tick(NOW + timedelta(seconds=1))
        await pilot.pause()
        assert drawn == []  # the last clock, the only one counting seconds, is off screen
        panel.move_cursor(len(panel.clocks) - 1)
        await pilot.pause()
        drawn.clear()
        panel.tick(NOW + timedelta(seconds=2))
        await pilot.pause()
        assert drawn == [len(panel.clocks) - 1]
        assert "9m58s" in clock_line(panel, panel.cursor - panel.scroll_offset.y).text
