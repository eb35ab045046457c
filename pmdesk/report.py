"""`pmdesk report sla`: answers within target over a period, by person and client.

The options as typer declares them; the work is pmdesk.reads.report_sla,
which also runs without typer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pmdesk import reads
from pmdesk.app import report_app
from pmdesk.tables import _WIDE


@report_app.command("sla")
def report_sla(
    since: Annotated[
        str | None,
        typer.Option(help="Start: ISO date (its local midnight) or instant (default: 7 days ago)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End: ISO date (that whole local day included) or instant (or now)."),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Length instead of one end: 7d, 2w, 12h (local days: default 7d)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Share answered within target, median and p90 response times, breaches."""
    reads.report_sla(since, until, period, as_json, wide)


@report_app.command("am")
def report_am(
    month: Annotated[
        str | None, typer.Option(help="A calendar month, YYYY-MM (default: the last whole one).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD) instead.")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD), included; today by default.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Account-management hours per client and project, per person, and over six months.

    A project above the target share (time.target_share, 10 %) is flagged.
    """
    from pmdesk.context import context
    from pmdesk.time_report import report_am as run

    context().wide = wide
    run(month, since, until, as_json)


@report_app.command("client")
def report_client(
    name: Annotated[
        str | None, typer.Argument(help="The client's name, as in its events (or --all).")
    ] = None,
    week: Annotated[
        str | None, typer.Option(help="An ISO week, 2026-W48 (default: the last whole week).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD) instead.")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day (YYYY-MM-DD), included; today by default.")
    ] = None,
    form: Annotated[str, typer.Option("--format", help="text, html or pdf.")] = "text",
    output: Annotated[
        str | None,
        typer.Option(help="Write to this file (with --all: this folder, one file per client)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report's data as JSON.")
    ] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Every client with activity in the period.")
    ] = False,
    send: Annotated[
        bool,
        typer.Option("--send", help="Send it through the client's channel ([reports]), once."),
    ] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="Send it again after a correction.")
    ] = False,
) -> None:
    """A client's progress report: done, in progress, next, awaiting them, how fast we answered.

    In the client's language, as text (a chat, a comment), HTML or PDF (an email).
    """
    from pmdesk.client_report import report_client as run

    run(name, week, since, until, form, output, as_json, every, send=send or resend, resend=resend)
