"""The `pmdesk` command: the one place that wires core, tui and bots together.

Data commands print tables for people and `--json` for scripts. One exit
status rule for every command: 0 when done; 1 when done but some input was
refused on its own (the rejected lines of an import, the good ones kept); 2
when nothing was done because the command line, a file, the configuration,
the database or the thing named is wrong. Such a failure is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, wraps
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

# Only light modules at the top: the read commands must answer in well under
# a second, and the ORM and the settings model are imported when needed.
from core import i18n
from core.i18n import N_, duration, gettext, ngettext
from core.kinds import StaffRole
from core.paths import (
    ConfigError,
    configured,
    database_location,
    file_problem,
    shown_database,
)
from core.reader import DatabaseError, Reader, reader_for
from core.timeutil import Now, parse_instant, utc_now
from pmdesk.dashboard import EXIT_USAGE

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.config import Settings
    from tui.format import Formatter

app = typer.Typer(
    name="pmdesk",
    help="The console of the PM's assistant: task feed, response clocks, receivables.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
report_app = typer.Typer(help="Reports over a period.", no_args_is_help=True)
config_app = typer.Typer(help="Look at the configuration.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")


class _Console:
    """A rich Console made on first use: output for scripts (--json) never needs rich.

    Everything printed is plain text: strings are cleaned of terminal codes
    (core.text) and shown as Rich Text, so neither a client's name nor
    anything else can carry escape sequences, bidi overrides, markup or
    emoji codes to the terminal. Tables from `_table` do the same for their
    cells. `--json` output does not come through here: it stays exact.
    """

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        options.pop("markup", None)  # never markup: see above
        self.console.print(*(_plain(value) for value in objects), **options)

    def control(self, codes: str) -> None:
        """Write pmdesk's own terminal control (a progress line's carriage return) as is."""
        self.console.file.write(codes)
        self.console.file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def _plain(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    from rich.text import Text

    from core.text import clean

    return Text(clean(value))


out, err = _Console(), _Console(stderr=True)


_WIDE = typer.Option("--wide", help="Show every cell whole instead of fitting the terminal.")


def _table(title: str, columns: list[str], right: tuple[str, ...] = ()) -> Any:
    """A table that fits the terminal: long text cut with "…" (see PlainTable).

    `right`: columns of figures, aligned right and never cut.
    """
    fit = out.is_terminal and not context().wide
    table = _plain_table()(title=title, title_justify="left")
    for name in columns:
        table.add_column(
            gettext(name),
            justify="right" if name in right else "left",
            overflow="ellipsis" if fit else "fold",
            no_wrap=fit,
        )
    return table


# A text column cut to fit the terminal keeps at least this many cells (or its header's).
MIN_CUT_WIDTH = 6


@functools.cache
def _plain_table() -> Any:
    """rich's Table for the command line's output.

    Cells given as strings are untrusted text: cleaned, and never markup. On
    a terminal each row takes one line: when the table would be wider than
    the terminal, the widest text columns are cut first, their cells ending
    with "…"; figures (the `right` columns) are never cut. `--wide`, and
    output that is not a terminal (a pipe, a file), show every cell whole,
    wrapped in its column.
    """
    from rich.table import Table

    class PlainTable(Table):
        def add_row(self, *cells: Any, **options: Any) -> None:
            super().add_row(*(_plain(cell) for cell in cells), **options)

        def __rich_console__(self, console: Any, options: Any) -> Any:
            if all(column.no_wrap for column in self.columns):
                self._fit(options.max_width)
            yield from super().__rich_console__(console, options)

        def _fit(self, width: int) -> None:
            from rich.text import Text

            def cells(value: Any) -> int:
                return value.cell_len if isinstance(value, Text) else len(str(value))

            widths = [
                max([cells(column.header), *(cells(cell) for cell in column.cells)])
                for column in self.columns
            ]
            # Each column takes its padding (a cell either side) and a border.
            excess = sum(widths) + 3 * len(widths) + 1 - width
            floors = [
                width
                if column.justify == "right"
                else min(width, max(cells(column.header), MIN_CUT_WIDTH))
                for column, width in zip(self.columns, widths, strict=True)
            ]
            while excess > 0:
                # The widest column that may still lose a cell.
                cuttable = [i for i in range(len(widths)) if widths[i] > floors[i]]
                if not cuttable:
                    break  # as narrow as allowed: rich cuts the rest
                widths[max(cuttable, key=lambda i: widths[i])] -= 1
                excess -= 1
            for column, fitted in zip(self.columns, widths, strict=True):
                column.width = fitted

    return PlainTable


# The exit statuses: see the module's docstring; EXIT_USAGE (2) comes from pmdesk.dashboard.
EXIT_REJECTED = 1

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """An expected failure: printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    """What every command needs, built only when it is needed."""

    db: str | None = None
    now: Now = utc_now
    # An import writes a lot at once; see core.db.BULK_CHECKPOINT_PAGES.
    bulk: bool = False
    # --wide: tables show every cell whole instead of fitting the terminal.
    wide: bool = False

    @cached_property
    def settings(self) -> Settings:
        from core.config import load_settings

        overrides = {"db": self.db} if self.db else {}
        return load_settings(**overrides)

    @cached_property
    def engine(self) -> Engine:
        from core.db import open_database

        return open_database(self.settings.db, bulk=self.bulk)

    @cached_property
    def reader(self) -> Reader:
        """For read commands: no settings model, no ORM (see core.paths)."""
        return reader_for(self.db or database_location())

    @cached_property
    def zone(self) -> ZoneInfo:
        name = configured("timezone", "Europe/Paris")
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):
            raise ConfigError(f"timezone: unknown time zone {name!r}") from None

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    @cached_property
    def formatter(self) -> Formatter:
        """Amounts the agency's way (its `locale`), as the dashboard writes them."""
        from babel.core import UnknownLocaleError

        from tui.format import Formatter

        name = configured("locale", "fr_FR")
        try:
            return Formatter(name, self.zone)
        except (ValueError, UnknownLocaleError):
            raise ConfigError(f"locale: unknown locale {name!r} (write it like fr_FR)") from None

    def money(self, amount: Decimal | int, currency: str | None = None) -> str:
        """An amount (cents when an int) in the agency's locale: 1 234,50 € in fr_FR.

        Without a currency, the number alone with its two decimals (1 234,50).
        """
        value = Decimal(amount) / 100 if isinstance(amount, int) else amount
        if currency:
            return self.formatter.money(value, currency)
        from babel.numbers import format_decimal

        return str(format_decimal(value, format="#,##0.00", locale=self.formatter.locale))


