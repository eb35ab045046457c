"""The Projects screen (`P`): each client's projects, their template, progress and risks.

Read in a worker thread (core.tracker.projects.read_projects), shown when
its message arrives; the upper table lists the projects, the lower one the
selected project's tasks that need a look (overdue, without an owner, the
next deadlines). Enter on a task opens its thread, where its actions are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, Static

from core.base import i18n
from core.base.i18n import N_
from core.store.reader import Reader
from core.tracker.projects import NEXT_DEADLINE, NO_OWNER, ProjectLine, read_projects
from tui.messages import TrackerVerb, TrackerWanted
from tui.panels.task_keys import task_bindings
from tui.widgets.keybar import KeyBar
from tui.widgets.rows import GAP, RowList

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
# The most cells each project column but the last takes (a longer cell is cut
# with an ellipsis; a label longer than this widens its column), and a task's
# title below.
NAME_CELLS = (28, 32, 24, 8, 48, 8, 8)
TITLE_CELLS = 60
# The columns that give up cells when the list is narrower than every column
# at its width (client, project, template, by phase), down to SHRUNK_CELLS;
# the counts and the next deadline keep theirs. Below, the task's title gives
# up cells for the reasons.
SHRINKING = (0, 1, 2, 4)
SHRUNK_CELLS = 6


@dataclass(frozen=True)
class Prepared:
    """The projects' rows and the columns' widths, made once in the worker: a
    move shows the project's tasks (made ahead, or on their first showing,
    then kept), with no counting over every project and no new column widths."""

    projects: list[tuple[Text, ...]]
    project_widths: list[int | None]
    task_widths: list[int | None]
    task_count: int


class ProjectList(RowList):
    """The projects: a move shows the project's tasks below in the same frame
    (through a message, the cursor's frame and the tasks' frame came apart)."""

    def cursor_moved(self, index: int) -> None:
        screen = self.screen
        if isinstance(screen, ProjectsScreen):
            screen.show_tasks(index)
        super().cursor_moved(index)

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, ProjectsScreen):
            screen.fit_columns()


class ProjectsScreen(Screen[None]):
    """Each client's projects; Enter on a task opens its thread."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", N_("Refresh"), id="projects.refresh", tooltip=N_("Read again")),
        Binding("escape", "back", N_("Back"), id="projects.back", tooltip=N_("Go back")),
        Binding("enter", "open", N_("Open thread"), id="projects.open", show=False),
        # The highlighted task's changes in Worksection, with the thread view's keys.
        *task_bindings("projects"),
    ]

    class Loaded(Message):
        def __init__(self, lines: list[ProjectLine], today: date, prepared: Prepared) -> None:
            super().__init__()
            self.lines = lines
            self.today = today
            self.prepared = prepared

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
        self.prepared: Prepared | None = None
        # Per project shown so far (its index): its tasks' rows and their threads.
        self._task_rows: dict[int, tuple[list[tuple[Text, ...]], list[int]]] = {}
        # The project whose tasks the lower list shows.
        self.shown_project: str | None = None
        self._shown_threads: list[int] = []

    def compose(self) -> ComposeResult:
        # Two lists drawn by line: a move redraws the cursor's lines (or the rows
        # in view when it scrolls) and the project's tasks, where two DataTables
        # measured their cells and laid the screen out again.
        project_labels = [i18n.gettext(name) for name in PROJECT_COLUMNS]
        task_labels = [i18n.gettext(name) for name in TASK_COLUMNS]
        with Vertical(id="projects-body"):
            yield Static(i18n.gettext("Loading…"), id="projects-title", markup=False)
            yield ProjectList(_widths(project_labels, []), project_labels, id="projects-table")
            yield Label(i18n.gettext("Tasks to look at · ⏎ opens the thread"), classes="heading")
            yield RowList(_widths(task_labels, []), task_labels, id="projects-tasks")
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_reload()

    def _projects(self) -> RowList:
        return self.query_one("#projects-table", RowList)

    def _tasks(self) -> RowList:
        return self.query_one("#projects-tasks", RowList)

    def action_reload(self) -> None:
        self._load(self.clock().astimezone(self.tz).date())

    def action_back(self) -> None:
        self.dismiss()

    def action_open(self) -> None:
        tasks = self._tasks()
        if self.focused is tasks and tasks.row_count:
            self.post_message(self.OpenThread(self._shown_threads[tasks.cursor_row]))

    def action_tracker(self, verb: TrackerVerb) -> None:
        """A change to the highlighted task below, asked by the app as from its thread."""
        tasks = self._tasks()
        if self.focused is not tasks or not tasks.row_count:
            self.notify(
                i18n.gettext("Choose a task in the list below first (tab moves there)."),
                severity="warning",
                markup=False,
            )
            return
        row = tasks.cursor_row
        deadline = tasks.row(row)[1].plain
        self.post_message(
            TrackerWanted(self._shown_threads[row], verb, None if deadline == NOTHING else deadline)
        )

    @work(thread=True, exclusive=True, group="projects-load")
    def _load(self, today: date) -> None:
        try:
            lines = read_projects(self.reader_factory())
        except Exception as error:  # any driver's error: shown, the screen stays usable
            self.post_message(self.LoadFailed(str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(lines, today, _prepare(lines, today)))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        text = i18n.gettext("Could not read the projects: {reason}").format(reason=message.reason)
        self.query_one("#projects-title", Static).update(text)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.lines, self.today, self.prepared = message.lines, message.today, message.prepared
        self._task_rows = {}
        prepared = message.prepared
        title = i18n.gettext("{projects} projects · {tasks} tasks").format(
            projects=len(message.lines), tasks=prepared.task_count
        )
        self.query_one("#projects-title", Static).update(title)
        table = self._projects()
        cursor = max(0, min(table.cursor_row, len(prepared.projects) - 1))
        table.widths, self._tasks().widths = self._fitted(prepared)
        table.set_rows(prepared.projects, cursor=cursor)
        if message.lines:
            self.show_tasks(cursor)

    def fit_columns(self) -> None:
        """The projects' columns narrowed to the list's width (all in view: a
        list drawn by line does not scroll sideways)."""
        if self.prepared is None:
            return
        table, tasks = self._projects(), self._tasks()
        widths, task_widths = self._fitted(self.prepared)
        if widths != table.widths:
            table.widths = widths
            table.set_rows(self.prepared.projects, cursor=table.cursor_row)
        if task_widths != tasks.widths:
            tasks.widths = task_widths
            tasks.set_rows([tasks.row(index) for index in range(tasks.row_count)], tasks.cursor_row)

    def _fitted(self, prepared: Prepared) -> tuple[list[int | None], list[int | None]]:
        """The widths of the projects' columns and of the tasks' for the lists' width."""
        day = len(date.min.isoformat())
        last = max(cell_len(i18n.gettext(PROJECT_COLUMNS[-1])), day)
        why = cell_len(", ".join(i18n.gettext(reason) for reason in (NO_OWNER, NEXT_DEADLINE)))
        return (
            _fit(
                prepared.project_widths,
                self._projects().scrollable_content_region.width,
                SHRINKING,
                last,
            ),
            _fit(prepared.task_widths, self._tasks().scrollable_content_region.width, (0,), why),
        )

    def show_tasks(self, index: int) -> None:
        """Show the tasks to look at of the project at `index`."""
        if self.today is None or index >= len(self.lines):
            return
        found = self._task_rows.get(index)
        if found is None:
            found = self._task_rows[index] = _task_rows(self.lines[index], self.today)
        rows, self._shown_threads = found
        self.shown_project = self.lines[index].project
        self._tasks().set_rows(rows)
        # The neighbours' rows made once this frame is out: the next move is a
        # lookup, the frame before it not kept waiting.
        self.call_after_refresh(self._make_neighbours, index)

    def _make_neighbours(self, index: int) -> None:
        """Make the task rows of the projects above and below `index`, if not
        made, and draw those that will show first."""
        if self.today is None:
            return
        tasks = self._tasks()
        for near in (index + 1, index - 1):
            if 0 <= near < len(self.lines) and near not in self._task_rows:
                self._task_rows[near] = _task_rows(self.lines[near], self.today)
                tasks.prerender(self._task_rows[near][0][: tasks.size.height])

    @on(RowList.Selected, "#projects-tasks")
    def _task_clicked(self, event: RowList.Selected) -> None:
        self.post_message(self.OpenThread(self._shown_threads[event.index]))


def _prepare(lines: list[ProjectLine], today: date) -> Prepared:
    """The projects' rows and the columns' widths, for the worker to make."""
    projects = [_project_row(line, today) for line in lines]
    project_labels = [i18n.gettext(name) for name in PROJECT_COLUMNS]
    task_labels = [i18n.gettext(name) for name in TASK_COLUMNS]
    # The columns of the tasks below keep their widths from project to project.
    title = max(
        (
            len(task.title) if task.title.isascii() else cell_len(task.title)
            for line in lines
            for task in line.tasks
        ),
        default=0,
    )
    task_widths: list[int | None] = [
        max(cell_len(task_labels[0]), min(title, TITLE_CELLS)),
        max(cell_len(task_labels[1]), len(date.min.isoformat())),
        None,
    ]
    return Prepared(
        projects=projects,
        project_widths=_widths(project_labels, projects, NAME_CELLS),
        task_widths=task_widths,
        task_count=sum(len(line.tasks) for line in lines),
    )


def _task_rows(line: ProjectLine, today: date) -> tuple[list[tuple[Text, ...]], list[int]]:
    """The rows of a project's tasks to look at, and their threads."""
    looks = line.to_look_at(today)
    rows: list[tuple[Text, ...]] = [
        (
            Text(task.title),
            Text(_day(task.deadline)),
            Text(", ".join(i18n.gettext(why) for why in reasons)),
        )
        for task, reasons in looks
    ]
    return rows, [task.thread_id for task, _reasons in looks]


def _widths(
    labels: list[str], rows: list[tuple[Text, ...]], most: tuple[int, ...] = ()
) -> list[int | None]:
    """Each column as wide as its label and its widest cell (at most `most`); the
    last takes the rest."""
    widths: list[int | None] = []
    for column, label in enumerate(labels[:-1]):
        wide = max([cell_len(label)] + [row[column].cell_len for row in rows])
        widths.append(min(wide, max(most[column], cell_len(label))) if column < len(most) else wide)
    return [*widths, None]


def _fit(
    widths: list[int | None], room: int, shrinking: tuple[int, ...], last: int
) -> list[int | None]:
    """`widths` with the `shrinking` columns narrowed, the widest first (to
    SHRUNK_CELLS at least), till every column and the gaps between them fit in
    `room` cells with `last` cells left for the last column."""
    fitted = list(widths)
    if room <= 0:  # not laid out yet: its resize fits the columns
        return fitted
    taken = sum(width or 0 for width in fitted) + len(GAP) * (len(fitted) - 1)
    over = taken + last - room
    while over > 0:
        column = max(shrinking, key=lambda index: fitted[index] or 0)
        width = fitted[column] or 0
        if width <= SHRUNK_CELLS:
            break
        fitted[column] = width - 1
        over -= 1
    return fitted


def _project_row(line: ProjectLine, today: date) -> tuple[Text, ...]:
    figures = line.summary(today)
    phases = " ".join(f"{phase} {done}/{every}" for phase, done, every in figures.phases)
    return (
        Text(line.client or NOTHING),
        Text(line.project),
        Text(line.template or NOTHING),
        Text(f"{figures.done}/{figures.tasks}"),
        Text(phases or NOTHING),
        Text(str(figures.overdue)),
        Text(str(figures.no_owner)),
        Text(_day(figures.next_deadline)),
    )


def _day(day: date | None) -> str:
    return NOTHING if day is None else day.isoformat()
