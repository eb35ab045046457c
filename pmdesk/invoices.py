"""`pmdesk invoices`: import invoices, read the overdue list, run and record reminders.

Registered on the main command by `pmdesk.cli`, whose building blocks (the
`command` decorator, `context()`, tables, JSON output) it uses.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from core.base.text import clean
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.tables import _WIDE, _table

if TYPE_CHECKING:
    from core.receivables.invoices import ImportSummary

invoices_app: typer.Typer = typer.Typer(
    help="Invoices: import, overdue list, reminders by level.", no_args_is_help=True
)
_JSON = typer.Option("--json", help="Print JSON for scripts.")
_AT = typer.Option("--at", help="As of this day (ISO date; default: today).")
# Files with more lines than this show a progress line while they are read.
PROGRESS_LINES = 5000


def _today(at: str | None) -> date:
    """The day asked for, or today where the agency is."""
    ctx = context()
    if at is None:
        return ctx.local(ctx.clock()).date()
    try:
        return date.fromisoformat(at.strip())
    except ValueError:
        raise Failure(f"{at!r} is not an ISO date (write it like 2026-11-23)") from None


# -- import -----------------------------------------------------------------------


@invoices_app.command("import")
@command
def invoices_import(
    file: Annotated[Path, typer.Argument(help="CSV or JSON export of an accounting tool.")],
    profile: Annotated[
        str, typer.Option(help="Column names: a profile of [receivables.profiles].")
    ] = "default",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Import invoices; a re-import updates them by number instead of duplicating.

    Every line is reported created, updated, unchanged or rejected (with its
    line and reason); the good lines are kept, and the exit status is 1 if
    any line was rejected. A file that cannot be read as a whole is refused,
    nothing of it is imported, and the exit status is 2.
    """
    from core.receivables.dunning import refresh_plans
    from core.receivables.invoices import InvoiceFileError, UnknownProfile, import_invoices

    ctx = context()
    progress = None
    if not as_json and err.is_terminal:

        def progress(done: int, total: int) -> None:
            if total >= PROGRESS_LINES:
                err.control(f"\rreading {clean(str(file))}: {done:,} of {total:,} lines")

    try:
        summary = import_invoices(
            ctx.engine, ctx.settings, file, profile, clock=ctx.clock, progress=progress
        )
    except (InvoiceFileError, UnknownProfile) as error:
        raise Failure(str(error)) from None
    finally:
        if progress is not None:
            err.control("\r\033[K")
    refresh_plans(ctx.engine, ctx.settings, _today(None), ctx.clock())
    _print_import(summary, as_json)
    if summary.rejections:
        raise typer.Exit(EXIT_REJECTED)


