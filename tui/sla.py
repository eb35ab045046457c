"""The SLA panel: today and this week at a glance, for the manager walking past."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from core.report import SlaLine, SlaReport

from .format import Formatter
from .text import as_text
from .watch import SlaFigures

PODIUM = 3  # best and worst staff members shown


class SlaPanel(Vertical):
    def __init__(self, formatter: Formatter, target_minutes: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.formatter = formatter
        self.target_minutes = target_minutes
        self.figures: SlaFigures | None = None

    def compose(self) -> ComposeResult:
        yield Static("Loading…", id="sla-table")
        # The one line shown instead of the table on a small terminal.
        yield Static("Loading…", id="sla-line")
        yield Static("response time by hour, today", id="sla-hourly-label")
        yield Sparkline([], id="sla-hourly")
        yield Static("", id="sla-staff")

    def on_mount(self) -> None:
        self.border_title = "SLA"

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
        table.add_column("today", justify="right")
        table.add_column("7 days", justify="right")
        target = self.formatter.countdown(self.target_minutes * 60)
        rows: tuple[tuple[str, Callable[[SlaLine], str]], ...] = (
            ("answered", lambda line: str(line.answered)),
            (f"within {target}", lambda line: _share(line.share_met)),
            ("median", lambda line: self._duration(line.median_business_seconds)),
            ("p90", lambda line: self._duration(line.p90_business_seconds)),
            ("breaches", lambda line: str(line.breaches)),
        )
        for label, cell in rows:
            today, week = cell(figures.today.overall), cell(figures.week.overall)
            style = "bold red" if label == "breaches" and today != "0" else ""
            table.add_row(label, Text(today, style=style), week)
        return table

    def _line(self, figures: SlaFigures) -> Text:
        today, week = figures.today.overall, figures.week.overall
        text = Text()
        text.append("today ", style="bold")
        median = self._duration(today.median_business_seconds)
        p90 = self._duration(today.p90_business_seconds)
        text.append(f"{_share(today.share_met)} met · median {median} · p90 {p90} · ")
        text.append(_breaches(today.breaches), style="bold red" if today.breaches else "")
        text.append("\n7 days ", style="bold")
        text.append(f"{_share(week.share_met)} met · {_breaches(week.breaches)}")
        return text

    def _podium(self, week: SlaReport) -> Text:
        ranked = sorted(
            (line for line in week.by_staff if line.answered and line.share_met is not None),
            key=lambda line: (line.share_met or 0.0, -(line.median_business_seconds or 0.0)),
        )
        text = Text()
        if not ranked:
            return Text("no answers this week yet", style="dim")
        text.append("best  ", style="bold green")
        text.append_text(_names(list(reversed(ranked))[:PODIUM]))
        text.append("\nworst ", style="bold red")
        text.append_text(_names(ranked[:PODIUM]))
        return text

    def _duration(self, seconds: float | None) -> str:
        return "—" if seconds is None else self.formatter.countdown(seconds)


def _breaches(count: int) -> str:
    return f"{count} breach" if count == 1 else f"{count} breaches"


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
