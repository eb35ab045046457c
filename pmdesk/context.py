"""What every command shares: `pmdesk`'s own options, the context they make
(settings, database, clock, locale), and one way to fail: one line on
stderr and an exit status, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

from core.base.instants import Now, utc_now
from core.base.paths import (
    ConfigError,
    configured,
    database_location,
)
from core.store.connect import reader_for
from core.store.reader import DatabaseError, Reader
from pmdesk.exits import EXIT_USAGE

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.config.settings import Settings
    from tui.display.format import Formatter
from pmdesk.app import _speak_the_configured_language, app
from pmdesk.console import err, out

# Done, but some input was refused on its own (the exit statuses: pmdesk.exits).
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
    clock: Now = utc_now
    # An import writes a lot at once; see core.store.db.BULK_CHECKPOINT_PAGES.
    bulk: bool = False
    # --wide: tables show every cell whole instead of fitting the terminal.
    wide: bool = False

    @cached_property
    def settings(self) -> Settings:
        from core.config.settings import load_settings

        overrides = {"db": self.db} if self.db else {}
        return load_settings(**overrides)

    @cached_property
    def engine(self) -> Engine:
        from core.store.db import open_database

        return open_database(self.settings.db, bulk=self.bulk)

    @cached_property
    def reader(self) -> Reader:
        """For read commands: no settings model, no ORM (see core.base.paths)."""
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

        from tui.display.format import Formatter

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


def _write_refused(error: Exception) -> str | None:
    """The line for a database that failed a command's write (read-only, full), else None.

    SQLAlchemy is looked up, not imported: a command that never loaded it
    cannot have raised its errors, and the read commands start faster without it.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.OperationalError):
        return None
    from core.store.db import write_refused

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
    from core.config.settings import unknown_variables

    for warning in unknown_variables(os.environ):
        err.print(f"pmdesk: warning: {warning}", markup=False)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _dashboard(start: str = "main") -> None:
    """Open the dashboard on the configured database."""
    from pmdesk.dashboard import run_dashboard

    ctx = context()
    run_dashboard(ctx.settings, ctx.clock, start=start)
