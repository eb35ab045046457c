"""What every command shares: the context `pmdesk`'s own options make
(settings, database, clock, locale), and one way to fail: one line on
stderr and an exit status, never a traceback.

No typer here: the read commands also run without it (pmdesk.reads); the
options themselves are declared in pmdesk.app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from core.base import i18n
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
    from decimal import Decimal

    from sqlalchemy import Engine

    from core.config.settings import Settings
    from tui.display.format import Formatter
from pmdesk.console import err

# Done, but some input was refused on its own (the exit statuses: pmdesk.exits).
EXIT_REJECTED = 1

F = TypeVar("F", bound=Callable[..., Any])


class Failure(Exception):
    """An expected failure: printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class Context:
    """What every command needs, built only when it is needed.

    (A plain class: the dataclasses module costs the read commands' start-up.)
    """

    def __init__(
        self, db: str | None = None, clock: Now = utc_now, bulk: bool = False, wide: bool = False
    ) -> None:
        self.db = db
        self.clock = clock
        # An import writes a lot at once; see core.store.db.BULK_CHECKPOINT_PAGES.
        self.bulk = bulk
        # --wide: tables show every cell whole instead of fitting the terminal.
        self.wide = wide

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
        from decimal import Decimal

        value = Decimal(amount) / 100 if isinstance(amount, int) else amount
        if currency:
            return self.formatter.money(value, currency)
        from babel.numbers import format_decimal

        return str(format_decimal(value, format="#,##0.00", locale=self.formatter.locale))


def command(function: F) -> F:
    """Turn expected failures into one line on stderr and an exit status.

    The status leaves as SystemExit, which typer lets through as it is and
    which needs no typer when the command runs without it.
    """

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _speak_the_configured_language()
        try:
            try:
                return function(*args, **kwargs)
            finally:
                _close_database()
        except (ConfigError, DatabaseError) as error:
            err.print(f"pmdesk: {error}", markup=False)
            raise SystemExit(EXIT_USAGE) from None
        except Failure as error:
            err.print(f"pmdesk: {error}", markup=False)
            raise SystemExit(error.code) from None
        except Exception as error:
            refused = _write_refused(error)
            if refused is None:
                raise
            err.print(f"pmdesk: {refused}", markup=False)
            raise SystemExit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


def _close_database() -> None:
    """Close the command's pooled connections as it ends.

    SQLite folds its write-ahead log back into the database file when the
    last connection to it closes; connections left open when the process
    exits leave what the command wrote (a new database's tables too) in
    `pmdesk.db-wal`, where a copy of `pmdesk.db` alone misses it and the
    next writer folds it back in the middle of its own commit. A connection
    still checked out (a command's own) is closed by the command first.
    """
    engine = _current.__dict__.get("engine")
    if engine is not None:
        engine.dispose()


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


def begin(db: str | None, config: str | None) -> None:
    """What `pmdesk`'s own options do before any command (see pmdesk.app.main_callback)."""
    global _current
    if config:
        os.environ["PMDESK_CONFIG"] = config
    _current = Context(db=db)
    _warn_about_variables()


def _speak_the_configured_language() -> None:
    """Words and durations in the language of the agency's `locale`, as on the dashboard."""
    try:
        i18n.activate(configured("locale", "fr_FR"))
    except (ConfigError, OSError):
        # A broken configuration is the command's to report, in English; so is
        # a misspelt locale, when the command formats a date or an amount.
        i18n.activate("en_US")


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
