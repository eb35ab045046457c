"""`pmdesk contracts`: the clients' engagement letters, from which billing runs.

add, edit (from a date), end (a day or notice), list, show, import FILE (CSV
or TOML, for a first load) and `usage import FILE` (the quantities of usage
lines whose source is a file). See docs/billing.md.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.base.i18n import N_, gettext
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.tables import _WIDE, _table

if TYPE_CHECKING:
    from core.billing.contracts import StoredContract, Terms

contracts_app: typer.Typer = typer.Typer(
    help="Contracts (engagement letters): add, edit, end, list, show, import.",
    no_args_is_help=True,
)
usage_app: typer.Typer = typer.Typer(
    help="Usage files: the quantities of usage lines whose source is a file.",
    no_args_is_help=True,
)
contracts_app.add_typer(usage_app, name="usage")

_JSON = typer.Option("--json", help="Print JSON for scripts.")
_BY = typer.Option("--by", help="Who makes the change (recorded in the audit trail).")
_LINE = typer.Option(
    "--line",
    help="A line, KIND;DESCRIPTION;key=value;... (repeat): 'fee;Hosting;amount=150',"
    " 'option;Backup;amount=20;per=month',"
    " 'usage;Support;unit_price=80;included=10;unit=h;source=worksection_hours'.",
)
# The options of a contract's terms, by field (see core.billing.contract_files).
_TERMS = (
    "legal_name", "address", "postcode", "city", "country", "siren", "vat_number",
    "vat_rate", "frequency", "timing", "payment_terms_days", "payment_method", "iban", "bic",
    "mandate_reference", "mandate_signed_on", "billing_email", "language",
)  # fmt: skip


def _opt(help_text: str) -> Any:
    return typer.Option(help=help_text)


LegalName = Annotated[str | None, _opt("The buyer's legal name, as invoices name it.")]
Address = Annotated[str | None, _opt("The buyer's street lines, separated by '|'.")]
Postcode = Annotated[str | None, _opt("The buyer's postcode.")]
City = Annotated[str | None, _opt("The buyer's city.")]
Country = Annotated[str | None, _opt("The buyer's country (ISO code; FR by default).")]
Siren = Annotated[str | None, _opt("The buyer's SIREN.")]
VatNumber = Annotated[str | None, _opt("The buyer's VAT number.")]
VatRate = Annotated[str | None, _opt("VAT rate in percent (default: [billing].vat_rate).")]
Freq = Annotated[str | None, _opt("Billing frequency: monthly, quarterly or yearly.")]
Timing = Annotated[str | None, _opt("Billed in advance or in arrears.")]
Terms_ = Annotated[int | None, _opt("Days to pay (default: [billing].payment_terms_days).")]
Method = Annotated[str | None, _opt("Payment method: transfer or sepa_debit.")]
Iban = Annotated[str | None, _opt("The debtor's IBAN (direct debit).")]
Bic = Annotated[str | None, _opt("The debtor's BIC (direct debit).")]
Mandate = Annotated[str | None, _opt("The direct debit mandate's reference.")]
Signed = Annotated[str | None, _opt("The day the mandate was signed (ISO date).")]
Email = Annotated[str | None, _opt("Where invoices are sent.")]
Language = Annotated[str | None, _opt("The invoices' language: fr or en.")]


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Failure(f"{what}: {text!r} is not an ISO date (write it like 2026-12-01)") from None


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# -- add ------------------------------------------------------------------------------


@contracts_app.command("add")
@command
def contracts_add(
    client: Annotated[str, typer.Argument(help="The client, by name.")],
    reference: Annotated[str, typer.Argument(help="The contract's reference (unique).")],
    start: Annotated[str, typer.Option(help="First day under contract (ISO date).")],
    line: Annotated[list[str], _LINE],
    legal_name: LegalName = None,
    end: Annotated[str | None, _opt("Last day under contract (ISO date); none: no end.")] = None,
    notice_days: Annotated[
        int | None, _opt("Days of notice (what `end --notice-from` adds).")
    ] = None,
    address: Address = None,
    postcode: Postcode = None,
    city: City = None,
    country: Country = None,
    siren: Siren = None,
    vat_number: VatNumber = None,
    vat_rate: VatRate = None,
    frequency: Freq = None,
    timing: Timing = None,
    payment_terms_days: Terms_ = None,
    payment_method: Method = None,
    iban: Iban = None,
    bic: Bic = None,
    mandate_reference: Mandate = None,
    mandate_signed_on: Signed = None,
    billing_email: Email = None,
    language: Language = None,
    by: Annotated[str, _BY] = "cli",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Add a contract: its first terms take effect from its start."""
    from core.billing.contract_files import contract_of, line_of_spec
    from core.billing.contracts import ContractError, add_contract, find_contract
    from core.store.db import write

    ctx = context()
    values = _given(
        {
            "reference": reference, "client": client, "start": start, "end": end,
            "notice_days": notice_days, "legal_name": legal_name or client, "address": address,
            "postcode": postcode, "city": city, "country": country, "siren": siren,
            "vat_number": vat_number, "vat_rate": vat_rate, "frequency": frequency,
            "timing": timing, "payment_terms_days": payment_terms_days,
            "payment_method": payment_method, "iban": iban, "bic": bic,
            "mandate_reference": mandate_reference, "mandate_signed_on": mandate_signed_on,
            "billing_email": billing_email, "language": language,
        }
    )  # fmt: skip
    try:
        lines = [line_of_spec(spec) for spec in line]
        new = contract_of(values, lines, ctx.settings.billing)
        with write(ctx.engine) as connection:
            add_contract(connection, new, actor=by, at=ctx.clock())
            stored = find_contract(connection, new.reference)
    except (ValueError, ContractError) as error:
        raise Failure(f"contract refused: {error}") from None
    _print_contract(stored, as_json)


