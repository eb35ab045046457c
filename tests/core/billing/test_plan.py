"""What a month bills: pro rata by days, frequencies and timing, usage, dated versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.billing.contracts import (
    Frequency,
    Line,
    LineKind,
    StoredContract,
    Tier,
    Timing,
    UsageSource,
    Version,
    edit_contract,
    end_contract,
)
from core.billing.model import Draft
from core.billing.plan import drafts_for, drafts_of, planned_changes
from core.billing.usage import Measures, import_usage
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.store.db import insert_many, write
from core.store.models.system import table
from core.store.models.time import TimeRow
from tests.core.billing.support import AT, add_clients, contract, fee, store, terms
from tests.support import make_event

DEC, JAN = date(2026, 12, 1), date(2027, 1, 1)


@pytest.fixture
def acme(engine: Engine) -> Engine:
    add_clients(engine, "Acme", "Bigco")
    return engine


def plan(engine: Engine, month: date, settings: Settings | None = None) -> list[Draft]:
    return drafts_for(engine, month, settings or Settings())


def amounts(draft: Draft) -> list[tuple[str, Decimal, int, str]]:
    return [(x.description, x.quantity, x.amount_cents, x.note) for x in draft.lines]


def test_a_start_on_the_16th_of_a_31_day_month_bills_16_days(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 12, 16)))
    (draft,) = plan(acme, DEC)
    assert amounts(draft) == [("Hosting", Decimal(1), 16000, "pro rata 16/31 days")]
    assert (draft.period_start, draft.period_end) == (date(2026, 12, 16), date(2026, 12, 31))
    assert draft.lines[0].service_start == date(2026, 12, 16)
    (january,) = plan(acme, JAN)
    assert amounts(january) == [("Hosting", Decimal(1), 31000, "")]
    assert plan(acme, date(2026, 11, 1)) == []


def test_the_note_is_in_the_clients_language(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 12, 16), language="fr"))
    (draft,) = plan(acme, DEC)
    assert draft.lines[0].note == "prorata 16/31 jours"
    assert draft.language == "fr"


def test_an_end_inside_a_quarter_in_arrears_bills_its_days_the_month_after(
    acme: Engine,
) -> None:
    store(
        acme,
        contract(
            start=date(2026, 10, 1),
            end=date(2026, 11, 15),
            lines=(fee(euros=100),),
            frequency=Frequency.QUARTERLY,
            timing=Timing.ARREARS,
        ),
    )
    assert plan(acme, date(2026, 11, 1)) == []
    (draft,) = plan(acme, DEC)
    # 46 days of the quarter's 92: half of 300.
    assert amounts(draft) == [("Hosting", Decimal(1), 15000, "pro rata 46/92 days")]
    assert (draft.period_start, draft.period_end) == (date(2026, 10, 1), date(2026, 11, 15))
    assert plan(acme, JAN) == []


def test_a_full_quarter_in_advance_bills_three_months(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 10, 1), frequency=Frequency.QUARTERLY))
    (october,) = plan(acme, date(2026, 10, 1))
    assert amounts(october) == [("Hosting", Decimal(3), 93000, "")]
    assert plan(acme, date(2026, 11, 1)) == plan(acme, DEC) == []
    (january,) = plan(acme, JAN)
    assert (january.period_start, january.period_end) == (JAN, date(2027, 3, 31))


def test_yearly_in_advance(acme: Engine) -> None:
    store(
        acme,
        contract(start=JAN, lines=(fee(euros=1200, per="year"),), frequency=Frequency.YEARLY),
        contract(
            "C-2",
            client="Bigco",
            start=date(2026, 12, 1),
            lines=(fee(euros=1200, per="year"),),
            frequency=Frequency.YEARLY,
        ),
    )
    (late,) = plan(acme, DEC)
    share = cents(120000 * 31 / 365)
    assert amounts(late) == [("Hosting", Decimal(1), share, "pro rata 31/365 days")]
    first, second = plan(acme, JAN)
    assert amounts(first) == [("Hosting", Decimal(1), 120000, "")]
    assert (first.period_start, first.period_end) == (JAN, date(2027, 12, 31))
    assert first.contract_id != second.contract_id
    assert plan(acme, date(2027, 2, 1)) == []


def cents(value: float) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def test_monthly_in_arrears_bills_the_past_month(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1), timing=Timing.ARREARS))
    assert plan(acme, date(2026, 11, 1)) == []
    (draft,) = plan(acme, DEC)
    assert (draft.period_start, draft.period_end) == (date(2026, 11, 1), date(2026, 11, 30))
    assert amounts(draft) == [("Hosting", Decimal(1), 31000, "")]


def test_a_price_change_from_next_month_leaves_this_month_alone(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1)))
    before = plan(acme, DEC)
    with write(acme) as connection:
        edit_contract(connection, "C-1", JAN, {"lines": (fee(euros=400),)}, actor="a", at=AT)
    assert plan(acme, DEC) == before
    (january,) = plan(acme, JAN)
    assert january.lines[0].amount_cents == 40000
    (change,) = planned_changes(before, [january])
    assert (change.kind, change.before_cents, change.after_cents) == ("amount", 31000, 40000)


def test_a_change_inside_a_quarter_bills_each_version_for_its_days(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 10, 1), frequency=Frequency.QUARTERLY))
    with write(acme) as connection:
        edit_contract(
            connection, "C-1", date(2027, 2, 1), {"lines": (fee(euros=400),)}, actor="a", at=AT
        )
    (january,) = plan(acme, JAN)
    # 31 days of January at the old price, 59 of February and March at the new one.
    assert amounts(january) == [
        ("Hosting", Decimal(1), cents(93000 * 31 / 90), "pro rata 31/90 days"),
        ("Hosting", Decimal(1), cents(120000 * 59 / 90), "pro rata 59/90 days"),
    ]


def test_a_change_of_frequency_bills_no_day_twice_and_forgets_none(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1), lines=(fee(euros=90),)))
    with write(acme) as connection:
        edit_contract(
            connection, "C-1", date(2027, 2, 1), {"frequency": Frequency.QUARTERLY},
            actor="a", at=AT,
        )  # fmt: skip
    (january,) = plan(acme, JAN)
    (february,) = plan(acme, date(2027, 2, 1))
    assert (january.period_start, january.period_end) == (JAN, date(2027, 1, 31))
    # February and March: 59 days of the first quarter's 90, at three months' price.
    assert (february.period_start, february.period_end) == (date(2027, 2, 1), date(2027, 3, 31))
    assert amounts(february) == [("Hosting", Decimal(1), 17700, "pro rata 59/90 days")]
    assert plan(acme, date(2027, 3, 1)) == []
    (april,) = plan(acme, date(2027, 4, 1))
    assert amounts(april) == [("Hosting", Decimal(3), 27000, "")]


def test_a_change_from_arrears_to_advance_bills_both_periods_that_month(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1), timing=Timing.ARREARS))
    with write(acme) as connection:
        edit_contract(connection, "C-1", JAN, {"timing": Timing.ADVANCE}, actor="a", at=AT)
    december, january = plan(acme, JAN)
    assert (december.period_start, january.period_start) == (DEC, JAN)
    assert [len(plan(acme, date(2027, 2, 1))), len(plan(acme, DEC))] == [1, 1]


def test_an_ended_contract_is_not_billed_after_its_end(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1)))
    with write(acme) as connection:
        end_contract(connection, "C-1", on=date(2026, 12, 10), actor="a", at=AT)
    (december,) = plan(acme, DEC)
    assert amounts(december) == [("Hosting", Decimal(1), 10000, "pro rata 10/31 days")]
    assert plan(acme, JAN) == []


TIERED = Line(
    LineKind.USAGE,
    "Support",
    tiers=(Tier(Decimal(10), 8000), Tier(None, 6000)),
    included=Decimal(10),
    unit="h",
    source=UsageSource.FILE,
)


def test_usage_above_the_quota_is_billed_by_tiers(acme: Engine, tmp_path: Path) -> None:
    store(acme, contract(start=date(2026, 11, 1), lines=(fee(), TIERED)))
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "client,service,quantity,period\nAcme,support,35,2026-11\nAcme,Support,99,2026-12\n"
    )
    with write(acme) as connection:
        import_usage(connection, usage, at=AT)
    (december,) = plan(acme, DEC)
    note = "35 h used, 10 included, 2026-11-01 to 2026-11-30"
    assert amounts(december)[1:] == [
        ("Support", Decimal(10), 80000, f"{note}; tier 1"),
        ("Support", Decimal(15), 90000, f"{note}; tier 2"),
    ]
    assert december.lines[1].service_start == date(2026, 11, 1)


def test_usage_within_the_quota_shows_a_line_of_nothing(acme: Engine, tmp_path: Path) -> None:
    line = replace(TIERED, tiers=(), unit_price_cents=5000)
    store(acme, contract(start=date(2026, 11, 1), lines=(line,), timing=Timing.ARREARS))
    usage = tmp_path / "usage.csv"
    usage.write_text("client;line;quantity;period\nAcme;Support;7,5;2026-11\n")
    with write(acme) as connection:
        import_usage(connection, usage, at=AT)
    (december,) = plan(acme, DEC)
    assert amounts(december) == [
        ("Support", Decimal("0.00"), 0, "7.5 h used, 10 included, 2026-11-01 to 2026-11-30")
    ]


def test_hours_logged_on_the_clients_projects_are_its_usage(acme: Engine) -> None:
    hours = Line(
        LineKind.USAGE,
        "Development",
        unit_price_cents=9000,
        included=Decimal(2),
        unit="h",
        source=UsageSource.WORKSECTION_HOURS,
    )
    store(acme, contract(start=date(2026, 11, 1), lines=(hours,), timing=Timing.ARREARS))
    rows = [
        ("1", date(2026, 11, 3), 150, "Acme site"),
        ("2", date(2026, 11, 30), 120, "Acme"),
        ("3", date(2026, 12, 1), 600, "Acme"),
        ("4", date(2026, 11, 5), 600, "Bigco"),
    ]
    with write(acme) as connection:
        insert_many(
            connection,
            table(TimeRow),
            [
                {"id": id_, "day": day, "month": f"{day:%Y-%m}", "minutes": minutes,
                 "project_id": f"p{id_}", "project_name": project, "synced_at": AT}
                for id_, day, minutes, project in rows
            ],
        )  # fmt: skip
    settings = Settings(worksection={"account": "agency", "api_key": "k",
                                     "projects": {"Acme site": "Acme"}})  # fmt: skip
    (december,) = plan(acme, DEC, settings)
    assert amounts(december) == [
        ("Development", Decimal("2.50"), 22500, "4.5 h used, 2 included, 2026-11-01 to 2026-11-30")
    ]


def test_what_changed_since_last_month(acme: Engine) -> None:
    store(
        acme,
        contract(start=date(2026, 11, 1)),
        contract("C-2", client="Bigco", start=JAN),
        contract("C-3", client="Bigco", start=date(2026, 11, 1), end=date(2026, 12, 31)),
    )
    with write(acme) as connection:
        edit_contract(
            connection, "C-1", JAN, {"lines": (fee(), fee("Backup", 20))}, actor="a", at=AT
        )
    changes = {c.contract_id: c for c in planned_changes(plan(acme, DEC), plan(acme, JAN))}
    assert changes[1].kind == "lines" and changes[1].added == ("Backup",)
    assert (changes[2].kind, changes[2].after_cents) == ("new", 31000)
    assert (changes[3].kind, changes[3].before_cents) == ("not_billed", 31000)


# -- pro rata over a split period -------------------------------------------------------


def in_memory(versions: list[tuple[date, int]], frequency: Frequency) -> StoredContract:
    return StoredContract(
        id=1,
        reference="C-1",
        client_id=1,
        client="Acme",
        start_on=date(2024, 1, 1),
        end_on=None,
        notice_days=0,
        versions=tuple(
            Version(day, terms(lines=(fee(euros=euros),), frequency=frequency))
            for day, euros in versions
        ),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.YEARLY]),
    st.sets(st.integers(min_value=1, max_value=364), max_size=5),
    st.integers(min_value=1, max_value=99_999),
)
def test_the_pro_rata_of_a_split_period_adds_up_to_the_fee(
    frequency: Frequency, offsets: set[int], euros: int
) -> None:
    """Versions at the same price split the period: the pieces add up within a cent each."""
    month = date(2025, 1, 1)
    length = {Frequency.MONTHLY: 31, Frequency.QUARTERLY: 90, Frequency.YEARLY: 365}[frequency]
    cuts = sorted(month + timedelta(days=offset) for offset in offsets if offset < length)
    found = in_memory([(date(2024, 1, 1), euros)] + [(day, euros) for day in cuts], frequency)
    (draft,) = drafts_of(found, month, Measures(None))  # type: ignore[arg-type]
    full = euros * 100 * frequency.months
    assert len(draft.lines) == len(cuts) + 1
    days = sum((x.service_end - x.service_start).days + 1 for x in draft.lines)
    assert days == length
    assert abs(draft.totals.net_cents - full) <= len(cuts)


def test_events_of_the_clients_threads_are_its_usage(engine: Engine, ingestor: Ingestor) -> None:
    minutes = [0, 60, 120, 60 * 24 * 9]  # three in November, one on 2 December
    ingestor.ingest([make_event(f"e{n}", minute) for n, minute in enumerate(minutes)])
    ingestor.ingest([make_event("b1", 0, client="Bigco", task="T2")])
    line = Line(
        LineKind.USAGE,
        "Requests",
        unit_price_cents=100,
        included=Decimal(1),
        unit="request",
        source=UsageSource.PMDESK_EVENTS,
    )
    store(engine, contract(start=date(2026, 11, 1), lines=(line,), timing=Timing.ARREARS))
    (december,) = plan(engine, DEC)
    assert amounts(december) == [
        ("Requests", Decimal(2), 200, "3 request used, 1 included, 2026-11-01 to 2026-11-30")
    ]


def test_a_session_a_connection_or_an_engine_plan_alike(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 12, 16)))
    with Session(acme) as session:
        from_session = drafts_for(session, DEC, Settings())
    with acme.connect() as connection:
        from_connection = drafts_for(connection, DEC, Settings())
    assert from_session == from_connection == plan(acme, DEC) != []
