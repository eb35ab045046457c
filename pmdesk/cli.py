"""The `pmdesk` command: the one place that wires core, tui and bots together.

Data commands print tables for people and `--json` for scripts. One exit
status rule for every command: 0 when done; 1 when done but some input was
refused on its own (the rejected lines of an import, the good ones kept); 2
when nothing was done because the command line, a file, the configuration,
the database or the thing named is wrong. Such a failure is one line on
stderr, never a traceback.

`pmdesk.cli.app` is the command with every command registered. `main()`
registers only the command it is asked to run (every one for `--help` or a
name it does not know): building every command's options and importing
what their modules need would cost a read command most of its start-up.
Before that, `pmdesk clocks` and `pmdesk report sla` well formed run
without typer at all (pmdesk.reads.run), for typer and click alone take a
read command's whole budget; anything else about them is typer's to answer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

# The module that registers each command (or group) on the app when
# imported, in the order `pmdesk --help` lists them; with the name of the
# group it defines when the module leaves adding it to this one.
COMMAND_MODULES: dict[str, tuple[str, str | None]] = {
    "manager": ("pmdesk.manager", None),
    "ingest": ("pmdesk.ingest", None),
    "clocks": ("pmdesk.clocks", None),
    "report": ("pmdesk.report", None),
    "clients": ("pmdesk.clients", None),
    "demo": ("pmdesk.demo", None),
    "staff": ("pmdesk.staff", None),
    "serve": ("pmdesk.serve", None),
    "web": ("pmdesk.web", None),
    "backup": ("pmdesk.backup", None),
    "restore": ("pmdesk.backup", None),
    "db": ("pmdesk.db", "db_app"),
    "config": ("pmdesk.config", None),
    "invoices": ("pmdesk.invoices", "invoices_app"),
    "payments": ("pmdesk.payments", "payments_app"),
    "contracts": ("pmdesk.contracts", "contracts_app"),
    "billing": ("pmdesk.billing", "billing_app"),
    "task": ("pmdesk.task", "task_app"),
    "templates": ("pmdesk.templates", None),
    "projects": ("pmdesk.projects", None),
    "time": ("pmdesk.time", None),
    "email": ("pmdesk.email", "email_app"),
}
# pmdesk's own options that take a value (see pmdesk.app.main_callback).
_OPTIONS_WITH_VALUE = ("--db", "--config")


def register(arguments: Sequence[str] | None = None) -> None:
    """Register the command the arguments run, or every command when they run none."""
    import pmdesk.app  # the command, its groups and pmdesk's own options

    named = _command_named(arguments)
    app = pmdesk.app.app
    added = {info.name for info in app.registered_groups}
    for name, (module, group) in COMMAND_MODULES.items():
        if named is not None and name != named:
            continue
        loaded = import_module(module)
        if group is not None and name not in added:
            app.add_typer(getattr(loaded, group), name=name)


def _command_named(arguments: Sequence[str] | None) -> str | None:
    """The known command the arguments run; None for none, help, or a name unknown."""
    skip = False
    for argument in arguments or ():
        if skip:
            skip = False
        elif argument in _OPTIONS_WITH_VALUE:
            skip = True
        elif argument in ("--help", "--version"):
            return None
        elif not argument.startswith("-"):
            return argument if argument in COMMAND_MODULES else None
    return None


def main() -> None:
    from pmdesk.reads import run

    if run(sys.argv[1:]):
        return
    register(sys.argv[1:])
    import pmdesk.app

    pmdesk.app.app()


def __getattr__(name: str) -> Any:
    # `from pmdesk.cli import app`: the command with every command registered.
    if name == "app":
        register()
        import pmdesk.app

        return pmdesk.app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "main"]  # noqa: F822  (app: see __getattr__)
