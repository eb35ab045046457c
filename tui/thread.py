"""The thread view: the conversation, its people and clocks, and what to do about it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from core.queries import ClockView
from core.threads import ThreadDetail, ThreadEvent, thread_detail

from .format import Formatter
from .messages import ActionDone
from .text import as_text, clean

if TYPE_CHECKING:
    from .app import Dashboard
    from .backend import Backend

# The bar before each line of an event, and its colour, by who speaks:
# clients, staff in public, and internal notes the client never sees.
BARS = {
    "client": ("▌ ", "bold yellow"),
    "staff": ("▌ ", "green"),
    "internal": ("┊ ", "magenta"),
}
DELIVERY_MARKS = {"pending": "⧗ pending", "delivered": "✓ delivered", "failed": "✗ failed"}


class Loaded(Message):
    def __init__(self, thread_id: int, detail: ThreadDetail | None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.detail = detail


class ThreadScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="thread.back"),
        Binding("r", "reply", "Reply", id="thread.reply"),
        Binding("i", "note", "Internal note", id="thread.note"),
        Binding("a", "assign", "Assign", id="thread.assign"),
        Binding("w", "watch", "Tag", id="thread.watch"),
        Binding("n", "no_reply", "No reply needed", id="thread.no_reply"),
        Binding("h", "handled", "Handled", id="thread.handled"),
        Binding("o", "open_task", "Open task", id="thread.open_task"),
        Binding("ctrl+s", "send", "Send", id="thread.send", show=False),
    ]

    def __init__(
        self, backend: Backend, formatter: Formatter, thread_id: int, reply: bool = False
    ) -> None:
        super().__init__()
        self.backend = backend
        self.formatter = formatter
        self.thread_id = thread_id
        self.detail: ThreadDetail | None = None
        self._reply_on_load = reply
        self._internal = False

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="thread-top"):
            yield Static("Loading…", id="thread-info")
            yield Static("", id="thread-clock")
        with VerticalScroll(id="conversation"):
            yield Static("", id="conversation-text")
        with Vertical(id="reply-box"):
            yield Static("", id="reply-label")
            yield TextArea(id="reply-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reply-box").display = False
        self.load()
        self.set_interval(1.0, self._tick)

    def show_thread(self, thread_id: int, reply: bool = False) -> None:
        """Show another thread in this same screen.

        The app keeps one thread screen and reuses it: building a screen
        (its widgets, their styles, its footer) for every thread opened cost
        most of the time between Enter and the conversation on screen.
        """
        self.thread_id = thread_id
        self._reply_on_load = reply
        self.detail = None
        self.query_one("#reply-box").display = False
        self.query_one("#thread-info", Static).update("Loading…")
        self.query_one("#thread-clock", Static).update("")
        self.query_one("#conversation-text", Static).update("")
        self.load()

    @work(thread=True, exclusive=True, group="thread")
    def load(self) -> None:
        thread_id = self.thread_id
        self.post_message(Loaded(thread_id, thread_detail(self.backend.reader(), thread_id)))

    def on_loaded(self, message: Loaded) -> None:
        if message.thread_id != self.thread_id:
            return  # a thread the assistant has already left
        self.detail = message.detail
        if message.detail is None:
            self.query_one("#thread-info", Static).update(f"No thread {self.thread_id}.")
            return
        self._show(message.detail)
        if self._reply_on_load:
            self._reply_on_load = False
            self.action_reply()

    def on_action_done(self, message: ActionDone) -> None:
        if message.thread_id == self.thread_id:
            self.load()

    # -- rendering ---------------------------------------------------------------

    def _show(self, detail: ThreadDetail) -> None:
        self.query_one("#thread-info", Static).update(self._info(detail))
        self._tick()
        # One widget for the whole conversation: a widget per event made
        # opening a long thread cost a layout and a CSS match per event.
        text = Text()
        for index, event in enumerate(detail.events):
            if index:
                text.append("\n\n")
            text.append_text(self._event(event))
        self.query_one("#conversation-text", Static).update(text)
        self.query_one("#conversation", VerticalScroll).scroll_end(animate=False)

    def _info(self, detail: ThreadDetail) -> Text:
        text = Text()
        text.append_text(as_text(detail.title, "bold"))
        where = " / ".join(part for part in (detail.client, detail.project) if part)
        text.append("\n")
        text.append_text(as_text(where or "no client", "dim"))
        text.append(f"  · {detail.kind} via {detail.channel}", style="dim")
        facts = [
            ("status", detail.status or "—"),
            ("deadline", detail.deadline or "—"),
            ("assignee", ", ".join(detail.assignees) or "nobody"),
            ("watchers", ", ".join(detail.watchers) or "—"),
        ]
        for label, value in facts:
            text.append(f"\n{label}: ", style="dim")
            text.append_text(as_text(value))
        if detail.url:
            text.append("\ntask: ", style="dim")
            text.append_text(as_text(detail.url, "underline"))
        return text

    def _event(self, event: ThreadEvent) -> Text:
        """An event under a header line, behind a bar coloured by who wrote it."""
        body = Text()
        now = self.backend.now()
        body.append(self.formatter.datetime(event.occurred_at), style="dim")
        body.append(f" ({self.formatter.ago(event.occurred_at, now)})", style="dim italic")
        body.append("  ")
        body.append_text(as_text(event.author or "system", "bold"))
        label = _label(event)
        if label:
            body.append(f"  {label}", style="italic")
        if event.delivery:
            mark = DELIVERY_MARKS.get(event.delivery, event.delivery)
            body.append(f"  {mark}", style="red" if event.delivery == "failed" else "dim")
            if event.delivery_error:
                body.append_text(as_text(f" ({event.delivery_error})", "red"))
        if event.text:
            body.append("\n")
            body.append_text(as_text(event.text, "italic dim" if event.internal else ""))
        bar, colour = BARS[_voice(event)]
        text = Text()
        for index, line in enumerate(body.split("\n")):
            if index:
                text.append("\n")
            text.append(bar, style=colour)
            text.append_text(line)
        return text

    def _tick(self) -> None:
        if self.detail is None:
            return
        now = self.backend.now()
        self.query_one("#thread-clock", Static).update(self._clocks(self.detail.clocks, now))

    def _clocks(self, clocks: list[ClockView], now: datetime) -> Text:
        text = Text()
        running = next((clock for clock in clocks if clock.outcome == "running"), None)
        if running is not None:
            state = running.state(now)
            style = {"safe": "green", "warning": "yellow", "breached": "bold red"}.get(
                state, "bold red"
            )
            left = self.formatter.countdown(running.seconds_left(now))
            text.append(f"{left}  {state}\n", style=style)
            text.append(f"due {self.formatter.until(running.due_at, now)}\n", style="dim")
        else:
            text.append("no clock running\n", style="dim")
        for clock in clocks[-6:]:
            took = (
                self.formatter.countdown(clock.business_seconds)
                if clock.business_seconds is not None
                else "—"
            )
            started = self.formatter.time(clock.started_at)
            outcome = clock.outcome.replace("_", " ")
            text.append(f"{started} {clock.kind:<5} {outcome} {took}\n", style="dim")
        return text

    # -- actions -------------------------------------------------------------------

    def action_back(self) -> None:
        if self.query_one("#reply-box").display:
            self.query_one("#reply-box").display = False
            return
        self.app.pop_screen()

    def action_reply(self, internal: bool = False) -> None:
        self._internal = internal
        box = self.query_one("#reply-box")
        label = "Internal note (not sent)" if internal else "Reply to the client"
        channel = self.detail.channel if self.detail else ""
        self.query_one("#reply-label", Static).update(
            f"{label}{'' if internal else f' via {channel}'} · ctrl+s sends, escape cancels"
        )
        box.display = True
        self.query_one("#reply-text", TextArea).focus()

    def action_note(self) -> None:
        self.action_reply(internal=True)

    def action_send(self) -> None:
        area = self.query_one("#reply-text", TextArea)
        if not self.query_one("#reply-box").display:
            return
        body = area.text
        if not body.strip():
            self.notify("Nothing to send.", severity="warning")
            return
        self.dashboard.send_reply(self.thread_id, body, internal=self._internal)
        area.clear()
        self.query_one("#reply-box").display = False

    def action_assign(self) -> None:
        self.dashboard.pick_staff(self.thread_id, watch=False)

    def action_watch(self) -> None:
        self.dashboard.pick_staff(self.thread_id, watch=True)

    def action_no_reply(self) -> None:
        self.dashboard.no_reply_needed(self.thread_id)

    def action_handled(self) -> None:
        self.dashboard.mark_handled(self.thread_id)

    def action_open_task(self) -> None:
        if self.detail is None or not self.detail.url:
            self.notify("This thread has no task link.", severity="warning")
            return
        self.app.open_url(clean(self.detail.url))


def _label(event: ThreadEvent) -> str:
    if event.internal:
        return "internal note"
    if event.kind == "message":
        return ""
    if event.value:
        return f"{event.kind.replace('_', ' ')}: {event.value}"
    return event.kind.replace("_", " ")


def _voice(event: ThreadEvent) -> str:
    if event.internal:
        return "internal"
    return "client" if event.author_role == "client" else "staff"