def _print_import(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        _print_json(summary.as_dict())
        return
    counts = ", ".join(
        f"{summary.count(status)} {status}"
        for status in ("created", "updated", "unchanged", "rejected")
    )
    out.print(f"{summary.file}: {counts}", markup=False)
    if summary.clients_created:
        out.print(f"new clients: {', '.join(summary.clients_created)}", markup=False)
    for result in summary.rejections:
        err.print(f"line {result.line}: {result.reason}", markup=False)


# -- overdue ----------------------------------------------------------------------


@invoices_app.command("overdue")
@command
def invoices_overdue(
    as_json: Annotated[bool, _JSON] = False,
    at: Annotated[str | None, _AT] = None,
    period: Annotated[
        int, typer.Option(help="Days of credit sales the DSO is computed over.", min=1)
    ] = 90,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Overdue invoices, oldest due first, with totals per aging bucket and the DSO."""
    from core.receivables.aging import (
        BUCKETS,
        bucket_totals,
        days_sales_outstanding,
        overdue_invoices,
    )

    ctx = context()
    ctx.wide = wide
    today = _today(at)
    invoices = overdue_invoices(ctx.reader, today)
    totals = bucket_totals(invoices)
    dso = days_sales_outstanding(ctx.reader, today - timedelta(days=period - 1), today)
    if as_json:
        _print_json(
            {
                "at": today,
                "invoices": [
                    {**asdict(invoice), "bucket": invoice.bucket, "next_step": invoice.next_action}
                    for invoice in invoices
                ],
                "totals": totals,
                "dso": [{**asdict(line), "value": line.value} for line in dso],
            }
        )
        return
    if not invoices:
        out.print(gettext("Nothing overdue on {day}.").format(day=today.isoformat()), markup=False)
    else:
        columns = [
            N_("number"), N_("client"), N_("balance"), N_("days"), N_("bucket"), N_("level"),
            N_("next step"),
        ]  # fmt: skip
        title = ngettext(
            "{count} overdue invoice on {day}", "{count} overdue invoices on {day}", len(invoices)
        )
        table = _table(
            title.format(count=len(invoices), day=today.isoformat()),
            columns,
            right=("balance", "days", "level"),
        )
        for invoice in invoices:
            table.add_row(
                invoice.number,
                invoice.client,
                ctx.money(invoice.balance, invoice.currency),
                str(invoice.days_past_due),
                invoice.bucket,
                str(invoice.dunning_level) if invoice.dunning_level else "-",
                _next_step(invoice),
            )
        out.print(table)
        buckets = _table(
            gettext("Totals per bucket"), [N_("currency"), *BUCKETS[1:]], right=BUCKETS[1:]
        )
        for currency, amounts in sorted(totals.items()):
            buckets.add_row(currency, *(ctx.money(amounts[name], currency) for name in BUCKETS[1:]))
        out.print(buckets)
    for line in dso:
        value = "-" if line.value is None else f"{line.value} days"
        out.print(
            f"DSO {line.currency} over {line.days} days: {value} "
            f"(receivables {ctx.money(line.receivables, line.currency)} / "
            f"credit sales {ctx.money(line.credit_sales, line.currency)})",
            markup=False,
        )


def _next_step(invoice: Any) -> str:
    if invoice.promised_on is not None and invoice.state != "disputed":
        return f"promised for {invoice.promised_on.isoformat()}; then {invoice.next_action}"
    return str(invoice.next_action)


# -- reminders --------------------------------------------------------------------


@invoices_app.command("remind")
@command
def invoices_remind(
    run: Annotated[
        bool, typer.Option("--run", help="Run today's reminders now (the scheduler does daily).")
    ] = False,
    at: Annotated[str | None, _AT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Run the dunning levels by hand: one reminder draft per client with overdue invoices.

    Only on business days of the configured calendar; running it twice the
    same day adds nothing.
    """
    if not run:
        raise Failure("say --run to run today's reminders (pmdesk invoices reminders lists them)")
    from core.receivables.dunning import run_dunning

    ctx = context()
    summary = run_dunning(ctx.engine, ctx.settings, _today(at), ctx.clock())
    if as_json:
        _print_json(summary.as_dict())
        return
    day = summary.day.isoformat()
    if not summary.business_day:
        out.print(f"{day} is not a business day: no reminder drafted", markup=False)
        return
    out.print(
        f"{day}: {len(summary.reminders)} reminder drafts, {summary.steps} invoice steps, "
        f"{summary.alerts} staff alerts",
        markup=False,
    )
    if summary.flagged_clients:
        out.print(f"flagged for suspension: {', '.join(summary.flagged_clients)}", markup=False)
    if summary.reminders:
        out.print("pmdesk invoices reminders shows the drafts", markup=False)


reminders_app: typer.Typer = typer.Typer(
    help="Reminder drafts waiting to go out, each with its full text; `send ID` emails one."
)
invoices_app.add_typer(reminders_app, name="reminders")


@reminders_app.callback(invoke_without_command=True)
@command
def invoices_reminders(
    typer_context: typer.Context,
    as_json: Annotated[bool, _JSON] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Sent and cancelled ones too, not only drafts.")
    ] = False,
) -> None:
    """Reminder drafts waiting to go out, each with its full text."""
    if typer_context.invoked_subcommand is not None:
        return
    from core.receivables.dunning import DRAFT, flagged_clients, list_reminders

    ctx = context()
    views = list_reminders(ctx.engine, None if every else DRAFT)
    flagged = flagged_clients(ctx.engine)
    if as_json:
        _print_json(
            {
                "reminders": [
                    {
                        **asdict(view),
                        "invoices": [
                            {"number": number, "level": level, "level_name": name}
                            for number, level, name in view.invoices
                        ],
                    }
                    for view in views
                ],
                "flagged_for_suspension": flagged,
            }
        )
        return
    if not views:
        out.print("No reminder drafts.", markup=False)
    for view in views:
        listed = ", ".join(f"{number} (level {level})" for number, level, _ in view.invoices)
        out.print(
            f"#{view.id} {view.client} · {view.run_on.isoformat()} · {view.language} · "
            f"{view.status} · {listed}",
            markup=False,
            style="bold",
        )
        out.print(view.text, markup=False)
    if flagged:
        out.print(f"flagged for suspension: {', '.join(flagged)}", markup=False)


@reminders_app.command("send")
@command
def invoices_reminders_send(
    draft_id: Annotated[int, typer.Argument(help="The reminder's id (#N in the list).")],
    to: Annotated[
        str | None, typer.Option(help="The address (default: the client's billing address).")
    ] = None,
) -> None:
    """Approve a reminder draft: email it to the client; it is marked sent once it is."""
    from core.mail.compose import (
        NoAddress,
        NotConfigured,
        queue_reminder_email,
        require_configured,
    )
    from core.mail.message import BadAddress

    ctx = context()
    try:
        require_configured(ctx.settings)
        queued = queue_reminder_email(ctx.engine, ctx.settings, draft_id, ctx.clock(), "cli", to)
    except (NotConfigured, NoAddress, BadAddress, LookupError, ValueError) as error:
        raise Failure(str(error)) from None
    if not queued.created:
        out.print(f"reminder #{draft_id}: already queued as email #{queued.id} ({queued.state})")
        return
    out.print(
        f"reminder #{draft_id}: queued as email #{queued.id}; the services send it "
        "(pmdesk email outbox)",
        markup=False,
    )


@invoices_app.command("promise")
@command
def invoices_promise(
    number: Annotated[str, typer.Argument(help="The invoice's number.")],
    on: Annotated[str, typer.Argument(help="The day the client promised to pay (ISO date).")],
    at: Annotated[str | None, _AT] = None,
) -> None:
    """Record a promise to pay: no reminder until that day has passed."""
    from core.receivables.dunning import UnknownInvoice, record_promise

    ctx = context()
    day = _today(on)
    try:
        record_promise(ctx.engine, ctx.settings, number, day, "cli", ctx.clock(), today=_today(at))
    except (UnknownInvoice, ValueError) as error:
        raise Failure(str(error)) from None
    out.print(
        f"{number}: promised for {day.isoformat()}; reminders resume after it if still unpaid",
        markup=False,
    )


@invoices_app.command("dispute")
@command
def invoices_dispute(
    number: Annotated[str, typer.Argument(help="The invoice's number.")],
    reason: Annotated[str | None, typer.Option(help="What the client disputes.")] = None,
    resolved: Annotated[
        bool, typer.Option("--resolved", help="The dispute is settled: reminders resume.")
    ] = False,
) -> None:
    """Record that the client disputes an invoice: its reminders stop."""
    from core.receivables.dunning import UnknownInvoice, record_dispute

    ctx = context()
    try:
        record_dispute(
            ctx.engine, ctx.settings, number, reason, "cli", ctx.clock(), resolved=resolved
        )
    except UnknownInvoice as error:
        raise Failure(str(error)) from None
    if resolved:
        out.print(f"{number}: dispute settled, reminders resume", markup=False)
    else:
        out.print(f"{number}: disputed, reminders paused", markup=False)


@invoices_app.command("sent")
@command
def invoices_sent(
    draft_id: Annotated[int, typer.Argument(help="The reminder's id (#N in the list).")],
    cancel: Annotated[
        bool, typer.Option("--cancel", help="It will not be sent: drop the draft.")
    ] = False,
) -> None:
    """Record that a reminder draft went out (or, with --cancel, that it will not)."""
    from core.receivables.dunning import CANCELLED, SENT, UnknownReminder, mark_reminder

    ctx = context()
    status = CANCELLED if cancel else SENT
    try:
        mark_reminder(ctx.engine, draft_id, status, "cli", ctx.clock())
    except (UnknownReminder, ValueError) as error:
        raise Failure(str(error)) from None
    out.print(f"reminder #{draft_id}: {status}", markup=False)
