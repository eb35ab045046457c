"""The `pmdesk` command: the one place that wires core, tui and bots together.

Data commands print tables for people and `--json` for scripts. One exit
status rule for every command: 0 when done; 1 when done but some input was
refused on its own (the rejected lines of an import, the good ones kept); 2
when nothing was done because the command line, a file, the configuration,
the database or the thing named is wrong. Such a failure is one line on
stderr, never a traceback.
"""

from __future__ import annotations

from pmdesk.app import app

# Each module registers its commands on `app` when imported, in the order
# `pmdesk --help` lists them.
# isort: off
from pmdesk import manager, ingest, clocks, report, clients, demo, staff, serve, config  # noqa: F401
# isort: on


# The groups with a module of their own, listed last.
from pmdesk.invoices import invoices_app

app.add_typer(invoices_app, name="invoices")
from pmdesk.payments import payments_app  # noqa: E402

app.add_typer(payments_app, name="payments")


def main() -> None:
    app()


__all__ = ["app", "main"]
