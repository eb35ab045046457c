"""The SLA panel: today and this week at a glance, for the manager walking past."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from core.base.i18n import gettext, ngettext
from core.sla.report import SlaLine, SlaReport
from tui.display.format import Formatter
from tui.display.text import as_text
from tui.sources.watch import SlaFigures

PODIUM = 3  # best and worst staff members shown


class SlaPanel(Vertical):
    def __init__(self, formatter: Formatter, target_minutes: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.formatter = formatter
        self.target_minutes = target_minutes
        self.figures: SlaFigures | None = None

    def compose(self) -> ComposeResult:
        yield Static(gettext("Loading…"), id="sla-table")
        # The one line shown instead of the table on a small terminal.
        yield Static(gettext("Loading…"), id="sla-line")
        yield Static(gettext("response time by hour, today"), id="sla-hourly-label")
        yield Sparkline([], id="sla-hourly")
        yield Static("", id="sla-staff")

    def on_mount(self) -> None:
        self.border_title = gettext("SLA")

    def show(self, figures: SlaFigures) -> None:
        self.figures = figures
        self.query_one("#sla-table", Static).update(self._table(figures))
        self.query_one("#sla-line", Static).update(self._line(figures))
        sparkline = self.query_one("#sla-hourly", Sparkline)
        sparkline.data = [value or 0.0 for value in figures.hourly]
        self.query_one("#sla-staff", Static).update(self._podium(figures.week))

    def _table(self, figures: SlaFigures) -> Table:
        table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
        table.add_column("")
        table.add_column(gettext("today"), justify="right")
        table.add_column(gettext("7 days"), justify="right")
        # The target as the clocks' titles write it ("15 min"): a round figure.
        target = gettext("{minutes} min").format(minutes=f"{self.target_minutes:g}")
        rows: list[tuple[str, Callable[[SlaLine], str]]] = [
            (gettext("answered"), lambda line: str(line.answered)),
            (gettext("within {target}").format(target=target), lambda line: _share(line.share_met)),
            (gettext("median"), lambda line: self._duration(line.median_business_seconds)),
            (gettext("p90"), lambda line: self._duration(line.p90_business_seconds)),
            (gettext("breaches"), lambda line: str(line.breaches)),
        ]
        for index, (label, cell) in enumerate(rows):
            today, week = cell(figures.today.overall), cell(figures.week.overall)
            style = "bold red" if index == len(rows) - 1 and today != "0" else ""
            table.add_row(label, Text(today, style=style), week)
        return table

    def _line(self, figures: SlaFigures) -> Text:
        today, week = figures.today.overall, figures.week.overall
        text = Text()
        text.append(gettext("today") + " ", style="bold")
        median = self._duration(today.median_business_seconds)
        p90 = self._duration(today.p90_business_seconds)
        text.append(
            gettext("{share} met · median {median} · p90 {p90} · ").format(
                share=_share(today.share_met), median=median, p90=p90
            )
        )
        text.append(_breaches(today.breaches), style="bold red" if today.breaches else "")
        text.append("\n" + gettext("7 days") + " ", style="bold")
        text.append(
            gettext("{share} met · {breaches}").format(
                share=_share(week.share_met), breaches=_breaches(week.breaches)
            )
        )
        return text

    def _podium(self, week: SlaReport) -> Text:
        ranked = sorted(
            (line for line in week.by_staff if line.answered and line.share_met is not None),
            key=lambda line: (line.share_met or 0.0, -(line.median_business_seconds or 0.0)),
        )
        text = Text()
        if not ranked:
            return Text(gettext("no answers this week yet"), style="dim")
        text.append(gettext("best") + "  ", style="bold green")
        text.append_text(_names(list(reversed(ranked))[:PODIUM]))
        text.append("\n" + gettext("worst") + " ", style="bold red")
        text.append_text(_names(ranked[:PODIUM]))
        return text

    def _duration(self, seconds: float | None) -> str:
        return "—" if seconds is None else self.formatter.duration(seconds)


def _breaches(count: int) -> str:
    return ngettext("{count} breach", "{count} breaches", count).format(count=count)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _names(lines: list[SlaLine]) -> Text:
    text = Text()
    for index, line in enumerate(lines):
        if index:
            text.append(" · ", style="dim")
        text.append_text(as_text(line.name))
        text.append(f" {_share(line.share_met)}", style="dim")
    return text
