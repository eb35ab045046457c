"""`pmdesk report client`: the work behind the options pmdesk.report declares (docs/reports.md)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.i18n import gettext, ngettext
from core.base.paths import file_problem
from pmdesk.console import _print_json, err, out
from pmdesk.context import Failure, command, context
from pmdesk.dates import parse_day

if TYPE_CHECKING:
    from core.reports.content import ClientReport
    from core.reports.period import ReportPeriod
    from core.reports.render import Format


@command
def report_client(
    name: str | None,
    week: str | None,
    since: str | None,
    until: str | None,
    form: str,
    output: str | None,
    as_json: bool,
    every: bool,
    *,
    send: bool = False,
    resend: bool = False,
) -> None:
    from core.reports.content import UnknownClient
    from core.reports.drafts import ReportRefused
    from core.reports.period import PeriodError
    from core.reports.render import FORMATS, TemplateProblem

    if form not in FORMATS:
        raise Failure(
            gettext("unknown format {name!r} (one of {names})").format(
                name=form, names=", ".join(FORMATS)
            )
        )
    if every == (name is not None):
        raise Failure(gettext("name a client, or give --all for every client with activity"))
    if send and (every or name is None):
        raise Failure(gettext("--send sends one client's report: name the client"))
    try:
        period = _period(week, since, until)
        if send:
            assert name is not None
            _send(name, period, resend)
        elif every:
            _every_client(period, form, output, as_json)
        else:
            assert name is not None
            _one_client(name, period, form, output, as_json)
    except (PeriodError, UnknownClient, TemplateProblem, ReportRefused) as error:
        raise Failure(str(error)) from None


def _send(name: str, period: ReportPeriod, resend: bool) -> None:
    """Send the client's report through its channel: queued for the services, or written."""
    from core.conversations.ingest import Ingestor
    from core.conversations.people import operator
    from core.reports.drafts import send

    ctx = context()
    staff = operator(ctx.engine, ctx.settings.operator)
    if staff is None:
        raise Failure(gettext("no staff member to send it as: add one with pmdesk staff add"))
    ingestor = Ingestor.for_settings(ctx.engine, ctx.settings, clock=ctx.clock)
    view = send(
        ctx.engine, ingestor, ctx.settings, name, period, staff.id, ctx.clock(), resend=resend
    )
    if view.channel == "email":
        message = gettext("{client}: the report of {period} is written to {file}")
    else:
        message = gettext("{client}: the report of {period} is queued for {channel}")
    out.print(
        message.format(
            client=view.client, period=view.period, file=view.target, channel=view.channel
        ),
        markup=False,
    )


def _period(week: str | None, since: str | None, until: str | None) -> ReportPeriod:
    """--week, or --since/--until (local days, both included), or the last whole week."""
    from core.reports.period import ReportPeriod

    if week is not None and (since is not None or until is not None):
        raise Failure(gettext("give --week or --since/--until, not both"))
    if week is not None:
        return ReportPeriod.week(week)
    today = _today()
    if since is None:
        if until is not None:
            raise Failure(gettext("--until needs --since"))
        monday = today - timedelta(days=today.weekday() + 7)
        return ReportPeriod(monday, monday + timedelta(days=6))
    return ReportPeriod.days(parse_day(since), parse_day(until) if until else today)


def _today() -> date:
    ctx = context()
    return ctx.clock().astimezone(ctx.zone).date()


def _one_client(
    name: str, period: ReportPeriod, form: Format, output: str | None, as_json: bool
) -> None:
    from core.reports.content import client_report
    from core.reports.render import render

    ctx = context()
    report = client_report(ctx.reader, name, period, ctx.zone, ctx.clock())
    if as_json:
        _print_json(report.as_dict())
        return
    if report.nothing_to_report:
        out.print(render(report, "text"), end="", markup=False)
        return
    document = render(report, form, agency=_agency())
    if output is None:
        if isinstance(document, bytes):
            raise Failure(gettext("a PDF goes to a file: give --output FILE"))
        out.print(document, end="", markup=False)
        return
    _write(Path(output), document)
    out.print(gettext("{client}: written to {file}").format(client=report.client, file=output))


def _every_client(period: ReportPeriod, form: Format, output: str | None, as_json: bool) -> None:
    """One report per client with activity in the period, one file each in the --output folder."""
    from core.reports.content import client_report, clients_with_activity
    from core.reports.render import SUFFIXES, render
    from core.sla.report import sla_report

    ctx = context()
    if output is None and not as_json:
        raise Failure(gettext("--all writes one file per client: give --output FOLDER"))
    now = ctx.clock()
    names = clients_with_activity(ctx.reader, period, ctx.zone)
    since, until = period.instants(ctx.zone)
    sla = sla_report(ctx.reader, since, until, now)
    reports = (client_report(ctx.reader, name, period, ctx.zone, now, sla=sla) for name in names)
    if as_json:
        _print_json([report.as_dict() for report in reports])
        return
    assert output is not None
    folder = Path(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Failure(file_problem(folder, error)) from None
    agency = _agency()
    taken: set[str] = set()
    with _Progress(len(names)) as progress:
        for report in reports:
            path = folder / (_file_stem(report, taken) + SUFFIXES[form])
            _write(path, render(report, form, agency=agency))
            progress.advance(report.client)
    out.print(
        ngettext(
            "{count} report written to {folder}", "{count} reports written to {folder}", len(names)
        ).format(count=len(names), folder=folder)
    )


def _agency() -> str:
    return context().settings.agency


def _write(path: Path, document: str | bytes) -> None:
    try:
        if isinstance(document, bytes):
            path.write_bytes(document)
        else:
            path.write_text(document, encoding="utf-8")
    except OSError as error:
        raise Failure(file_problem(path, error)) from None


_UNSAFE = re.compile(r"[^\w.-]+")


def _file_stem(report: ClientReport, taken: set[str]) -> str:
    """`<client>-<2026-W48 or first_last>`, safe as a file name and unique in the run."""
    period = report.period.iso_week or f"{report.period.first}_{report.period.last}"
    client = _UNSAFE.sub("-", report.client).strip("-.") or "client"
    stem, number = f"{client}-{period}", 1
    while stem.casefold() in taken:
        number += 1
        stem = f"{client}-{number}-{period}"
    taken.add(stem.casefold())
    return stem


class _Progress:
    """A bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if err.is_terminal and self._total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err.console,
                transient=True,
            )
            self._task = self._bar.add_task(gettext("client reports"), total=self._total)
            self._bar.start()
        return self

    def advance(self, client: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
