"""The manager's Account management page: where each project's hours go (docs/time.md).

One month at a time (the current one by default, to today): each project's
account-management hours out of its hours, sorted by share, flagged above
the target; a bar per project against the target's line; and a sparkline of
each project's share over the six months ending with the month. Read in a
worker thread through core.time.report (the same figures as `pmdesk report
am`); a month is applied only if it is the one last asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_date
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Label, Sparkline, Static

from core.base import i18n
from core.base.i18n import N_
from core.config.settings import TimeConfig
from core.store.reader import Reader
from core.time.report import TREND_MONTHS, AmReport, ProjectLine, Share, am_report, months_back
from core.time.rows import hours_text
from tui.display.text import as_text, first_line
from tui.widgets.keybar import KeyBar

NOTHING = "–"
# What the page needs of the configuration: the rule and target, and the
# Worksection projects' clients (project id or name -> client).
TimeSettings = tuple[TimeConfig, Mapping[str, str]]
COLUMNS = (N_("Client"), N_("Project"), N_("AM"), N_("Total"), N_("Share"), N_("Flag"))
# The projects drawn as bars and sparklines, the highest shares first; the
# table lists them all.
CHART_LIMIT = 60


# -- the snapshot, free of widgets --------------------------------------------------------


@dataclass(frozen=True)
class AmSnapshot:
    """A month's account management and the six months ending with it, read at one instant."""

    month: date  # its first day
    until: date  # its last day, or today in the current month
    now: datetime
    report: AmReport
    trend: AmReport  # the six months, for the sparklines

    @property
    def months(self) -> list[str]:
        return months_back(self.until, TREND_MONTHS)

    def by_share(self) -> list[ProjectLine]:
        """The month's projects, the highest share first."""
        return sorted(
            self.report.projects,
            key=lambda line: (
                -(line.time.share or 0),
                (line.client or "").casefold(),
                (line.project or "").casefold(),
            ),
        )

    def shares(self, line: ProjectLine) -> list[float]:
        """A project's share in each of the six months (0 where it logged nothing)."""
        found = self._trend_lines.get(line.project_id)
        months = found.months if found is not None else {}
        return [months.get(month, Share()).share or 0.0 for month in self.months]

    @cached_property
    def _trend_lines(self) -> dict[str | None, ProjectLine]:
        return {line.project_id: line for line in self.trend.projects}


def month_days(month: date, today: date) -> tuple[date, date]:
    """A month's first day and its last, or today in the current month."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return month, min(following - timedelta(days=1), today)


def shifted(month: date, by: int) -> date:
    """The first day of the month `by` months after `month`'s (before, when negative)."""
    index = month.year * 12 + month.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def read_am(
    reader: Reader, settings: TimeSettings, month: date, today: date, now: datetime
) -> AmSnapshot:
    """The month of `month` (to `today` in the current one) and the six months ending with it."""
    config, projects = settings
    first, last = month_days(month, today)
    report = am_report(reader, config, first, last, projects)
    six = shifted(first, 1 - TREND_MONTHS)
    trend = am_report(reader, config, six, last, projects)
    return AmSnapshot(first, last, now, report, trend)


# -- widgets ------------------------------------------------------------------------------


def share_text(share: Share) -> str:
    return NOTHING if share.share is None else f"{share.share * 100:.1f} %"


