"""Changes to a thread's Worksection task from the thread view and the palette.

Keys on the real screens, on a real database: each change is recorded as an
event of the operator with what to write to Worksection (the same rows
`pmdesk task` records), a refusal is said and records nothing, and a thread
without a Worksection task says so instead of asking.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from sqlalchemy import Engine
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, OptionList, Select, TextArea

from core.config.settings import Settings, WorksectionConfig
from core.conversations.ingest import Ingestor
from tests.support import MovableClock, make_event
from tests.tui.test_dashboard import main_screen, make_app, open_thread, rows, until
from tui.app import Dashboard
from tui.panels.thread import ThreadView
from tui.screens.help import HelpScreen
from tui.screens.tracker import (
    AskChecklist,
    AskConfirm,
    AskDeadline,
    AskSubtask,
    AskTags,
    read_tags,
)
from tui.widgets.keybar import KeyBar
from tui.widgets.pickers import StaffPicker

TASK = "4211"
TITLE = f"Task {TASK}"


@pytest.fixture
def tracked(agency: Engine, ingestor: Ingestor) -> Engine:
    """The agency, and a thread on Worksection task 4211 (its client waiting)."""
    ingestor.ingest_one(
        make_event("ws-1", 19.5, task=TASK, client="Acme", source="worksection", text="Any news?")
    )
    return agency


@pytest.fixture
def ws_settings(dashboard_settings: Settings) -> Settings:
    config = WorksectionConfig(base_url="http://127.0.0.1:9", api_key="key")
    return dashboard_settings.model_copy(update={"worksection": config})


def actions(engine: Engine) -> list[tuple[str, Any, str, str, str]]:
    """(verb, params, event kind, its author, the delivery's status), oldest first."""
    return [
        (verb, json.loads(params), kind, author, status)
        for verb, params, kind, author, status in rows(
            engine,
            "SELECT a.verb, a.params, e.kind, e.author_name, d.status FROM trackeraction a"
            " JOIN event e ON e.id = a.event_id JOIN delivery d ON d.event_id = a.event_id"
            " ORDER BY a.event_id",
        )
    ]


async def asked(pilot: Any, key: str, kind: type) -> Any:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, kind))
    return pilot.app.screen


async def test_each_change_is_recorded_as_the_operator_with_worksections_parameters(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(ws_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, TITLE)

        screen = await asked(pilot, "D", AskDeadline)
        box = screen.query_one(Input)
        box.value = ""
        await pilot.press("plus", "2", "enter")
        await until(pilot, lambda: len(actions(tracked)) == 1)
        # Looked for now: a toast leaves after its seconds, which the rest of
        # this sequence can outlast on a busy machine.
        await until(
            pilot,
            lambda: any(
                f"Queued for Worksection task {TASK}: deadline 25.11.2026" in toast.message
                for toast in app._notifications
            ),
        )

        screen = await asked(pilot, "T", AskChecklist)
        screen.query_one(TextArea).insert("Logo\n\nFonts\n")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(actions(tracked)) == 2)

        screen = await asked(pilot, "S", AskSubtask)
        screen.query_one("#tracker-sub-title", Input).value = "  Wire   frames "
        pat = rows(tracked, "SELECT id FROM staff WHERE name = 'Pat PM'")[0][0]
        screen.query_one("#tracker-sub-owner", Select).value = pat
        screen.query_one("#tracker-sub-deadline", Input).value = "+3"
        screen.query_one("#tracker-sub-todo", TextArea).insert("Home\nContact")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(actions(tracked)) == 3)

        picker = await asked(pilot, "O", StaffPicker)
        await pilot.press(*"Sam", "enter")
        await until(pilot, lambda: len(actions(tracked)) == 4)
        await asked(pilot, "O", StaffPicker)
        options = pilot.app.screen.query_one(OptionList)
        assert str(options.get_option_at_index(0).prompt).startswith("Nobody")
        options.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: len(actions(tracked)) == 5)
        del picker

        await asked(pilot, "C", AskConfirm)
        await pilot.press("enter")
        await until(pilot, lambda: len(actions(tracked)) == 6)
        await asked(pilot, "R", AskConfirm)
        await pilot.press("enter")
        await until(pilot, lambda: len(actions(tracked)) == 7)

        screen = await asked(pilot, "number_sign", AskTags)
        screen.query_one(Input).value = "+Urgent -Waiting"
        await pilot.press("enter")
        await until(pilot, lambda: len(actions(tracked)) == 8)

        # Each change is an event of the thread, shown once it is read again.
        await until(
            pilot,
            lambda: (
                thread.detail is not None and [e.kind for e in thread.detail.events][-1] == "tags"
            ),
        )
        kinds = [event.kind for event in thread.detail.events]  # type: ignore[union-attr]

    # The test clock is Monday 23 November 2026 on a round-the-clock calendar.
    assert actions(tracked) == [
        ("deadline", {"dateend": "25.11.2026"}, "deadline", "Ana Assistant", "pending"),
        ("todo", {"todo": ["Logo", "Fonts"]}, "checklist", "Ana Assistant", "pending"),
        (
            "subtask",
            {
                "title": "Wire frames",
                "email_user_to": "pat@agency.example",
                "dateend": "26.11.2026",
                "todo": ["Home", "Contact"],
            },
            "subtask",
            "Ana Assistant",
            "pending",
        ),
        ("owner", {"email_user_to": "sam@agency.example"}, "assignee", "Ana Assistant", "pending"),
        ("owner", {"email_user_to": "NOONE"}, "assignee", "Ana Assistant", "pending"),
        ("close", {}, "task_closed", "Ana Assistant", "pending"),
        ("reopen", {}, "task_reopened", "Ana Assistant", "pending"),
        ("tags", {"plus": ["Urgent"], "minus": ["Waiting"]}, "tags", "Ana Assistant", "pending"),
    ]
    assert {"deadline", "checklist", "subtask", "task_closed", "tags"} <= set(kinds)


