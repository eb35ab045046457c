"""`pmdesk billing run`: the month's preview, then its issue (core.billing.monthly).

Added to the `pmdesk billing` group (pmdesk.billing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from pmdesk.billing import billing_app
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.dates import parse_day
from pmdesk.tables import _WIDE, _table

if TYPE_CHECKING:
    from core.billing.monthly import MonthPreview, MonthResult

_JSON = typer.Option("--json", help="Print JSON for scripts.")


@billing_app.command("run")
@command
def billing_run(
    month: Annotated[str, typer.Option("--month", help="The month billed, YYYY-MM.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the preview only: issue nothing.")
    ] = False,
    day: Annotated[
        str | None, typer.Option("--on", help="Issue date, YYYY-MM-DD (default: today).")
    ] = None,
    no_documents: Annotated[
        bool,
        typer.Option(
            "--no-documents", help="Write no PDF (the Factur-X files go to [billing] folder)."
        ),
    ] = False,
    send: Annotated[
        bool,
        typer.Option(
            "--send", help="Queue each invoice's email, its PDF attached (needs [email])."
        ),
    ] = False,
    actor: Annotated[str, typer.Option("--by", help="Who issues (audited).")] = "cli",
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Bill a month: preview every contract's draft and what changed since last month, then
    issue them, each once (a re-run shows what is already billed), plan their direct
    debits, write their Factur-X PDFs and, with --send, queue their emails.

    Exit status 1 when some drafts were refused (the others issued), or when the
    documents could not be written or some emails not queued (the invoices stay
    issued; a re-run does what is missing).
    """
    from core.billing.monthly import issue_month, month_of, preview

    ctx = context()
    ctx.wide = wide
    try:
        first = month_of(month)
    except ValueError as error:
        raise Failure(str(error)) from None
    on = parse_day(day) if day else ctx.local(ctx.clock()).date()
    if send and not dry_run:
        from core.mail.compose import NotConfigured, require_configured

        if no_documents:
            raise Failure("--send needs the documents: an email carries its invoice's PDF")
        try:
            require_configured(ctx.settings)
        except NotConfigured as error:
            raise Failure(str(error)) from None
    with ctx.engine.connect() as connection:
        seen = preview(connection, first, ctx.settings)
    if dry_run:
        if as_json:
            _print_json(seen.as_dict())
        else:
            _print_preview(seen)
        if seen.refused:
            raise SystemExit(EXIT_REJECTED)
        return
    if not as_json:
        _print_preview(seen)
    with _Progress() as progress:
        result = issue_month(
            ctx.engine, ctx.settings, first, on, actor, progress.step,
            clock=ctx.clock, documents=not no_documents, send=send,
        )  # fmt: skip
    if as_json:
        _print_json({"preview": seen.as_dict(), "run": result.as_dict()})
    else:
        _print_result(result)
    if result.refused or result.document_problem or result.email_problems:
        raise SystemExit(EXIT_REJECTED)


def _print_preview(seen: MonthPreview) -> None:
    ctx = context()
    currency = ctx.settings.billing.currency

    def money(cents: int) -> str:
        return ctx.money(cents, currency)

    out.print(
        gettext(
            "Billing {month}: {count} to issue, {billed} already billed, {refused} refused"
        ).format(
            month=seen.month.strftime("%Y-%m"),
            count=len(seen.to_issue),
            billed=len(seen.already_billed),
            refused=len(seen.refused),
        ),
        markup=False,
    )
    statuses = {
        "would issue": gettext("to issue"),
        "already billed": gettext("already billed"),
        "refused": gettext("refused"),
    }
    for client, items in seen.by_client():
        out.print("", markup=False)
        out.print(client, markup=False)
        for item in items:
            state = statuses[item.status]
            if item.number:
                state = f"{state} {item.number}"
            if item.reason:
                state = f"{state}: {item.reason}"
            out.print(
                f"  {item.reference} {item.draft.period_start} – {item.draft.period_end}: {state}",
                markup=False,
            )
            columns = [N_("description"), N_("quantity"), N_("unit price"), N_("VAT"), N_("net")]
            table = _table("", columns, right=("quantity", "unit price", "VAT", "net"))
            for line in item.draft.lines:
                table.add_row(
                    line.description + (f" ({line.note})" if line.note else ""),
                    f"{line.quantity.normalize():f}",
                    money(line.unit_price_cents),
                    f"{line.vat_rate.normalize():f} %",
                    money(line.amount_cents),
                )
            out.print(table)
            totals = item.totals
            out.print(
                "  "
                + gettext("net {net}, VAT {vat}, total {gross}").format(
                    net=money(totals.net_cents),
                    vat=money(totals.vat_cents),
                    gross=money(totals.gross_cents),
                ),
                markup=False,
            )
    totals = seen.totals
    out.print("", markup=False)
    out.print(
        gettext("To issue: net {net}, VAT {vat}, total {gross}").format(
            net=money(totals.net_cents),
            vat=money(totals.vat_cents),
            gross=money(totals.gross_cents),
        ),
        markup=False,
    )
    if not seen.changes:
        out.print(gettext("No change since last month."), markup=False)
        return
    out.print(gettext("Changes since last month:"), markup=False)
    for change in seen.changes:
        out.print("  " + _change_text(seen, change, money), markup=False)


