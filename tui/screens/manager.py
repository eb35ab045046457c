"""The manager view: the SLA over a chosen period, by person and by client, with breaches.

Its Account management page (`a`, tui.screens.am) shows where each
project's hours go; its Billing page (`b`, tui.screens.billing) previews
and issues the month's invoices, its Contracts page (`e`,
tui.screens.contracts) lists the engagement letters.

Everything shown comes from one snapshot read in a worker thread (the same
queries as `pmdesk report sla`), so switching periods never freezes the
screen. A snapshot is applied only if it is the one last asked for: a slow
read of an earlier period must not overwrite a newer one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Static, Tab, Tabs

from core.base import i18n
from core.base.i18n import N_
from core.base.instants import midnight
from core.config.settings import TimeConfig
from core.sla.report import DayShare, SlaLine, SlaReport, daily_share_met, sla_report
from core.sla.views import ClockView, breached_clocks
from core.store.reader import Reader
from core.tracker.autostart import Start, month_median, read_starts
from tui.display.text import as_text, first_line
from tui.screens.am import TimeSettings
from tui.screens.billing import BillingDesk
from tui.widgets.keybar import KeyBar

NOTHING = "–"
TODAY, WEEK, MONTH, CUSTOM = "today", "week", "month", "custom"
# How many local days each relative period covers, today included.
PERIOD_DAYS = {TODAY: 1, WEEK: 7, MONTH: 30}
PERIOD_NAMES = {TODAY: N_("Today"), WEEK: N_("7 days"), MONTH: N_("30 days"), CUSTOM: N_("Custom")}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CUSTOM_HINT = N_("Both days included; ⏎ shows them.")


# -- periods and the snapshot, free of widgets ------------------------------------------


@dataclass(frozen=True)
class Period:
    """What the screen reports on: [since, until), named for the title line."""

    key: str
    since: datetime
    until: datetime
    first_day: date
    last_day: date

    @property
    def title(self) -> str:
        name = i18n.gettext(PERIOD_NAMES[self.key])
        if self.first_day == self.last_day:
            return f"{name}: {_day(self.last_day, year=True)}"
        return f"{name}: {_day(self.first_day)} – {_day(self.last_day, year=True)}"


def relative_period(key: str, now: datetime, tz: ZoneInfo) -> Period:
    """Today, or the last 7 or 30 local days, today included, up to now."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=PERIOD_DAYS[key] - 1)
    return Period(key, midnight(first, tz), now, first, today)


def custom_period(first_text: str, last_text: str, now: datetime, tz: ZoneInfo) -> Period:
    """Two local days typed by hand, both included; ValueError says what is wrong."""
    first = _typed_day(first_text, N_("start"))
    last = _typed_day(last_text, N_("end"))
    if first > last:
        raise ValueError(
            i18n.gettext("The start ({first}) is after the end ({last}).").format(
                first=first, last=last
            )
        )
    since = midnight(first, tz)
    if since >= now:
        raise ValueError(
            i18n.gettext("The period starts after today ({first}).").format(first=first)
        )
    until = min(midnight(last + timedelta(days=1), tz), now)
    return Period(CUSTOM, since, until, first, last)


def _typed_day(text: str, which: str) -> date:
    text = text.strip()
    if not text:
        raise ValueError(
            i18n.gettext("Type the {which} date as YYYY-MM-DD.").format(which=i18n.gettext(which))
        )
    # date.fromisoformat also takes 20261123 and week dates: only one form is
    # announced, so only that one is accepted.
    try:
        if not ISO_DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            i18n.gettext("The {which} date {text!r} is not a date as YYYY-MM-DD.").format(
                which=i18n.gettext(which), text=text
            )
        ) from None


@dataclass(frozen=True)
class Snapshot:
    """Everything the manager view shows for one period, read at one instant."""

    period: Period
    now: datetime
    report: SlaReport
    days: list[DayShare]
    breaches: list[ClockView]
    # Projects started by themselves (core.tracker.autostart): those created in the
    # period, and the median time to staff them of the month of `now`.
    starts: list[Start] = field(default_factory=list)
    month_median: float | None = None


