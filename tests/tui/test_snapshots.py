"""SVG snapshots of the dashboard's screens, wide (120x40) and narrow (80x24).

The data is the `agency` fixture on a real SQLite file, the clock is frozen,
and each picture is taken only once the screen shows what its workers read:
the dashboard loads in worker threads, so a picture taken at a fixed delay
would catch "Loading…" on a slow machine. Nothing is acted on, so no toast
is raised, and the cursor of a focused text field is made to stop blinking.

Before each picture the stylesheet is applied again (`settle`): Textual's
DataTable can keep a header line drawn with the column widths it had before
rows were added (its line cache is not cleared when the widths are measured,
on idle), so under load the breaches table's header came out narrower than
its rows in about one run in three. Re-applying the styles clears those
caches, so the picture shows what the table settles to.

Update the pictures after a deliberate change of the screens with
`pytest tests/tui/test_snapshots.py --snapshot-update`, and look at them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from core.config.settings import Settings
from core.time.sync import apply_window
from tests.core.billing.support import contract, fee, store
from tests.core.time.test_report import BRIOCHE, MONTH, cost
from tests.support import MovableClock
from tests.tui.panels.test_invoices import review_queue_of
from tui.app import Dashboard
from tui.display.themes import DARK, LIGHT
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.sla import SlaPanel
from tui.screens.am import AmScreen
from tui.screens.billing import BillingScreen
from tui.screens.contracts import ContractsScreen
from tui.screens.help import HelpScreen
from tui.screens.log import LogScreen
from tui.screens.main import MainScreen
from tui.screens.manager import ManagerScreen
from tui.screens.review import ReviewScreen
from tui.sources.backend import Backend
from tui.sources.servicelog import ServiceLog
from tui.widgets.ask import AskDay, AskText
from tui.widgets.conversation import Conversation
from tui.widgets.pickers import FilterScreen, InvoicePicker, StaffPicker

SnapCompare = Callable[..., bool]
RunBefore = Callable[[Pilot[None]], Awaitable[None]]

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def until(pilot: Pilot[None], predicate: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the screen never got there")
        await pilot.pause(0.02)


async def settle(pilot: Pilot[None]) -> None:
    """Redraw every widget from scratch, then let the screen catch up (see the docstring).

    A text field's cursor stops blinking, shown: a picture taken mid-blink
    would lack it one run in two.
    """
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    pilot.app.refresh_css(animate=False)
    await pilot.pause()


async def main_loaded(pilot: Pilot[None]) -> MainScreen:
    """The main screen with every panel filled by the watcher's first read."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, MainScreen)
    clocks = screen.query_one(ClocksPanel)
    sla = screen.query_one(SlaPanel)
    await until(pilot, lambda: len(clocks.clocks) == 4 and sla.figures is not None)
    assert len(screen.query_one(IncomingPanel).items) == 7
    await pilot.pause()
    return screen


async def main_shown(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await settle(pilot)


def thread_opened(title: str) -> RunBefore:
    async def run_before(pilot: Pilot[None]) -> None:
        screen = await main_loaded(pilot)
        incoming = screen.query_one(IncomingPanel)
        index = next(i for i, item in enumerate(incoming.items) if item.thread == title)
        incoming.table.move_cursor(row=index, animate=False)
        await pilot.press("enter")
        app = pilot.app
        assert isinstance(app, Dashboard)
        await until(pilot, lambda: app.thread_shown() is not None)
        thread = app.thread_shown()
        assert thread is not None
        await until(pilot, lambda: thread.detail is not None)
        assert thread.detail is not None
        last = thread.detail.events[-1].text.splitlines()[-1][:10]
        await until(pilot, lambda: last in str(thread.query_one(Conversation).text))
        await settle(pilot)

    return run_before


async def manager_loaded(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("m")
    await until(pilot, lambda: isinstance(pilot.app.screen, ManagerScreen))
    manager = pilot.app.screen
    assert isinstance(manager, ManagerScreen)
    await until(pilot, lambda: manager.snapshot is not None)
    await settle(pilot)


async def account_management_loaded(pilot: Pilot[None]) -> None:
    await manager_loaded(pilot)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(pilot.app.screen, AmScreen))
    page = pilot.app.screen
    assert isinstance(page, AmScreen)
    await until(pilot, lambda: page.snapshot is not None)
    await settle(pilot)


async def billing_loaded(pilot: Pilot[None]) -> None:
    await manager_loaded(pilot)
    await pilot.press("b")
    await until(pilot, lambda: isinstance(pilot.app.screen, BillingScreen))
    page = pilot.app.screen
    assert isinstance(page, BillingScreen)
    await until(pilot, lambda: page.snapshot is not None)
    await settle(pilot)


async def contracts_loaded(pilot: Pilot[None]) -> None:
    await manager_loaded(pilot)
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, ContractsScreen))
    page = pilot.app.screen
    assert isinstance(page, ContractsScreen)
    await until(pilot, lambda: bool(page.rows))
    await settle(pilot)


