"""`pmdesk manager`: the dashboard straight into the manager view."""

from __future__ import annotations

from pmdesk.app import app
from pmdesk.context import Failure, _dashboard, _interactive, command


@app.command()
@command
def manager() -> None:
    """Open the dashboard straight into the manager view (the SLA report)."""
    if not _interactive():
        raise Failure(
            "the manager view needs a terminal; pmdesk report sla prints the same figures"
        )
    _dashboard(start="manager")