class ShareBar(Widget):
    """A project's share as a bar, with the target's line across it.

    The bar spans 0 to three times the target (30 % for 10 %); a share
    beyond that fills it and ends in an arrow.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "am-bar--under",
        "am-bar--above",
        "am-bar--target",
        "am-bar--empty",
    }
    BLOCKS = " ▏▎▍▌▋▊▉█"

    def __init__(
        self, share: float | None, target: float, *, id: str | None = None, classes: str = ""
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.share = share
        self.target = target
        self.set_class(share is not None and share > target, "-above")

    @property
    def scale(self) -> float:
        return min(1.0, 3 * self.target)

    def render(self) -> Text:
        width = max(4, self.size.width)
        mark = min(width - 1, round(self.target / self.scale * width))
        share = self.share or 0.0
        eighths = min(width * 8, round(share / self.scale * width * 8))
        kind = "am-bar--above" if share > self.target else "am-bar--under"
        filled = self.get_component_rich_style(kind)
        line = Text()
        for cell in range(width):
            glyph = self.BLOCKS[max(0, min(8, eighths - cell * 8))]
            if cell == mark and glyph in " ▏▎▍":
                line.append("│", style=self.get_component_rich_style("am-bar--target"))
            elif glyph == " ":
                line.append(
                    "·" if cell % 2 else " ", style=self.get_component_rich_style("am-bar--empty")
                )
            else:
                line.append(glyph, style=filled)
        if share > self.scale:
            line = line[:-1] + Text("▶", style=filled)
        return line


# -- the screen ---------------------------------------------------------------------------


class AmScreen(Screen[None]):
    """Account management per project, one month at a time."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "left_square_bracket",
            "month(-1)",
            N_("Month before"),
            id="am.previous",
            tooltip=N_("Show the month before"),
        ),
        Binding(
            "right_square_bracket",
            "month(1)",
            N_("Month after"),
            id="am.next",
            tooltip=N_("Show the month after, up to this one"),
        ),
        Binding(
            "r", "reload", N_("Refresh"), id="am.refresh", tooltip=N_("Read the figures again")
        ),
        Binding("escape", "back", N_("Back"), id="am.back", tooltip=N_("Go back")),
    ]

    class Loaded(Message):
        """A month read by the worker, for the screen to show."""

        def __init__(self, snapshot: AmSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class LoadFailed(Message):
        """The worker could not read the month; `reason` is shown in its place."""

        def __init__(self, month: date, reason: str) -> None:
            super().__init__()
            self.month = month
            self.reason = reason

    def __init__(
        self,
        reader_factory: Callable[[], Reader],
        clock: Callable[[], datetime],
        tz: ZoneInfo,
        settings: Callable[[], TimeSettings],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.reader_factory = reader_factory
        self.clock = clock
        self.tz = tz
        self.settings = settings
        self.month: date | None = None
        self.snapshot: AmSnapshot | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="am-body"):
            yield Static(i18n.gettext("Loading…"), id="am-period", markup=False)
            yield DataTable(id="am-projects", cursor_type="row", zebra_stripes=True)
            yield Static("", id="am-chart-title", classes="am-heading", markup=False)
            yield VerticalScroll(id="am-chart")
            yield Static("", id="am-rule", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#am-projects", DataTable).add_columns(*map(i18n.gettext, COLUMNS))
        self._request(self._today().replace(day=1))

    def _today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    # -- choosing the month

    def action_month(self, by: int) -> None:
        if self.month is None:
            return
        wanted = shifted(self.month, by)
        if wanted > self._today():
            self.app.bell()  # no figures yet for a month to come
            return
        self._request(wanted)

    def action_reload(self) -> None:
        if self.month is not None:
            self._request(self.month)

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- loading

    def _request(self, month: date) -> None:
        self.month = month
        self.query_one("#am-period", Static).update(
            i18n.gettext("{month} · loading…").format(month=_month_name(month))
        )
        self._load(month, self.clock())

    @work(thread=True, exclusive=True, group="am-load")
    def _load(self, month: date, now: datetime) -> None:
        try:
            today = now.astimezone(self.tz).date()
            snapshot = read_am(self.reader_factory(), self.settings(), month, today, now)
        except Exception as error:  # any driver's error: shown, the page stays usable
            self.post_message(self.LoadFailed(month, str(error) or type(error).__name__))
            return
        self.post_message(self.Loaded(snapshot))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.snapshot.month != self.month:
            return  # an earlier request, answered late
        self.snapshot = message.snapshot
        self._show(message.snapshot)

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        if message.month != self.month:
            return
        self.snapshot = None
        self.query_one("#am-projects", DataTable).clear()
        self.query_one("#am-chart", VerticalScroll).remove_children()
        self.query_one("#am-chart-title", Static).update("")
        text = i18n.gettext("{month} · could not read: {reason}").format(
            month=_month_name(message.month), reason=message.reason
        )
        self.query_one("#am-period", Static).update(text)

    # -- showing a month

    def _show(self, snapshot: AmSnapshot) -> None:
        report = snapshot.report
        target = f"{report.target * 100:g} %"
        title = i18n.gettext(
            "Account management · {month} · all: {share} of {total} h"
            " · target {target} · read at {time}"
        ).format(
            month=_month_name(snapshot.month),
            share=share_text(report.total),
            total=hours_text(report.total.total),
            target=target,
            time=f"{snapshot.now.astimezone(self.tz):%H:%M}",
        )
        if not report.total.total:
            title = i18n.gettext("{month}: no time logged (pmdesk time sync)").format(
                month=_month_name(snapshot.month)
            )
        self.query_one("#am-period", Static).update(title)
        table = self.query_one("#am-projects", DataTable)
        table.clear()
        lines = snapshot.by_share()
        for line in lines:
            table.add_row(*_row(report, line), key=line.project_id or "")
        chart_title = i18n.gettext(
            "Share against the {target} line · sparkline: {first} to {last}"
        ).format(target=target, first=snapshot.months[0], last=snapshot.months[-1])
        self.query_one("#am-chart-title", Static).update(chart_title if lines else "")
        chart = self.query_one("#am-chart", VerticalScroll)
        chart.remove_children()
        chart.mount_all(
            [_chart_row(snapshot, line, number) for number, line in enumerate(lines[:CHART_LIMIT])]
        )
        rule = i18n.gettext("Account management: {rule}").format(rule=_rule_text(report))
        if len(lines) > CHART_LIMIT:
            more = i18n.gettext("{count} more projects in the table.").format(
                count=len(lines) - CHART_LIMIT
            )
            rule = f"{more} {rule}"
        self.query_one("#am-rule", Static).update(rule)


def _row(report: AmReport, line: ProjectLine) -> list[str | Text]:
    unassigned = i18n.gettext("(unassigned)")
    flag = (
        Text(i18n.gettext("above target"), style="bold")
        if report.above_target(line.time)
        else Text("")
    )
    return [
        _untrusted(line.client or unassigned),
        _untrusted(line.project or unassigned),
        Text(hours_text(line.time.am), justify="right"),
        Text(hours_text(line.time.total), justify="right"),
        Text(share_text(line.time), justify="right"),
        flag,
    ]


def _chart_row(snapshot: AmSnapshot, line: ProjectLine, number: int) -> Horizontal:
    name = line.project or i18n.gettext("(unassigned)")
    return Horizontal(
        Label(_untrusted(name, 24), classes="am-name"),
        ShareBar(line.time.share, snapshot.report.target, classes="am-bar", id=f"am-bar-{number}"),
        Label(share_text(line.time), classes="am-share", markup=False),
        Sparkline(snapshot.shares(line), classes="am-spark", id=f"am-spark-{number}"),
        classes="am-row",
    )


def _rule_text(report: AmReport) -> str:
    parts = []
    if report.rule["tags"]:
        parts.append(
            i18n.gettext("tasks tagged {tags}").format(tags=", ".join(report.rule["tags"]))
        )
    if report.rule["task_words"]:
        parts.append(
            i18n.gettext("tasks whose name holds {words}").format(
                words=", ".join(report.rule["task_words"])
            )
        )
    if report.rule["roles"]:
        parts.append(
            i18n.gettext("all the time of {roles}").format(roles=", ".join(report.rule["roles"]))
        )
    return "; ".join(parts) or i18n.gettext("nothing (set [time] in the configuration)")


def _month_name(month: date) -> str:
    return format_date(month, "LLLL y", locale=i18n.locale())


def _untrusted(value: str, width: int = 40) -> Text:
    """Names come from the tracker: shown literally, on one line."""
    return as_text(first_line(value, width))
