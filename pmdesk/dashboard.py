"""Opening the dashboard: the command line's `pmdesk`, `pmdesk manager` and `pmdesk demo`.

Kept apart from the command line (typer) so that `pmdesk` alone, the way the
assistant starts the day, opens the dashboard without building every
command's options first: about a tenth of a second of its start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.paths import ConfigError
from core.reader import DatabaseError
from core.timeutil import Now, utc_now

if TYPE_CHECKING:
    from core.config import Settings
    from tui.backend import Backend

EXIT_USAGE = 2


def run_dashboard(
    settings: Settings, now: Now = utc_now, start: str = "main", jobs: Sequence[Any] = ()
) -> None:
    """Open the dashboard on `settings`' database until the assistant quits."""
    backend = start_backend(settings, now)
    from tui.app import Dashboard  # Textual and the screens: while the first read runs

    Dashboard(settings, backend, start=start, jobs=jobs).run()


def start_backend(settings: Settings, now: Now = utc_now) -> Backend:
    """The dashboard's way to the database, with its first read already under way.

    No engine here: the first read creates or upgrades the database if it
    must (core.reader.reader_for), and the ORM is imported on the first action.
    """
    from core.lease import service_states
    from tui.backend import Backend
    from tui.watch import first_read

    backend = Backend(settings, now, services=lambda reader: service_states(reader, now()))
    backend.prefetch(first_read)
    return backend


def main() -> None:
    """`pmdesk`: straight to the dashboard when given nothing else in a terminal."""
    if len(sys.argv) > 1 or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from pmdesk.cli import main as command_line

        command_line()
        return
    from core.config import load_settings

    try:
        run_dashboard(load_settings())
    except (ConfigError, DatabaseError) as error:
        # As the command line says it (pmdesk.cli.command): one line, exit 2.
        print(f"pmdesk: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