def read_snapshot(reader: Reader, period: Period, now: datetime, tz: ZoneInfo) -> Snapshot:
    report = sla_report(reader, period.since, period.until, now)
    days = daily_share_met(reader, period.since, period.until, tz)
    # breached_clocks has no end: a custom period in the past must not list
    # the clocks that started after it.
    breaches = [
        clock
        for clock in breached_clocks(reader, now, period.since)
        if clock.started_at < period.until
    ]
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    started = read_starts(reader, min(period.since, month))
    in_period = [start for start in started if period.since <= start.created_at < period.until]
    return Snapshot(period, now, report, days, breaches, in_period, month_median(started, now))


# -- formatting ---------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """A duration as every screen writes it ("6m03s"), to the nearest second."""
    return NOTHING if seconds is None else i18n.duration(round(seconds))


def share(value: float | None) -> str:
    # Rounded down, so that 100% means every answer met its target.
    return NOTHING if value is None else f"{math.floor(value * 100 + 1e-9)}%"


def _day(day: date, *, year: bool = False) -> str:
    # Babel's names for the active language: "Mon 23 Nov" or "lun. 23 nov.".
    return format_date(day, "EEE d MMM y" if year else "EEE d MMM", locale=i18n.locale())


def _number(value: int | str) -> Text:
    return Text(str(value), justify="right")


def _untrusted(value: str | None, width: int = 40) -> Text:
    """Names and titles come from clients and trackers: shown literally, on one line."""
    return Text(NOTHING) if value is None else as_text(first_line(value, width))


# -- widgets ------------------------------------------------------------------------------


class Figure(Vertical):
    """One headline figure: a small label over its value."""

    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id, classes="manager-figure")
        self.label = label
        self.value = NOTHING

    def compose(self) -> ComposeResult:
        yield Label(i18n.gettext(self.label), classes="manager-figure-label", markup=False)
        yield Label(self.value, classes="manager-figure-value", markup=False)

    def show(self, value: str) -> None:
        self.value = value
        self.query_one(".manager-figure-value", Label).update(value)


