"""`pmdesk billing debits`: the SEPA direct debit file of a collection date, the
debits and their states, and the returns read from the bank statements.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from core.base.i18n import N_, gettext
from pmdesk.billing import billing_app
from pmdesk.console import _print_json, out
from pmdesk.context import Failure, command, context
from pmdesk.tables import _table

debits_app: typer.Typer = typer.Typer(
    help="SEPA direct debits: the pain.008 file of a date, the list, the returns.",
    invoke_without_command=True,
)
billing_app.add_typer(debits_app, name="debits")
_JSON = typer.Option("--json", help="Print JSON for scripts.")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Failure(f"{value!r} is not an ISO date (write it like 2026-12-15)") from None


@debits_app.callback()
@command
def debits_file(
    ctx: typer.Context,
    on: Annotated[
        str | None, typer.Option("--date", help="The collection date (ISO) to write the file of.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Where to write it (default: the billing folder)."),
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="Write the debits of a date exported already.")
    ] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Write the pain.008 of a collection date for upload to the bank.

    The file is checked against its schema; its debits are marked exported
    with it. A date with nothing to collect, one already exported (without
    --again), or a configuration without the creditor identifier or the
    seller's IBAN and BIC is refused, and nothing is written.
    """
    if ctx.invoked_subcommand is not None:
        return
    if on is None:
        raise Failure("give the collection date: pmdesk billing debits --date 2026-12-15")
    from core.billing.debits import DebitError
    from core.billing.sepa import debit_file
    from core.store.db import write

    day = _day(on)
    app = context()
    settings = app.settings
    path = output or Path(settings.billing.folder) / f"debits-{day.isoformat()}.xml"
    try:
        with write(app.engine) as connection:
            made = debit_file(
                connection, day, settings, now=app.clock(), path=path, again=again, actor="cli"
            )
    except DebitError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(
            {
                "file": str(made.path),
                "count": made.count,
                "total_cents": made.total_cents,
                "blocks": [
                    {"sequence": seq, "count": count, "cents": cents}
                    for seq, count, cents in made.blocks
                ],
            }
        )
        return
    out.print(
        gettext("{file}: {count} debits, {total}").format(
            file=made.path, count=made.count, total=app.money(made.total_cents)
        ),
        markup=False,
    )


@debits_app.command("list")
@command
def debits_list(
    on: Annotated[str | None, typer.Option("--date", help="Only this collection date.")] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The debits, by collection date: sequence, amount, state, file or return reason."""
    from core.billing.debits import debits_on
    from core.billing.returns import reason_in_words

    app = context()
    with app.engine.connect() as connection:
        rows = debits_on(connection, _day(on) if on else None)
    if as_json:
        _print_json(
            [
                {
                    "invoice": row.invoice_number,
                    "collect_on": row.collect_on,
                    "sequence": row.sequence,
                    "amount_cents": row.amount_cents,
                    "mandate": row.mandate_reference,
                    "end_to_end_id": row.end_to_end_id,
                    "state": row.state,
                    "file": row.file_name,
                    "return_code": row.return_code,
                }
                for row in rows
            ]
        )
        return
    if not rows:
        out.print(gettext("No direct debits."), markup=False)
        return
    table = _table(
        gettext("Direct debits"),
        [
            N_("date"),
            N_("number"),
            N_("sequence"),
            N_("amount"),
            N_("mandate"),
            N_("state"),
            N_("detail"),
        ],
        right=("amount",),
    )
    for row in rows:
        detail = (
            f"{row.return_code} {reason_in_words(row.return_code)}"
            if row.return_code
            else row.file_name or ""
        )
        table.add_row(
            str(row.collect_on),
            row.invoice_number,
            row.sequence,
            app.money(row.amount_cents),
            row.mandate_reference,
            row.state,
            detail,
        )
    out.print(table)


@debits_app.command("returns")
@command
def debits_returns(as_json: Annotated[bool, _JSON] = False) -> None:
    """Settle the debits from the imported statements: credits collect, returns reopen."""
    from core.billing.returns import apply_bank_lines

    app = context()
    outcome = apply_bank_lines(app.engine, app.clock(), actor="cli")
    if as_json:
        _print_json({"collected": outcome.collected, "returned": outcome.returned})
        return
    out.print(
        gettext("{collected} collected, {returned} returned").format(
            collected=len(outcome.collected), returned=len(outcome.returned)
        ),
        markup=False,
    )
    for ident, code in outcome.returned:
        out.print(f"  {ident}: {code}", markup=False)
