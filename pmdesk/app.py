"""The `pmdesk` command and its groups, on which every command module registers.

`pmdesk`'s own options are declared here (`main_callback`); what they do
is pmdesk.context's, shared with the read commands run without typer
(pmdesk.reads).
"""

from __future__ import annotations

from typing import Annotated

import typer

from pmdesk.console import err, out
from pmdesk.context import _dashboard, _interactive, begin, command

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
    begin(db, config)
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
