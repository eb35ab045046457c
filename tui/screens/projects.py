"""The Projects screen (`P`): each client's projects, their template, progress and risks.

Read in a worker thread (core.tracker.projects.read_projects), shown when
its message arrives; the upper table lists the projects, the lower one the
selected project's tasks that need a look (overdue, without an owner, the
next deadlines). Enter on a task opens its thread, where its actions are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from core.base import i18n
from core.base.i18n import N_
from core.store.reader import Reader
from core.tracker.projects import ProjectLine, ProjectTask, read_projects
from tui.widgets.keybar import KeyBar

NOTHING = "–"
PROJECT_COLUMNS = (
    N_("Client"),
    N_("Project"),
    N_("Template"),
    N_("Done"),
    N_("By phase"),
    N_("Overdue"),
    N_("No owner"),
    N_("Next deadline"),
)
TASK_COLUMNS = (N_("Task"), N_("Deadline"), N_("Why"))


class ProjectsScreen(Screen[None]):
    """Each client's projects; Enter on a task opens its thread."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", N_("Refresh"), id="projects.refresh", tooltip=N_("Read again")),
        Binding("escape", "back", N_("Back"), id="projects.back", tooltip=N_("Go back")),
    ]

    class Loaded(Message):
        def __init__(self, lines: list[ProjectLine], today: date) -> None:
            super().__init__()
            self.lines = lines
            self.today = today

    class LoadFailed(Message):
        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class OpenThread(Message):
        def __init__(self, thread_id: int) -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(
        self, reader_factory: Callable[[], Reader], clock: Callable[[], datetime], tz: ZoneInfo
    ) -> None:
        super().__init__(id="projects")
        self.reader_factory = reader_factory
        self.clock = clock
        self.tz = tz
        self.lines: list[ProjectLine] = []
        self.today: date | None = None
        # The project whose tasks the lower table shows.
        self.shown_project: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="projects-body"):
            yield Static(i18n.gettext("Loading…"), id="projects-title", markup=False)
            yield DataTable(id="projects-table", cursor_type="row", zebra_stripes=True)
            yield Label(i18n.gettext("Tasks to look at · ⏎ opens the thread"), classes="heading")
            yield DataTable(id="projects-tasks", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self._projects().add_columns(*map(i18n.gettext, PROJECT_COLUMNS))
        self._tasks().add_columns(*map(i18n.gettext, TASK_COLUMNS))
        self.action_reload()

    def _projects(self) -> DataTable[str | Text]:
        return self.query_one("#projects-table", DataTable)

    def _tasks(self) -> DataTable[str | Text]:
        return self.query_one("#projects-tasks", DataTable)

    def action_reload(self) -> None:
        self._load(self.clock().astimezone(self.tz).date())

    def action_back(self) -> None:
        self.dismiss()

    @work(thread=True, exclusive=True, group="projects-load")
    def _load(self, today: date) -> None:
        try:
            lines = read_projects(self.reader_factory())
        except Exception as error:  # any driver's error: shown, the screen stays usable
            self.post_message(self.LoadFailed(str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(lines, today))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        text = i18n.gettext("Could not read the projects: {reason}").format(reason=message.reason)
        self.query_one("#projects-title", Static).update(text)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.lines, self.today = message.lines, message.today
        tasks = sum(len(line.tasks) for line in message.lines)
        title = i18n.gettext("{projects} projects · {tasks} tasks").format(
            projects=len(message.lines), tasks=tasks
        )
        self.query_one("#projects-title", Static).update(title)
        table = self._projects()
        table.clear()
        for index, line in enumerate(message.lines):
            table.add_row(*_project_row(line, message.today), key=str(index))
        if message.lines:
            self._show_tasks(message.lines[min(table.cursor_row, len(message.lines) - 1)])

    @on(DataTable.RowHighlighted, "#projects-table")
    def _project_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and self.lines:
            self._show_tasks(self.lines[int(event.row_key.value)])

    def _show_tasks(self, line: ProjectLine) -> None:
        assert self.today is not None
        table = self._tasks()
        table.clear()
        self.shown_project = line.project
        shown: dict[int, list[str]] = {}
        order: list[ProjectTask] = []
        for why, tasks in (
            (i18n.gettext("overdue"), line.overdue(self.today)),
            (i18n.gettext("no owner"), line.no_owner()),
            (i18n.gettext("next deadline"), line.next_deadlines(self.today)),
        ):
            for task in tasks:
                if task.thread_id not in shown:
                    shown[task.thread_id] = []
                    order.append(task)
                shown[task.thread_id].append(why)
        for task in order:
            table.add_row(
                Text(task.title),
                _day(task.deadline),
                ", ".join(shown[task.thread_id]),
                key=str(task.thread_id),
            )

    @on(DataTable.RowSelected, "#projects-tasks")
    def _task_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(self.OpenThread(int(event.row_key.value)))


def _project_row(line: ProjectLine, today: date) -> list[str | Text]:
    phases = " ".join(f"{phase} {done}/{every}" for phase, done, every in line.phases())
    coming = line.next_deadlines(today)
    return [
        Text(line.client or NOTHING),
        Text(line.project),
        Text(line.template or NOTHING),
        f"{line.done}/{len(line.tasks)}",
        Text(phases or NOTHING),
        str(len(line.overdue(today))),
        str(len(line.no_owner())),
        _day(coming[0].deadline) if coming else NOTHING,
    ]


def _day(day: date | None) -> str:
    return NOTHING if day is None else day.isoformat()
