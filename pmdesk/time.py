"""`pmdesk time sync`: copy the time logged in Worksection into pmdesk (docs/time.md)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext
from pmdesk.app import app
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.dates import parse_day
from pmdesk.tables import _table

if TYPE_CHECKING:
    from core.config.settings import TimeConfig
    from core.time.sync import SyncSummary

time_app = typer.Typer(help="Time logged in Worksection.", no_args_is_help=True)
app.add_typer(time_app, name="time")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


def today() -> date:
    """Today in the agency's time zone (Worksection's, when it is configured)."""
    from zoneinfo import ZoneInfo

    settings = context().settings
    zone = settings.worksection.timezone if settings.worksection else settings.timezone
    return context().clock().astimezone(ZoneInfo(zone)).date()


@time_app.command("sync")
@command
def time_sync(
    since: Annotated[str, typer.Option(help="First day (YYYY-MM-DD), included.")],
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD), included; today by default.")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Make pmdesk's copy of the time logged from --since to --until equal to Worksection's.

    Rows added, changed in Worksection, deleted there: each counted. A row
    pmdesk cannot read (a time of "1:75") is refused alone, with its id;
    the exit status is then 1.
    """
    import asyncio

    first = parse_day(since)
    last = parse_day(until) if until else today()
    if last < first:
        raise Failure(gettext("--until is before --since"))
    summary = asyncio.run(_sync(first, last, as_json))
    follow_rule(context().settings.time)
    if as_json:
        from bots.worksection.time import summary_json

        _print_json(summary_json(summary, first, last))
    else:
        _print_summary(summary, first, last)
    if summary.refused:
        raise SystemExit(EXIT_REJECTED)


def follow_rule(config: TimeConfig) -> None:
    """Sum every month again when the monthly sums were built under another rule, saying so.

    The rule changed in the configuration, or the staff holding its roles
    did (core.time.sums). If the sums cannot be written, the report reads
    the rows: the same figures, more slowly.
    """
    from core.time import sums

    ctx = context()
    if sums.current(ctx.reader, config):
        return
    try:
        built = sums.ensure(ctx.engine, config, ctx.clock())
    except Exception as error:  # any driver's: the report reads the rows instead
        err.print(
            gettext("could not sum the time logged by month ({reason}): reading every row").format(
                reason=str(error).splitlines()[0] if str(error) else type(error).__name__
            ),
            markup=False,
        )
        return
    if built:
        err.print(
            gettext(
                "time logged summed by month again, under the account-management rule"
                " of the configuration ([time])"
            ),
            markup=False,
        )


async def _sync(first: date, last: date, as_json: bool) -> SyncSummary:
    from bots.worksection.api import WorksectionClient, WorksectionError
    from bots.worksection.time import sync_time, windows

    ctx = context()
    config = ctx.settings.worksection
    if config is None:
        raise Failure(gettext("Worksection is not configured: set worksection.account and api_key"))
    client = WorksectionClient.from_config(config, ctx.engine, ctx.clock)
    bar = None if as_json else _Bar(len(windows(first, last)))
    try:
        return await sync_time(
            client,
            ctx.engine,
            first,
            last,
            clock=ctx.clock,
            progress=None if bar is None else bar.advance,
        )
    except WorksectionError as error:
        raise Failure(
            gettext("Worksection did not answer: {message}").format(message=error.message)
        ) from None
    finally:
        if bar is not None:
            bar.stop()
        await client.aclose()


class _Bar:
    """Progress by window: a bar on a terminal, nothing otherwise (the summary follows)."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err.console,
                transient=True,
            )
            self._task = self._bar.add_task(gettext("time logged"), total=total)
            self._bar.start()

    def advance(self, done: int, total: int, summary: SyncSummary) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_summary(summary: SyncSummary, first: date, last: date) -> None:
    out.print(
        gettext(
            "time logged {since} to {until}: {added} added, {changed} changed, "
            "{removed} removed, {refused} refused"
        ).format(
            since=first.isoformat(),
            until=last.isoformat(),
            added=summary.added,
            changed=summary.changed,
            removed=summary.removed,
            refused=len(summary.refused),
        ),
        markup=False,
    )
    if summary.refused:
        table = _table(gettext("rows refused"), [N_("row"), N_("reason")])
        for row_id, reason in summary.refused:
            table.add_row(row_id, reason)
        out.print(table)