def command(function: F) -> F:
    """Turn expected failures into one line on stderr and an exit status."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _speak_the_configured_language()
        try:
            return function(*args, **kwargs)
        except (ConfigError, DatabaseError) as error:
            err.print(f"pmdesk: {error}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        except Failure as error:
            err.print(f"pmdesk: {error}", markup=False)
            raise typer.Exit(error.code) from None
        except Exception as error:
            refused = _write_refused(error)
            if refused is None:
                raise
            err.print(f"pmdesk: {refused}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def _speak_the_configured_language() -> None:
    """Words and durations in the language of the agency's `locale`, as on the dashboard."""
    try:
        i18n.activate(configured("locale", "fr_FR"))
    except (ConfigError, OSError):
        # A broken configuration is the command's to report, in English; so is
        # a misspelt locale, when the command formats a date or an amount.
        i18n.activate("en_US")


def _write_refused(error: Exception) -> str | None:
    """The line for a database that failed a command's write (read-only, full), else None.

    SQLAlchemy is looked up, not imported: a command that never loaded it
    cannot have raised its errors, and the read commands start faster without it.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.OperationalError):
        return None
    from core.db import write_refused

    engine = _current.__dict__.get("engine")
    problem = str(error.orig or error).splitlines()[0]
    if engine is None:
        return f"the database refused a write: {problem}"
    return str(write_refused(engine, problem))


_current = Context()


def context() -> Context:
    """The options of this invocation; one process runs one command."""
    return _current


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(help="Database: a SQLite file path or an SQLAlchemy URL (PMDESK_DB)."),
    ] = None,
    config: Annotated[
        str | None, typer.Option(help="Configuration file in TOML (PMDESK_CONFIG).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print pmdesk's version and exit.",
            is_eager=True,
            callback=lambda wanted: _print_version() if wanted else None,
        ),
    ] = False,
) -> None:
    global _current
    if config:
        os.environ["PMDESK_CONFIG"] = config
    _current = Context(db=db)
    _warn_about_variables()
    if ctx.invoked_subcommand is None:
        if not _interactive():
            out.print(ctx.get_help(), markup=False)
            err.print("pmdesk: the dashboard needs a terminal; the commands above do not")
            return
        command(_dashboard)()


def _print_version() -> None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        number = installed("pmdesk")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from pmdesk import __version__ as number
    out.print(f"pmdesk {number}")
    raise typer.Exit(0)


# Variables every set-up has: the settings model is not imported just to look at them.
_USUAL_VARIABLES = {"PMDESK_CONFIG", "PMDESK_DB", "PMDESK_TIMEZONE"}


def _warn_about_variables() -> None:
    """A warning on stderr for each PMDESK_* variable that sets nothing (a misspelt name)."""
    names = {name.upper() for name in os.environ if name.upper().startswith("PMDESK_")}
    if names <= _USUAL_VARIABLES:
        return
    from core.config import unknown_variables

    for warning in unknown_variables(os.environ):
        err.print(f"pmdesk: warning: {warning}", markup=False)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _dashboard(start: str = "main") -> None:
    """Open the dashboard on the configured database."""
    from pmdesk.dashboard import run_dashboard

    ctx = context()
    run_dashboard(ctx.settings, ctx.now, start=start)


@app.command()
@command
def manager() -> None:
    """Open the dashboard straight into the manager view (the SLA report)."""
    if not _interactive():
        raise Failure(
            "the manager view needs a terminal; pmdesk report sla prints the same figures"
        )
    _dashboard(start="manager")


# -- ingest ----------------------------------------------------------------


@app.command()
@command
def ingest(
    file: Annotated[str, typer.Argument(help="JSON Lines file of events, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    batch: Annotated[int, typer.Option(help="Events per transaction.", min=1)] = 5000,
) -> None:
    """Ingest events (one JSON object per line), deduplicated on source and id.

    Valid lines are kept even when others are rejected; the exit status is 1
    if any line was rejected.
    """
    from core.ingest import Ingestor, Summary

    ctx = context()
    ctx.bulk = True
    _quiet_garbage_collector()
    ingestor = Ingestor.for_settings(ctx.engine, ctx.settings, clock=ctx.now, batch_size=batch)
    summary = Summary()
    with _open_input(file) as (stream, size):
        progress = _progress(size, file) if not as_json and err.is_terminal else None
        pending: list[bytes] = []

        def flush() -> None:
            # Report line numbers of the file, not positions in the batch.
            summary.add(ingestor.ingest_batch(pending), numbers)
            pending.clear()
            numbers.clear()

        numbers: list[int] = []
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            pending.append(line)
            numbers.append(number)
            if len(pending) >= batch:
                flush()
                if progress:
                    progress.advance(stream.tell())
        if pending:
            flush()
        if progress:
            progress.stop()
    ctx.engine.dispose()  # folds the write-ahead log back into the database
    _print_ingest_summary(summary, as_json)
    if summary.rejected:
        raise typer.Exit(EXIT_REJECTED)


def _quiet_garbage_collector() -> None:
    """Collect cycles rarely during a bulk import.

    An import allocates millions of short-lived, acyclic objects (freed by
    reference counting anyway); with the default thresholds the cycle
    collector keeps rescanning the growing heap, which cost a fifth of the
    import's time in bench/ingest.py. Objects alive at start-up are frozen
    out of its scans altogether.
    """
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class _Progress:
    def __init__(self, total: int, label: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err.console,
            transient=True,
        )
        self._task = self._bar.add_task(f"ingesting {label}", total=total or None)
        self._bar.start()

    def advance(self, position: int) -> None:
        self._bar.update(self._task, completed=position)

    def stop(self) -> None:
        self._bar.stop()


def _progress(size: int, label: str) -> _Progress | None:
    return _Progress(size, label) if size else None


class _open_input:
    """A binary stream over FILE or stdin, with its size when known."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> tuple[IO[bytes], int]:
        if self.name == "-":
            return sys.stdin.buffer, 0
        path = Path(self.name)
        try:
            self._handle = path.open("rb")
        except OSError as error:
            raise Failure(file_problem(self.name, error)) from None
        return self._handle, path.stat().st_size

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


