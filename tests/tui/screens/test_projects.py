"""The Projects screen through Textual's pilot, on a database filled by the ingestor."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

import tui
import tui.screens.projects as projects_screen
from core.conversations.ingest import Ingestor
from core.store.connect import reader_for
from core.store.models.system import table
from core.store.models.templates import TemplateTask
from tests.support import START, make_event
from tui.screens.projects import ProjectsScreen
from tui.widgets.rows import RowList

PARIS = ZoneInfo("Europe/Paris")
NOW = START + timedelta(hours=2)  # Monday 23 November 2026
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"
TITLES = {"9001": "Context and goal", "9002": "Mock-ups", "9003": "Kick-off call"}
ANA = {"name": "Ana", "email": "ana@agency.example", "role": "staff"}


def tracker(id_: str, minute: float, kind: str, task: str, **fields: Any) -> dict[str, Any]:
    event = make_event(id_, minute, role="staff", kind=kind, task=task, source="worksection")
    event["task"]["title"] = TITLES.get(task, f"Task {task}")
    event.update(fields)
    return event


@pytest.fixture
def filled(engine: Engine, ingestor: Ingestor) -> Engine:
    ingestor.ingest(
        [
            tracker("1", 0, "task_created", "9001"),
            tracker("2", 1, "assignee", "9001", assignee=ANA),
            tracker("3", 2, "deadline", "9001", deadline="2026-11-20"),  # overdue
            tracker("4", 3, "task_created", "9002"),  # nobody
            tracker("5", 4, "deadline", "9002", deadline="2026-11-30"),
            tracker("6", 5, "task_created", "9003"),
            tracker("7", 6, "assignee", "9003", assignee=ANA),
            tracker("8", 7, "task_closed", "9003"),
            tracker("9", 8, "task_created", "9100", client="Bigco", project="SEO"),
            tracker("10", 9, "assignee", "9100", client="Bigco", project="SEO", assignee=ANA),
        ]
    )
    rows = [("9001", "Start"), ("9002", "Design"), ("9003", "Start")]
    with engine.begin() as connection:
        for task_id, phase in rows:
            connection.execute(
                insert(table(TemplateTask)).values(
                    project_id="77",
                    template="website-launch",
                    path=f'["{task_id}"]',
                    title=task_id,
                    phase=phase,
                    role="pm",
                    date_start=date(2026, 11, 16),
                    date_end=date(2026, 11, 30),
                    state="created",
                    task_id=task_id,
                    updated_at=START,
                )
            )
    return engine


class ProjectsApp(App[None]):
    CSS_PATH = STYLESHEET

    def __init__(self, database: str) -> None:
        super().__init__()
        self.database = database
        self.opened: list[int] = []

    def on_mount(self) -> None:
        self.push_screen(ProjectsScreen(lambda: reader_for(self.database), lambda: NOW, PARIS))

    def on_projects_screen_open_thread(self, message: ProjectsScreen.OpenThread) -> None:
        self.opened.append(message.thread_id)


async def settled(pilot: Pilot[None]) -> ProjectsScreen:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ProjectsScreen)
    return screen


def rows(screen: ProjectsScreen, table_id: str) -> list[list[str]]:
    found = screen.query_one(f"#{table_id}", RowList)
    return [[str(cell) for cell in found.row(index)] for index in range(found.row_count)]


async def test_progress_overdue_no_owner_and_enter_opens_the_thread(filled: Engine) -> None:
    assert filled.url.database
    app = ProjectsApp(filled.url.database)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await settled(pilot)
        title = str(screen.query_one("#projects-title", Static).content)
        assert title == "2 projects · 4 tasks"
        assert rows(screen, "projects-table") == [
            [
                "Acme",
                "Website",
                "website-launch",
                "1/3",
                "Start 1/2 Design 0/1",
                "1",
                "1",
                "2026-11-30",
            ],
            ["Bigco", "SEO", "–", "0/1", "–", "0", "0", "–"],
        ]
        assert rows(screen, "projects-tasks") == [
            ["Context and goal", "2026-11-20", "overdue"],
            ["Mock-ups", "2026-11-30", "no owner, next deadline"],
        ]
        await pilot.press("down")  # the second project: nothing to look at
        await pilot.pause()
        assert rows(screen, "projects-tasks") == []
        await pilot.press("up")
        await pilot.pause()
        screen.query_one("#projects-tasks", RowList).focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        [(mockups,)] = reader_for(filled.url.database).rows(
            "SELECT id FROM thread WHERE title = 'Mock-ups'"
        )
        assert app.opened == [mockups]


async def test_a_move_shows_rows_made_beforehand_for_the_neighbour(
    filled: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a project's tasks are shown, its neighbours' rows are made after
    the frame: the move to the next project makes none, and shows the same."""
    assert filled.url.database
    app = ProjectsApp(filled.url.database)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await settled(pilot)
        assert set(screen._task_rows) == {0, 1}
        made: list[int] = []
        original = projects_screen._task_rows

        def counted(line: Any, today: date) -> Any:
            made.append(1)
            return original(line, today)

        monkeypatch.setattr(projects_screen, "_task_rows", counted)
        await pilot.press("down")
        await pilot.pause()
        assert made == []
        assert screen.shown_project == "SEO"
        assert rows(screen, "projects-tasks") == []
        await pilot.press("up")
        await pilot.pause()
        assert made == []
        assert rows(screen, "projects-tasks") == [
            ["Context and goal", "2026-11-20", "overdue"],
            ["Mock-ups", "2026-11-30", "no owner, next deadline"],
        ]


def test_the_dashboard_opens_it_with_capital_p() -> None:
    from tui.app import Dashboard

    [binding] = [b for b in Dashboard.BINDINGS if getattr(b, "id", None) == "app.projects"]
    assert (binding.key, binding.action) == ("P", "projects")  # type: ignore[union-attr]


async def test_on_a_narrow_terminal_every_column_stays_in_view(filled: Engine) -> None:
    assert filled.url.database
    app = ProjectsApp(filled.url.database)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settled(pilot)
        projects = screen.query_one("#projects-table", RowList)
        lines = [projects.render_line(y).text for y in range(3)]
        assert lines[0].split() == [
            "Client", "Project", "Template", "Done", "By", "phase", "Overdue", "No", "owner",
            "Next", "deadline",
        ]  # fmt: skip
        # The names are cut, the counts and the next deadline shown whole.
        shown = "website-l…  1/3   Start 1/2…  1        1         2026-11-30"
        assert lines[1].rstrip().endswith(shown)
        tasks = screen.query_one("#projects-tasks", RowList)
        assert tasks.render_line(2).text.rstrip().endswith("2026-11-30  no owner, next deadline")
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        wide = projects.render_line(1).text
        assert "Acme" in wide and "website-launch" in wide and "Start 1/2 Design 0/1" in wide


def test_fitting_narrows_the_widest_shrinking_column_first_and_not_below_its_least() -> None:
    from tui.screens.projects import SHRUNK_CELLS, _fit

    # 20 + 10 + 30, three gaps of 2 and 10 for the last: 76 cells in 60.
    assert _fit([20, 10, 30, None], 60, (0, 2), 10) == [17, 10, 17, None]
    assert _fit([20, 10, 30, None], 10, (0, 2), 10) == [SHRUNK_CELLS, 10, SHRUNK_CELLS, None]
    assert _fit([20, 10, 30, None], 200, (0, 2), 10) == [20, 10, 30, None]
