"""How `pmdesk` starts: the dashboard at once when called alone, else the
command line.

Kept apart from the command line (typer) so that `pmdesk` alone, the way the
assistant starts the day, opens the dashboard without building every
command's options first.
"""

from __future__ import annotations

import gc
import sys

from core.base.paths import ConfigError
from core.store.reader import DatabaseError
from pmdesk.exits import EXIT_USAGE


def main() -> None:
    """`pmdesk`: straight to the dashboard when given nothing else in a terminal."""
    if len(sys.argv) > 1 or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from pmdesk.cli import main as command_line

        command_line()
        return
    hold_collector()
    from core.config.quick import quick_settings
    from pmdesk.dashboard import run_dashboard, validated_settings

    try:
        # The few values of the first screenful, without pydantic; the whole
        # configuration is validated once that screenful is shown. Unsure
        # of a value, the quick read gives way to the full validation first.
        first = quick_settings()
        if first is None:
            run_dashboard(validated_settings())
        else:
            run_dashboard(first, validate=validated_settings)
    except (ConfigError, DatabaseError) as error:
        # As the command line says it (pmdesk.context.command): one line, exit 2.
        from core.base.text import clean

        print(f"pmdesk: {clean(str(error))}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def hold_collector() -> None:
    """No cyclic garbage collection until the first screenful is shown.

    Start-up creates some hundred thousand objects (Textual's modules and
    classes, the stylesheet, the panels' rows) and almost none of them die:
    the collector walked them again and again for nothing, about a tenth of
    the imports' time. The dashboard freezes what lives then and turns the
    collector back on (tui.app.Dashboard.loaded).
    """
    gc.disable()