# -- edit -----------------------------------------------------------------------------


@contracts_app.command("edit")
@command
def contracts_edit(
    reference: Annotated[str, typer.Argument(help="The contract's reference.")],
    effective_from: Annotated[
        str, typer.Option("--from", help="The first day the change applies to (ISO date).")
    ],
    line: Annotated[
        list[str] | None, typer.Option("--line", help="The new lines, all of them (repeat).")
    ] = None,
    legal_name: LegalName = None,
    address: Address = None,
    postcode: Postcode = None,
    city: City = None,
    country: Country = None,
    siren: Siren = None,
    vat_number: VatNumber = None,
    vat_rate: VatRate = None,
    frequency: Freq = None,
    timing: Timing = None,
    payment_terms_days: Terms_ = None,
    payment_method: Method = None,
    iban: Iban = None,
    bic: Bic = None,
    mandate_reference: Mandate = None,
    mandate_signed_on: Signed = None,
    billing_email: Email = None,
    language: Language = None,
    by: Annotated[str, _BY] = "cli",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Change a contract from a day on: a new version; what was billed before stays as it was.

    Terms not given stay as they are on that day; `--line` replaces every line.
    """
    from core.billing.contract_files import line_of_spec, terms_of, values_of
    from core.billing.contracts import ContractError, edit_contract, find_contract
    from core.store.db import write

    ctx = context()
    day = _day(effective_from, "--from")
    given = _given(
        {
            "legal_name": legal_name, "address": address, "postcode": postcode, "city": city,
            "country": country, "siren": siren, "vat_number": vat_number, "vat_rate": vat_rate,
            "frequency": frequency, "timing": timing, "payment_terms_days": payment_terms_days,
            "payment_method": payment_method, "iban": iban, "bic": bic,
            "mandate_reference": mandate_reference, "mandate_signed_on": mandate_signed_on,
            "billing_email": billing_email, "language": language,
        }
    )  # fmt: skip
    if not given and not line:
        raise Failure("nothing to change: give the terms or the lines that change")
    try:
        with write(ctx.engine) as connection:
            found = find_contract(connection, reference)
            base = found.terms_on(day) or found.latest
            lines = [line_of_spec(spec) for spec in line] if line else list(base.lines)
            terms = terms_of({**values_of(base), **given}, lines, ctx.settings.billing)
            changes = {name: getattr(terms, name) for name in (*_TERMS, "lines")}
            stored = edit_contract(connection, reference, day, changes, actor=by, at=ctx.clock())
    except (ValueError, ContractError) as error:
        raise Failure(f"change refused: {error}") from None
    _print_contract(stored, as_json)


# -- end ------------------------------------------------------------------------------


@contracts_app.command("end")
@command
def contracts_end(
    reference: Annotated[str, typer.Argument(help="The contract's reference.")],
    on: Annotated[str | None, _opt("The last day under contract (ISO date).")] = None,
    notice_from: Annotated[
        str | None, _opt("The day notice is given: the end is that day plus the notice.")
    ] = None,
    by: Annotated[str, _BY] = "cli",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """End a contract on a day, or at the end of its notice."""
    from core.billing.contracts import ContractError, end_contract
    from core.store.db import write

    ctx = context()
    last = _day(on, "--on") if on else None
    notice = _day(notice_from, "--notice-from") if notice_from else None
    try:
        with write(ctx.engine) as connection:
            stored = end_contract(
                connection, reference, on=last, notice_from=notice, actor=by, at=ctx.clock()
            )
    except ContractError as error:
        raise Failure(f"end refused: {error}") from None
    if as_json:
        _print_json({"reference": stored.reference, "end_on": stored.end_on})
        return
    assert stored.end_on is not None
    out.print(
        gettext("Contract {reference} ends on {day}.").format(
            reference=stored.reference, day=stored.end_on.isoformat()
        ),
        markup=False,
    )


# -- list and show ----------------------------------------------------------------------


@contracts_app.command("list")
@command
def contracts_list(
    at: Annotated[
        str | None, _opt("Only the contracts running on this day, with its terms (ISO date).")
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Contracts by reference: client, dates, billing, payment and the amount a month."""
    from core.billing.contracts import load_contracts

    ctx = context()
    ctx.wide = wide
    day = _day(at, "--at") if at else None
    with ctx.engine.connect() as connection:
        found = load_contracts(connection)
    shown = []
    for item in found:
        if day is not None and not item.runs_on(day):
            continue
        terms = (item.terms_on(day) if day else None) or item.latest
        shown.append((item, terms))
    if as_json:
        _print_json(
            [
                {
                    "reference": item.reference,
                    "client": item.client,
                    "start_on": item.start_on,
                    "end_on": item.end_on,
                    "frequency": terms.frequency.value,
                    "timing": terms.timing.value,
                    "payment_method": terms.payment_method.value,
                    "fixed_cents_a_month": _monthly(terms),
                    "lines": len(terms.lines),
                }
                for item, terms in shown
            ]
        )
        return
    if not shown:
        out.print(gettext("No contracts."), markup=False)
        return
    table = _table(
        gettext("Contracts"),
        [N_("reference"), N_("client"), N_("start"), N_("end"), N_("billing"), N_("payment"),
         N_("a month"), N_("lines")],
        right=("a month", "lines"),
    )  # fmt: skip
    for item, terms in shown:
        table.add_row(
            item.reference,
            item.client,
            item.start_on.isoformat(),
            item.end_on.isoformat() if item.end_on else "",
            f"{terms.frequency.value}, {terms.timing.value}",
            terms.payment_method.value,
            ctx.money(_monthly(terms)),
            str(len(terms.lines)),
        )
    out.print(table)


def _monthly(terms: Terms) -> int:
    from core.billing.contracts import fixed_cents_a_month

    return fixed_cents_a_month(terms)


@contracts_app.command("show")
@command
def contracts_show(
    reference: Annotated[str, typer.Argument(help="The contract's reference.")],
    as_json: Annotated[bool, _JSON] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """A contract: its dates, and each version's terms and lines from the day it took effect."""
    from core.billing.contracts import ContractError, find_contract

    ctx = context()
    ctx.wide = wide
    try:
        with ctx.engine.connect() as connection:
            found = find_contract(connection, reference)
    except ContractError as error:
        raise Failure(str(error)) from None
    _print_contract(found, as_json)


def _print_contract(found: StoredContract, as_json: bool) -> None:
    from core.billing.contracts import LineKind, tiers_text

    if as_json:
        _print_json(found.as_dict())
        return
    ctx = context()
    end = found.end_on.isoformat() if found.end_on else "-"
    out.print(
        f"{found.reference} · {found.client} · {found.start_on.isoformat()} → {end}",
        markup=False,
    )
    for version in found.versions:
        terms = version.terms
        address = ", ".join(
            [*terms.address, f"{terms.postcode} {terms.city}".strip(), terms.country]
        )
        payment = terms.payment_method.value
        if terms.mandate is not None:
            payment += f" ({terms.mandate.reference}, {terms.iban})"
        since = gettext("From {day}").format(day=version.effective_from.isoformat())
        out.print(
            f"\n{since}:"
            f" {terms.legal_name}, {address}; {terms.frequency.value}, {terms.timing.value};"
            f" {terms.payment_terms_days} d; {payment}; VAT {terms.vat_rate} %;"
            f" {terms.language} {terms.billing_email}",
            markup=False,
        )
        table = _table(
            "",
            [N_("kind"), N_("description"), N_("price"), N_("per"), N_("included"), N_("source")],
            right=("price", "included"),
        )
        for line in terms.lines:
            if line.kind == LineKind.USAGE:
                price = (
                    tiers_text(line.tiers) if line.tiers else ctx.money(line.unit_price_cents or 0)
                )
                table.add_row(
                    line.kind.value, line.description, price, line.unit,
                    str(line.included), line.source.value if line.source else "",
                )  # fmt: skip
            else:
                table.add_row(
                    line.kind.value, line.description, ctx.money(line.amount_cents or 0),
                    line.per, "", "",
                )  # fmt: skip
        out.print(table)


# -- import -----------------------------------------------------------------------------


@contracts_app.command("import")
@command
def contracts_import(
    file: Annotated[Path, typer.Argument(help="A CSV (one row per line) or TOML file.")],
    by: Annotated[str, _BY] = "cli",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Import contracts for a first load; each taken or refused on its own.

    A contract already stored with the same terms is unchanged, so importing
    the same file again changes nothing. The exit status is 1 if any
    contract was refused (the good ones are kept), 2 if the file cannot be
    read at all (nothing is imported).
    """
    from core.billing.contract_files import ContractFileError, import_contracts
    from core.store.db import write

    ctx = context()
    try:
        with write(ctx.engine) as connection:
            summary = import_contracts(
                connection, file, ctx.settings.billing, actor=by, at=ctx.clock()
            )
    except ContractFileError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(summary.as_dict())
    else:
        counts = ", ".join(
            f"{summary.count(status)} {status}" for status in ("created", "unchanged", "rejected")
        )
        out.print(f"{file}: {counts}", markup=False)
        for result in summary.rejections:
            err.print(f"{result.where} ({result.reference}): {result.reason}", markup=False)
    if summary.rejections:
        raise typer.Exit(EXIT_REJECTED)


@usage_app.command("import")
@command
def usage_import(
    file: Annotated[Path, typer.Argument(help="CSV: client, service, quantity, period.")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Import a usage file; each row taken or refused on its own.

    A row for a client, service and month already imported replaces its
    quantity. The exit status is 1 if any row was refused, 2 if the file
    cannot be read at all.
    """
    from core.billing.usage import UsageFileError, import_usage
    from core.store.db import write

    ctx = context()
    try:
        with write(ctx.engine) as connection:
            summary = import_usage(connection, file, at=ctx.clock())
    except UsageFileError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(summary.as_dict())
    else:
        counts = ", ".join(
            f"{summary.count(status)} {status}"
            for status in ("created", "updated", "unchanged", "rejected")
        )
        out.print(f"{file}: {counts}", markup=False)
        for row in summary.rejections:
            err.print(f"line {row.line}: {row.reason}", markup=False)
    if summary.rejections:
        raise typer.Exit(EXIT_REJECTED)
