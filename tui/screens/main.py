"""The main screen: Incoming, Clocks, Overdue invoices and SLA, kept live; and a thread.

A thread opens in place of the four panels (tui/panels/thread.py), on this
same screen: no screen switch, no stylesheet applied again, and the status
line and key bar stay as they are.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.base.i18n import N_, gettext
from core.conversations.feed import FeedCursor, FeedFilter, feed_choices
from core.store.lease import NAMES
from tui.display.format import Formatter
from tui.display.text import clean, first_line
from tui.messages import (
    ActionDone,
    DataChanged,
    FirstData,
    OpenReview,
    OpenThread,
    ThreadAction,
    Undo,
)
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.invoices import InvoicesPanel
from tui.panels.sla import SlaPanel
from tui.sources.watch import Changes, SlaFigures, overdue, read_changes, sla_figures
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from textual.widget import Widget

    # Loaded on first use: start-up does without it (docs/benchmarks.md).
    from core.receivables.aging import Overdue
    from tui.panels.thread import ThreadView
    from tui.sources.backend import Backend
    from tui.sources.pages import Pages
    from tui.sources.servicelog import ServiceLog
    from tui.undo import UndoSlot

POLL_SECONDS = 0.25  # how often the watcher asks whether anything was committed
SLOW_SECONDS = 10.0  # invoices and SLA figures: at most this often after a change
STALE_SECONDS = 60.0  # and at least this often: open clocks breach as time passes
RETRY_SECONDS = 2.0  # after the database could not be read
SERVICES_SECONDS = 5.0
# How long the screen waits on mount for the first read `pmdesk` started
# (Backend.prefetch), so that its first frame holds the data; a slower read
# shows the panels empty first, filled when it ends.
FIRST_WAIT_SECONDS = 1.5
FAILURE_WIDTH = 100  # a failure's reason in the top line and its toast
LOG_HERE = N_("l shows the services' log")
LOG_ELSEWHERE = N_("it runs in another process: its log says more")
SERVICE_MARKS = {"running": "●", "elsewhere": "◐", "stopped": "○", "failed": "✗"}
SERVICE_WORDS = {
    "running": "running",
    "elsewhere": "another process",
    "stopped": "stopped",
    "failed": "failed",
}


class Changed(Message):
    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes


class FiguresRead(Message):
    """The overdue invoices and the SLA figures, read by their own worker: each None
    when it reads as the worker last sent it."""

    def __init__(self, invoices: Overdue | None, sla: SlaFigures | None) -> None:
        super().__init__()
        self.invoices = invoices
        self.sla = sla


def sla_shown(figures: SlaFigures) -> tuple[object, ...]:
    """What the SLA panel shows of `figures`: the reports' periods end at the
    instant of the read, so two reads a minute apart are never equal."""
    return (figures.today.overall, figures.week.overall, figures.week.by_staff, figures.hourly)


class StatusBar(Static):
    """Agency, local time, and the background services."""

    def __init__(
        self, agency: str, formatter: Formatter, mode: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agency = agency
        self.formatter = formatter
        # Said before the services, whose meaning it changes ("demo").
        self.mode = f"{mode} · " if mode else ""
        self.services = dict.fromkeys(NAMES, "stopped")
        # Failed services and why (the error they logged), shown first.
        self.failures: dict[str, str] = {}
        self.instant: datetime | None = None
        self._line = ""

    def show(
        self,
        now: datetime | None = None,
        services: dict[str, str] | None = None,
        failures: dict[str, str] | None = None,
    ) -> None:
        self.instant = now or self.instant
        self.services = services or self.services
        self.failures = self.failures if failures is None else failures
        clock = self.formatter.datetime(self.instant) if self.instant else ""
        failed = [f"{name} ✗ failed: {reason}" for name, reason in self.failures.items()]
        others = {n: state for n, state in self.services.items() if n not in self.failures}
        states = set(others.values())
        if len(states) == 1 and not failed:  # the usual case, said once: fits 80 columns
            state = states.pop()
            parts = f"services {SERVICE_MARKS[state]} {SERVICE_WORDS[state]}"
        else:
            # Failures first: a narrow terminal cuts the end of the line.
            parts = "  ".join(
                failed
                + [
                    f"{name} {SERVICE_MARKS[state]} {SERVICE_WORDS[state]}"
                    for name, state in others.items()
                ]
            )
        line = f" {self.agency} · {clock}    {self.mode}{parts}"
        if line != self._line:
            self._line = line
            # One line whatever it says (the stylesheet fixes its height): no
            # layout, which on every tick cost a whole screen's layout.
            self.update(line, layout=False)


REVIEW_SENTENCE = N_("Review the bank statement lines waiting for a decision")
# The actions on the thread under the cursor (see MainScreen.check_action).
THREAD_ACTIONS = frozenset({"handled", "no_reply", "reply"})
# The main screen's own actions, which wait while a thread is shown.
MAIN_ACTIONS = frozenset(
    {"filter", "handled", "no_reply", "reply", "review", "search", "toggle_feed", "focus"}
)


def show_in_place(widget: Widget, shown: bool) -> None:
    """Show or hide `widget` in the layout, keeping the lines it drew.

    Setting `display` also repaints the widget itself: its cached lines go, and
    showing the panels again drew the grid's own 48 blank lines anew, as showing
    the thread drew its view's (docs/benchmarks.md, dashboard round 18). What it
    contains is drawn as its own widgets say; its size changing repaints it too.
    """
    if widget.display == shown:
        return
    widget.styles.set_rule("display", "block" if shown else "none")
    # As the display property does: the lists of children shown are worked out again.
    widget._nodes.updated()
    widget.refresh(layout=True, repaint=False)


class MainScreen(Screen[None]):
    # Textual repaints the whole screen when the focus moves (its reactive's
    # default), while only the widgets losing and taking the focus change:
    # 50 lines of background drawn again for each thread opened or closed.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    BINDINGS = [
        Binding(
            "f",
            "filter",
            "Filter",
            id="main.filter",
            tooltip=N_("Filter the feed by kind, client or assignee"),
        ),
        Binding(
            "h",
            "handled",
            "Handled",
            id="main.handled",
            tooltip=N_("Mark the thread under the cursor handled"),
        ),
        Binding(
            "n",
            "no_reply",
            "No reply needed",
            id="main.no_reply",
            tooltip=N_("Say the thread under the cursor needs no reply"),
        ),
        Binding(
            "r",
            "reply",
            "Reply",
            id="main.reply",
            tooltip=N_("Reply to the thread under the cursor"),
        ),
        Binding(
            "v", "review", "Review payments", show=False, id="main.review", tooltip=REVIEW_SENTENCE
        ),
        Binding(
            "slash",
            "search",
            "Search",
            id="main.search",
            tooltip=N_("Search the feed's text, clients and threads"),
        ),
        Binding(
            "u",
            "toggle_feed('unread')",
            "Unread only",
            show=False,
            id="main.unread",
            tooltip=N_("Show only unread events in the feed, or everything again"),
        ),
        Binding(
            "c",
            "toggle_feed('from_client')",
            "Client messages only",
            show=False,
            id="main.client_only",
            tooltip=N_("Show only what clients wrote in the feed, or everything again"),
        ),
        Binding(
            "1",
            "focus('incoming')",
            "Incoming",
            show=False,
            id="main.focus_incoming",
            tooltip=N_("Go to the Incoming panel"),
        ),
        Binding(
            "2",
            "focus('clocks')",
            "Clocks",
            show=False,
            id="main.focus_clocks",
            tooltip=N_("Go to the Clocks panel"),
        ),
        Binding(
            "3",
            "focus('invoices')",
            "Invoices",
            show=False,
            id="main.focus_invoices",
            tooltip=N_("Go to the Overdue invoices panel"),
        ),
    ]

    def __init__(
        self,
        backend: Backend,
        formatter: Formatter,
        target_minutes: float,
        service_log: ServiceLog,
        undo: UndoSlot,
    ) -> None:
        super().__init__(id="main")
        self.backend = backend
        # What the services this process runs logged: their failures show in the top line.
        self.service_log = service_log
        # For five seconds after an action, u undoes it rather than toggling unread.
        self.undo = undo
        self.formatter = formatter
        self.target_minutes = target_minutes
        self.feed = FeedFilter()
        # Set by the UI, read by the watcher thread: a new filter means a new page.
        self._reload = True
        self.loaded = False
        # The failures already raised as a toast: each once, until it recovers.
        self._told: set[str] = set()
        # Failures reported with the services' lease, as last read.
        self._reported: dict[str, str] = {}
        # The thread view, mounted on first use (hidden under the panels until then).
        self.thread_view: ThreadView | None = None
        # What had the focus when the thread opened: it has it again on escape.
        self._focus_before: Widget | None = None
        # The prefetched first read, shown on mount: the watcher does not post it again.
        self._first_shown = False
        # Whether the screen was shown once (see _on_screen_resume).
        self._resumed = False
        # Set by the watcher when the invoices and SLA figures are due (read_figures).
        self._figures_due = threading.Event()

    def compose(self) -> ComposeResult:
        yield StatusBar(self.backend.first.agency, self.formatter, self.backend.mode, id="status")
        with Grid(id="panels"):
            yield IncomingPanel(self.formatter, self.backend.clock, id="incoming", classes="panel")
            yield ClocksPanel(
                target_minutes=self.target_minutes,
                policies=self.backend.first.policies,
                id="clocks",
                classes="panel",
            )
            yield InvoicesPanel(self.backend, self.formatter, id="invoices", classes="panel")
            yield SlaPanel(self.formatter, self.target_minutes, id="sla", classes="panel")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(IncomingPanel).table.focus()
        self.tick()
        self._show_prefetched()
        self.set_interval(1.0, self.tick)
        self.poll_database()
        self.read_figures()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """Runs before Textual's own handler, which restyles every widget of the screen on
        each resume. On the first, each was styled a moment before at its mount, with this
        stylesheet and the screen's width class: styling them all again was about 20 ms of
        the work before the first frame (docs/benchmarks.md, dashboard round 22)."""
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _compositor_refresh(self) -> None:
        """Textual's frame of the screen, drawn unless Textual's start-up batch holds frames.

        The app pushes this screen from its mount, inside the batch Textual holds
        around the app's own start-up: the screen's first layout drew a whole frame
        there, which the app threw away (App._display), and the whole screen was
        drawn again once the batch ended. The regions stay marked to draw, and the
        screen is drawn in full on its first turn after the batch
        (docs/benchmarks.md, dashboard round 22).
        """
        if self.app._batch_count:
            self._repaint_required = True
            return
        super()._compositor_refresh()

    def _show_prefetched(self) -> None:
        """The first read, if it ends soon, shown before the first frame: one layout, one
        frame, and the UI thread idle meanwhile rather than drawing empty panels while
        the read wants the interpreter (docs/benchmarks.md, dashboard round 9)."""
        if self.feed != FeedFilter():
            return
        found = self.backend.prefetched(FIRST_WAIT_SECONDS)
        if found is not None:
            _version, (changes, _after) = found
            self._first_shown = True
            self.show_changes(changes)

    # -- the one-second tick: no database, only stored due times --------------

    def tick(self) -> None:
        now = self.backend.clock()
        self.query_one(ClocksPanel).tick(now)
        self.query_one(IncomingPanel).tick(now)
        self.query_one(StatusBar).show(now, failures=self._failures())

    def _failures(self) -> dict[str, str]:
        """Failed services and their reasons; a new failure raises a toast, once.

        What this process's services logged says most; a service failing in
        another process (`pmdesk serve`) has the reason its holder reported.
        """
        failures = {
            name: first_line(entry.message, FAILURE_WIDTH)
            for name, entry in self.service_log.failures().items()
        }
        logged_here = set(failures)
        for name, reason in self._reported.items():
            failures.setdefault(name, first_line(reason, FAILURE_WIDTH))
        for name, reason in failures.items():
            if name not in self._told:
                self._told.add(name)
                where = LOG_HERE if name in logged_here else LOG_ELSEWHERE
                self.app.notify(
                    gettext("{name}: {reason} · {where}").format(
                        name=name, reason=reason, where=gettext(where)
                    ),
                    title=gettext("Service failed"),
                    severity="error",
                    timeout=10,
                    markup=False,
                )
        self._told &= set(failures)
        return failures

    def on_clocks_panel_crossed(self, message: ClocksPanel.Crossed) -> None:
        # The screen that ticks the clocks raises their toasts; stopped here so
        # that a handler higher up can never make a second one.
        message.stop()
        clock = message.clock
        words = {
            "warning": gettext("is close to its target"),
            "breached": gettext("has breached"),
            "escalated": gettext("is escalated"),
        }
        who = clean(clock.client or gettext("A client"))
        self.app.notify(
            f"{who}: {first_line(clock.thread, 60)} {words.get(message.state, message.state)}",
            title=gettext("Response clock"),
            severity="error" if message.state != "warning" else "warning",
            markup=False,
        )
        if self.backend.first.dashboard.bell:
            self.app.bell()

    # -- the watcher -----------------------------------------------------------

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def poll_database(self) -> None:
        """Poll for commits and read only what changed; results come back as messages."""
        worker = get_current_worker()
        backend = self.backend
        seen: object = None
        cursor = FeedCursor()
        slow_at = services_at = float("-inf")
        # A change seen while the slow figures were fresh: read them once due.
        slow_pending = False
        first = backend.take_prefetched()
        if first is not None and self.feed == FeedFilter():
            # Read by `pmdesk` while the screens were still loading: the same
            # as this loop's first turn.
            seen, (changes, cursor) = first
            slow_at = services_at = time.monotonic()
            self._reload = False
            if not self._first_shown:  # else shown on mount already
                self.post_message(Changed(changes))
        while not worker.is_cancelled:
            version = backend.version()
            moment = time.monotonic()
            page, changed = self._reload, version != seen
            slow_pending = slow_pending or changed
            slow = page or (
                moment - slow_at >= SLOW_SECONDS
                and (slow_pending or moment - slow_at >= STALE_SECONDS)
            )
            services = moment - services_at >= SERVICES_SECONDS
            if page or changed or slow or services:
                self._reload = False
                seen = version
                if slow:
                    slow_at, slow_pending = moment, False
                if services:
                    services_at = moment
                changes, cursor = read_changes(
                    backend,
                    self.feed,
                    page=page,
                    changed=changed,
                    cursor=cursor,
                    # A new page shows everything at once; later, the slow
                    # figures are read apart and never hold back a change.
                    slow=page,
                    services=services,
                )
                self.post_message(Changed(changes))
                if slow and not page:
                    self._figures_due.set()
            backend.wait(seen, POLL_SECONDS)

    @work(thread=True, exclusive=True, group="figures", exit_on_error=False)
    def read_figures(self) -> None:
        """The overdue invoices and SLA figures, whenever the watcher says they are due.

        The screen's slowest reads (seconds, on a large database under load):
        in the watcher's turn, a change committed meanwhile would wait for them.
        """
        worker = get_current_worker()
        backend = self.backend
        # What was sent last: figures read the same are not sent again. Refilling
        # the panels laid the whole screen out and drew both again, about once a
        # minute, in the way of whatever key was pressed then.
        sent_invoices: Overdue | None = None
        sent_sla: tuple[object, ...] | None = None
        while not worker.is_cancelled:
            if not self._figures_due.wait(POLL_SECONDS):
                continue
            self._figures_due.clear()
            now = backend.clock()
            invoices, sla = overdue(backend, now), sla_figures(backend, now)
            shown = sla_shown(sla)
            if invoices == sent_invoices and shown == sent_sla:
                continue
            self.post_message(
                FiguresRead(
                    None if invoices == sent_invoices else invoices,
                    None if shown == sent_sla else sla,
                )
            )
            sent_invoices, sent_sla = invoices, shown

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The watcher failed (the database went away, a disk error): say so and try again."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "figures":
            # The watcher says what is wrong with the database; the figures come
            # again once it reads, with their next turn.
            self._figures_due.set()
            self.set_timer(RETRY_SECONDS, self.read_figures)
            return
        if event.worker.group != "watch":
            return
        self.app.notify(
            gettext("Cannot read the database: {error}. Trying again.").format(
                error=event.worker.error
            ),
            title=gettext("Live updates paused"),
            severity="error",
            markup=False,
        )
        self._reload = True
        self.set_timer(RETRY_SECONDS, self.poll_database)

    def on_changed(self, message: Changed) -> None:
        self.show_changes(message.changes)

    def on_figures_read(self, message: FiguresRead) -> None:
        if message.invoices is not None:
            self.query_one(InvoicesPanel).show(message.invoices)
        if message.sla is not None:
            self.query_one(SlaPanel).show(message.sla)

    def show_changes(self, changes: Changes) -> None:
        """What the watcher read, into the panels and the top line."""
        if changes.clocks is not None:
            # Something was committed (or the feed read anew): pages read ahead may be
            # stale. A turn that only read the services, or the slow figures on their
            # timer, changed no thread: the pages stay, and a read under way is kept.
            self.post_message(DataChanged(clocks=True))
        incoming = self.query_one(IncomingPanel)
        if changes.page:
            incoming.show(changes.items, changes.unread, self.feed)
        else:
            incoming.add_new(changes.items, changes.unread)
        if changes.clocks is not None:
            self.query_one(ClocksPanel).set_clocks(changes.clocks)
        if changes.invoices is not None:
            self.query_one(InvoicesPanel).show(changes.invoices)
        if changes.sla is not None:
            self.query_one(SlaPanel).show(changes.sla)
        if changes.services is not None:
            states = changes.services.states
            self.service_log.settle(states, changes.services_at)
            self._reported = changes.services.failures
            self.query_one(StatusBar).show(services=states, failures=self._failures())
        if not self.loaded:
            self.loaded = True
            self.post_message(FirstData())

    # -- actions ---------------------------------------------------------------

    def on_action_done(self, message: ActionDone) -> None:
        if self.thread_view is not None:  # the draft of a failed reply comes back there
            self.thread_view.post_message(
                ActionDone(message.thread_id, message.label, message.error, message.restored)
            )
        if message.error is None and message.label == "handled":
            self.query_one(IncomingPanel).mark_read(message.thread_id)
        elif message.error is None and message.label.endswith(" undone"):
            # The feed shows what was taken back (a reply's row, rows marked
            # read): its page is read again.
            self._reload = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys acting on a thread are off while the invoices have the focus.

        The feed's cursor is then out of the assistant's sight: h, n or r
        would act on a thread they did not choose. Hidden from the key bar too.
        While a thread is shown, the panels' keys wait, hidden, for its escape.
        """
        if action in MAIN_ACTIONS and self.thread_shown() is not None:
            return False
        return not (action in THREAD_ACTIONS and self._invoices_focused())

    # -- the thread, in place of the panels ---------------------------------------

    def thread_shown(self) -> ThreadView | None:
        """The thread view, while it is shown."""
        view = self.thread_view
        return view if view is not None and view.display else None

    def prepare_thread(self, pages: Pages) -> ThreadView:
        """The thread view, mounted (hidden) if it was not yet: its styles are applied once."""
        if self.thread_view is None:
            from tui.panels.thread import ThreadView

            self.thread_view = ThreadView(self.backend, self.formatter, pages, 0, id="thread")
            show_in_place(self.thread_view, False)
            self.mount(self.thread_view, after=self.query_one("#panels"))
        return self.thread_view

    def open_thread(self, pages: Pages, thread_id: int, reply: bool = False) -> None:
        """Show the thread in place of the panels: its page at once if read ahead."""
        view = self.prepare_thread(pages)
        if not view.display:
            self._focus_before = self.focused
            show_in_place(view, True)
            show_in_place(self.query_one("#panels"), False)
        view.show_thread(thread_id, reply)
        if view.is_mounted:  # else it takes the focus on mount
            view.focus_conversation()
        self.refresh_bindings()

    def close_thread(self) -> None:
        """The panels again, the focus where it was."""
        view = self.thread_shown()
        if view is None:
            return
        view.keep_draft()
        show_in_place(self.query_one("#panels"), True)
        show_in_place(view, False)
        before, self._focus_before = self._focus_before, None
        if before is not None and before.is_attached and before.focusable:
            before.focus()
        else:
            self.query_one(IncomingPanel).table.focus()
        self.refresh_bindings()

    def on_thread_view_back(self, message: ThreadView.Back) -> None:
        message.stop()
        self.close_thread()

    def _invoices_focused(self) -> bool:
        return bool(self.is_mounted and self.query_one(InvoicesPanel).has_focus_within)

    def selected_thread(self) -> int | None:
        """The thread under the cursor of the focused panel (the feed by default)."""
        if self._invoices_focused():
            return None
        clocks = self.query_one(ClocksPanel)
        if clocks.has_focus and clocks.selected is not None:
            return clocks.selected.thread_id
        item = self.query_one(IncomingPanel).selected
        return item.thread_id if item else None

    async def action_focus(self, panel: str) -> None:
        # Async as Screen.action_focus, which this replaces with panel names.
        target = {
            "incoming": "#feed-table",
            "clocks": "#clocks",
            "invoices": "#invoice-table",
        }[panel]
        # Shown first: below 120 columns the invoices' rows are hidden until
        # the panel has the keys, and a hidden table takes no focus.
        self._mark_focus(panel == "invoices")
        self.query_one(target).focus()
        # The cursor's thread and its neighbours read ahead: Enter, or a move and
        # Enter, right after the panel key finds the page ready.
        if panel == "incoming":
            self.query_one(IncomingPanel).read_ahead()
        elif panel == "clocks":
            self.query_one(ClocksPanel).read_ahead()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        ancestors = event.widget.ancestors_with_self
        self._mark_focus(self.query_one(InvoicesPanel) in ancestors)
        if self.query_one("#panels") in ancestors:
            # The focus moved among the panels; going into the thread leaves the mark.
            for panel in self.query(".panel"):
                panel.set_class(panel in ancestors, "-focused")

    def _mark_focus(self, invoices: bool) -> None:
        """The invoices panel has the keys: on a small terminal it shows its rows."""
        self.query_one("#panels").set_class(invoices, "-invoices-focused")

    def action_filter(self) -> None:
        self.load_choices()

    @work(thread=True, exclusive=True, group="choices")
    def load_choices(self) -> None:
        choices = feed_choices(self.backend.reader())
        self.app.call_from_thread(self._ask_filter, choices)

    def _ask_filter(self, choices: dict[str, list[str]]) -> None:
        from tui.widgets.pickers import FilterScreen

        self.app.push_screen(FilterScreen(self.feed, choices), self.set_filter)

    def action_search(self) -> None:
        from tui.widgets.ask import AskText

        self.app.push_screen(
            AskText(
                "Search the feed",
                "words in a message, a client or a thread",
                value=self.feed.search or "",
                hint="enter searches · an empty search shows everything · escape cancels",
            ),
            self._searched,
        )

    def _searched(self, words: str | None) -> None:
        if words is not None:
            self.set_filter(replace(self.feed, search=words or None))

    def action_toggle_feed(self, toggle: str) -> None:
        """Turn one of the feed's quick toggles (unread, from_client) on or off.

        The unread toggle's key (u) undoes instead while an action can be undone.
        """
        if toggle == "unread" and self.undo.live(self.backend.clock()):
            self.post_message(Undo())
        elif toggle == "unread":
            self.set_filter(replace(self.feed, unread=not self.feed.unread))
        elif toggle == "from_client":
            self.set_filter(replace(self.feed, from_client=not self.feed.from_client))

    def set_filter(self, feed: FeedFilter | None) -> None:
        if feed is None or feed == self.feed:
            return
        self.feed = feed
        self._reload = True

    def action_handled(self) -> None:
        thread_id = self.selected_thread()
        if thread_id is not None:
            self.post_message(ThreadAction(thread_id, "handled"))

    def action_no_reply(self) -> None:
        thread_id = self.selected_thread()
        if thread_id is not None:
            self.post_message(ThreadAction(thread_id, "no_reply"))

    def action_reply(self) -> None:
        thread_id = self.selected_thread()
        if thread_id is not None:
            self.post_message(OpenThread(thread_id, reply=True))

    def action_review(self) -> None:
        self.post_message(OpenReview())
