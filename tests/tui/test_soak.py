"""An hour with the demo, in well under a minute: a seeded random walk of keys and clicks.

The demo's dashboard as `pmdesk demo` builds it (its simulated clients and
its services running in their own threads) on a clock the test moves: each
step moves it on, so a simulated hour goes by while the clients keep
writing. On every screen the walk presses the keys that screen offers and
clicks rows and the key bar, and checks, as it goes:

- nothing breaks: the app is still running, no error toast but an action's
  refusal, nothing logged with a traceback;
- every action on a thread acted on the thread that was under the cursor
  when the key was pressed: what the drawn row named, compared with what
  the database holds afterwards (pmdesk's own events, the events marked
  handled, the watchers) and with the thread screen that opened;
- every key pressed appears in the key bar of the screen it was pressed in
  or in the help (`?`) under that screen.

The terminal changes size every quarter of the walk (120x40, 80x24,
200x60, 120x40). The walk is drawn from SEED (12; `SOAK_SEED=<n>` in the
environment walks another way): a failure replays the same keys, though
the simulator's and the services' threads take their turns on the wall
clock, so what arrives between two keys may differ.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from textual.binding import Binding
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, TextArea

from core.base.i18n import gettext
from core.config.settings import Settings
from core.conversations.ingest import OWN_SOURCE
from core.demo.scenario import demo_settings, load_scenario
from core.demo.seeding import seed_demo
from core.demo.simulator import Simulator
from core.store.db import open_database
from pmdesk.dashboard import demo_dashboard
from tests.support import MovableClock
from tests.tui.test_dashboard import rows, until
from tui.app import Dashboard
from tui.messages import ActionDone
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.invoices import InvoicesPanel
from tui.panels.thread import ThreadView
from tui.screens.help import COMMON_GROUP, HelpScreen
from tui.screens.log import LogScreen
from tui.screens.main import MainScreen
from tui.screens.manager import ManagerScreen
from tui.screens.review import ReviewScreen
from tui.widgets.ask import AskDay, AskText
from tui.widgets.keybar import KeyBar
from tui.widgets.pickers import FilterScreen, StaffPicker

pytestmark = pytest.mark.soak

# A working afternoon in Paris, a Thursday: the simulated clients write.
SEEDED_AT = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
STEPS = 48
STEP_SECONDS = 75.0  # 48 steps of 75 s: an hour of the demo's time
SEED = int(os.environ.get("SOAK_SEED", "12"))
# The terminal's size, changed every quarter of the walk.
SIZES = ((120, 40), (80, 24), (200, 60), (120, 40))
# The whole walk, wall clock, whatever happens: a hang fails instead of waiting.
BUDGET_SECONDS = 120.0
# An action's outcome (a worker's write, a screen opening): at most this long.
ACTION_WAIT = 8.0

# The help's groups that apply on each screen, or on the thread shown in the
# main screen (the `where` column of `?`).
HELP_GROUPS: dict[type[Screen[Any] | ThreadView], tuple[str, ...]] = {
    MainScreen: ("everywhere", "main", "feed", "feed rows", "clocks", "invoices"),
    ThreadView: ("everywhere", "thread"),
    ReviewScreen: ("everywhere", "review"),
    ManagerScreen: ("everywhere", "manager"),
    FilterScreen: ("filter",),
    StaffPicker: ("staff picker",),
    AskDay: ("questions",),
    AskText: ("questions",),
    HelpScreen: ("help",),
    LogScreen: ("services log",),
}


# The main screen's keys that open another screen: each is visited at least once.
OPENS = {
    "m": "ManagerScreen",
    "v": "ReviewScreen",
    "l": "LogScreen",
    "question_mark": "HelpScreen",
    "f": "FilterScreen",
    "slash": "AskText",
    "ctrl+p": "CommandPalette",
}


@pytest.fixture
def demo_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, MovableClock]:
    monkeypatch.setenv("PMDESK_TELEGRAM_TOKEN", "123:not-a-real-token")
    # `o` opens no browser here: as over SSH, the link shows in a toast.
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 22 10.0.0.2 22")
    settings = demo_settings().model_copy(update={"db": str(tmp_path / "demo.db")})
    engine = open_database(settings.db)
    seed_demo(engine, settings, SEEDED_AT, folder=tmp_path)
    engine.dispose()
    return settings, MovableClock(SEEDED_AT)


@dataclass
class Trail:
    """What the operator changed on threads, read from the database."""

    engine: Engine
    operator: int
    own_event: int = 0
    handled: set[int] = field(default_factory=set)
    watchers: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.changed()

    def changed(self) -> set[int]:
        """The threads changed by hand since the last call."""
        threads: set[int] = set()
        for event_id, thread_id in rows(
            self.engine,
            f"SELECT id, thread_id FROM event WHERE source = '{OWN_SOURCE}'"
            f" AND id > {self.own_event}",
        ):
            self.own_event = max(self.own_event, event_id)
            threads.add(thread_id)
        handled = dict(
            rows(
                self.engine,
                "SELECT id, thread_id FROM event WHERE triage = 'handled'"
                f" AND triage_by = {self.operator}",
            )
        )
        threads |= {handled[event_id] for event_id in handled.keys() - self.handled}
        self.handled = set(handled)
        watchers = set(
            rows(self.engine, "SELECT thread_id, staff_id FROM assignment WHERE role = 'watcher'")
        )
        threads |= {thread_id for thread_id, _ in watchers ^ self.watchers}
        self.watchers = watchers
        return threads


class Walk:
    """The random walk: one step is one key or click on the screen in front."""

    def __init__(self, pilot: Pilot[None], clock: MovableClock, seed: int) -> None:
        self.pilot = pilot
        self.app = pilot.app
        assert isinstance(self.app, Dashboard)
        self.dashboard: Dashboard = self.app
        self.clock = clock
        self.rng = random.Random(seed)
        self.done: list[ActionDone] = []
        self.errors: list[str] = []
        self.help: dict[str, set[str]] = {}
        self.pressed: dict[str, int] = {}
        self.acted: dict[str, int] = {}
        self.screens_seen: set[str] = set()
        backend = self.dashboard.backend
        self.trail = Trail(backend.engine, backend.operator().id)
        self.titles = dict(rows(backend.engine, "SELECT id, title FROM thread"))
        self._observe()

    def _observe(self) -> None:
        """Record what the app's actions report (ActionDone) and its error toasts."""
        app = self.dashboard
        done = app._done
        notify = app.notify

        def observed_done(message: ActionDone, undoable: bool = False) -> None:
            self.done.append(message)
            done(message, undoable)

        def observed_notify(message: str, *args: Any, **kwargs: Any) -> None:
            title = str(kwargs.get("title", ""))
            # An action refused ("Not handled") and a clock breaching are news, not faults.
            # Both in the interface's language (the demo's is French).
            refused = gettext("Not {action}").split("{")[0]
            expected = title.startswith(refused) or title == gettext("Response clock")
            if kwargs.get("severity") == "error" and not expected:
                self.errors.append(f"{title}: {message}")
            notify(message, *args, **kwargs)

        app._done = observed_done  # type: ignore[method-assign]
        app.notify = observed_notify  # type: ignore[method-assign]

    # -- keys ------------------------------------------------------------------

    async def read_help(self) -> None:
        """The help as `?` shows it: per group, the keys as drawn."""
        await self.press("question_mark")
        await self.wait(lambda: isinstance(self.app.screen, HelpScreen), "the help")
        screen = self.app.screen
        assert isinstance(screen, HelpScreen)
        where, keys = screen.table.columns[0].cells, screen.table.columns[1].cells
        for group, shown in zip(where, keys, strict=True):
            self.help.setdefault(str(group), set()).update(str(shown).split(", "))
        await self.press("escape")

    def front(self) -> Screen[Any] | ThreadView:
        """The screen in front, or the thread it shows in place of the main screen's panels."""
        return self.dashboard.thread_shown() or self.app.screen

    def findable(self, front: Screen[Any] | ThreadView, key: str) -> bool:
        """Whether `key` shows in the screen's key bar or in the help under what is in front."""
        bars = self.app.screen.query(KeyBar)
        if bars and any(shown[0] == key for shown in bars.first()._shown):
            return True
        display = self.app.get_key_display(Binding(key, ""))
        groups = (*HELP_GROUPS.get(type(front), ()), COMMON_GROUP)
        # The help names its groups in the interface's language (the demo's is French).
        return any(display in self.help.get(gettext(group), set()) for group in groups)

    async def press(self, key: str) -> None:
        front = self.front()
        if self.help:
            assert self.findable(front, key), (
                f"{key!r} pressed on {type(front).__name__} is neither in its key bar"
                " nor in the help"
            )
        self.pressed[key] = self.pressed.get(key, 0) + 1
        await self.pilot.press(key)
        await self.pilot.pause()
        self.screens_seen.add(type(self.front()).__name__)

    async def type(self, text: str) -> None:
        """Text typed into the focused box: letters, not keys."""
        await self.pilot.press(*text)
        await self.pilot.pause()

    # -- checks ----------------------------------------------------------------

    async def wait(self, happened: Callable[[], bool], what: str) -> None:
        try:
            await until(self.pilot, happened, ACTION_WAIT)
        except AssertionError:
            screen = type(self.app.screen).__name__
            raise AssertionError(f"{what}: not within {ACTION_WAIT} s (on {screen})") from None

    def healthy(self) -> None:
        assert self.app.is_running, "the dashboard stopped"
        assert self.app._exception is None, f"the dashboard raised {self.app._exception!r}"
        assert not self.errors, f"error toasts: {self.errors}"

    async def expect_action(self, before: int, thread_id: int | None, what: str) -> None:
        """The action reported back, on `thread_id`, and changed that thread alone."""
        await self.wait(lambda: len(self.done) > before, f"{what}: reported back")
        reported = self.done[before]
        assert reported.thread_id == thread_id, (
            f"{what}: acted on thread {reported.thread_id}"
            f" ({self.title(reported.thread_id)!r}), not {thread_id} ({self.title(thread_id)!r})"
        )
        self.acted[what] = self.acted.get(what, 0) + 1
        self.check_trail({thread_id} if thread_id is not None else set(), what)

    def check_trail(self, allowed: set[int], what: str) -> None:
        changed = self.trail.changed()
        assert changed <= allowed, (
            f"{what}: changed threads {sorted(changed)}"
            f" ({[self.title(t) for t in changed]}), chosen: {sorted(allowed)}"
        )

    def title(self, thread_id: int | None) -> str:
        if thread_id is None:
            return "—"
        if thread_id not in self.titles:
            self.titles = dict(rows(self.dashboard.backend.engine, "SELECT id, title FROM thread"))
        return str(self.titles.get(thread_id, "?"))

    async def expect_thread(self, thread_id: int, what: str) -> ThreadView:
        """The thread view in front, on `thread_id`, its page read."""

        def shown() -> bool:
            view = self.dashboard.thread_shown()
            return view is not None and view.detail is not None and view.detail.id == thread_id

        await self.wait(shown, f"{what}: thread {thread_id} shown")
        view = self.dashboard.thread_shown()
        assert view is not None and view.thread_id == thread_id, what
        self.acted[what] = self.acted.get(what, 0) + 1
        return view

    # -- what the cursor shows ---------------------------------------------------

    def main_target(self, main: MainScreen) -> tuple[int | None, str]:
        """The thread the focused panel's cursor shows, checked against the drawn row."""
        if main.query_one(InvoicesPanel).has_focus_within:
            return None, "invoices"
        clocks = main.query_one(ClocksPanel)
        if clocks.has_focus:
            clock = clocks.selected
            return (clock.thread_id if clock else None), "clocks"
        incoming = main.query_one(IncomingPanel)
        table = incoming.table
        if table.cursor_row < 0 or not incoming.items:
            return None, "feed"
        item = incoming.items[table.cursor_row]
        drawn = table.row(table.cursor_row)[2].plain.rstrip("…")
        named = f"{item.thread} · {item.project}" if item.project else item.thread
        assert named.startswith(drawn), (
            f"the row under the cursor shows {drawn!r}, the feed holds {item.thread!r}"
        )
        return item.thread_id, "feed"

    # -- one step ----------------------------------------------------------------

    async def step(self) -> None:
        self.clock.advance(seconds=STEP_SECONDS)
        await self.pilot.pause()
        screen = self.front()
        self.screens_seen.add(type(screen).__name__)
        self.trail.changed()  # whatever came before this step is not its doing
        if isinstance(screen, ThreadView):
            await self.on_thread(screen)
        elif isinstance(screen, MainScreen):
            await self.on_main(screen)
        elif isinstance(screen, ReviewScreen):
            await self.on_review()
        elif isinstance(screen, ManagerScreen):
            await self.on_manager(screen)
        elif isinstance(screen, StaffPicker):
            await self.on_picker()
        elif isinstance(screen, FilterScreen):
            await self.choose(["escape"], clicks=["#filter-apply", "#filter-clear"])
        elif isinstance(screen, AskDay | AskText):
            await self.on_ask(screen)
        elif isinstance(screen, HelpScreen):
            await self.choose(["escape", "question_mark", "down", "pagedown"])
        elif isinstance(screen, LogScreen):
            await self.choose(["escape", "l"])
        elif isinstance(screen, CommandPalette):
            await self.on_palette()
        else:
            raise AssertionError(f"the walk does not know {type(screen).__name__}")
        self.healthy()

    async def choose(self, keys: list[str], clicks: list[str] = ()) -> None:  # type: ignore[assignment]
        choice = self.rng.choice([*keys, *(f"click:{c}" for c in clicks)])
        if choice.startswith("click:"):
            await self.pilot.click(choice.removeprefix("click:"))
            await self.pilot.pause()
        else:
            await self.press(choice)
        self.check_trail(set(), f"{choice} on {type(self.front()).__name__}")

    async def on_main(self, main: MainScreen) -> None:
        acts = ["h", "n", "r", "enter", "click-row"]
        moves = ["1", "2", "3", "tab", "shift+tab", "j", "k", "g", "G", "pagedown", "up", "down"]
        others = ["u", "c", "slash", "f", "question_mark", "l", "m", "v", "t", "ctrl+p"]
        invoices = ["p", "d", "s"] if main.query_one(InvoicesPanel).has_focus_within else []
        unseen = [key for key, name in OPENS.items() if name not in self.screens_seen]
        weights = [3, 3, 5, 1] if unseen else [4, 4, 3, 1]
        kind = self.rng.choices(["act", "move", "other", "invoice"], weights)[0]
        pool = {"act": acts, "move": moves, "other": others, "invoice": invoices or moves}[kind]
        key = self.rng.choice(unseen if kind == "other" and unseen else pool)
        if key == "click-row":
            await self.click_row(main)
            return
        thread_id, panel = self.main_target(main)
        before = len(self.done)
        await self.press(key)
        if key in ("h", "n") and thread_id is not None:
            await self.expect_action(before, thread_id, f"{key} on the {panel}")
        elif key in ("r", "enter") and thread_id is not None:
            await self.expect_thread(thread_id, f"{key} on the {panel}")
        else:
            self.check_trail(set(), f"{key} on the main screen ({panel})")

    async def click_row(self, main: MainScreen) -> None:
        """A click on a feed row or a clock: the first moves the cursor, a second opens."""
        incoming = main.query_one(IncomingPanel)
        clocks = main.query_one(ClocksPanel)
        on_clocks = self.rng.random() < 0.4 and bool(clocks.clocks)
        widget = clocks if on_clocks else incoming.table
        lines = widget.content_region.height - (1 if on_clocks else 0)  # clocks: a header
        if lines <= 0:
            return
        offset_y = self.rng.randrange(min(lines, 6)) + (1 if on_clocks else 0)
        await self.pilot.click(widget, offset=(4, offset_y))
        await self.pilot.pause()
        thread_id, panel = self.main_target(main)
        if thread_id is None:
            return
        before = len(self.done)
        await self.pilot.click(widget, offset=(4, offset_y))  # on the cursor's row: opens
        await self.pilot.pause()
        if self.dashboard.thread_shown() is not None:
            await self.expect_thread(thread_id, f"a click on the {panel}")
        assert len(self.done) == before

    async def on_thread(self, thread: ThreadView) -> None:
        thread_id = thread.thread_id
        await self.wait(lambda: thread.detail is not None, f"thread {thread_id} read")
        assert thread.detail is not None and thread.detail.id == thread_id
        area = thread.query_one("#reply-text", TextArea)
        if thread.query_one("#reply-box").display:  # opened by `r` on the main screen
            await self.wait(lambda: area.has_focus, "the reply box focused")
            await self.write(thread_id, "a reply sent")
            return
        key = self.rng.choice(["r", "i", "a", "w", "n", "h", "o", "escape", "escape"])
        before = len(self.done)
        if key in ("r", "i"):
            await self.press(key)
            await self.wait(lambda: area.has_focus, "the reply box focused")
            await self.write(thread_id, "a reply sent" if key == "r" else "a note recorded")
        elif key in ("n", "h"):
            await self.press(key)
            await self.expect_action(before, thread_id, f"{key} in the thread")
        elif key in ("a", "w"):
            await self.press(key)
            await self.wait(lambda: isinstance(self.app.screen, StaffPicker), "the staff picker")
            picked = await self.on_picker()
            if picked:
                await self.expect_action(before, thread_id, "a staff member picked")
        else:
            await self.press(key)
            self.check_trail(set(), f"{key} in the thread")

    async def write(self, thread_id: int, what: str) -> None:
        """In the open box: type, then send, keep as a draft or discard."""
        before = len(self.done)
        await self.type(self.rng.choice(["ok", "vu", "ça"]))
        end = self.rng.choice(["ctrl+s", "ctrl+s", "escape", "ctrl+r"])
        await self.press(end)
        if end == "ctrl+s":
            await self.expect_action(before, thread_id, what)
        else:
            self.check_trail(set(), f"{end} in the reply box")

    async def on_picker(self) -> bool:
        """Type, move, then choose (True) or cancel."""
        if self.rng.random() < 0.5:
            await self.type(self.rng.choice(["a", "e", "o"]))
        for _ in range(self.rng.randrange(3)):
            await self.press(self.rng.choice(["down", "up"]))
        if self.rng.random() < 0.3:
            await self.press("escape")
            return False
        await self.press("enter")
        return not isinstance(self.app.screen, StaffPicker)

    async def on_ask(self, screen: AskDay | AskText) -> None:
        if isinstance(screen, AskText) and self.rng.random() < 0.5:
            await self.type(self.rng.choice(["ph", "ë", "z"]))
        await self.choose(["enter", "escape", "escape"])

    async def on_review(self) -> None:
        await self.choose(["up", "down", "tab", "a", "x", "u", "enter", "escape", "escape"])

    async def on_manager(self, manager: ManagerScreen) -> None:
        key = self.rng.choice(["1", "2", "3", "r", "tab", "enter", "down", "escape", "escape"])
        table = manager.query_one("#manager-breaches", DataTable)
        thread_id: int | None = None
        if key == "enter" and table.has_focus and table.row_count:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
            thread_id = manager.breach_threads.get(row_key.value or "")
        await self.press(key)
        if thread_id is not None:
            await self.expect_thread(thread_id, "enter on a breach")
        else:
            self.check_trail(set(), f"{key} in the manager view")

    async def on_palette(self) -> None:
        if self.rng.random() < 0.5:
            await self.type(self.rng.choice(["th", "re", "he"]))
        await self.choose(["escape", "down", "up"])


