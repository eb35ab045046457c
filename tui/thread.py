"""The thread view: the conversation, its people and clocks, and what to do about it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static, TextArea

from core.queries import ClockView
from core.threads import ThreadDetail

from .conversation import Conversation
from .format import Formatter
from .keybar import KeyBar
from .messages import ActionDone
from .pages import ThreadPage
from .text import clean

if TYPE_CHECKING:
    from .app import Dashboard
    from .backend import Backend


class ThreadScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back", id="thread.back"),
        Binding("r", "reply", "Reply", id="thread.reply"),
        Binding("i", "note", "Internal note", id="thread.note"),
        Binding("a", "assign", "Assign", id="thread.assign"),
        Binding("w", "watch", "Watchers", id="thread.watch"),
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
        # Held, not queried: a page may arrive before the nested widgets are mounted.
        self._info = Static("Loading…", id="thread-info")
        self._clock = Static("", id="thread-clock")
        self._clock_lines = 0
        self._conversation = Conversation(id="conversation")

    @property
    def dashboard(self) -> Dashboard:
        return cast("Dashboard", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="thread-top"):
            yield self._info
            yield self._clock
        yield self._conversation
        with Vertical(id="reply-box"):
            yield Static("", id="reply-label")
            yield TextArea(id="reply-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._show_current()

    def show_thread(self, thread_id: int, reply: bool = False) -> None:
        """Show a thread in this same screen: its page if read ahead, else as soon as it is read.

        The app keeps one thread screen and reuses it: building a screen
        (its widgets, their styles, its key bar) for every thread opened cost
        most of the time between Enter and the conversation on screen.
        """
        self.thread_id = thread_id
        self._reply_on_load = reply
        if self.is_mounted:  # else on_mount shows it
            self._show_current()

    def _show_current(self) -> None:
        self.query_one("#reply-box").display = False
        page = self.dashboard.want_page(self.thread_id)
        if page is not None:
            self.show_page(page)
            return
        self.detail = None
        self._info.update("Loading…")
        self._clock.update("")
        self._clock_lines = 0
        self._conversation.show(Text())

    def show_page(self, page: ThreadPage) -> None:
        """A page read for this screen's thread (the app hands over every page it reads)."""
        if page.thread_id != self.thread_id:
            return  # a thread the assistant has already left
        self.detail = page.detail
        self._info.update(page.info)
        self._tick()
        self._conversation.show(page.conversation, wrapped=page.wrapped)
        self.dashboard.pages.width = self._conversation.wrap_width
        if self._reply_on_load and page.detail is not None:
            self._reply_on_load = False
            self.action_reply()

    def on_action_done(self, message: ActionDone) -> None:
        if message.thread_id == self.thread_id:
            self.dashboard.want_page(self.thread_id)  # the app forgot the page it had

    def _tick(self) -> None:
        if self.detail is None:
            return
        now = self.backend.now()
        text = self._clocks(self.detail.clocks, now)
        # The countdown changes every second, its number of lines seldom: lay
        # the screen out again only then.
        lines = text.plain.count("\n")
        self._clock.update(text, layout=lines != self._clock_lines)
        self._clock_lines = lines

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
        from .links import open_link

        open_link(self.app, clean(self.detail.url))
