"""`pmdesk billing credit-note | list | show`: the issued invoices and credit notes.

Added to the `pmdesk billing` group (pmdesk.billing) with the building blocks
of the other commands (the `command` decorator, `context()`, tables, JSON).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from core.base.i18n import N_, gettext, ngettext
from pmdesk.billing import billing_app
from pmdesk.console import _print_json, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.dates import parse_day
from pmdesk.tables import _WIDE, _table

_JSON = typer.Option("--json", help="Print JSON for scripts.")


@billing_app.command("credit-note")
@command
def billing_credit_note(
    number: Annotated[str, typer.Argument(help="The invoice to correct (F2026-00001).")],
    lines: Annotated[
        str | None,
        typer.Option(
            "--lines",
            help="Lines to credit by position, each with a quantity if not all of it: 1,3:0.5 "
            "(default: all that remains of the invoice).",
        ),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, printed on the note.")] = "",
    day: Annotated[
        str | None, typer.Option("--date", help="Issue date, YYYY-MM-DD (default: today).")
    ] = None,
    actor: Annotated[str, typer.Option("--by", help="Who issues it (audited).")] = "cli",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Issue a credit note correcting an issued invoice (never beyond what remains of it).

    The receivables see it at once: the invoice's balance drops by the credit.
    Refused (exit status 1, nothing issued) beyond what remains uncredited.
    """
    from core.billing.credit import CreditRefused, credit_note, parse_picks
    from core.billing.numbering import NumberingError

    ctx = context()
    on = parse_day(day) if day else ctx.local(ctx.clock()).date()
    try:
        picks = None if lines is None else parse_picks(lines)
    except CreditRefused as error:
        raise Failure(str(error)) from None
    try:
        credit = credit_note(
            ctx.engine, ctx.settings, number.strip(), picks,
            on=on, actor=actor, reason=reason.strip(), clock=ctx.clock,
        )  # fmt: skip
    except (CreditRefused, NumberingError) as error:
        raise Failure(str(error), EXIT_REJECTED) from None
    if as_json:
        _print_json(asdict(credit))
        return
    out.print(
        gettext("{credit} credits {invoice}: {amount} ({left} left to credit)").format(
            credit=credit.number,
            invoice=credit.corrects,
            amount=ctx.money(credit.gross_cents, ctx.settings.billing.currency),
            left=ctx.money(credit.remaining_cents, ctx.settings.billing.currency),
        ),
        markup=False,
    )


@billing_app.command("list")
@command
def billing_list(
    month: Annotated[
        str | None, typer.Option(help="Only those issued in this month, YYYY-MM.")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Issued invoices and credit notes, by date and number, with what remains to pay."""
    from datetime import date

    from core.billing.documents import list_documents
    from pmdesk.time_report import period

    ctx = context()
    ctx.wide = wide
    start, end = period(month, None, None) if month is not None else (date.min, date.max)
    with ctx.engine.connect() as connection:
        documents = list_documents(connection, start, end)
    if as_json:
        _print_json([asdict(document) for document in documents])
        return
    if not documents:
        out.print(gettext("No invoice or credit note issued."))
        return
    columns = [
        N_("number"), N_("kind"), N_("issued"), N_("due"), N_("buyer"), N_("net"), N_("VAT"),
        N_("total"), N_("to pay"), N_("corrects"),
    ]  # fmt: skip
    title = ngettext("{count} document", "{count} documents", len(documents))
    table = _table(
        title.format(count=len(documents)), columns, right=("net", "VAT", "total", "to pay")
    )
    for document in documents:
        money = _money(document.currency)
        table.add_row(
            document.number,
            _kind(document.kind),
            document.issued_on.isoformat(),
            document.due_on.isoformat(),
            document.buyer,
            money(document.net_cents),
            money(document.vat_cents),
            money(document.gross_cents),
            "-" if document.balance_cents is None else money(document.balance_cents),
            document.corrects or "-",
        )
    out.print(table)


@billing_app.command("show")
@command
def billing_show(
    number: Annotated[str, typer.Argument(help="An invoice or credit note number.")],
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """An issued invoice or credit note as it was printed: parties, dates, lines, totals."""
    from core.billing.documents import UnknownDocument, issued_document

    ctx = context()
    ctx.wide = wide
    try:
        with ctx.engine.connect() as connection:
            document = issued_document(connection, number.strip(), ctx.settings)
    except UnknownDocument as error:
        raise Failure(str(error), EXIT_REJECTED) from None
    totals = document.totals
    if as_json:
        _print_json({**asdict(document), "totals": asdict(totals)})
        return
    money = _money(document.currency)
    facts: list[tuple[str, Any]] = [
        (gettext("issued"), document.issued_on.isoformat()),
        (gettext("due"), document.due_on.isoformat()),
        (gettext("service"), f"{document.service_start} – {document.service_end}"),
        (gettext("seller"), document.seller.name),
        (gettext("buyer"), document.buyer.name),
        (gettext("payment reference"), document.creditor_reference),
    ]
    if document.corrects:
        facts.append((gettext("corrects"), document.corrects))
    if document.mandate is not None:
        facts.append((gettext("mandate"), document.mandate.reference))
    if document.debit_on is not None:
        facts.append((gettext("debit on"), document.debit_on.isoformat()))
    out.print(f"{_kind(document.kind)} {document.number}", markup=False)
    for label, value in facts:
        out.print(f"  {label}: {value}", markup=False)
    columns = [
        N_("line"),
        N_("description"),
        N_("quantity"),
        N_("unit price"),
        N_("VAT"),
        N_("net"),
    ]
    table = _table("", columns, right=("line", "quantity", "unit price", "VAT", "net"))
    for position, line in enumerate(document.lines, start=1):
        table.add_row(
            str(position),
            line.description + (f" ({line.note})" if line.note else ""),
            f"{line.quantity.normalize():f}",
            money(line.unit_price_cents),
            f"{line.vat_rate.normalize():f} %",
            money(line.amount_cents),
        )
    out.print(table)
    for label, cents in (
        (gettext("net"), totals.net_cents),
        (gettext("VAT"), totals.vat_cents),
        (gettext("total"), totals.gross_cents),
    ):
        out.print(f"  {label}: {money(cents)}", markup=False)
    for note in document.notes:
        out.print(f"  {note}", markup=False)


def _kind(kind: str) -> str:
    return gettext("credit note") if kind == "credit_note" else gettext("invoice")


def _money(currency: str) -> Any:
    ctx = context()
    return lambda cents: ctx.money(cents, currency)