def _change_text(seen: MonthPreview, change: Any, money: Any) -> str:
    who = f"{seen.clients.get(change.client_id, '')} {seen.references.get(change.contract_id, '')}"
    if change.kind == "new":
        return gettext("{who}: new, {after}").format(who=who, after=money(change.after_cents))
    if change.kind == "not_billed":
        return gettext("{who}: not billed this month (last month {before})").format(
            who=who, before=money(change.before_cents)
        )
    if change.kind == "lines":
        return gettext("{who}: lines added {added}, gone {removed}; {before} → {after}").format(
            who=who,
            added=", ".join(change.added) or "-",
            removed=", ".join(change.removed) or "-",
            before=money(change.before_cents),
            after=money(change.after_cents),
        )
    return gettext("{who}: {before} → {after}").format(
        who=who, before=money(change.before_cents), after=money(change.after_cents)
    )


def _print_result(result: MonthResult) -> None:
    ctx = context()
    out.print("", markup=False)
    numbers = [item.number for item in result.issued if item.number]
    out.print(
        ngettext("{count} invoice issued", "{count} invoices issued", len(numbers)).format(
            count=len(numbers)
        )
        + (f": {numbers[0]} – {numbers[-1]}" if numbers else ""),
        markup=False,
    )
    if result.already_billed:
        out.print(
            ngettext(
                "{count} already billed", "{count} already billed", len(result.already_billed)
            ).format(count=len(result.already_billed)),
            markup=False,
        )
    for number, debit in result.debits.items():
        out.print(
            gettext("{number}: direct debit {sequence} on {day}, {amount}").format(
                number=number,
                sequence=debit.sequence,
                day=debit.collect_on.isoformat(),
                amount=ctx.money(debit.amount_cents, ctx.settings.billing.currency),
            ),
            markup=False,
        )
    if result.files:
        out.print(
            ngettext(
                "{count} document written to {folder}",
                "{count} documents written to {folder}",
                len(result.files),
            ).format(count=len(result.files), folder=result.files[0].parent),
            markup=False,
        )
    if result.document_problem:
        err.print(
            gettext("documents not written: {problem}").format(problem=result.document_problem),
            markup=False,
        )
    if result.emailed:
        out.print(
            ngettext("{count} email queued", "{count} emails queued", len(result.emailed)).format(
                count=len(result.emailed)
            ),
            markup=False,
        )
    for number, problem in result.email_problems.items():
        err.print(
            gettext("{number}: no email queued: {problem}").format(number=number, problem=problem),
            markup=False,
        )
    for number, problem in result.debit_problems.items():
        err.print(
            gettext("{number}: no direct debit planned: {problem}").format(
                number=number, problem=problem
            ),
            markup=False,
        )
    for item in result.refused:
        err.print(
            gettext("refused: {reference}: {reason}").format(
                reference=result.references.get(item.contract_id, str(item.contract_id)),
                reason=item.reason,
            ),
            markup=False,
        )


class _Progress:
    """A bar per step on stderr when it is a terminal; nothing otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err.console,
                transient=True,
            )
            self._bar.start()
        return self

    def step(self, name: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if name not in self._tasks:
            labels = {
                "issue": gettext("invoices"),
                "debits": gettext("direct debits"),
                "documents": gettext("documents"),
                "emails": gettext("emails"),
            }
            self._tasks[name] = self._bar.add_task(labels.get(name, name), total=total)
        self._bar.update(self._tasks[name], completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
