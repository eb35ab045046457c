"""The billing audit over a small agency's November: who, what, when, how much."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert

from core.billing.audit import (
    AuditReport,
    BilledItem,
    missing_and_extra,
    unbilled_activity,
    usage_check,
)
from core.billing.model import Draft, Line, Party
from core.store.models.system import table
from core.store.models.threads import Client, Event, Project, Thread
from core.store.models.time import TimeRow
from core.store.reader import Reader

NOV = date(2026, 11, 1)
NOV_END = date(2026, 11, 30)


def line(description: str, quantity: str, price: int) -> Line:
    return Line(description, Decimal(quantity), price, Decimal(20), NOV, NOV_END)


def draft(contract: int, client: int, name: str, *lines: Line) -> Draft:
    return Draft(
        contract_id=contract,
        client_id=client,
        period_start=NOV,
        period_end=NOV_END,
        lines=tuple(lines),
        buyer=Party(name),
        language="fr",
        payment_terms_days=30,
    )


def billed(number: str, contract: int | None, client: int, name: str, *lines: Line) -> BilledItem:
    return BilledItem(contract, NOV, NOV_END, client, name, number, tuple(lines))


# The month: Acme (1) and Bigco (2) are billed as expected; Corto (3)'s
# contract is active but was not billed; Delta (4)'s contract ended on
# 31 October and Delta was billed for November all the same.
EXPECTED = [
    draft(10, 1, "Acme", line("Retainer", "1", 50000), line("Hosting hours", "10", 6000)),
    draft(20, 2, "Bigco", line("Retainer", "1", 30000)),
    draft(30, 3, "Corto", line("Retainer", "1", 20000)),
]
BILLED = [
    billed(
        "F-2026-0101",
        10,
        1,
        "Acme",
        line("Retainer", "1", 50000),
        line("Hosting hours", "10", 6000),
    ),
    billed("F-2026-0102", 20, 2, "Bigco", line("Retainer", "1", 30000)),
    billed("F-2026-0103", 40, 4, "Delta", line("Retainer", "1", 15000)),
]


def test_an_active_contract_not_billed_is_missing_with_its_amounts() -> None:
    missing, _extra = missing_and_extra(EXPECTED, BILLED, NOV)

    assert [
        (item.contract_id, item.client, item.net_cents, item.gross_cents) for item in missing
    ] == [(30, "Corto", 20000, 24000)]


def test_an_invoice_after_the_contracts_end_is_extra_with_the_end_date() -> None:
    _missing, extra = missing_and_extra(EXPECTED, BILLED, NOV, {40: date(2026, 10, 31)})

    [found] = extra
    assert (found.number, found.client, found.reason, found.contract_end) == (
        "F-2026-0103",
        "Delta",
        "after_end",
        date(2026, 10, 31),
    )
    assert (found.net_cents, found.gross_cents) == (15000, 18000)


def test_an_invoice_no_contract_expects_is_extra_without_an_end() -> None:
    _missing, extra = missing_and_extra(EXPECTED, BILLED, NOV)

    assert [(item.number, item.reason, item.contract_end) for item in extra] == [
        ("F-2026-0103", "not_expected", None)
    ]


def test_other_months_are_left_out_and_a_rerun_finds_nothing() -> None:
    october = BilledItem(10, date(2026, 10, 1), date(2026, 10, 31), 1, "Acme", "F-2026-0050", ())
    missing, extra = missing_and_extra(EXPECTED[:2], [*BILLED[:2], october], NOV)

    assert (missing, extra) == ([], [])


def test_usage_under_and_over_billed_with_quantity_and_amount() -> None:
    measured = {
        (1, "hosting hours"): Decimal("12.5"),  # billed 10 h: under-billed
        (2, "Retainer"): Decimal("1"),  # as billed: no finding
        (2, "Storage GB"): Decimal("3"),  # never billed: no price
    }
    found = usage_check(BILLED, measured)

    assert [
        (item.client, item.service, item.line, item.difference, item.amount_cents, item.direction)
        for item in found
    ] == [
        ("Acme", "hosting hours", "Hosting hours", Decimal("2.5"), 15000, "under"),
        ("Bigco", "Storage GB", None, Decimal("3"), None, "under"),
    ]


def test_usage_matches_services_by_mapping_then_by_closeness() -> None:
    items = [billed("F-1", 10, 1, "Acme", line("Mailboxes (per user)", "8", 400))]

    by_mapping = usage_check(items, {(1, "MBX"): Decimal(6)}, {"MBX": "Mailboxes (per user)"})
    by_closeness = usage_check(items, {(1, "mailboxes per user"): Decimal(6)})

    for found in (by_mapping, by_closeness):
        [item] = found
        assert (item.line, item.difference, item.amount_cents, item.direction) == (
            "Mailboxes (per user)",
            Decimal(-2),
            -800,
            "over",
        )


def _stamp(day: int) -> datetime:
    return datetime(2026, 11, day, 10, 0, tzinfo=UTC)


def _month_of_activity(engine: Engine) -> None:
    """Acme (contract) and Echo (none) have events; Echo also has time logged; Foxtrot only time."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for client_id, name in ((1, "Acme"), (5, "Echo"), (6, "Foxtrot"), (7, "Golf")):
            connection.execute(
                insert(table(Client)), {"id": client_id, "name": name, "created_at": created}
            )
        connection.execute(
            insert(table(Project)), [{"id": 1, "client_id": 6, "name": "Foxtrot site"}]
        )
        threads = [
            (1, 1, "task", _stamp(20)),
            (2, 5, "task", _stamp(12)),
            (3, 5, "chat", _stamp(14)),
            (4, 7, "task", datetime(2026, 10, 20, tzinfo=UTC)),  # active in October only
        ]
        for thread_id, client_id, kind, last in threads:
            connection.execute(
                insert(table(Thread)),
                {
                    "id": thread_id,
                    "kind": kind,
                    "channel": "worksection" if kind == "task" else "telegram",
                    "client_id": client_id,
                    "created_at": created,
                    "last_event_at": last,
                },
            )
        events = [
            (1, _stamp(20)),
            (2, _stamp(3)),
            (2, _stamp(12)),
            (2, datetime(2026, 10, 31, 23, 59, tzinfo=UTC)),  # October: not counted
            (3, _stamp(14)),
            (4, datetime(2026, 10, 20, tzinfo=UTC)),
        ]
        connection.execute(
            insert(table(Event)),
            [
                {
                    "source": "test",
                    "external_id": str(number),
                    "thread_id": thread_id,
                    "kind": "comment",
                    "occurred_at": at,
                    "received_at": at,
                }
                for number, (thread_id, at) in enumerate(events)
            ],
        )
        rows = [
            ("a", date(2026, 11, 4), 90, "p5", "Echo"),
            ("b", date(2026, 11, 5), 60, "p5", "Echo"),
            ("c", date(2026, 11, 6), 45, "p6", "Foxtrot site"),
            ("d", date(2026, 11, 6), 30, "p1", "Acme"),
            ("e", date(2026, 10, 30), 600, "p7", "Golf"),
            ("f", date(2026, 11, 7), 120, "p9", "Hotel"),
        ]
        connection.execute(
            insert(table(TimeRow)),
            [
                {
                    "id": row_id,
                    "day": day,
                    "month": day.strftime("%Y-%m"),
                    "minutes": minutes,
                    "project_id": project,
                    "project_name": name,
                    "synced_at": created,
                }
                for row_id, day, minutes, project, name in rows
            ],
        )