async def test_a_refusal_is_said_and_records_nothing(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(ws_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, TITLE)
        screen = await asked(pilot, "D", AskDeadline)
        screen.query_one(Input).value = "01.01.2020"
        await pilot.press("enter")
        await until(pilot, lambda: any("in the past" in t.message for t in app._notifications))
        [toast] = [t for t in app._notifications if "in the past" in t.message]
        assert toast.title == "Not sent to Worksection" and toast.severity == "error"
        await asked(pilot, "O", StaffPicker)
        await pilot.press("escape")  # escape cancels: nothing recorded
        await until(pilot, lambda: not isinstance(pilot.app.screen, StaffPicker))
    assert actions(tracked) == []


async def test_a_bad_answer_keeps_the_question_open_and_escape_cancels(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(ws_settings, clock).run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, TITLE)
        screen = await asked(pilot, "number_sign", AskTags)
        screen.query_one(Input).value = "urgent"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert pilot.app.screen is screen
        assert "not 'urgent'" in str(screen.query_one(".tracker-error").render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(pilot.app.screen, AskTags))
        screen = await asked(pilot, "S", AskSubtask)
        await pilot.press("ctrl+s")  # no title
        await pilot.pause(0.1)
        assert pilot.app.screen is screen
        await pilot.press("escape")
    assert actions(tracked) == []


async def test_a_thread_without_a_worksection_task_says_so_instead_of_asking(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(ws_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, "Task T1")
        await pilot.press("D")
        await until(
            pilot, lambda: any("no Worksection task" in t.message for t in app._notifications)
        )
        assert isinstance(app.thread_shown(), ThreadView)
        assert not isinstance(app.screen, AskDeadline)
    assert actions(tracked) == []


async def test_without_worksection_configured_the_keys_say_so(
    tracked: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_thread(pilot, TITLE)
        await pilot.press("T")
        await until(pilot, lambda: any("not configured" in t.message for t in app._notifications))
        assert not isinstance(app.screen, AskChecklist)


async def test_the_palette_offers_the_changes_of_the_thread_shown(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(ws_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        assert isinstance(app, Dashboard)
        offered = {name: key for name, _run, key in app.palette_actions(screen)}
        assert "Reschedule the task's deadline in Worksection" not in offered
        await open_thread(pilot, TITLE)
        entries = {name: (run, key) for name, run, key in app.palette_actions(screen)}
        for sentence in (
            "Reschedule the task's deadline in Worksection",
            "Add checklist items to the task in Worksection",
            "Create a subtask of the task in Worksection",
            "Change the task's owner in Worksection, or unassign it",
            "Close the task in Worksection",
            "Reopen the task in Worksection",
            "Add or remove the task's tags in Worksection",
        ):
            assert sentence in entries
        run, key = entries["Reschedule the task's deadline in Worksection"]
        assert key == "key D"
        ran = run()
        if inspect.isawaitable(ran):
            await ran
        # The dialog's label is looked for once it is mounted: the screen is
        # pushed before its children are.
        await until(
            pilot, lambda: isinstance(app.screen, AskDeadline) and bool(app.screen.query("Label"))
        )
        # The current deadline is offered: here the thread has none.
        assert "Deadline now: none" in str(app.screen.query_one("Label").render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AskDeadline))
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        palette = app.screen
        await pilot.press(*"subtask of the task")
        commands = palette.query_one(CommandList)
        # Enter picks the highlighted hit once every provider has answered.
        await until(
            pilot,
            lambda: (
                commands.highlighted is not None
                and all(worker.is_finished for worker in app.workers if worker.node is palette)
            ),
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AskSubtask))


async def test_help_lists_the_task_keys_with_their_ids(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(ws_settings, clock).run_test(size=(120, 40)) as pilot:
        await main_screen(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        groups = dict(pilot.app.screen.groups)  # type: ignore[attr-defined]
        thread_ids = {binding.id for binding in groups["thread"]}
        assert {
            "thread.deadline",
            "thread.todo",
            "thread.subtask",
            "thread.owner",
            "thread.close",
            "thread.reopen",
            "thread.tags",
        } <= thread_ids
        assert {b.id for b in groups["task changes"]} == {
            "tracker.cancel",
            "tracker.record",
            "tracker.confirm",
        }


def test_the_task_keys_collide_with_no_other_key_of_the_thread_the_main_screen_or_the_app() -> None:
    from tui.screens.main import MainScreen

    keys: dict[str, str] = {}
    for holder in (Dashboard, MainScreen, ThreadView):
        for binding in holder.BINDINGS:
            assert not isinstance(binding, tuple)
            for key in binding.key.split(","):
                assert (
                    key not in keys
                    or holder is not ThreadView
                    or binding.id
                    in (
                        "thread.reply",
                        "thread.no_reply",
                        "thread.handled",
                        "thread.undo",
                    )
                ), (key, binding.id, keys[key])
                keys.setdefault(key, binding.id or "")
    ours = [b for b in ThreadView.BINDINGS if b.id and b.action.startswith("tracker(")]  # type: ignore[union-attr]
    assert len(ours) == 7
    assert all(b.tooltip for b in ours)  # type: ignore[union-attr]


def test_tags_are_read_as_plus_and_minus() -> None:
    assert read_tags("+a -b +c") == {"plus": ["a", "c"], "minus": ["b"]}
    assert read_tags("") == "no tag to add or remove: write +TAG or -TAG"
    assert isinstance(read_tags("a"), str)


async def test_a_wide_key_bar_shows_the_task_keys_and_the_reply_box_turns_them_off(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(ws_settings, clock).run_test(size=(220, 40)) as pilot:
        thread = await open_thread(pilot, TITLE)
        bar = thread.screen.query_one(KeyBar)
        await until(pilot, lambda: "D Deadline" in str(bar.render()))
        shown = str(bar.render())
        assert "T Checklist" in shown and "S Subtask" in shown and "O Owner" in shown
        assert "Close task" not in shown  # in the help and the palette
        await pilot.press("r")
        await until(pilot, lambda: "^s Send" in str(bar.render()))
        assert "Deadline" not in str(bar.render())
        await pilot.press("D")  # types into the box: no question
        await pilot.pause(0.2)
        assert not isinstance(pilot.app.screen, AskDeadline)
        assert thread.query_one("#reply-text", TextArea).text == "D"


async def test_the_projects_screen_changes_the_highlighted_task_as_its_thread_does(
    tracked: Engine, ws_settings: Settings, clock: MovableClock
) -> None:
    from tui.screens.projects import ProjectsScreen
    from tui.widgets.rows import RowList

    app = make_app(ws_settings, clock)
    async with app.run_test(size=(160, 50)) as pilot:
        await main_screen(pilot)
        await pilot.press("P")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, ProjectsScreen)
                and pilot.app.screen.query_one("#projects-tasks", RowList).row_count > 0
            ),
        )
        projects = pilot.app.screen
        # On the projects above, a task key says where to choose the task and asks nothing.
        await pilot.press("D")
        await pilot.pause()
        assert pilot.app.screen is projects and actions(tracked) == []
        tasks = projects.query_one("#projects-tasks", RowList)
        tasks.focus()
        titles = [str(tasks.row(index)[0]) for index in range(tasks.row_count)]
        await pilot.press(*["down"] * titles.index(TITLE))
        await pilot.pause()
        screen = await asked(pilot, "D", AskDeadline)
        box = screen.query_one(Input)
        box.value = ""
        await pilot.press("plus", "2", "enter")
        await until(pilot, lambda: len(actions(tracked)) == 1)
        assert pilot.app.screen is projects  # back where the key was pressed
        screen = await asked(pilot, "number_sign", AskTags)
        screen.query_one(Input).value = "+Urgent"
        await pilot.press("enter")
        await until(pilot, lambda: len(actions(tracked)) == 2)
    # The same rows as from the thread: the test clock is Monday 23 November 2026.
    assert actions(tracked) == [
        ("deadline", {"dateend": "25.11.2026"}, "deadline", "Ana Assistant", "pending"),
        ("tags", {"plus": ["Urgent"], "minus": []}, "tags", "Ana Assistant", "pending"),
    ]