def _print_ingest_summary(summary: Any, as_json: bool) -> None:
    rejected = [{"line": line, "reason": reason} for line, reason in sorted(summary.rejections)]
    if as_json:
        _print_json(
            {
                "created": summary.created,
                "duplicate": summary.duplicate,
                "rejected": summary.rejected,
                "rejections": rejected,
            }
        )
        return
    out.print(
        f"{summary.created} created, {summary.duplicate} duplicates, {summary.rejected} rejected",
        markup=False,
    )
    for item in rejected:
        err.print(f"line {item['line']}: {item['reason']}", markup=False)


# -- clocks ----------------------------------------------------------------


@app.command()
@command
def clocks(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.", min=1)] = None,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Running response clocks, most urgent first."""
    from core.queries import running_clocks

    ctx = context()
    ctx.wide = wide
    now = ctx.now()
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


# -- report ----------------------------------------------------------------


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
    from core.report import sla_report

    ctx = context()
    ctx.wide = wide
    now = ctx.now()
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
    from core.timeutil import parse_period

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


# -- clients ---------------------------------------------------------------

clients_app = typer.Typer(help="Clients and their SLA policy.", invoke_without_command=True)
app.add_typer(clients_app, name="clients")


@clients_app.callback()
@command
def clients_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """List clients with their policy, threads and running clocks."""
    if ctx.invoked_subcommand is not None:
        return
    context().wide = wide
    from core.clients import list_clients

    views = list_clients(context().engine)
    if as_json:
        _print_json([view.__dict__ for view in views])
        return
    table = _table(
        ngettext("{count} client", "{count} clients", len(views)).format(count=len(views)),
        [N_("client"), N_("policy"), N_("language"), N_("threads"), N_("running clocks")],
    )
    for view in views:
        table.add_row(
            view.name,
            view.policy or "default",
            view.language,
            str(view.threads),
            str(view.running_clocks),
        )
    out.print(table)


@clients_app.command("policy")
@command
def clients_policy(
    client: Annotated[str, typer.Argument(help="The client's name, as in its events.")],
    policy: Annotated[str, typer.Argument(help="A policy from the configuration, or 'default'.")],
) -> None:
    """Give a client another SLA policy; its running clocks get new due times."""
    from core.clients import UnknownClient, set_client_policy
    from core.policies import DEFAULT, PolicyBook

    ctx = context()
    name = None if policy == DEFAULT else policy
    try:
        count = set_client_policy(
            ctx.engine, PolicyBook(ctx.settings), client, name, actor="cli", clock=ctx.now
        )
    except (UnknownClient, ValueError) as error:
        raise Failure(str(error).strip("'\"")) from None
    out.print(f"{client}: policy {policy}, {count} running clocks recomputed", markup=False)


# -- demo ------------------------------------------------------------------


@app.command()
@command
def demo(
    db: Annotated[
        str | None,
        typer.Option(help="Where to build the demo database (default: a fresh demo.db)."),
    ] = None,
    pace: Annotated[float, typer.Option(help="Live events per minute.", min=0.1)] = 6.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated agency.")] = 7,
    duration: Annotated[
        float | None,
        typer.Option(help="With --print: stop after this many seconds (default: Ctrl-C)."),
    ] = None,
    print_events: Annotated[
        bool,
        typer.Option("--print", help="Print the live events instead of opening the dashboard."),
    ] = False,
) -> None:
    """Open the dashboard on a fresh demo agency, with its simulated clients writing live.

    A week of history (clients, projects, staff, answered and late messages),
    invoices with today's reminder drafts and a bank statement go in first,
    then a simulator feeds new events through the same ingestion path as
    every source. The dashboard runs the demo's services: the scheduler, and
    simulated clients who take the replies. Without a terminal (or with
    --print), the live events are printed instead.
    """
    import threading

    from core.db import open_database as open_db
    from core.demo import Simulator, demo_settings, load_scenario, seed_demo
    from core.paths import default_database_path
    from pmdesk.dashboard import run_demo, simulate_job

    # The demo never touches the configured database.
    path = Path(db) if db else default_database_path().with_name("demo.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    settings = demo_settings().model_copy(update={"db": str(path)})
    engine = open_db(str(path))
    now = utc_now()
    created = seed_demo(engine, settings, now, folder=path.parent)
    simulator = Simulator(load_scenario(), seed=seed, pace=pace)
    if _interactive() and not print_events:
        context().db = str(path)
        run_demo(settings, simulator, now, context().now)
        return
    out.print(f"demo database {path}: {created} events of history", markup=False)
    zone = ZoneInfo(settings.timezone)
    stop = threading.Event()
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    simulate = simulate_job(
        engine,
        settings,
        simulator,
        now,
        created=lambda event: out.print(_event_line(event, zone), markup=False),
    )
    try:
        simulate(stop)
    except KeyboardInterrupt:
        stop.set()


def _event_line(event: dict[str, Any], zone: ZoneInfo) -> str:
    at = datetime.fromisoformat(event["occurred_at"]).astimezone(zone)
    author = (event.get("author") or {}).get("name", "")
    text = (event.get("text") or "").splitlines()[0:1]
    return (
        f"{at:%H:%M:%S}  {event.get('client') or '':<18.18} {event['kind']:<12} "
        f"{author:<18.18} {(text[0] if text else ''):.60}"
    )


# -- staff -----------------------------------------------------------------

staff_app = typer.Typer(
    help="The agency's staff: who gets alerts, and who may use the Telegram bot.",
    invoke_without_command=True,
)
app.add_typer(staff_app, name="staff")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


@staff_app.callback()
@command
def staff_main(
    ctx: typer.Context,
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """List, add, edit, remove and invite staff; without a subcommand, list them."""
    if ctx.invoked_subcommand is None:
        context().wide = wide
        _list_staff(as_json)


@staff_app.command("list")
@command
def staff_list(
    as_json: Annotated[bool, _JSON] = False, wide: Annotated[bool, _WIDE] = False
) -> None:
    """Everyone, removed people included, with their roles, emails and Telegram binding."""
    context().wide = wide
    _list_staff(as_json)


def _list_staff(as_json: bool) -> None:
    from core.staff import list_staff

    ctx = context()
    views = list_staff(ctx.engine)
    if as_json:
        _print_json([{**view.__dict__, "emails": list(view.emails)} for view in views])
        return
    if not views:
        out.print(
            gettext("No staff yet: pmdesk staff add NAME --role assistant --email E"),
            markup=False,
        )
        return
    active = sum(1 for view in views if view.active)
    columns = [N_("id"), N_("name"), N_("role"), N_("emails"), N_("telegram"), N_("status")]
    table = _table(gettext("{count} staff").format(count=active), columns, right=("id",))
    for view in views:
        table.add_row(
            str(view.id),
            view.name,
            view.role,
            ", ".join(view.emails),
            gettext("linked") if view.telegram_id is not None else "-",
            _staff_status(view, ctx),
            style=None if view.active else "dim",
        )
    out.print(table)


def _staff_status(view: Any, ctx: Context) -> str:
    if not view.active:
        return gettext("removed")
    if view.muted_until is not None and view.muted_until > ctx.now():
        from babel.dates import format_datetime

        until = format_datetime(
            ctx.local(view.muted_until), "EEE HH:mm", locale=ctx.formatter.locale
        )
        return gettext("muted until {time}").format(time=until)
    return gettext("active")


@staff_app.command("add")
@command
def staff_add(
    name: Annotated[str, typer.Argument(help="Their name, as the team knows them.")],
    role: Annotated[
        StaffRole,
        typer.Option(
            help="assistant (on duty for unassigned threads), pm, manager (escalations) "
            "or specialist.",
            case_sensitive=False,
        ),
    ],
    email: Annotated[
        list[str] | None,
        typer.Option("--email", help="An address they write from; repeat for several."),
    ] = None,
) -> None:
    """Add someone to the team.

    Someone already known by one of the emails is kept as is, or, if they
    were removed, comes back to the team with this role.
    """
    from core.staff import UnknownStaff, add_staff, edit_staff, find_staff

    ctx = context()
    emails = [address.strip().lower() for address in email or [] if address.strip()]
    for address in emails:
        if "@" not in address:
            raise Failure(f"{address!r} is not an email address")
    known = None
    for address in emails:
        try:
            known = find_staff(ctx.engine, address)
            break
        except UnknownStaff:
            continue
    if known is not None and not known.active:
        back = edit_staff(ctx.engine, known.id, role=role, add_emails=emails, active=True)
        out.print(
            f"{back.name} (#{back.id}) was removed: back on the team as {back.role} "
            "(pmdesk staff invite to link their Telegram account again)",
            markup=False,
        )
        return
    if known is not None:
        out.print(
            f"{address} is already {known.name} (#{known.id}, {known.role}): kept as is",
            markup=False,
        )
        return
    staff_id = add_staff(ctx.engine, name, role, emails, ctx.now())
    out.print(f"added {name} (#{staff_id}), {role.value}", markup=False)


@staff_app.command("edit")
@command
def staff_edit(
    who: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
    name: Annotated[str | None, typer.Option(help="Their new name.")] = None,
    role: Annotated[
        StaffRole | None,
        typer.Option(help="assistant, pm, manager or specialist.", case_sensitive=False),
    ] = None,
    add_email: Annotated[
        list[str] | None,
        typer.Option("--add-email", help="An address they also write from; repeat for several."),
    ] = None,
    remove_email: Annotated[
        list[str] | None,
        typer.Option("--remove-email", help="An address that is no longer theirs."),
    ] = None,
    active: Annotated[
        bool | None,
        typer.Option(
            "--active/--inactive",
            help="Back on the team, or off it (no alerts, Telegram account unlinked).",
        ),
    ] = None,
) -> None:
    """Change a staff member's name, role, emails, or whether they are on the team."""
    from core.staff import AmbiguousStaff, UnknownStaff, edit_staff, find_staff

    if name is None and role is None and not add_email and not remove_email and active is None:
        raise Failure("say what to change: --name, --role, --add-email, --remove-email, --active")
    ctx = context()
    try:
        before = find_staff(ctx.engine, who)
        after = edit_staff(
            ctx.engine,
            before.id,
            name=name,
            role=role,
            add_emails=add_email or (),
            remove_emails=remove_email or (),
            active=active,
        )
    except (UnknownStaff, AmbiguousStaff, ValueError) as error:
        raise Failure(str(error)) from None
    status = "on the team" if after.active else "off the team"
    out.print(
        f"{after.name} (#{after.id}): {after.role}, {', '.join(after.emails) or 'no email'}, "
        f"{status}",
        markup=False,
    )


@staff_app.command("remove")
@command
def staff_remove(
    name: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
) -> None:
    """Take someone off the team: no more alerts, their Telegram account unlinked.

    Their history (events, clocks, reports) stays.
    """
    from core.staff import AmbiguousStaff, UnknownStaff, remove_staff

    try:
        person = remove_staff(context().engine, name)
    except (UnknownStaff, AmbiguousStaff) as error:
        raise Failure(str(error)) from None
    out.print(
        f"{person.name} (#{person.id}) removed: no more alerts, Telegram account unlinked; "
        "their history stays",
        markup=False,
    )


@staff_app.command("invite")
@command
def staff_invite(
    name: Annotated[str, typer.Argument(help="Their name, an email or their id.")],
    hours: Annotated[
        float, typer.Option(help="How long the invite stays valid.", min=0.1, max=24 * 30)
    ] = 24,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """A one-time, expiring link that binds their Telegram account to them.

    Send it to them; opening it (or sending the /start line to the bot)
    binds whichever Telegram account does it, once.
    """
    from core.staff import AmbiguousStaff, UnknownStaff, find_staff, invite

    ctx = context()
    now = ctx.now()
    try:
        person = find_staff(ctx.engine, name)
        code = invite(ctx.engine, person.id, now, timedelta(hours=hours))
    except (UnknownStaff, AmbiguousStaff, ValueError) as error:
        raise Failure(str(error)) from None
    expires = now + timedelta(hours=hours)
    link, problem = _invite_link(ctx.settings, code)
    if as_json:
        _print_json(
            {
                "staff_id": person.id,
                "staff": person.name,
                "code": code,
                "start": f"/start {code}",
                "link": link,
                "expires_at": expires,
            }
        )
        return
    until = f"{ctx.local(expires):%a %d %b %H:%M} ({ctx.zone.key})"
    out.print(f"Invite for {person.name} ({person.role}), once, until {until}:", markup=False)
    if link:
        out.print(f"  {link}", markup=False)
        out.print("or, in a chat with the bot:", markup=False)
    else:
        out.print("They send this to the bot on Telegram:", markup=False)
    out.print(f"  /start {code}", markup=False)
    if problem:
        err.print(f"note: no t.me link: {problem}", markup=False)


def _invite_link(settings: Settings, code: str) -> tuple[str | None, str | None]:
    """The t.me link that starts the bot with `code`, or None and why there is none."""
    if not settings.telegram_token:
        return None, None  # no bot yet: the /start line works once there is one
    import asyncio

    from telegram.error import TelegramError

    from bots.telegram import bot_username

    try:
        username = asyncio.run(bot_username(settings))
    except (TelegramError, OSError) as error:
        return None, f"could not ask Telegram for the bot's name ({error})"
    return f"https://t.me/{username}?start={code}", None


# -- serve -----------------------------------------------------------------


@app.command()
@command
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address the HTTP intake listens on (http.host; 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the HTTP intake (http.port; 8765).", min=0, max=65535),
    ] = None,
) -> None:
    """Run the background services headless, until Ctrl-C: the HTTP intake, the Telegram bot.

    One process per database runs them; another `pmdesk serve` (or dashboard)
    waits, without listening, and takes over if this one stops. Without a
    Telegram token, the services run without the bot; without
    PMDESK_WEBHOOK_SECRET, the intake refuses every event.
    """
    import asyncio
    import contextlib
    import logging
    import signal

    from bots.services import run_services
    from core.health import check_writable

    ctx = context()
    settings, engine = ctx.settings, ctx.engine
    # Before anything listens: a database it cannot write would fail every request.
    check_writable(engine)
    changes = {"host": host, "port": port}
    http = settings.http.model_copy(update={k: v for k, v in changes.items() if v is not None})
    settings = settings.model_copy(update={"http": http})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line for every request
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # the intake logs its own
    # Ingestion allocates many short-lived objects; with the default
    # thresholds the cycle collector's passes showed as latency spikes of the
    # intake (bench/intake.py). See _quiet_garbage_collector.
    _quiet_garbage_collector()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            # Not on Windows: Ctrl-C raises KeyboardInterrupt there instead.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(number, stop.set)
        await run_services(settings, stop, clock=ctx.now, engine=engine)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


# -- config ----------------------------------------------------------------


@config_app.command("check")
@command
def config_check() -> None:
    """Validate the configuration and the database, and say what is in force."""
    from core.policies import PolicyBook

    ctx = context()
    settings = ctx.settings
    try:
        book = PolicyBook(settings)
    except ValueError as error:
        raise ConfigError(f"calendars: {error}") from None
    source = os.environ.get("PMDESK_CONFIG") or "(none: defaults and PMDESK_* variables)"
    out.print(f"config file   {source}", markup=False)
    out.print(f"database      {shown_database(settings.db)}", markup=False)
    from core.health import check_writable

    check_writable(ctx.engine)  # opening it checked and upgraded it; this tries a write
    out.print("              opened, schema up to date, writable", markup=False)
    out.print(f"agency        {settings.agency}", markup=False)
    out.print(f"time zone     {settings.timezone}", markup=False)
    for name in book.names():
        conf = settings.policies[name]
        out.print(
            f"policy        {name}: first {conf.first_response_minutes:g} min, "
            f"next {conf.next_response_minutes:g} min, warn {conf.warn_before_minutes:g} min "
            f"before, escalate {conf.escalate_after_minutes:g} min after start, "
            f"calendar {conf.calendar}",
            markup=False,
        )
    telegram = "configured" if settings.telegram_token else "not configured (no token)"
    out.print(f"telegram      {telegram}", markup=False)
    out.print("configuration is valid")


def _print_json(value: Any) -> None:
    # Plain and fast: rich's print_json colours and re-indents, which takes
    # seconds for ten thousand clocks, and scripts want the bytes as they are.
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=_json_value))
    sys.stdout.write("\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# Last: the sub-app's module uses the helpers above.
from pmdesk.invoices_cli import invoices_app  # noqa: E402

app.add_typer(invoices_app, name="invoices")
from pmdesk.payments_cli import payments_app  # noqa: E402

app.add_typer(payments_app, name="payments")


def main() -> None:
    app()
