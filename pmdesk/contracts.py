"""`pmdesk contracts`: the clients' engagement letters, from which billing runs."""

from __future__ import annotations

import typer

contracts_app: typer.Typer = typer.Typer(
    help="Contracts (engagement letters): add, edit, end, list, show, import.",
    no_args_is_help=True,
)
