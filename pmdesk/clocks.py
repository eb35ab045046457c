"""`pmdesk clocks`: the running response clocks, most urgent first."""

from __future__ import annotations

from typing import Annotated

import typer

from core.base.i18n import N_, duration, gettext, ngettext
from pmdesk.app import app
from pmdesk.console import _print_json, out
from pmdesk.context import command, context
from pmdesk.tables import _WIDE, _table


@app.command()
@command
def clocks(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.", min=1)] = None,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Running response clocks, most urgent first."""
    from core.sla.views import running_clocks

    ctx = context()
    ctx.wide = wide
    now = ctx.clock()
    views = running_clocks(ctx.reader, limit=limit)
    if as_json:
        rows = [
            {
                **view.__dict__,
                "seconds_left": round(view.seconds_left(now), 1),
                "state": view.state(now),
            }
            for view in views
        ]
        _print_json(rows)
        return
    if not views:
        out.print(gettext("No running clocks: every client has had an answer."))
        return
    columns = [
        N_("left"), N_("state"), N_("client"), N_("thread"), N_("assignee"), N_("started"),
        N_("policy"),
    ]  # fmt: skip
    from babel.dates import format_datetime

    title = ngettext("{count} running clock", "{count} running clocks", len(views))
    table = _table(title.format(count=len(views)), columns, right=("left",))
    for view in views:
        table.add_row(
            duration(view.seconds_left(now)),
            gettext(view.state(now)),
            view.client or "",
            view.thread,
            view.assignee or "",
            format_datetime(
                ctx.local(view.started_at), "EEE d MMM HH:mm", locale=ctx.formatter.locale
            ),
            view.policy,
            style=_STATE_STYLE.get(view.state(now)),
        )
    out.print(table)


_STATE_STYLE = {"warning": "yellow", "breached": "red", "escalated": "bold red"}
