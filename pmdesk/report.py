"""`pmdesk report sla`: answers within target over a period, by person and client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from core.base.i18n import N_, duration, gettext
from core.base.instants import parse_instant
from pmdesk.app import report_app
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.tables import _WIDE, _table


@report_app.command("sla")
@command
def report_sla(
    since: Annotated[
        str | None,
        typer.Option(help="Start: ISO date (its local midnight) or instant (default: 7 days ago)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End: ISO date (that whole local day included) or instant (or now)."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Length instead of one end: 7d, 2w, 12h (local days: default 7d)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Share answered within target, median and p90 response times, breaches."""
    from core.sla.report import sla_report

    ctx = context()
    ctx.wide = wide
    now = ctx.clock()
    start, end = _report_window(since, until, period, ctx.zone, now)
    report = sla_report(ctx.reader, start, end, now)
    if as_json:
        _print_json(report.as_dict())
        return
    out.print(
        gettext("SLA from {start} to {end} ({zone})").format(
            start=f"{ctx.local(start):%Y-%m-%d %H:%M}",
            end=f"{ctx.local(end):%Y-%m-%d %H:%M}",
            zone=ctx.zone.key,
        )
    )
    out.print(_sla_table(gettext("Overall"), [report.overall]))
    out.print(_sla_table(gettext("By staff member (who answered)"), report.by_staff))
    out.print(_sla_table(gettext("By client"), report.by_client))


DEFAULT_REPORT_PERIOD = "7d"


def _report_window(
    since: str | None, until: str | None, period: str | None, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """The report's [start, end) from any two of --since, --until and --period."""
    from core.base.instants import parse_period

    if since and until and period:
        raise Failure("give at most two of --since, --until and --period")
    try:
        length = parse_period(period or DEFAULT_REPORT_PERIOD)
        start = parse_instant(since, zone) if since else None
        if until:
            end = parse_instant(until, zone, end_of_day=True)
        elif start is not None and period:
            end = length.after(start, zone)
        else:
            end = now
        if start is None:
            start = length.before(end, zone)
    except ValueError as error:
        raise Failure(str(error)) from None
    if start >= end:
        raise Failure("--since must come before --until")
    return start, end


def _sla_table(title: str, lines: list[Any]) -> Any:
    figures = (
        N_("answered"), N_("met"), N_("median"), N_("p90"), N_("breaches"), N_("open"),
        N_("no reply needed"),
    )  # fmt: skip
    table = _table(title, [N_("name"), *figures], right=figures)
    for line in lines:
        table.add_row(
            line.name,
            str(line.answered),
            "-" if line.share_met is None else f"{line.share_met:.0%}",
            _duration(line.median_business_seconds),
            _duration(line.p90_business_seconds),
            str(line.breaches),
            str(line.open),
            str(line.no_reply_needed),
        )
    return table


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else duration(seconds)
