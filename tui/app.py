"""The pmdesk dashboard: a Textual app over the core, wired by the command line.

Everything that touches the database runs in worker threads and reports
back through messages; the one-second tick only recomputes countdowns from
stored due times. Bindings are data with ids, so users remap them in the
configuration ([dashboard.keys]).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from functools import partial
from threading import Event, Lock
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget

from core.base import i18n
from core.base.i18n import N_, gettext
from core.base.paths import ConfigError, default_cache_path
from core.config.quick import FirstSettings
from core.time.meter import OwnTimeMeter
from tui.display.format import Formatter
from tui.display.themes import ANSI_DARK, ANSI_LIGHT, DARK, LIGHT, THEMES, theme_name
from tui.messages import (
    ActionDone,
    DataChanged,
    FirstData,
    GoTo,
    InvoiceAction,
    OpenReview,
    OpenThread,
    ThreadAction,
    ThreadInView,
    TrackerDone,
    TrackerWanted,
    Undo,
)
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.invoices import InvoicesPanel
from tui.screens.main import REVIEW_SENTENCE, MainScreen
from tui.sources.backend import Backend, NoOperator
from tui.sources.pages import Pages, ThreadPage, read_page
from tui.sources.servicelog import ServiceLog
from tui.startcache import FILE_NAME as START_CACHE
from tui.startcache import StartCache
from tui.undo import UNDO_SECONDS, UndoSlot
from tui.widgets.keybar import first_key
from tui.widgets.palette import ActionsProvider, GoToProvider
from tui.widgets.rows import RowList

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.config.settings import TimeConfig
    from core.conversations.ingest import Result
    from core.receivables.aging import Overdue

    # Loaded on first use: start-up does without them (docs/benchmarks.md).
    from tui.panels.thread import ThreadView
    from tui.screens.billing import BillingDesk
    from tui.screens.manager import ManagerScreen
    from tui.screens.projects import ProjectsScreen
    from tui.screens.tracker import TrackerFlow

# The cyclic garbage collector's thresholds while the dashboard runs. Drawing
# a frame allocates thousands of small objects, so Python's defaults (700, 10,
# 10) collected every few key presses and ran a full collection every few
# seconds; these collect the youngest objects less often and leave full
# collections for much later (each one short, since most objects are frozen).
COLLECTOR_THRESHOLDS = (3000, 10, 100)

# The longest the collector stays off after mount, should the first data not arrive.
COLLECTOR_HELD_SECONDS = 10.0

# Long enough to read the notice the command line hands over (who you act as).
NOTICE_SECONDS = 12.0

# A job the command line hands over (the demo's simulator, later the
# services): it runs in a worker thread until the event is set.
Job = Callable[[Event], None]


def width_class(width: int, breakpoints: Sequence[tuple[int, str]]) -> str:
    """The class Textual gives a screen `width` cells wide (the widest breakpoint it reaches)."""
    return next(name for edge, name in sorted(breakpoints, reverse=True) if width >= edge)


class Dashboard(App[None]):
    CSS_PATH = "pmdesk.tcss"
    TITLE = "pmdesk"
    # Ours alone: Textual's own would offer Theme and Quit a second time.
    COMMANDS = {ActionsProvider, GoToProvider}
    # Below 120 columns the panels stack (see .-narrow in the stylesheet).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip=N_("Show every key")),
        Binding(
            "m",
            "manager",
            "Manager",
            id="app.manager",
            tooltip=N_("Open the manager's view of response times"),
        ),
        Binding(
            "P",
            "projects",
            "Projects",
            id="app.projects",
            tooltip=N_("Open each client's projects: progress, overdue, no owner"),
        ),
        Binding(
            "W",
            "reports",
            "Reports",
            id="app.reports",
            tooltip=N_("Open the clients' weekly reports: preview, introduction, send or skip"),
        ),
        Binding(
            "l", "log", "Services log", id="app.log", tooltip=N_("Show what the services logged")
        ),
        Binding(
            "t",
            "toggle_theme",
            "Theme",
            id="app.theme",
            tooltip=N_("Switch between the dark and light themes"),
        ),
        Binding("q", "quit", "Quit", id="app.quit", tooltip=N_("Quit pmdesk")),
    ]
    # The main screen, pushed on mount; a thread shows inside it.
    main: MainScreen
    # Set once __init__ has chosen the theme (see get_css_variables).
    _theme_chosen = False

    def __init__(
        self,
        settings: FirstSettings,
        backend: Backend | None = None,
        *,
        start: str = "main",
        jobs: Sequence[Job] = (),
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.backend = backend or Backend(settings)
        self.formatter = Formatter(settings.locale, ZoneInfo(settings.timezone))
        i18n.activate(settings.locale)
        self.start = start
        self.jobs = list(jobs)
        # Said once, as a toast, when the first screen holds its data.
        self.notice = notice
        self._jobs_started = False
        # Whether the jobs run (the command line waits for the services to stop, then).
        self.jobs_started = False
        # The configuration found wrong once validated (see `loaded`): the app closed on it.
        self.config_error: ConfigError | None = None
        self._stop = Event()
        self.pages = Pages()
        # The services this process runs log here too: the log view and their failures.
        self.service_log = ServiceLog()
        # The last action that `u` can take back, for five seconds.
        self.undo_slot = UndoSlot()
        # Changes to threads' Worksection tasks (tui/screens/tracker.py), made on first use.
        self._tracker_flow: TrackerFlow | None = None
        self._collector = gc.get_threshold()  # put back on exit
        # pmdesk's own measure of the time spent on threads, written in batches
        # (core.time.meter); one write at a time, the last one on exit.
        self.own_time = OwnTimeMeter(self.backend.clock, ZoneInfo(settings.timezone))
        self._own_time_writing = Lock()
        for theme in THEMES:
            self.register_theme(theme)
        # Not parsed yet: the stylesheet takes the theme's variables now and is parsed
        # once with them. The theme's watchers ask for it parsed again (refresh_css)
        # as soon as the app runs, twice, each time from scratch: skipped until mounted.
        self._css_settled = False
        self.ansi_theme_dark, self.ansi_theme_light = ANSI_DARK, ANSI_LIGHT
        self.theme = theme_name(settings.dashboard.theme)
        self._theme_chosen = True
        self.stylesheet.set_variables(self.get_css_variables())
        # The stylesheet's rules and the locale's data as the last start worked them out.
        self.start_cache = StartCache(default_cache_path(START_CACHE), settings.locale)
        self.start_cache.prime(self.stylesheet)
        self.title = settings.agency

    def get_css_variables(self) -> dict[str, str]:
        """The chosen theme's variables; none asked for while Textual's own __init__ runs.

        Textual works out its default theme's colours there for a stylesheet that
        nothing parses before __init__ gives it the chosen theme's: about five
        million instructions thrown away on every start (docs/benchmarks.md,
        dashboard round 25).
        """
        if not self._theme_chosen:
            return {}
        return super().get_css_variables()

    @property
    def target_minutes(self) -> float:
        return self.settings.policies["default"].first_response_minutes

    def refresh_css(self, animate: bool = True) -> None:
        """The stylesheet parsed again for new variables (a theme), and applied.

        Before the app is mounted nothing was parsed or applied yet: the
        variables set in __init__ are those of the first parse, and parsing
        twice more for nothing took about a tenth of the time from start to
        the screen mounted (docs/benchmarks.md, dashboard round 11).
        """
        if self._css_settled:
            super().refresh_css(animate)

    def on_mount(self) -> None:
        self._css_settled = True
        logging.getLogger("pmdesk").addHandler(self.service_log)
        gc.set_threshold(*COLLECTOR_THRESHOLDS)
        # Held off during start-up: back on with the first data, or by now whatever happens.
        self.set_timer(COLLECTOR_HELD_SECONDS, gc.enable)
        self.set_keymap(self.settings.dashboard.keys)
        self.main = MainScreen(
            self.backend, self.formatter, self.target_minutes, self.service_log, self.undo_slot
        )
        # The width's class before the screen's first styling: set by its first Resize,
        # it restyled every widget of the screen once more before the first frame.
        # Not styled here either: the screen is styled as it is pushed.
        self.main.add_class(width_class(self.size.width, self.HORIZONTAL_BREAKPOINTS), update=False)
        self.push_screen(self.main)
        if self.start == "manager":
            self.action_manager()
        self.set_interval(1.0, self.own_time_tick)

    def on_unmount(self) -> None:
        # Nothing the meter counted is lost on exit: written before the database closes.
        self.own_time.stop()
        self.write_own_time()
        logging.getLogger("pmdesk").removeHandler(self.service_log)
        gc.unfreeze()
        gc.set_threshold(*self._collector)
        gc.enable()
        self._stop.set()
        self.backend.close()

    def on_first_data(self, _message: FirstData) -> None:
        self.call_after_refresh(self.loaded)

    def loaded(self) -> None:
        """The main screen holds its first data: what is alive now lives all day.

        Frozen, the collector no longer walks those objects on each of its
        full collections, which otherwise paused a key press now and then
        for 0.1 s (see docs/benchmarks.md, dashboard round 5).

        The jobs (the services, the demo's simulator) start now rather than
        on mount: the first screenful comes first.
        """
        gc.freeze()
        gc.enable()  # held off during start-up (pmdesk.start.hold_collector)
        if self._jobs_started:
            return
        self._jobs_started = True
        # What this start parsed and read before its first frame, for the next one.
        self.start_cache.keep(self.stylesheet)
        if self.notice:
            self.notify(self.notice, timeout=NOTICE_SECONDS)
        self._validate_settings()

    @work(thread=True, group="settings")
    def _validate_settings(self) -> None:
        """The whole configuration validated, then the jobs started; a wrong one closes the app.

        `pmdesk` opens the dashboard on the few values the first screenful
        needs (core.config.quick); pydantic loads and validates the rest
        here, in a worker, once that screenful is shown.
        """
        try:
            self.backend.settings  # noqa: B018 (validated on first use)
        except ConfigError as error:
            self.call_from_thread(self._config_failed, error)
            return
        self.call_from_thread(self._start_jobs)

    def _start_jobs(self) -> None:
        self.jobs_started = bool(self.jobs)
        for job in self.jobs:
            self.run_worker(partial(job, self._stop), thread=True, group="jobs")

    def _config_failed(self, error: ConfigError) -> None:
        """Said as the command line says it, once the screen is closed (pmdesk.start)."""
        self.config_error = error
        self.exit(return_code=2)

    # -- pmdesk's own measure of the time spent on threads (core.time.meter) ---------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and not event.is_forwarded:
            self.own_time.input()
        await super().on_event(event)

    def watch_app_focus(self, focused: bool) -> None:
        if hasattr(self, "main"):  # mounted
            self._own_time_front()
        self.own_time.focus(focused)

    def own_time_tick(self) -> None:
        """Tell the meter what is in front; write what it counted once that is due (a
        thread closed, idle, every few minutes)."""
        self._own_time_front()
        if self.own_time.due():
            self._write_own_time()

    def _own_time_front(self) -> None:
        """The thread in front, and whether a reply is being written on it."""
        view = self._thread_in_front()
        self.own_time.show(
            None if view is None else view.thread_id, view is not None and view.writing
        )

    def _thread_in_front(self) -> ThreadView | None:
        """The thread shown, with at most dialogs over it (a picker, the help)."""
        stack = self.screen_stack
        view = self.main.thread_shown() if self.main in stack else None
        if view is None:
            return None
        above = stack[stack.index(self.main) + 1 :]
        return view if all(isinstance(screen, ModalScreen) for screen in above) else None

    @work(thread=True, group="own-time")
    def _write_own_time(self) -> None:
        self.write_own_time()

    def write_own_time(self) -> None:
        """Write what the meter counted as the operator, in one transaction; kept for the next
        write if the database refuses it. Without an operator (no staff yet) there is no one
        to count it for. The batch is taken here, under the lock: one the exit's write
        waits for, or leaves to it if this never ran."""
        with self._own_time_writing:
            batch = self.own_time.pop()
            if not batch:
                return
            try:
                staff = self.backend.operator().id
                self.backend.add_screen_time(staff, batch, self.backend.clock())
            except NoOperator:
                return
            except Exception:
                logging.getLogger("pmdesk.dashboard").warning(
                    "could not write the time spent on threads; kept for the next write",
                    exc_info=True,
                )
                self.own_time.give_back(batch)

    # -- navigation ----------------------------------------------------------------

    def on_open_thread(self, message: OpenThread) -> None:
        self.open_thread(message.thread_id, reply=message.reply)

    def open_thread(self, thread_id: int, reply: bool = False) -> None:
        """Show a thread in the main screen, in place of its panels (no screen switch).

        Screens opened over the main one (the manager, a modal) close first.
        """
        while self.screen is not self.main:
            self.pop_screen()
        self.main.open_thread(self.pages, thread_id, reply)
        self.own_time_tick()

    def thread_shown(self) -> ThreadView | None:
        """The thread view, while it is shown in front (no screen over the main one).

        None once the app has closed its screens: a change seen by the main
        screen's last poll can arrive after them, while the app shuts down.
        """
        stack = self.screen_stack
        return self.main.thread_shown() if stack and stack[-1] is self.main else None

    # -- thread pages, read in a worker --------------------------------------------

    def on_thread_in_view(self, message: ThreadInView) -> None:
        self.want_page(message.thread_id, message.ahead)

    def on_data_changed(self, message: DataChanged) -> None:
        self.pages.forget()  # pages read ahead may show what just changed
        if message.clocks:  # something was committed: maybe on the thread shown
            self.read_thread_again()

    def read_thread_again(self) -> None:
        """The database changed: the thread on screen is read again (a reply delivered,
        the client's answer), as the feed shows its new rows."""
        view = self.thread_shown()
        if view is not None:
            self.want_page(view.thread_id)

    def want_page(self, thread_id: int, ahead: Sequence[int] | None = None) -> ThreadPage | None:
        """The thread's page if read lately; else None, and it is read for the thread view.

        The threads `ahead` (the rows next to the cursor's; None: those asked
        for before) are read after it.
        """
        page = self.pages.get(thread_id)
        if self.pages.want(thread_id, ahead):
            self._read_pages()
        return page

    @work(thread=True, group="pages")
    def _read_pages(self) -> None:
        # The thread view's module, which start-up does without, loads here
        # the first time: while the assistant looks at a row, not on Enter.
        from tui.panels import thread  # noqa: F401

        # One reader at a time, always on the latest thread wanted.
        while (wanted := self.pages.next_wanted()) is not None:
            thread_id, generation = wanted
            try:
                page = read_page(
                    self.backend.reader(),
                    thread_id,
                    self.formatter,
                    self.backend.clock(),
                    self._wrap_width(),
                )
            except Exception as error:  # any driver's error: said on the page, never a crash
                self.backend.forget_reader()  # the next read starts on a fresh connection
                reason = str(error) or type(error).__name__
                self.call_from_thread(self._page_failed, thread_id, reason)
                continue
            self.call_from_thread(self._page_read, page, generation)

    def _wrap_width(self) -> int:
        if self.pages.width:
            return self.pages.width
        # Before the first thread is shown: the screen's width less the
        # conversation's padding and scrollbar (the stylesheet's #conversation).
        return max(0, self.size.width - 4)

    def _page_read(self, page: ThreadPage, generation: int) -> None:
        kept = self.pages.keep(page, generation)
        # Mounted, hidden, with the first page read ahead: Enter then only shows it.
        view = self.main.prepare_thread(self.pages)
        if view.display and view.thread_id == page.thread_id:
            view.show_page(page)
            if not kept:  # read before the latest change: read it again
                self.want_page(page.thread_id)

    def _page_failed(self, thread_id: int, reason: str) -> None:
        """Shown in the thread view and not kept: the next look reads again."""
        from rich.text import Text

        view = self.main.thread_view
        if view is not None:
            text = Text(
                gettext("Could not read thread {thread}: {reason}").format(
                    thread=thread_id, reason=reason
                ),
                style="bold red",
            )
            view.show_page(ThreadPage(thread_id, None, text, Text()))

    def action_manager(self) -> None:
        from tui.screens.manager import ManagerScreen

        if isinstance(self.screen, ManagerScreen):
            return
        self.push_screen(
            ManagerScreen(
                self.backend.reader,
                self.backend.clock,
                self.formatter.tz,
                self.target_minutes,
                time_settings=self._time_settings,
                billing=self._billing_desk(),
            )
        )

    def _billing_desk(self) -> BillingDesk:
        """The Billing and Contracts pages' database and settings, made on first use."""
        from decimal import Decimal

        from tui.screens.billing import BillingDesk

        backend, formatter = self.backend, self.formatter
        return BillingDesk(
            engine=lambda: backend.engine,
            settings=lambda: backend.settings,
            clock=backend.clock,
            tz=formatter.tz,
            money=lambda cents, currency: formatter.money(Decimal(cents) / 100, currency),
        )

    def _time_settings(self) -> tuple[TimeConfig, Mapping[str, str]]:
        """The account-management rule and the projects' clients (read in a worker)."""
        settings = self.backend.settings
        return settings.time, settings.worksection.projects if settings.worksection else {}

    def action_projects(self) -> None:
        from tui.screens.projects import ProjectsScreen

        if isinstance(self.screen, ProjectsScreen):
            return
        self.push_screen(ProjectsScreen(self.backend.reader, self.backend.clock, self.formatter.tz))

    def action_reports(self) -> None:
        from tui.screens.reports import ReportsDesk, ReportsScreen

        if isinstance(self.screen, ReportsScreen):
            return
        backend = self.backend
        desk = ReportsDesk(
            engine=lambda: backend.engine,
            ingestor=lambda: backend.ingestor,
            settings=lambda: backend.settings,
            clock=backend.clock,
            staff=lambda: backend.operator().id,
            tz=self.formatter.tz,
        )
        self.push_screen(ReportsScreen(desk))

    def on_projects_screen_open_thread(self, message: ProjectsScreen.OpenThread) -> None:
        self.open_thread(message.thread_id)

    def action_log(self) -> None:
        from core.base.paths import default_log_path
        from tui.screens.log import LogScreen

        if isinstance(self.screen, LogScreen):
            return
        self.push_screen(LogScreen(self.service_log, str(default_log_path())))

    def on_open_review(self, _message: OpenReview) -> None:
        self.open_review()

    def open_review(self) -> None:
        """The statement lines awaiting review (built on each opening: it reads afresh)."""
        from tui.screens.review import ReviewScreen

        if isinstance(self.screen, ReviewScreen):
            return
        self.push_screen(ReviewScreen(self.backend, self.formatter))

    def on_manager_screen_open_thread(self, message: ManagerScreen.OpenThread) -> None:
        self.open_thread(message.thread_id)

    def on_clocks_panel_selected(self, message: ClocksPanel.Selected) -> None:
        self.post_message(OpenThread(message.thread_id))

    def action_help(self) -> None:
        from tui.panels.thread import ThreadView
        from tui.screens.am import AmScreen
        from tui.screens.billing import BillingScreen, ConfirmIssue
        from tui.screens.contracts import ContractsScreen
        from tui.screens.help import COMMON_GROUP, COMMON_KEYS, HelpScreen
        from tui.screens.log import LogScreen
        from tui.screens.manager import ManagerScreen
        from tui.screens.projects import ProjectsScreen
        from tui.screens.review import ReviewScreen
        from tui.screens.tracker import AskConfirm
        from tui.widgets.ask import AskDay, AskText
        from tui.widgets.pickers import FilterScreen, InvoicePicker, StaffPicker

        groups: list[tuple[str, Sequence[object]]] = [
            (N_("everywhere"), self.BINDINGS),
            (N_("main"), MainScreen.BINDINGS),
            (N_("feed"), IncomingPanel.BINDINGS),
            (N_("feed rows"), RowList.BINDINGS),
            (N_("clocks"), ClocksPanel.BINDINGS),
            (N_("invoices"), InvoicesPanel.BINDINGS),
            (N_("review"), ReviewScreen.BINDINGS),
            (N_("thread"), ThreadView.BINDINGS),
            (N_("manager"), ManagerScreen.BINDINGS),
            (N_("account management"), AmScreen.BINDINGS),
            (N_("billing"), [*BillingScreen.BINDINGS, *ConfirmIssue.BINDINGS]),
            (N_("contracts"), ContractsScreen.BINDINGS),
            (N_("projects"), ProjectsScreen.BINDINGS),
            (N_("filter"), FilterScreen.BINDINGS),
            (N_("staff picker"), StaffPicker.BINDINGS),
            (N_("invoice picker"), InvoicePicker.BINDINGS),
            (N_("questions"), [*AskDay.BINDINGS, *AskText.BINDINGS]),
            (N_("task changes"), AskConfirm.BINDINGS),
            (N_("help"), HelpScreen.BINDINGS),
            (N_("services log"), LogScreen.BINDINGS),
            (COMMON_GROUP, COMMON_KEYS),
        ]
        self.push_screen(
            HelpScreen(
                [(where, [b for b in found if isinstance(b, Binding)]) for where, found in groups],
                self.settings.dashboard.keys,
            )
        )

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    # -- actions on threads, in workers -----------------------------------------------

    def on_thread_action(self, message: ThreadAction) -> None:
        thread_id = message.thread_id
        if message.verb == "handled":
            self.mark_handled(thread_id)
        elif message.verb == "no_reply":
            self.no_reply_needed(thread_id)
        elif message.verb == "reply":
            self.send_reply(thread_id, message.text, internal=message.internal)
        else:
            self.pick_staff(thread_id, watch=message.verb == "watch", current=message.current)

    def mark_handled(self, thread_id: int) -> None:
        from core.conversations.actions import staff_author
        from core.conversations.triage import Handled, mark_handled, unhandle

        engine, now = self.backend.engine, self.backend.clock

        def undo(handled: Handled) -> Callable[[int], object]:
            return lambda staff: unhandle(engine, handled, staff_author(engine, staff)["name"], now)

        self._act(
            thread_id,
            N_("handled"),
            lambda staff: mark_handled(engine, thread_id, staff, now),
            undo,
        )

    def no_reply_needed(self, thread_id: int) -> None:
        from core.conversations.actions import no_reply_needed

        self._act(
            thread_id,
            N_("no reply needed"),
            lambda staff: no_reply_needed(
                self.backend.ingestor, thread_id, staff, clock=self.backend.clock
            ),
            self._withdraw,
        )

    def send_reply(self, thread_id: int, text: str, internal: bool = False) -> None:
        from core.conversations.actions import UNDO_WINDOW, reply

        label = N_("note") if internal else N_("reply")
        self._act(
            thread_id,
            label,
            # Held in the outbox while it can be undone: no services process sends it before.
            lambda staff: reply(
                self.backend.ingestor,
                thread_id,
                staff,
                text,
                internal=internal,
                clock=self.backend.clock,
                hold=UNDO_WINDOW,
            ),
            self._withdraw,
        )

    def _withdraw(self, result: Result) -> Callable[[int], object]:
        """How to take back the event an action recorded."""
        from core.conversations.actions import undo

        event_id = result.event_id or 0
        return lambda staff: undo(self.backend.ingestor, event_id, staff)

    def on_undo(self, _message: Undo) -> None:
        self.undo_last()

    def undo_last(self) -> None:
        """Take back the last action within its five seconds; after, say why not."""
        last = self.undo_slot.last
        if last is None:
            self.notify(gettext("Nothing to undo."), markup=False)
            return
        if not self.undo_slot.live(self.backend.clock()):
            self.notify(
                gettext(
                    "{action} can no longer be undone: undo works for {seconds} seconds."
                ).format(action=last.what, seconds=UNDO_SECONDS),
                title=gettext("Not undone"),
                severity="warning",
                markup=False,
            )
            return
        self.undo_slot.last = None  # once: a second u has nothing left to undo
        self._act(
            last.thread_id, gettext("{action} undone").format(action=last.what.lower()), last.run
        )

    @work(thread=True, group="actions")
    def pick_staff(self, thread_id: int, watch: bool, current: tuple[int, ...] = ()) -> None:
        """Ask who to assign, or which watcher to add or remove; `current`: who is there now."""
        from core.conversations.people import list_staff
        from tui.widgets.pickers import StaffPicker

        staff = [(person.id, person.name) for person in list_staff(self.backend.engine)]
        if watch:
            picker = StaffPicker(
                gettext("Add or remove a watcher"),
                staff,
                current,
                hint=gettext("enter adds a watcher, or removes one marked ✓ · escape cancels"),
            )
        else:
            picker = StaffPicker(
                gettext("Assign to"), staff, current, nobody=gettext("Nobody (unassign)")
            )
        self.call_from_thread(
            self.push_screen, picker, partial(self._picked, thread_id, watch, current)
        )

    def _picked(
        self, thread_id: int, watch: bool, current: tuple[int, ...], chosen: int | str | None
    ) -> None:
        from core.conversations.actions import assign, unwatch
        from core.conversations.actions import watch as add_watcher
        from tui.widgets.pickers import NOBODY

        if chosen is None:
            return
        engine, now = self.backend.engine, self.backend.clock
        if chosen == NOBODY:
            self._act(
                thread_id,
                N_("unassigned"),
                lambda staff: assign(self.backend.ingestor, thread_id, staff, None, now),
            )
        elif not isinstance(chosen, int):
            return
        elif watch and chosen in current:
            self._act(
                thread_id, N_("watcher removed"), lambda _: unwatch(engine, thread_id, chosen)
            )
        elif watch:
            self._act(
                thread_id,
                N_("watcher added"),
                lambda _: add_watcher(engine, thread_id, chosen, now),
            )
        else:
            self._act(
                thread_id,
                N_("assigned"),
                lambda staff: assign(self.backend.ingestor, thread_id, staff, chosen, now),
            )

    @work(thread=True, group="actions")
    def _act(
        self,
        thread_id: int,
        label: str,
        run: Callable[[int], Any],
        undo: Callable[[Any], Callable[[int], object]] | None = None,
    ) -> None:
        """Run an action on a thread as the operator, in a worker; ActionDone tells the screens.

        `undo`: given what `run` returned, how to take the action back; the
        action can then be undone for five seconds from now.
        """
        from core.conversations.ingest import Withdrawn

        error = None
        at = self.backend.clock()
        restored = None
        try:
            result = run(self.backend.operator().id)
        except (NoOperator, LookupError, ValueError) as problem:
            error = str(problem)
        else:
            if undo is not None:
                self.call_from_thread(
                    self.undo_slot.keep, gettext(label).capitalize(), thread_id, at, undo(result)
                )
            if isinstance(result, Withdrawn) and result.kind == "message":
                restored = (result.internal, result.text)
        done = ActionDone(thread_id, label, error, restored)
        self.call_from_thread(self._done, done, undo is not None)

    def _done(self, message: ActionDone, undoable: bool = False) -> None:
        self.pages.forget(message.thread_id)
        if message.error:
            title = gettext("Not {action}").format(action=gettext(message.label))
            self.notify(message.error, title=title, severity="error", markup=False)
        elif undoable:
            key = self.get_key_display(Binding(self._undo_key(), "undo"))
            self.notify(
                gettext("{action} · {key} undoes it for {seconds} seconds").format(
                    action=gettext(message.label).capitalize(), key=key, seconds=UNDO_SECONDS
                ),
                timeout=UNDO_SECONDS,
                markup=False,
            )
        else:
            self.notify(gettext(message.label).capitalize(), timeout=2, markup=False)
        for screen in self.screen_stack:
            screen.post_message(
                ActionDone(message.thread_id, message.label, message.error, message.restored)
            )

    def _undo_key(self) -> str:
        """The key that undoes, as the configuration maps it (`u` unless remapped)."""
        return first_key(self.settings.dashboard.keys, "thread.undo", "u")

    # -- changes to Worksection tasks (tui/screens/tracker.py) ---------------------------

    def on_tracker_wanted(self, message: TrackerWanted) -> None:
        if self._tracker_flow is None:
            from tui.screens.tracker import TrackerFlow

            self._tracker_flow = TrackerFlow(self, self.backend)
        self._tracker_flow.ask(message.thread_id, message.verb, message.deadline)

    def on_tracker_done(self, message: TrackerDone) -> None:
        if message.error is not None:
            title = gettext("Not sent to Worksection") if message.asked else ""
            self.notify(
                message.error,
                title=title,
                severity="error" if message.asked else "warning",
                markup=False,
            )
            return
        self.notify(message.text, timeout=4, markup=False)
        # The change is an event of the thread: shown once its page is read again.
        self.pages.forget(message.thread_id)
        self.read_thread_again()

    # -- actions on invoices, in workers ----------------------------------------------

    def on_invoice_action(self, message: InvoiceAction) -> None:
        invoice = message.invoice
        if message.verb == "promise" and message.day is not None:
            self._write_invoice(
                gettext("Promise recorded for {number}").format(number=invoice.number),
                gettext("No promise recorded"),
                partial(self._record_promise, invoice.number, message.day),
            )
        elif message.verb == "dispute":
            self._write_invoice(
                gettext("Dispute recorded for {number}: reminders paused").format(
                    number=invoice.number
                ),
                gettext("No dispute recorded"),
                partial(self._record_dispute, invoice.number, message.reason or None),
            )
        elif message.verb == "sent":
            client = invoice.client
            self._write_invoice(
                gettext("Today's reminder to {client} marked sent").format(client=client),
                gettext("Not marked sent"),
                partial(self._mark_reminder_sent, client),
            )
        elif message.verb == "email":
            client = invoice.client
            self._write_invoice(
                gettext("Today's reminder to {client} queued for email").format(client=client),
                gettext("Not sent by email"),
                partial(self._email_reminder, client),
            )

    # In the worker: the dunning module, with SQLAlchemy, loads there, not on the UI thread.

    def _record_promise(self, number: str, day: date, actor: str) -> None:
        from core.receivables.dunning import record_promise

        backend = self.backend
        record_promise(backend.engine, backend.settings, number, day, actor, backend.clock())

    def _record_dispute(self, number: str, reason: str | None, actor: str) -> None:
        from core.receivables.dunning import record_dispute

        backend = self.backend
        record_dispute(backend.engine, backend.settings, number, reason, actor, backend.clock())

    def _mark_reminder_sent(self, client: str, actor: str) -> None:
        from core.receivables.dunning import mark_todays_sent

        backend = self.backend
        mark_todays_sent(backend.engine, backend.settings, client, actor, backend.clock())

    def _email_reminder(self, client: str, actor: str) -> None:
        """Approve today's reminder: queued to the client's billing address, marked sent
        once the services have sent it."""
        from core.mail.compose import queue_reminder_email
        from core.receivables.dunning import todays_drafts

        backend = self.backend
        if not backend.settings.email.host:
            raise ValueError(gettext("set [email] host to send reminders by email"))
        now = backend.clock()
        for reminder_id in todays_drafts(backend.engine, backend.settings, client, now):
            queue_reminder_email(backend.engine, backend.settings, reminder_id, now, actor)

    @work(thread=True, group="invoice-actions")
    def _write_invoice(self, done: str, refused: str, run: Callable[[str], object]) -> None:
        """Run a write as the operator, then read the overdue list again; errors become toasts."""
        from tui.sources.watch import overdue

        backend = self.backend
        # Any failure (a database error too) is the assistant's to read, not a crash.
        try:
            run(backend.operator().name)
        except Exception as problem:
            self.call_from_thread(
                self.notify, str(problem), title=refused, severity="error", markup=False
            )
            return
        invoices = overdue(backend, backend.clock())
        self.call_from_thread(self._invoices_written, done, invoices)

    def _invoices_written(self, done: str, invoices: Overdue) -> None:
        self.main.query_one(InvoicesPanel).show(invoices)
        self.notify(done, timeout=3, markup=False)

    # -- the command palette ---------------------------------------------------------

    def palette_actions(self, screen: Screen[Any]) -> list[tuple[str, Callable[[], Any], str]]:
        found: list[tuple[str, Callable[[], Any], str]] = []
        keymap = self.settings.dashboard.keys
        # A thread shown in the main screen: its keys, not the panels'.
        holder: Widget = screen
        if isinstance(screen, MainScreen) and (view := screen.thread_shown()) is not None:
            holder = view
        for binding in [*holder.BINDINGS, *self.BINDINGS]:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            target = holder if binding in holder.BINDINGS else self
            # A sentence, and under it the key that does the same.
            keys = keymap.get(binding.id or "", binding.key).split(",")
            shown = self.get_key_display(replace(binding, key=keys[0].strip()))
            found.append(
                (
                    gettext(binding.tooltip or binding.description),
                    partial(target.run_action, binding.action),
                    gettext("key {key}").format(key=shown),
                )
            )
        review = gettext(REVIEW_SENTENCE)
        if not any(name == review for name, _run, _key in found):
            # From any screen, not only the main one whose key opens it.
            key = first_key(keymap, "main.review", "v")
            found.append(
                (review, self.open_review, gettext("key {key} on the main screen").format(key=key))
            )
        return found

    def goto_targets(self) -> list[tuple[str, str, str]]:
        """(kind, label, value) for clients, recent threads and overdue invoices."""
        from core.conversations.directory import jump_targets

        return jump_targets(self.backend.reader())

    def on_go_to(self, message: GoTo) -> None:
        self.go_to(message.kind, message.value)

    def go_to(self, kind: str, value: str) -> None:
        if kind == "thread":
            self.open_thread(int(value))
            return
        while self.screen is not self.main:
            self.pop_screen()
        main = self.main
        main.close_thread()
        if kind == "client":
            from core.conversations.feed import FeedFilter

            main.set_filter(FeedFilter(client=value))
        elif kind == "invoice" and not main.query_one(InvoicesPanel).select_number(value):
            self.notify(
                gettext("Invoice {number} is not among the overdue invoices shown.").format(
                    number=value
                ),
                markup=False,
            )