class DailyShareChart(Widget):
    """Vertical bars of the share met per day, 0 to 100%, days along the axis.

    Drawn by hand rather than with Sparkline: a day without answers must
    read as "nothing to measure", not as a day at 0%.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "manager-chart--met",
        "manager-chart--breached",
        "manager-chart--empty",
        "manager-chart--axis",
    }
    BAR_ROWS = 4
    GUTTER = 5  # "100%│"
    BLOCKS = " ▁▂▃▄▅▆▇█"

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.days: list[DayShare] = []

    def show(self, days: list[DayShare]) -> None:
        self.days = days
        self.refresh()

    def render(self) -> Text:
        if not self.days:
            return Text(i18n.gettext("No days in the period."))
        column = self._column_width()
        lines = [self._bar_row(row, column) for row in reversed(range(self.BAR_ROWS))]
        axis = self.get_component_rich_style("manager-chart--axis")
        lines.append(Text("    └" + "─" * (column * len(self.days)), style=axis))
        lines.append(Text(self._labels(column), style=axis))
        return Text("\n").join(lines)

    def _column_width(self) -> int:
        room = max(self.size.width - self.GUTTER, len(self.days))
        return max(1, min(4, room // len(self.days)))

    def _bar_row(self, row: int, column: int) -> Text:
        gutter = {self.BAR_ROWS - 1: "100%", 0: "  0%"}.get(row, "    ")
        line = Text(gutter + "│", style=self.get_component_rich_style("manager-chart--axis"))
        bar_width = max(1, column - 1)
        for day in self.days:
            glyph, style = self._cell(day, row)
            line.append(glyph * bar_width, style=style)
            line.append(" " * (column - bar_width))
        return line

    def _cell(self, day: DayShare, row: int) -> tuple[str, Style]:
        if day.share_met is None:
            return ("·" if row == 0 else " "), self.get_component_rich_style("manager-chart--empty")
        kind = "manager-chart--breached" if day.breaches else "manager-chart--met"
        eighths = round(day.share_met * self.BAR_ROWS * 8)
        # Some answers but none met: a sliver, so the day does not look empty.
        filled = max(1, eighths) - row * 8
        return self.BLOCKS[max(0, min(8, filled))], self.get_component_rich_style(kind)

    def _labels(self, column: int) -> str:
        """Day numbers under their bars, every day or every few days when bars are thin."""
        stride = math.ceil(3 / column)  # two digits and a space
        text = f"{self.days[0].day:%b}".ljust(self.GUTTER)
        for index in range(0, len(self.days), stride):
            text = text.ljust(self.GUTTER + index * column) + str(self.days[index].day.day)
        return text


# -- the screen ---------------------------------------------------------------------------

STAFF_COLUMNS = (N_("Staff"), N_("Answers"), N_("Met"), N_("Median"), N_("p90"), N_("Breaches"))
CLIENT_COLUMNS = (
    N_("Client"),
    N_("Answers"),
    N_("Met"),
    N_("Median"),
    N_("p90"),
    N_("Open"),
    N_("Breaches"),
)
BREACH_COLUMNS = (N_("Due"), N_("Client"), N_("Thread"), N_("Assignee"), N_("Status"))
STAFFING_COLUMNS = (N_("Project"), N_("Template"), N_("Created"), N_("Time to staffed"))
FIGURES = (
    ("answered", N_("Answers")),
    ("met", N_("Met in {target} min")),
    ("median", N_("Median")),
    ("median-wall", N_("Median, wall")),
    ("p90", N_("p90")),
    ("p90-wall", N_("p90, wall")),
    ("breaches", N_("Breaches")),
    ("open", N_("Open clocks")),
    ("no-reply", N_("No reply needed")),
)


class ManagerScreen(Screen[None]):
    """SLA figures over today, 7 days, 30 days or two chosen dates."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "1",
            f"period('{TODAY}')",
            N_("Today"),
            id="manager.today",
            tooltip=N_("Show today's figures"),
        ),
        Binding(
            "2",
            f"period('{WEEK}')",
            N_("7 days"),
            id="manager.week",
            tooltip=N_("Show the last 7 days"),
        ),
        Binding(
            "3",
            f"period('{MONTH}')",
            N_("30 days"),
            id="manager.month",
            tooltip=N_("Show the last 30 days"),
        ),
        Binding(
            "c",
            f"period('{CUSTOM}')",
            N_("Custom"),
            id="manager.custom",
            tooltip=N_("Choose the days to show"),
        ),
        Binding(
            "r", "reload", N_("Refresh"), id="manager.refresh", tooltip=N_("Read the figures again")
        ),
        Binding(
            "a",
            "account_management",
            N_("Account management"),
            id="manager.am",
            tooltip=N_("Show each project's account-management hours against the target"),
        ),
        Binding(
            "b",
            "billing",
            N_("Billing"),
            id="manager.billing",
            tooltip=N_("Preview the month's billing run and issue it"),
        ),
        Binding(
            "e",
            "contracts",
            N_("Contracts"),
            id="manager.contracts",
            tooltip=N_("Show every engagement letter (contract), its versions and lines"),
        ),
        Binding("escape", "back", N_("Back"), id="manager.back", tooltip=N_("Go back")),
    ]
    # Side by side tables need the width; below it they stack.
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (120, "-wide"),
    ]

    class Loaded(Message):
        """A snapshot read by the worker, for the screen to show."""

        def __init__(self, snapshot: Snapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class LoadFailed(Message):
        """The worker could not read the period; `reason` is shown in its place."""

        def __init__(self, period: Period, reason: str) -> None:
            super().__init__()
            self.period = period
            self.reason = reason

    class OpenThread(Message):
        """The user asked to open a breached clock's thread; the app shows it."""

        def __init__(self, thread_id: int) -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(
        self,
        reader_factory: Callable[[], Reader],
        clock: Callable[[], datetime],
        tz: ZoneInfo,
        target_minutes: float = 15,
        *,
        time_settings: Callable[[], TimeSettings] | None = None,
        billing: BillingDesk | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.reader_factory = reader_factory
        self.clock = clock
        self.tz = tz
        self.target_minutes = target_minutes
        # The account-management rule and the projects' clients (tui.screens.am).
        self.time_settings = time_settings or (lambda: (TimeConfig(), {}))
        # The database and settings of the Billing and Contracts pages (tui.screens.billing).
        self.billing = billing
        self.period: Period | None = None
        self.snapshot: Snapshot | None = None
        self.breach_threads: dict[str, int] = {}

    # -- layout

    def compose(self) -> ComposeResult:
        yield Tabs(
            *(
                Tab(f"{key} {i18n.gettext(PERIOD_NAMES[period])}", id=f"manager-{period}")
                for key, period in (("1", TODAY), ("2", WEEK), ("3", MONTH), ("c", CUSTOM))
            ),
            active=f"manager-{WEEK}",
            id="manager-periods",
        )
        with Horizontal(id="manager-custom-row"):
            yield Label(i18n.gettext("From"), classes="manager-custom-label")
            yield Input(placeholder=i18n.gettext("YYYY-MM-DD"), id="manager-from", max_length=10)
            yield Label(i18n.gettext("to"), classes="manager-custom-label")
            yield Input(placeholder=i18n.gettext("YYYY-MM-DD"), id="manager-to", max_length=10)
            yield Static(i18n.gettext(CUSTOM_HINT), id="manager-custom-note", markup=False)
        with VerticalScroll(id="manager-body"):
            yield Static(i18n.gettext("Loading…"), id="manager-period", markup=False)
            with Horizontal(id="manager-figures"):
                target = f"{self.target_minutes:g}"
                for key, label in FIGURES:
                    yield Figure(label.format(target=target), id=f"manager-figure-{key}")
            with Horizontal(id="manager-tables"):
                with Vertical(classes="manager-panel"):
                    yield Label(i18n.gettext("By staff member"), classes="manager-heading")
                    yield DataTable(id="manager-staff", cursor_type="row", zebra_stripes=True)
                with Vertical(classes="manager-panel"):
                    yield Label(i18n.gettext("By client"), classes="manager-heading")
                    yield DataTable(id="manager-clients", cursor_type="row", zebra_stripes=True)
            yield Label(i18n.gettext("Share met per day"), classes="manager-heading")
            yield DailyShareChart(id="manager-chart")
            yield Label(i18n.gettext("Breaches · ⏎ opens the thread"), classes="manager-heading")
            yield DataTable(id="manager-breaches", cursor_type="row", zebra_stripes=True)
            yield Static("", id="manager-staffing-title", classes="manager-heading", markup=False)
            yield DataTable(id="manager-staffing", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self._table("manager-staff").add_columns(*map(i18n.gettext, STAFF_COLUMNS))
        self._table("manager-clients").add_columns(*map(i18n.gettext, CLIENT_COLUMNS))
        self._table("manager-breaches").add_columns(*map(i18n.gettext, BREACH_COLUMNS))
        self._table("manager-staffing").add_columns(*map(i18n.gettext, STAFFING_COLUMNS))

    def on_screen_resume(self) -> None:
        # Back from a thread opened here: what was late may be answered now.
        if self.snapshot is not None:
            self.action_reload()

    def _table(self, id_: str) -> DataTable[str | Text]:
        return self.query_one(f"#{id_}", DataTable)

    # -- choosing the period

    def action_period(self, key: str) -> None:
        tabs = self.query_one(Tabs)
        if tabs.active == f"manager-{key}":
            self._choose(key)  # the tab does not announce itself again
        else:
            tabs.active = f"manager-{key}"

    @on(Tabs.TabActivated, "#manager-periods")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        self._choose((event.tab.id or "").removeprefix("manager-"))

    def _choose(self, key: str) -> None:
        self.set_class(key == CUSTOM, "-custom")
        if key == CUSTOM:
            self._open_custom()
            return
        self._show_error("")
        now = self.clock()
        self._request(relative_period(key, now, self.tz), now)

    def _open_custom(self) -> None:
        first, last = self.query_one("#manager-from", Input), self.query_one("#manager-to", Input)
        if self.period is not None and not first.value and not last.value:
            first.value = self.period.first_day.isoformat()
            last.value = self.period.last_day.isoformat()
        first.focus()

    @on(Input.Submitted)
    def _custom_submitted(self) -> None:
        first = self.query_one("#manager-from", Input).value
        last = self.query_one("#manager-to", Input).value
        now = self.clock()
        try:
            period = custom_period(first, last, now, self.tz)
        except ValueError as error:
            self._show_error(str(error))
            return
        self._show_error("")
        self._request(period, now)

    def _show_error(self, message: str) -> None:
        """The error of the dates typed, or the hint when there is none."""
        note = self.query_one("#manager-custom-note", Static)
        note.update(message or i18n.gettext(CUSTOM_HINT))
        note.set_class(bool(message), "-error")

    def action_reload(self) -> None:
        if self.period is None:
            return
        # Read again up to the new instant: "today" at 11:00 is not "today" at 10:00.
        now, period = self.clock(), self.period
        if period.key == CUSTOM:
            first, last = period.first_day.isoformat(), period.last_day.isoformat()
            self._request(custom_period(first, last, now, self.tz), now)
        else:
            self._request(relative_period(period.key, now, self.tz), now)

    def action_account_management(self) -> None:
        from tui.screens.am import AmScreen

        self.app.push_screen(AmScreen(self.reader_factory, self.clock, self.tz, self.time_settings))

    def action_billing(self) -> None:
        from tui.screens.billing import BillingScreen

        if self.billing is None:
            self.app.bell()
            return
        self.app.push_screen(BillingScreen(self.billing))

    def action_contracts(self) -> None:
        from tui.screens.contracts import ContractsScreen

        if self.billing is None:
            self.app.bell()
            return
        self.app.push_screen(ContractsScreen(self.billing))

    def action_back(self) -> None:
        # Leaving a date field first, so escape there does not close the view.
        if isinstance(self.focused, Input):
            self.query_one(Tabs).focus()
        else:
            self.app.pop_screen()

    # -- loading

    def _request(self, period: Period, now: datetime) -> None:
        self.period = period
        self.query_one("#manager-period", Static).update(
            i18n.gettext("{period} · loading…").format(period=period.title)
        )
        self._load(period, now)

    @work(thread=True, exclusive=True, group="manager-load")
    def _load(self, period: Period, now: datetime) -> None:
        try:
            snapshot = read_snapshot(self.reader_factory(), period, now, self.tz)
        except Exception as error:  # any driver's error: shown, the view stays usable
            self.post_message(self.LoadFailed(period, str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(snapshot))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.snapshot.period != self.period:
            return  # an earlier request, answered late
        self.snapshot = message.snapshot
        self._show(message.snapshot)

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        if message.period != self.period:
            return
        # The previous period's figures go: they would read as this period's.
        self.snapshot = None
        for key, _label in FIGURES:
            self.query_one(f"#manager-figure-{key}", Figure).show(NOTHING)
        for table in ("manager-staff", "manager-clients", "manager-breaches", "manager-staffing"):
            self._table(table).clear()
        self.breach_threads = {}
        self.query_one(DailyShareChart).show([])
        text = i18n.gettext("{period} · could not read: {reason}").format(
            period=message.period.title, reason=message.reason
        )
        self.query_one("#manager-period", Static).update(text)

    # -- showing a snapshot

    def _show(self, snapshot: Snapshot) -> None:
        title = i18n.gettext("{period} · {zone} · read at {time}").format(
            period=snapshot.period.title,
            zone=self.tz.key,
            time=f"{snapshot.now.astimezone(self.tz):%H:%M}",
        )
        self.query_one("#manager-period", Static).update(title)
        self._show_figures(snapshot.report.overall)
        report = snapshot.report
        self._fill(self._table("manager-staff"), [_staff_row(line) for line in report.by_staff])
        self._fill(self._table("manager-clients"), [_client_row(line) for line in report.by_client])
        self.query_one(DailyShareChart).show(snapshot.days)
        self._show_breaches(snapshot)
        self._show_staffing(snapshot)

    def _show_figures(self, overall: SlaLine) -> None:
        values = {
            "answered": str(overall.answered),
            "met": share(overall.share_met),
            "median": duration(overall.median_business_seconds),
            "median-wall": duration(overall.median_wall_seconds),
            "p90": duration(overall.p90_business_seconds),
            "p90-wall": duration(overall.p90_wall_seconds),
            "breaches": str(overall.breaches),
            "open": str(overall.open),
            "no-reply": str(overall.no_reply_needed),
        }
        for key, value in values.items():
            self.query_one(f"#manager-figure-{key}", Figure).show(value)

    def _fill(self, table: DataTable[str | Text], rows: Sequence[Sequence[str | Text]]) -> None:
        table.clear()
        for row in rows:
            table.add_row(*row)

    def _show_breaches(self, snapshot: Snapshot) -> None:
        table = self._table("manager-breaches")
        table.clear()
        self.breach_threads = {}
        for clock in snapshot.breaches:
            key = str(clock.id)
            self.breach_threads[key] = clock.thread_id
            table.add_row(*_breach_row(clock, snapshot.now, self.tz), key=key)

    def _show_staffing(self, snapshot: Snapshot) -> None:
        title = i18n.gettext("Time to a staffed project · median this month: {median}")
        self.query_one("#manager-staffing-title", Static).update(
            title.format(median=duration(snapshot.month_median))
        )
        rows = [_staffing_row(start, self.tz) for start in snapshot.starts]
        self._fill(self._table("manager-staffing"), rows)

    @on(DataTable.RowSelected, "#manager-breaches")
    def _breach_selected(self, event: DataTable.RowSelected) -> None:
        thread_id = self.breach_threads.get(event.row_key.value or "")
        if thread_id is not None:
            self.post_message(self.OpenThread(thread_id))


def _staff_row(line: SlaLine) -> list[str | Text]:
    return [_untrusted(line.name), *_figures(line), _number(line.breaches)]


def _client_row(line: SlaLine) -> list[str | Text]:
    return [_untrusted(line.name), *_figures(line), _number(line.open), _number(line.breaches)]


def _figures(line: SlaLine) -> list[str | Text]:
    return [
        _number(line.answered),
        _number(share(line.share_met)),
        _number(duration(line.median_business_seconds)),
        _number(duration(line.p90_business_seconds)),
    ]


def _breach_row(clock: ClockView, now: datetime, tz: ZoneInfo) -> list[str | Text]:
    due = clock.due_at.astimezone(tz)
    return [
        format_datetime(due, "EEE d HH:mm", locale=i18n.locale()),
        _untrusted(clock.client),
        _untrusted(clock.thread, 60),
        _untrusted(clock.assignee),
        _breach_status(clock, now),
    ]


def _staffing_row(start: Start, tz: ZoneInfo) -> list[str | Text]:
    created = format_datetime(start.created_at.astimezone(tz), "EEE d HH:mm", locale=i18n.locale())
    if start.staffed_at is not None:
        took = _number(duration(start.staffing_seconds))
    elif start.error is not None:
        took = _untrusted(i18n.gettext("stopped: {reason}").format(reason=start.error), 60)
    else:
        took = Text(i18n.gettext("being staffed"))
    return [_untrusted(start.project_name), _untrusted(start.template), created, took]


def _breach_status(clock: ClockView, now: datetime) -> str:
    if clock.outcome == "running":
        late = duration((now - clock.due_at).total_seconds())
        if clock.state(now) == "escalated":
            return i18n.gettext("open, {late} over, escalated").format(late=late)
        return i18n.gettext("open, {late} over").format(late=late)
    return i18n.gettext("answered after {duration}").format(
        duration=duration(clock.business_seconds)
    )
