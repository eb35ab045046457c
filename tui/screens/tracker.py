"""Changes to a thread's Worksection task from the dashboard: the small questions, and the flow.

The thread view's keys (and the command palette, which offers the same
bindings) post a `TrackerWanted`; `TrackerFlow` checks in a worker that the
thread has a Worksection task (else it says so), reads what the question
needs (the staff, for an owner), and opens the question. The answer is
recorded in a worker through core.tracker.actions as the operator, and a
`TrackerDone` message brings back "queued for Worksection" or the refusal's
message. The recorded change is an event of the thread: the thread view
shows it once read again. See docs/dashboard.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static, TextArea

from core.base.i18n import N_, gettext
from tui.display.text import as_text
from tui.messages import TrackerDone
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from core.tracker.actions import Recorded, Tracker
    from tui.sources.backend import Backend

# The answer a question is dismissed with, by verb (see `TrackerFlow.record`).
Answer = dict[str, Any]
ENTER_HINT = N_("enter records it for Worksection · escape cancels")
FORM_HINT = N_("ctrl+s records it for Worksection · escape cancels")
DAY_HINT = N_("a date (12.12, 12.12.2026, 2026-12-12) or +N business days from today")


class TrackerAsk(ModalScreen[Answer | None]):
    """A small question about a change to a task; escape cancels (dismissed with None)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="tracker.cancel", tooltip=N_("Cancel")),
        Binding(
            "ctrl+s",
            "record",
            "Record",
            id="tracker.record",
            tooltip=N_("Record the change for Worksection"),
        ),
    ]
    HINT = ENTER_HINT

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal tracker-box"):
            # Task titles come from clients and the tracker: shown literally.
            yield Static(as_text(self.title_text), classes="modal-title")
            yield from self.fields()
            yield Static("", classes="tracker-error")
            yield Static(Text(gettext(self.HINT), style="dim"))
        yield KeyBar()

    def fields(self) -> ComposeResult:
        yield from ()

    def answer(self) -> Answer | str:
        """The answer, or what is wrong with it (said in the box, which stays open)."""
        return {}

    def action_record(self) -> None:
        found = self.answer()
        if isinstance(found, str):
            self.query_one(".tracker-error", Static).update(Text(found, style="bold red"))
            return
        self.dismiss(found)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_record()

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskDeadline(TrackerAsk):
    """The task's new deadline: a date or +N business days; the current one shown."""

    def __init__(self, title: str, current: str | None) -> None:
        super().__init__(title)
        self.current = current

    def fields(self) -> ComposeResult:
        now = self.current or gettext("none")
        yield Label(gettext("Deadline now: {day}").format(day=now), markup=False)
        yield Input(
            value=(self.current or "")[:10],
            placeholder=gettext("12.12 or +2"),
            id="tracker-deadline",
        )
        yield Static(Text(gettext(DAY_HINT), style="dim"))

    def answer(self) -> Answer | str:
        when = self.query_one("#tracker-deadline", Input).value.strip()
        return {"when": when} if when else gettext("Write a date, or +N business days.")


class AskChecklist(TrackerAsk):
    """Checklist items to add to the task: one a line."""

    HINT = FORM_HINT

    def fields(self) -> ComposeResult:
        yield Label(gettext("One item a line:"))
        yield TextArea(id="tracker-todo")

    def on_mount(self) -> None:
        self.query_one("#tracker-todo", TextArea).focus()

    def answer(self) -> Answer | str:
        lines = [line.strip() for line in self.query_one(TextArea).text.splitlines()]
        lines = [line for line in lines if line]
        return {"lines": lines} if lines else gettext("Write one item or more, one a line.")


class AskSubtask(TrackerAsk):
    """A subtask: title, owner (optional), deadline (optional), checklist (optional)."""

    HINT = FORM_HINT

    def __init__(self, title: str, staff: list[tuple[int, str]]) -> None:
        super().__init__(title)
        self.staff = staff

    def fields(self) -> ComposeResult:
        yield Label(gettext("Title"))
        yield Input(id="tracker-sub-title")
        yield Label(gettext("Owner"))
        yield Select(
            [(name, staff_id) for staff_id, name in self.staff],
            prompt=gettext("nobody yet"),
            id="tracker-sub-owner",
        )
        yield Label(gettext("Deadline (optional): 12.12 or +2"))
        yield Input(id="tracker-sub-deadline")
        yield Label(gettext("Checklist (optional), one item a line"))
        yield TextArea(id="tracker-sub-todo")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter moves on; ctrl+s records the whole form
        self.focus_next()

    def answer(self) -> Answer | str:
        title = self.query_one("#tracker-sub-title", Input).value.strip()
        if not title:
            return gettext("A subtask needs a title.")
        owner = self.query_one("#tracker-sub-owner", Select).value
        deadline = self.query_one("#tracker-sub-deadline", Input).value.strip()
        todo = self.query_one("#tracker-sub-todo", TextArea).text
        return {
            "title": title,
            "owner": None if owner is Select.BLANK else str(owner),
            "deadline": deadline or None,
            "todo": [line for line in todo.splitlines() if line.strip()],
        }


class AskTags(TrackerAsk):
    """Tags to add (+name) and remove (-name), the task's others kept."""

    def fields(self) -> ComposeResult:
        yield Label(gettext("+TAG adds a tag, -TAG removes one; several separated by spaces"))
        yield Input(placeholder="+urgent -waiting", id="tracker-tags")

    def answer(self) -> Answer | str:
        return read_tags(self.query_one("#tracker-tags", Input).value)


