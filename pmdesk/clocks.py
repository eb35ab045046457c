"""`pmdesk clocks`: the running response clocks, most urgent first.

The options as typer declares them; the work is pmdesk.reads.clocks, which
also runs without typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pmdesk import reads
from pmdesk.app import app
from pmdesk.tables import _WIDE


@app.command()
def clocks(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.", min=1)] = None,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Running response clocks, most urgent first."""
    reads.clocks(as_json, limit, wide)
