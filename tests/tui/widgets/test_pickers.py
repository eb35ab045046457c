"""The staff picker: typed to narrow, who is there marked, unassign, remove a watcher."""

from __future__ import annotations

from sqlalchemy import Engine
from textual.widgets import OptionList

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import make_app, open_thread, rows, until
from tui.widgets.pickers import StaffPicker


def prompts(picker: StaffPicker) -> list[str]:
    options = picker.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def people(agency: Engine) -> list[tuple[str, str]]:
    return rows(
        agency,
        "SELECT a.role, s.name FROM assignment a JOIN staff s ON s.id = a.staff_id"
        " ORDER BY a.role, s.name",
    )


async def test_typing_narrows_the_list_and_enter_assigns_then_nobody_unassigns(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, StaffPicker))
        picker = app.screen
        assert isinstance(picker, StaffPicker)
        assert prompts(picker)[0] == "Nobody (unassign)"
        await pilot.press(*"pat")
        assert prompts(picker) == ["Pat PM"]
        await pilot.press("enter")
        await until(pilot, lambda: people(agency) == [("assignee", "Pat PM")])
        await until(pilot, lambda: thread.detail is not None and thread.detail.assignees)

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, StaffPicker))
        picker = app.screen
        assert isinstance(picker, StaffPicker)
        assert "Pat PM ✓" in prompts(picker)
        clock.advance(seconds=30)  # the unassignment comes after the assignment
        await pilot.press(*"nob", "enter")
        await until(pilot, lambda: people(agency) == [])
        assert app.thread_shown() is not None


async def test_a_watcher_marked_in_the_list_is_removed_by_picking_them(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, StaffPicker))
        await pilot.press(*"sam", "enter")
        await until(pilot, lambda: people(agency) == [("watcher", "Sam Staff")])
        await until(
            pilot, lambda: thread.detail is not None and thread.detail.watchers == ["Sam Staff"]
        )
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, StaffPicker))
        picker = app.screen
        assert isinstance(picker, StaffPicker)
        assert "Nobody (unassign)" not in prompts(picker)
        assert "Sam Staff ✓" in prompts(picker)
        await pilot.press(*"sam", "enter")
        await until(pilot, lambda: people(agency) == [])
        assert any("Watcher removed" in n.message for n in app._notifications)