class AskConfirm(TrackerAsk):
    """Close or reopen the task: enter confirms."""

    BINDINGS = [
        *TrackerAsk.BINDINGS,
        Binding(
            "enter", "record", "Confirm", id="tracker.confirm", tooltip=N_("Confirm the change")
        ),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__(title)
        self.question = question

    def fields(self) -> ComposeResult:
        yield Label(self.question, markup=False)


def read_tags(text: str) -> Answer | str:
    """`+x -y` as {"plus": [...], "minus": [...]}, or what is wrong with it."""
    from core.tracker.actions import TrackerRefused, tag_changes

    try:
        plus, minus = tag_changes(text.split())
    except TrackerRefused as error:
        return str(error)
    return {"plus": plus, "minus": minus}


class TrackerFlow:
    """From a key to a queued change: the checks and reads in workers, the questions on screen."""

    def __init__(self, app: App[Any], backend: Backend) -> None:
        self.app = app
        self.backend = backend

    def ask(self, thread_id: int, verb: str, deadline: str | None = None) -> None:
        self.app.run_worker(
            partial(self._prepare, thread_id, verb, deadline),
            thread=True,
            group="tracker",
            exit_on_error=False,
        )

    def _prepare(self, thread_id: int, verb: str, deadline: str | None) -> None:
        """In a worker: the thread's task found (else said), then the question opened."""
        from core.conversations.people import list_staff
        from core.tracker.actions import TrackerRefused, find_target
        from tui.widgets.pickers import StaffPicker

        try:
            self._configured()
            target = find_target(self.backend.engine, thread_id)
        except TrackerRefused as refused:
            self._told(TrackerDone(thread_id, verb, str(refused), asked=False))
            return
        title = target.title
        question: ModalScreen[Any]
        if verb == "deadline":
            question = AskDeadline(gettext("New deadline · {task}").format(task=title), deadline)
        elif verb == "todo":
            question = AskChecklist(gettext("Add checklist items · {task}").format(task=title))
        elif verb == "tags":
            question = AskTags(gettext("Add or remove tags · {task}").format(task=title))
        elif verb in ("close", "reopen"):
            question = AskConfirm(
                gettext("Close the task · {task}").format(task=title)
                if verb == "close"
                else gettext("Reopen the task · {task}").format(task=title),
                gettext("Enter to confirm, escape to cancel."),
            )
        else:
            staff = [
                (person.id, person.name)
                for person in list_staff(self.backend.engine)
                if person.active
            ]
            if verb == "subtask":
                question = AskSubtask(gettext("New subtask of · {task}").format(task=title), staff)
            else:
                question = StaffPicker(
                    gettext("Owner in Worksection · {task}").format(task=title),
                    staff,
                    nobody=gettext("Nobody (unassign in Worksection)"),
                )
        self.app.call_from_thread(
            self.app.push_screen, question, partial(self._answered, thread_id, verb)
        )

    def _configured(self) -> None:
        from core.tracker.actions import TrackerRefused

        if self.backend.settings.worksection is None:
            raise TrackerRefused(gettext("Worksection is not configured (the [worksection] table)"))

    def _answered(self, thread_id: int, verb: str, answer: Answer | int | str | None) -> None:
        from tui.widgets.pickers import NOBODY

        if answer is None:
            return
        if verb == "owner":  # the staff picker's answer: an id, or NOBODY
            answer = {"owner": None if answer == NOBODY else str(answer)}
        if isinstance(answer, dict):
            self.record(thread_id, verb, answer)

    def record(self, thread_id: int, verb: str, answer: Answer) -> None:
        """Record the change in a worker; a TrackerDone tells how it went."""
        self.app.run_worker(
            partial(self._record, thread_id, verb, answer),
            thread=True,
            group="tracker",
            exit_on_error=False,
        )

    def _record(self, thread_id: int, verb: str, answer: Answer) -> None:
        from core.tracker.actions import TrackerRefused
        from core.tracker.delivery import describe
        from tui.sources.backend import NoOperator

        try:
            self._configured()
            staff = self.backend.operator().id
            recorded = _run(self._tracker(), thread_id, staff, verb, answer)
        except (TrackerRefused, NoOperator) as refused:
            self._told(TrackerDone(thread_id, verb, str(refused)))
            return
        what = describe(recorded.verb, recorded.params)
        self._told(
            TrackerDone(
                thread_id,
                verb,
                text=gettext("Queued for Worksection task {task}: {what}").format(
                    task=recorded.target.task_id, what=what
                ),
            )
        )

    def _tracker(self) -> Tracker:
        from core.tracker.actions import Tracker

        backend = self.backend
        return Tracker(backend.ingestor, backend.settings, backend.clock)

    def _told(self, message: TrackerDone) -> None:
        self.app.post_message(message)


def _run(tracker: Tracker, thread_id: int, staff: int, verb: str, answer: Answer) -> Recorded:
    actions: dict[str, Callable[[], Recorded]] = {
        "deadline": lambda: tracker.deadline(thread_id, staff, answer["when"]),
        "todo": lambda: tracker.todo(thread_id, staff, answer["lines"]),
        "subtask": lambda: tracker.subtask(
            thread_id,
            staff,
            answer["title"],
            owner=answer.get("owner"),
            deadline=answer.get("deadline"),
            todo=answer.get("todo", ()),
        ),
        "owner": lambda: tracker.owner(thread_id, staff, answer.get("owner")),
        "close": lambda: tracker.close(thread_id, staff),
        "reopen": lambda: tracker.reopen(thread_id, staff),
        "tags": lambda: tracker.tags(thread_id, staff, answer["plus"], answer["minus"]),
    }
    return actions[verb]()