def test_activity_without_a_contract_with_its_evidence(engine: Engine, reader: Reader) -> None:
    _month_of_activity(engine)

    found = unbilled_activity(reader, NOV, {1}, projects={"p9": "Hotel & Co"})

    assert [
        (
            item.client_id,
            item.client,
            item.tracker_events,
            item.chat_events,
            item.threads,
            item.hours,
        )
        for item in found
    ] == [
        (5, "Echo", 2, 1, 2, Decimal("2.50")),
        (6, "Foxtrot", 0, 0, 0, Decimal("0.75")),
        (None, "Hotel & Co", 0, 0, 0, Decimal("2.00")),
    ]


def test_the_report_answers_in_json_with_totals() -> None:
    missing, extra = missing_and_extra(EXPECTED, BILLED, NOV, {40: date(2026, 10, 31)})
    usage = usage_check(BILLED, {(1, "Hosting hours"): Decimal("12.5")})
    report = AuditReport(NOV, missing, extra, [], usage)

    data = json.loads(json.dumps(report.as_dict()))

    assert data["month"] == "2026-11"
    assert data["totals"]["missing_net_cents"] == 20000
    assert data["totals"]["extra_net_cents"] == 15000
    assert data["totals"]["under_billed_cents"] == 15000
    assert data["when"]["extra_invoices"][0]["contract_end"] == "2026-10-31"
    assert data["what"]["usage"][0]["difference"] == "2.5"
    assert report.findings == 3
