"""`pmdesk email`: the outbox of emails to clients, and the go-live test.

The services send what is queued (docs/billing.md, Sending); these commands
show the outbox and settle what the sender could not: resend an email that
failed or whose fate is unknown, or record that it went.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from core.base.i18n import N_, gettext, ngettext
from pmdesk.console import _print_json, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.tables import _table

email_app: typer.Typer = typer.Typer(
    help="Email to clients: the outbox, retries, the go-live test.", no_args_is_help=True
)
_JSON = typer.Option("--json", help="Print JSON for scripts.")
_ID = typer.Argument(help="The email's id (#N in the outbox).")


@email_app.command("outbox")
@command
def email_outbox(
    as_json: Annotated[bool, _JSON] = False,
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: queued, sending, sent, failed or unknown."),
    ] = None,
) -> None:
    """The emails queued, sent, failed or unknown, newest first."""
    from core.mail.outbox import STATES, list_outbox

    if state is not None and state not in STATES:
        raise Failure(f"{state!r} is not a state ({', '.join(STATES)})")
    ctx = context()
    views = list_outbox(ctx.engine, (state,) if state else None)
    if as_json:
        _print_json([asdict(view) for view in views])
        return
    if not views:
        out.print(gettext("The outbox is empty."))
        return
    columns = [
        N_("id"), N_("state"), N_("kind"), N_("to"), N_("subject"), N_("attempts"),
        N_("next try"), N_("last error"),
    ]  # fmt: skip
    title = ngettext("{count} email", "{count} emails", len(views))
    table = _table(title.format(count=len(views)), columns, right=("id", "attempts"))
    for view in views:
        when = view.sent_at if view.sent_at is not None else view.next_try_at
        table.add_row(
            str(view.id),
            view.state,
            view.kind,
            view.to,
            view.subject,
            str(view.attempts),
            "-"
            if when is None or view.state != "queued"
            else ctx.local(when).strftime("%d/%m %H:%M"),
            view.last_error or "-",
        )
    out.print(table)


@email_app.command("retry")
@command
def email_retry(email_id: Annotated[int, _ID]) -> None:
    """Send a failed email again, or one whose fate is unknown (after checking it did not go)."""
    from core.mail.outbox import UnknownEmail, retry

    ctx = context()
    try:
        retry(ctx.engine, email_id, ctx.clock(), "cli")
    except (UnknownEmail, ValueError) as error:
        raise Failure(str(error)) from None
    out.print(f"email #{email_id}: queued again; the services send it within a minute")


@email_app.command("mark-sent")
@command
def email_mark_sent(email_id: Annotated[int, _ID]) -> None:
    """Record that an email went out after all (its reminder is marked sent with it)."""
    from core.mail.outbox import UnknownEmail, mark_sent_by_hand

    ctx = context()
    try:
        mark_sent_by_hand(ctx.engine, email_id, ctx.clock(), "cli")
    except (UnknownEmail, ValueError) as error:
        raise Failure(str(error)) from None
    out.print(f"email #{email_id}: sent")


@email_app.command("test")
@command
def email_test(
    address: Annotated[str, typer.Argument(help="Where to send the test message.")],
) -> None:
    """Send one test message now through [email]'s server: the go-live check."""
    from bots.email.drain import send_now
    from core.mail.compose import NotConfigured, queue_test_email, require_configured
    from core.mail.message import BadAddress

    ctx = context()
    try:
        require_configured(ctx.settings)
        queued = queue_test_email(ctx.engine, ctx.settings, address, ctx.clock())
    except (NotConfigured, BadAddress) as error:
        raise Failure(str(error)) from None
    email = ctx.settings.email
    outcome, reason = send_now(ctx.engine, ctx.settings, ctx.clock, queued.id)
    if outcome != "sent":
        raise Failure(
            f"test message #{queued.id} to {address} not sent through "
            f"{email.host}:{email.port} ({email.security}): {reason}",
            EXIT_REJECTED,
        )
    out.print(
        f"test message #{queued.id} sent to {address} through {email.host}:{email.port} "
        f"({email.security})"
    )
