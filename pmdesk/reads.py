"""The read commands' work (`pmdesk clocks`, `pmdesk report sla`), and running them without typer.

Their options are declared for typer in pmdesk.clocks and pmdesk.report
(help, checks, error messages). Importing typer and click costs a read
command about as much as its query, so `run` reads a well-formed command
line for these two itself and runs them straight away, as typer would.
Anything else (help, --version, an option it does not know or one out of
place, a missing or odd value, another command) is left to typer, which
answers it as always: `run` then says False and has done nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.base.i18n import N_, duration, gettext, ngettext
from core.base.instants import parse_instant
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, begin, command, context
from pmdesk.tables import _table

# -- pmdesk clocks -------------------------------------------------------------------------


@command
def clocks(as_json: bool = False, limit: int | None = None, wide: bool = False) -> None:
    """Running response clocks, most urgent first."""
    from core.sla.views import running_clocks

    ctx = context()
    ctx.wide = wide
    now = ctx.clock()
    views = running_clocks(ctx.reader, limit=limit)
    if as_json:
        rows = [
            {
                **view.__dict__,
                "seconds_left": round(view.seconds_left(now), 1),
                "state": view.state(now),
            }
            for view in views
        ]
        _print_json(rows)
        return
    if not views:
        out.print(gettext("No running clocks: every client has had an answer."))
        return
    columns = [
        N_("left"), N_("state"), N_("client"), N_("thread"), N_("assignee"), N_("started"),
        N_("policy"),
    ]  # fmt: skip
    from babel.dates import format_datetime

    title = ngettext("{count} running clock", "{count} running clocks", len(views))
    table = _table(title.format(count=len(views)), columns, right=("left",))
    for view in views:
        table.add_row(
            duration(view.seconds_left(now)),
            gettext(view.state(now)),
            view.client or "",
            view.thread,
            view.assignee or "",
            format_datetime(
                ctx.local(view.started_at), "EEE d MMM HH:mm", locale=ctx.formatter.locale
            ),
            view.policy,
            style=_STATE_STYLE.get(view.state(now)),
        )
    out.print(table)


_STATE_STYLE = {"warning": "yellow", "breached": "red", "escalated": "bold red"}


# -- pmdesk report sla ---------------------------------------------------------------------


@command
def report_sla(
    since: str | None = None,
    until: str | None = None,
    period: str | None = None,
    as_json: bool = False,
    wide: bool = False,
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


# -- running them without typer ------------------------------------------------------------

# How an option takes its value: a flag takes none, a count a whole number from 1.
FLAG, TEXT, COUNT = "flag", "text", "count"
Options = dict[str, tuple[str, str]]
# pmdesk's own options (pmdesk.app.main_callback but --version, which typer answers).
OWN_OPTIONS: Options = {"--db": ("db", TEXT), "--config": ("config", TEXT)}
# Each command run here: its words, its options (as typer declares them) and its work.
COMMANDS: dict[tuple[str, ...], tuple[Options, Callable[..., None]]] = {
    ("clocks",): (
        {"--json": ("as_json", FLAG), "--limit": ("limit", COUNT), "--wide": ("wide", FLAG)},
        clocks,
    ),
    ("report", "sla"): (
        {
            "--since": ("since", TEXT),
            "--until": ("until", TEXT),
            "--period": ("period", TEXT),
            "--json": ("as_json", FLAG),
            "--wide": ("wide", FLAG),
        },
        report_sla,
    ),
}


def parsed(
    arguments: Sequence[str],
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any]] | None:
    """(command, pmdesk's own options, the command's options) as typer would read them.

    None when the arguments are not a well-formed run of a command above:
    typer is then the one to answer them.
    """
    given = list(arguments)
    own: dict[str, Any] = {}
    index = 0
    while index < len(given) and given[index].startswith("-"):
        taken = _option(given, index, OWN_OPTIONS)
        if taken is None:
            return None
        name, value, index = taken
        own[name] = value
    words = next(
        (words for words in COMMANDS if tuple(given[index : index + len(words)]) == words), None
    )
    if words is None:
        return None
    options = COMMANDS[words][0]
    index += len(words)
    values: dict[str, Any] = {}
    while index < len(given):
        taken = _option(given, index, options)
        if taken is None:
            return None
        name, value, index = taken
        values[name] = value  # given twice, the last one counts, as with typer
    return words, own, values


def _option(given: list[str], index: int, options: Options) -> tuple[str, Any, int] | None:
    """The option at `index`: its parameter, its value and where the next one starts."""
    spelt, equals, attached = given[index].partition("=")
    known = options.get(spelt)
    if known is None:
        return None
    name, kind = known
    if kind == FLAG:
        return None if equals else (name, True, index + 1)
    if equals:
        value, following = attached, index + 1
    elif index + 1 < len(given) and not given[index + 1].startswith("-"):
        value, following = given[index + 1], index + 2
    else:
        return None
    if kind == COUNT:
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            return None
        return name, int(value), following
    return name, value, following


def run(arguments: Sequence[str]) -> bool:
    """Run a read command without typer, as typer would; False (nothing done) if it cannot."""
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ):
        return False  # a shell asking for completions: typer's to answer
    found = parsed(arguments)
    if found is None:
        return False
    words, own, values = found
    begin(own.get("db"), own.get("config"))
    try:
        COMMANDS[words][1](**values)
    except BrokenPipeError:
        # As typer (click) does when the reader of the output goes away: quiet, status 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\nAborted!\n")
        raise SystemExit(1) from None
    return True
