"""`pmdesk billing audit`: the month's billing asked the four questions (who, what, when, how much).

Findings are results: the exit status is 0 whatever they are. A partner's
report with refused rows exits 1 (the other rows are compared all the
same); a partner's report that cannot be read at all exits 2.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.base.i18n import N_, gettext
from pmdesk.billing import billing_app
from pmdesk.console import _print_json, err, out
from pmdesk.context import EXIT_REJECTED, Failure, command, context
from pmdesk.tables import _WIDE, _table

if TYPE_CHECKING:
    from core.billing.audit import AuditReport, UsageDifference


@billing_app.command("audit")
@command
def billing_audit(
    month: Annotated[str, typer.Option(help="The month audited (YYYY-MM).")],
    partner: Annotated[
        Path | None,
        typer.Option(help="The partner's usage report (CSV: client, service, quantity, period)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="The partner file's columns ([billing.partner_profiles.NAME])."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    wide: Annotated[bool, _WIDE] = False,
) -> None:
    """Who was billed wrongly or forgotten in a month, with the amounts.

    Active contracts with no invoice for the month, invoices for a period
    after a contract's end or with no contract, clients with activity
    (tracker events, chats, time logged) and no contract, usage billed
    against usage measured, and the partner's report compared line by line.
    """
    from core.billing.audit import parse_month
    from core.billing.audit_month import audit_month
    from core.billing.partner import PartnerFileError, profile_of

    ctx = context()
    ctx.wide = wide
    try:
        first = parse_month(month)
    except ValueError:
        raise Failure(gettext("{text!r} is not a month (YYYY-MM)").format(text=month)) from None
    profile_config = None
    if profile is not None:
        profile_config = ctx.settings.billing.partner_profiles.get(profile)
        if profile_config is None:
            known = ", ".join(sorted(ctx.settings.billing.partner_profiles)) or "none"
            message = gettext("no partner profile {name!r} in [billing.partner_profiles] ({known})")
            raise Failure(message.format(name=profile, known=known))
    try:
        with ctx.engine.connect() as connection:
            report = audit_month(
                connection, ctx.reader, first, ctx.settings, partner=partner,
                profile=profile_of(profile_config) if profile_config is not None else None,
                mapping=profile_config.services if profile_config is not None else None,
            )  # fmt: skip
    except PartnerFileError as error:
        raise Failure(str(error)) from None
    if as_json:
        _print_json(report.as_dict())
    else:
        _print_report(report)
    if report.partner is not None and report.partner.refused:
        if not as_json:
            for row in report.partner.refused:
                err.print(f"{report.partner.file}: line {row.line}: {row.reason}", markup=False)
        raise typer.Exit(EXIT_REJECTED)


def _period(start: date, end: date) -> str:
    return f"{start.isoformat()} – {end.isoformat()}"


def _print_report(report: AuditReport) -> None:
    ctx = context()
    month = report.month.strftime("%Y-%m")
    if not report.findings:
        out.print(gettext("Billing of {month}: nothing to report.").format(month=month))
    if report.missing:
        table = _table(
            gettext("Active contracts not billed"),
            [N_("client"), N_("contract"), N_("period"), N_("net")],
            right=("contract", "net"),
        )
        for item in report.missing:
            table.add_row(
                item.client,
                str(item.contract_id),
                _period(item.period_start, item.period_end),
                ctx.money(item.net_cents, ctx.settings.billing.currency),
            )
        out.print(table)
    if report.extra:
        table = _table(
            gettext("Invoices no contract expects"),
            [N_("number"), N_("client"), N_("period"), N_("contract end"), N_("net")],
            right=("net",),
        )
        for extra in report.extra:
            table.add_row(
                extra.number,
                extra.client,
                _period(extra.period_start, extra.period_end),
                extra.contract_end.isoformat() if extra.contract_end else "-",
                ctx.money(extra.net_cents, ctx.settings.billing.currency),
            )
        out.print(table)
    if report.unbilled:
        table = _table(
            gettext("Activity without a contract"),
            [N_("client"), N_("tracker events"), N_("chat events"), N_("threads"), N_("hours")],
            right=("tracker events", "chat events", "threads", "hours"),
        )
        for activity in report.unbilled:
            table.add_row(
                activity.client,
                str(activity.tracker_events),
                str(activity.chat_events),
                str(activity.threads),
                str(activity.hours),
            )
        out.print(table)
    if report.usage:
        _print_differences(gettext("Usage billed and measured"), report.usage)
    if report.partner is not None:
        found = report.partner
        if found.differences:
            _print_differences(gettext("The partner's report and the billing"), found.differences)
        if found.unknown_clients:
            table = _table(
                gettext("Unknown clients in the partner's report"),
                [N_("client"), N_("service"), N_("line")],
            )
            for unknown in found.unknown_clients:
                table.add_row(
                    unknown.client,
                    ", ".join(unknown.services),
                    ", ".join(str(line) for line in unknown.lines),
                )
            out.print(table)
    totals = report.totals()
    out.print(
        gettext(
            "Under-billed {under}, over-billed {over}, not billed {missing}, "
            "billed without a contract {extra}."
        ).format(
            under=ctx.money(totals["under_billed_cents"], ctx.settings.billing.currency),
            over=ctx.money(totals["over_billed_cents"], ctx.settings.billing.currency),
            missing=ctx.money(totals["missing_net_cents"], ctx.settings.billing.currency),
            extra=ctx.money(totals["extra_net_cents"], ctx.settings.billing.currency),
        ),
        markup=False,
    )


def _print_differences(title: str, differences: list[UsageDifference]) -> None:
    ctx = context()
    table = _table(
        title,
        [N_("client"), N_("service"), N_("billed"), N_("measured"), N_("difference"), N_("amount")],
        right=("billed", "measured", "difference", "amount"),
    )
    for item in differences:
        table.add_row(
            item.client,
            item.service if item.line in (None, item.service) else f"{item.service} ({item.line})",
            str(item.billed),
            str(item.measured),
            f"{item.difference:+}",
            "-"
            if item.amount_cents is None
            else ctx.money(item.amount_cents, ctx.settings.billing.currency),
        )
    out.print(table)
