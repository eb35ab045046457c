"""The billing audit of one month, read from the database: what the contracts
call for (their drafts), what was issued, and the month's activity, put to
the questions of core.billing.audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, text

from core.billing.audit import (
    AuditReport,
    BilledItem,
    missing_and_extra,
    month_bounds,
    unbilled_activity,
    usage_check,
)
from core.billing.documents import issued_document
from core.billing.model import Draft
from core.billing.partner import PartnerProfile, compare_partner, read_partner_file
from core.billing.plan import drafts_for
from core.config.settings import Settings
from core.store.reader import Reader

_BILLED = text(
    "SELECT d.number, d.contract_id, d.period_start, d.period_end, d.client_id, c.name"
    " FROM billingdocument d JOIN client c ON c.id = d.client_id"
    " WHERE d.kind = 'invoice' AND d.period_start BETWEEN :first AND :last"
    " ORDER BY d.number"
)
_ENDS = text("SELECT id, end_on FROM contract WHERE end_on IS NOT NULL")
_ACTIVE = text(
    "SELECT DISTINCT client_id FROM contract"
    " WHERE start_on <= :last AND (end_on IS NULL OR end_on >= :first)"
)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def billed_items(connection: Connection, month: date, settings: Settings) -> list[BilledItem]:
    """The invoices issued for the periods starting in `month`'s month, with their lines."""
    first, last = month_bounds(month)
    rows = connection.execute(_BILLED, {"first": first, "last": last}).all()
    return [
        BilledItem(
            contract, _day(start), _day(end), client, name, number,
            issued_document(connection, number, settings).lines,
        )
        for number, contract, start, end, client, name in rows
    ]  # fmt: skip


def contract_ends(connection: Connection) -> dict[int, date]:
    return {int(ident): _day(end) for ident, end in connection.execute(_ENDS).all()}


def clients_under_contract(connection: Connection, month: date) -> set[int]:
    """The clients with a contract running on at least one day of the month, billed
    in it or not (a quarterly contract bills one month in three)."""
    first, last = month_bounds(month)
    rows = connection.execute(_ACTIVE, {"first": first, "last": last}).all()
    return {int(client) for (client,) in rows}


def expected_drafts(connection: Connection, month: date, settings: Settings) -> list[Draft]:
    """The drafts of the periods starting in the month: billed in it (in advance) or in
    the month after (in arrears)."""
    first, _ = month_bounds(month)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return drafts_for(connection, first, settings) + drafts_for(connection, after, settings)


def measured_now(expected: list[Draft], billed: list[BilledItem]) -> dict[tuple[int, str], Decimal]:
    """Each billed line's quantity as the contract and its usage sources give it today.

    Only the periods that were billed: a usage source that changed since (time
    logged late, a usage file corrected) shows as a difference.
    """
    keys = {(item.contract_id, item.period_start) for item in billed}
    measured: dict[tuple[int, str], Decimal] = {}
    for draft in expected:
        if (draft.contract_id, draft.period_start) not in keys:
            continue
        for line in draft.lines:
            key = (draft.client_id, line.description)
            measured[key] = measured.get(key, Decimal(0)) + line.quantity
    return measured


def audit_month(
    connection: Connection,
    reader: Reader,
    month: date,
    settings: Settings,
    *,
    partner: Path | None = None,
    profile: PartnerProfile | None = None,
    mapping: Mapping[str, str] | None = None,
) -> AuditReport:
    """The month's findings; PartnerFileError when the partner's file cannot be read."""
    first, _ = month_bounds(month)
    expected = expected_drafts(connection, first, settings)
    billed = billed_items(connection, first, settings)
    report = AuditReport(first)
    report.missing, report.extra = missing_and_extra(
        expected, billed, first, contract_ends(connection)
    )
    worksection = settings.worksection
    report.unbilled = unbilled_activity(
        reader,
        first,
        clients_under_contract(connection, first),
        projects=worksection.projects if worksection is not None else None,
    )
    report.usage = usage_check(billed, measured_now(expected, billed))
    if partner is not None:
        rows, refused = read_partner_file(partner, profile)
        clients = {
            str(name): int(ident)
            for ident, name in connection.execute(text("SELECT id, name FROM client")).all()
        }
        report.partner = compare_partner(
            rows, billed, first, clients, mapping, file=str(partner), refused=refused
        )
    return report