def engagement_letters(engine: Engine) -> None:
    """Acme and Corvid under contract since November, Bigco from December."""
    store(
        engine,
        contract("C-ACME", "Acme", start=date(2026, 11, 1), lines=(fee("Hosting", 310),)),
        contract("C-BIG", "Bigco", start=date(2026, 12, 1), legal_name="Bigco SAS"),
        contract(
            "C-CORVID",
            "Corvid",
            start=date(2026, 11, 1),
            legal_name="Corvid SA",
            lines=(fee("Retainer", 450), fee("Backup", 20)),
        ),
    )


async def help_shown(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
    await settle(pilot)


@pytest.fixture
def dashboard(agency: Engine, dashboard_settings: Settings, clock: MovableClock) -> Dashboard:
    return Dashboard(dashboard_settings, Backend(dashboard_settings, clock))


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int]):
    assert snap_compare(dashboard, terminal_size=size, run_before=main_shown)


@pytest.mark.parametrize("size", SIZES)
def test_thread_with_an_internal_note(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int]
):
    assert snap_compare(dashboard, terminal_size=size, run_before=thread_opened("Task T3"))


@pytest.mark.parametrize("size", SIZES)
def test_thread_with_hostile_markup_shown_literally(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int]
):
    assert snap_compare(dashboard, terminal_size=size, run_before=thread_opened("Task T5"))


@pytest.mark.parametrize("size", SIZES)
def test_manager_view(snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int]):
    assert snap_compare(dashboard, terminal_size=size, run_before=manager_loaded)


@pytest.mark.parametrize("size", SIZES)
def test_account_management_page(
    snap_compare: SnapCompare, dashboard: Dashboard, agency: Engine, size: tuple[int, int]
):
    # November's hand-built month (tests/core/time), and a client call on Brioche shop
    # that takes it above 10 % under the dashboard's rule (the tags AM and Communication).
    call = cost("13", "3:00", "2026-11-06", "sam@agency.example", "Call", BRIOCHE, ["AM"])
    apply_window(agency, [*MONTH, call], date(2026, 10, 1), date(2026, 12, 31))
    assert snap_compare(dashboard, terminal_size=size, run_before=account_management_loaded)


def test_billing_page(snap_compare: SnapCompare, dashboard: Dashboard, agency: Engine):
    engagement_letters(agency)
    assert snap_compare(dashboard, terminal_size=(120, 40), run_before=billing_loaded)


def test_contracts_page(snap_compare: SnapCompare, dashboard: Dashboard, agency: Engine):
    engagement_letters(agency)
    assert snap_compare(dashboard, terminal_size=(120, 40), run_before=contracts_loaded)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int]):
    assert snap_compare(dashboard, terminal_size=size, run_before=help_shown)


# -- the screens drawn over the main one, in both themes ---------------------------------

THEMED = [
    pytest.param(size, theme, id=f"{size_id}-{theme}")
    for size, size_id in (((120, 40), "120x40"), ((80, 24), "80x24"))
    for theme in (DARK, LIGHT)
]


def themed(theme: str, show: RunBefore) -> RunBefore:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme
        await show(pilot)

    return run_before


async def review_shown(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    review = pilot.app.screen
    assert isinstance(review, ReviewScreen)
    await until(pilot, lambda: review.loaded and len(review.lines) == 2)
    await settle(pilot)


async def staff_picker_shown(pilot: Pilot[None]) -> None:
    await thread_opened("Task T4")(pilot)
    await pilot.press("a")
    await until(pilot, lambda: isinstance(pilot.app.screen, StaffPicker))
    await settle(pilot)


async def filter_shown(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("f")
    await until(pilot, lambda: isinstance(pilot.app.screen, FilterScreen))
    await settle(pilot)


async def promise_asked(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("3", "p")
    await until(pilot, lambda: isinstance(pilot.app.screen, AskDay))
    await settle(pilot)


@pytest.fixture
def review_waiting(agency: Engine, dashboard_settings: Settings, clock: MovableClock) -> None:
    review_queue_of(agency, dashboard_settings, clock)


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_review_screen(
    snap_compare: SnapCompare,
    review_waiting: None,
    dashboard: Dashboard,
    size: tuple[int, int],
    theme: str,
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, review_shown))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_staff_picker(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, staff_picker_shown))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_feed_filter(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, filter_shown))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_promise_day_asked(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, promise_asked))