async def test_an_hour_with_the_demo_acts_only_on_the_chosen_threads_without_a_traceback(
    demo_at: tuple[Settings, MovableClock], caplog: pytest.LogCaptureFixture
) -> None:
    settings, clock = demo_at
    app, stopped = demo_dashboard(settings, Simulator(load_scenario()), SEEDED_AT, clock)
    caplog.set_level(logging.WARNING)
    async with asyncio.timeout(BUDGET_SECONDS), app.run_test(size=SIZES[0]) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        walk = Walk(pilot, clock, SEED)
        [(first,)] = rows(walk.trail.engine, "SELECT max(id) FROM event")
        await walk.read_help()
        for step in range(STEPS):
            if step % (STEPS // len(SIZES)) == 0:
                await pilot.resize_terminal(*SIZES[step * len(SIZES) // STEPS])
            await walk.step()
        walk.healthy()
        [(arrived,)] = rows(
            walk.trail.engine,
            f"SELECT count(*) FROM event WHERE id > {first} AND source != '{OWN_SOURCE}'",
        )
    assert stopped.wait(10)
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks
    # The walk went everywhere and acted, while the clients kept writing.
    assert {"MainScreen", "ThreadView", *OPENS.values()} <= walk.screens_seen
    assert sum(walk.acted.values()) >= 5, walk.acted
    assert arrived >= 60, arrived
