"""`pmdesk payments`: import bank statements, see matches, confirm, reject, undo.

Registered on the main command by `pmdesk.cli`, whose building blocks (the
`command` decorator, `context()`, tables, JSON output) it uses.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from pmdesk.console import _print_json, err, out
from pmdesk.context import Failure, command, context
from pmdesk.ingest import _Progress
from pmdesk.tables import _WIDE, _table

payments_app = typer.Typer(help="Bank statements and payment matching.", no_args_is_help=True)
_JSON = typer.Option("--json", help="Print JSON for scripts.")
_ACTOR = typer.Option("--by", help="Who decides (recorded with the allocation).")
# Files larger than this show a progress bar while they are read.
PROGRESS_BYTES = 5_000_000


@payments_app.command("import")
@command
def payments_import(
    file: Annotated[str, typer.Argument(help="A statement: camt.053/054, MT940, OFX or CSV.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="camt053, camt054, mt940, ofx or csv (default: detected)."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="The CSV profile of the bank ([banks.csv_profiles.NAME]).")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Import a statement (all of it or nothing), match its credits to open invoices,
    and settle the direct debits its lines collect or return."""
    from core.billing.returns import apply_bank_lines
    from core.receivables.matching.matcher import match_new_lines
    from core.receivables.statements.importer import import_statement
    from core.receivables.statements.records import StatementError

    ctx = context()
    # Not the bulk mode of `pmdesk ingest`: its 256 MB page cache would be most
    # of a large statement's memory, and a statement writes one row per entry.
    path = Path(file)
    size = path.stat().st_size if path.is_file() else 0
    progress = (
        _Progress(size, path.name) if size > PROGRESS_BYTES and not as_json and err.is_terminal
        else None
    )  # fmt: skip
    now = ctx.clock()
    banks = ctx.settings.banks
    try:
        result = import_statement(
            ctx.engine, path, banks, now, fmt=fmt, profile=profile,
            progress=progress.advance if progress else None,
        )  # fmt: skip
    except StatementError as error:
        raise Failure(f"{error}; nothing imported") from None
    finally:
        if progress:
            progress.stop()
    summary = match_new_lines(ctx.engine, banks, now)
    # After the matching, which gives a debit's credit to its invoice by its
    # end-to-end id: a debit is collected once its invoice holds that credit.
    debits = apply_bank_lines(ctx.engine, now, actor="cli")
    figures = {
        "file": result.file,
        "format": result.format,
        "new": result.new,
        "known": result.known,
        "auto_matched": summary.auto,
        "to_review": summary.review,
        "unmatched": summary.unmatched,
        "notes": result.notes,
        "debits_collected": len(debits.collected),
        "debits_returned": [
            {"end_to_end_id": ident, "reason": code} for ident, code in debits.returned
        ],
    }
    if as_json:
        _print_json(figures)
        return
    out.print(
        f"{result.file} ({result.format}): {result.new} new, {result.known} already known; "
        f"{summary.auto} matched automatically, {summary.review} to review, "
        f"{summary.unmatched} credits with no candidate",
        markup=False,
    )
    for note in result.notes:
        out.print(f"{result.file}: {note}", markup=False)
    if debits.collected:
        out.print(f"{len(debits.collected)} direct debits collected", markup=False)
    for ident, code in debits.returned:
        out.print(
            f"direct debit {ident} returned ({code}): its invoice is open again", markup=False
        )


@payments_app.command("matches")
@command
def payments_matches(
    review: Annotated[
        bool, typer.Option("--review", help="Only the lines waiting for review.")
    ] = False,
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Matched statement lines and the review queue: invoices, amounts, confidence, reasons.

    Credits nothing open fits are in the review queue too, marked "no
    candidate": reject them, or accept them naming the invoices they pay.
    """
    from core.receivables.matching.views import list_matches

    ctx = context()
    ctx.wide = wide
    views = list_matches(ctx.engine, review_only=review)
    if as_json:
        _print_json([asdict(view) for view in views])
        return
    if not views:
        out.print(
            gettext("Nothing to review.")
            if review
            else gettext("No matched or pending payments yet.")
        )
        return
    columns = [
        N_("line"), N_("date"), N_("amount"), N_("payer"), N_("invoices"), N_("allocated"),
        N_("confidence"), N_("by"), N_("why"),
    ]  # fmt: skip
    title = ngettext("{count} statement line", "{count} statement lines", len(views))
    table = _table(title.format(count=len(views)), columns, right=("line", "amount"))
    for view in views:
        table.add_row(
            str(view.line),
            view.booking_date,
            ctx.money(view.amount_cents, view.currency),
            view.payer,
            ", ".join(view.invoices) or "-",
            ", ".join(ctx.money(cents, view.currency) for cents in view.cents) or "-",
            "-" if view.confidence is None else f"{view.confidence:.0%}",
            view.by,
            "; ".join(view.reasons),
            style=None if view.state == "matched" else "yellow",
        )
    out.print(table)


@payments_app.command("accept")
@command
def payments_accept(
    line: Annotated[int, typer.Argument(help="The statement line (see pmdesk payments matches).")],
    invoices: Annotated[
        list[str] | None,
        typer.Argument(help="Invoice numbers it pays (default: its best candidate)."),
    ] = None,
    actor: Annotated[str, _ACTOR] = "cli",
) -> None:
    """Confirm what a line pays: its best candidate, or the invoices named, oldest first."""
    from core.receivables.matching.decisions import MatchingError, accept

    ctx = context()
    try:
        parts = accept(ctx.engine, ctx.settings.banks, line, invoices or [], actor, ctx.clock())
    except MatchingError as error:
        raise Failure(str(error)) from None
    out.print(f"line {line}: {_describe(parts)}", markup=False)


@payments_app.command("reject")
@command
def payments_reject(
    line: Annotated[int, typer.Argument(help="The statement line.")],
    actor: Annotated[str, _ACTOR] = "cli",
) -> None:
    """Take a line out of the review queue: it pays none of our invoices."""
    from core.receivables.matching.decisions import MatchingError, reject

    ctx = context()
    try:
        reject(ctx.engine, line, actor, ctx.clock())
    except MatchingError as error:
        raise Failure(str(error)) from None
    out.print(f"line {line}: rejected, out of the review queue", markup=False)


@payments_app.command("undo")
@command
def payments_undo(
    line: Annotated[int, typer.Argument(help="The statement line.")],
    actor: Annotated[str, _ACTOR] = "cli",
) -> None:
    """Reverse a line's allocations: its invoices owe again, the line goes back to review."""
    from core.receivables.matching.decisions import MatchingError, unallocate

    ctx = context()
    try:
        cents = unallocate(ctx.engine, ctx.settings.banks, line, actor, ctx.clock())
    except MatchingError as error:
        raise Failure(str(error)) from None
    out.print(
        f"line {line}: allocations reversed ({ctx.money(cents)} owed again), back in review",
        markup=False,
    )


def _describe(parts: list[Any]) -> str:
    words = []
    for part in parts:
        what = {"payment": "paid to", "fee": "bank fees on", "credit": "credit for client"}
        target = f"invoice #{part.invoice_id}" if part.invoice_id else f"#{part.client_id}"
        words.append(f"{context().money(part.cents)} {what[part.kind]} {target}")
    return ", ".join(words)