# -- the other pickers, the text box, the palette and the log view ------------------------


async def watchers_shown(pilot: Pilot[None]) -> None:
    await thread_opened("Task T4")(pilot)
    await pilot.press("w")
    await until(pilot, lambda: isinstance(pilot.app.screen, StaffPicker))
    await settle(pilot)


async def invoice_picker_shown(pilot: Pilot[None]) -> None:
    await review_shown(pilot)
    await pilot.press("i")
    await until(pilot, lambda: isinstance(pilot.app.screen, InvoicePicker))
    picker = pilot.app.screen
    await until(pilot, lambda: picker.query_one(OptionList).option_count >= 3)
    await settle(pilot)


async def dispute_asked(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("3", "d")
    await until(pilot, lambda: isinstance(pilot.app.screen, AskText))
    await settle(pilot)


async def palette_shown(pilot: Pilot[None]) -> None:
    await main_loaded(pilot)
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    palette = pilot.app.screen
    # Typed, so that only the actions answer, in their order: discovery mixes the
    # providers in the order they reply.
    await pilot.press(*"review")
    commands = palette.query_one(CommandList)
    # Every provider has answered and the list is drawn with its first hit highlighted.
    await until(
        pilot,
        lambda: (
            commands.option_count >= 1
            and commands.highlighted == 0
            and all(worker.is_finished for worker in pilot.app.workers if worker.node is palette)
        ),
    )
    await pilot.pause(0.3)
    await settle(pilot)


# What the services logged, at fixed instants (their times are read in UTC here).
LOGGED = (
    (logging.INFO, "pmdesk.services", "services started (lease holder pmdesk-1)"),
    (logging.INFO, "pmdesk.intake", "HTTP intake listening on http://127.0.0.1:8765"),
    (logging.WARNING, "pmdesk.bot", "Telegram is out of reach; trying again in 4 s"),
    # An error no service owns: a service's error would raise a toast over the picture.
    (logging.ERROR, "pmdesk.worksection", "Worksection get_events failed: 503"),
)
LOG_START = 1_795_424_400.0  # 2026-11-23 09:00 UTC


async def log_shown(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, Dashboard)
    await main_loaded(pilot)
    # A log of its own, so that what the process happened to log does not show.
    log = ServiceLog()
    for seconds, (level, logger, message) in enumerate(LOGGED):
        record = logging.LogRecord(logger, level, __file__, 0, message, None, None)
        record.created = LOG_START + 7 * seconds
        log.handle(record)
    app.service_log = log
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LogScreen))
    screen = app.screen
    assert isinstance(screen, LogScreen)
    await until(pilot, lambda: "get_events failed" in screen.shown_text())
    await settle(pilot)


@pytest.fixture
def fixed_log_place(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The log file's place and the log's clock, the same on every machine."""
    monkeypatch.setattr(
        "core.base.paths.default_log_path", lambda: Path("~/.local/state/pmdesk/log/pmdesk.log")
    )
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_watchers_picker(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, watchers_shown))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_invoice_picker(
    snap_compare: SnapCompare,
    review_waiting: None,
    dashboard: Dashboard,
    size: tuple[int, int],
    theme: str,
):
    assert snap_compare(
        dashboard, terminal_size=size, run_before=themed(theme, invoice_picker_shown)
    )


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_dispute_reason_asked(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, dispute_asked))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_command_palette(
    snap_compare: SnapCompare, dashboard: Dashboard, size: tuple[int, int], theme: str
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, palette_shown))


@pytest.mark.parametrize(("size", "theme"), THEMED)
def test_log_view(
    snap_compare: SnapCompare,
    fixed_log_place: None,
    dashboard: Dashboard,
    size: tuple[int, int],
    theme: str,
):
    assert snap_compare(dashboard, terminal_size=size, run_before=themed(theme, log_shown))
