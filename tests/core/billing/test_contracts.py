"""Contracts: each bad input refused with its reason, versions dated, every change audited."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from core.billing.contracts import (
    ContractError,
    Frequency,
    Line,
    LineKind,
    Tier,
    UsageSource,
    edit_contract,
    end_contract,
    find_contract,
    load_contracts,
)
from core.billing.model import PaymentMethod
from core.store.db import write
from core.store.models.system import Audit, table
from tests.core.billing.support import AT, IBAN, add_clients, contract, fee, store


@pytest.fixture
def acme(engine: Engine) -> Engine:
    add_clients(engine, "Acme", "Bigco")
    return engine


def refused(engine: Engine, *args: object, **changes: object) -> str:
    with pytest.raises(ContractError) as caught:
        store(engine, contract(*args, **changes))  # type: ignore[arg-type]
    return str(caught.value)


def test_a_contract_is_stored_and_read_back_whole(acme: Engine) -> None:
    usage = Line(
        LineKind.USAGE,
        "Support",
        tiers=(Tier(Decimal(10), 8000), Tier(None, 6000)),
        included=Decimal("2.5"),
        unit="h",
        source=UsageSource.WORKSECTION_HOURS,
    )
    new = contract(
        lines=(fee(), fee("Backup", 20), usage),
        payment_method=PaymentMethod.SEPA_DEBIT,
        iban=IBAN,
        mandate_reference="M-1",
        mandate_signed_on=date(2026, 11, 2),
    )
    (contract_id,) = store(acme, new)
    with acme.connect() as connection:
        found = find_contract(connection, "C-1")
    assert found.id == contract_id and found.client == "Acme"
    assert found.latest == new.terms
    assert found.latest.mandate is not None and found.latest.mandate.iban == IBAN


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"end": date(2026, 11, 30)}, "the end (2026-11-30) is before the start (2026-12-01)"),
        ({"lines": (Line(LineKind.FEE, "Hosting"),)}, "line 1 (Hosting): no price"),
        (
            {"lines": (Line(LineKind.USAGE, "Support", source=UsageSource.FILE),)},
            "line 1 (Support): no price (a unit price or tiers)",
        ),
        (
            {
                "payment_method": PaymentMethod.SEPA_DEBIT,
                "iban": "FR7630006000011234567890188",
                "mandate_reference": "M",
                "mandate_signed_on": date(2026, 11, 1),
            },
            "IBAN 'FR7630006000011234567890188' is not valid",
        ),
        (
            {"payment_method": PaymentMethod.SEPA_DEBIT, "iban": IBAN, "mandate_reference": "M"},
            "the direct debit mandate has no signature date",
        ),
        ({"client": "Nobody"}, "unknown client 'Nobody'"),
        ({"payment_terms_days": 400}, "payment terms of 400 days are out of 0..365"),
        ({"vat_rate": Decimal(120)}, "VAT rate 120 is out of 0..100"),
        ({"lines": ()}, "the contract has no lines"),
        ({"siren": "123456789"}, "SIREN '123456789' is not valid"),
    ],
)
def test_each_bad_contract_is_refused_with_its_reason(
    acme: Engine, kwargs: dict[str, object], reason: str
) -> None:
    assert reason in refused(acme, **kwargs)
    with acme.connect() as connection:
        assert load_contracts(connection) == []


def test_a_reference_is_taken_once(acme: Engine) -> None:
    store(acme, contract())
    assert "contract 'C-1' already exists" in refused(acme, client="Bigco")


def test_a_change_takes_effect_from_its_day_and_the_past_terms_stay_readable(
    acme: Engine,
) -> None:
    store(acme, contract())
    with write(acme) as connection:
        edited = edit_contract(
            connection,
            "C-1",
            date(2027, 2, 1),
            {"lines": (fee(euros=400),), "frequency": Frequency.QUARTERLY},
            actor="ana",
            at=AT,
        )
    assert [v.effective_from for v in edited.versions] == [date(2026, 12, 1), date(2027, 2, 1)]
    old, new = edited.terms_on(date(2027, 1, 31)), edited.terms_on(date(2027, 2, 1))
    assert old is not None and old.lines[0].amount_cents == 31000
    assert new is not None and new.lines[0].amount_cents == 40000
    assert new.frequency == Frequency.QUARTERLY
    assert edited.terms_on(date(2026, 11, 30)) is None
    with acme.connect() as connection:
        rows = connection.execute(select(table(Audit))).mappings().all()
    assert [row["action"] for row in rows] == ["contract.add", "contract.edit"]
    detail = json.loads(rows[1]["detail"])
    assert detail["effective_from"] == "2027-02-01"
    assert detail["changes"]["frequency"] == {"from": "monthly", "to": "quarterly"}
    assert rows[1]["actor"] == "ana"


def test_a_change_never_rewrites_a_version_in_force(acme: Engine) -> None:
    store(acme, contract(start=date(2026, 11, 1)))
    with write(acme) as connection, pytest.raises(ContractError, match="never rewritten"):
        edit_contract(connection, "C-1", date(2026, 11, 1), {"city": "Lyon"}, actor="a", at=AT)
    with write(acme) as connection, pytest.raises(ContractError, match="nothing changes"):
        edit_contract(connection, "C-1", date(2026, 12, 1), {"city": "Paris"}, actor="a", at=AT)
    with write(acme) as connection, pytest.raises(ContractError, match="unknown term 'colour'"):
        edit_contract(connection, "C-1", date(2026, 12, 1), {"colour": "red"}, actor="a", at=AT)


def test_a_planned_change_can_be_corrected_before_it_takes_effect(acme: Engine) -> None:
    store(acme, contract())
    for city in ("Lyon", "Lille"):
        with write(acme) as connection:
            found = edit_contract(
                connection, "C-1", date(2027, 1, 1), {"city": city}, actor="a", at=AT
            )
    assert [v.terms.city for v in found.versions] == ["Paris", "Lille"]
    assert [len(v.terms.lines) for v in found.versions] == [1, 1]


def test_the_end_is_a_day_or_the_notice_from_a_day(acme: Engine) -> None:
    store(acme, replace(contract(), notice_days=30), contract("C-2"))
    with write(acme) as connection:
        ended = end_contract(connection, "C-1", notice_from=date(2027, 1, 10), actor="a", at=AT)
        other = end_contract(connection, "C-2", on=date(2027, 3, 31), actor="a", at=AT)
    assert ended.end_on == date(2027, 1, 10) + timedelta(days=30)
    assert other.end_on == date(2027, 3, 31)
    with write(acme) as connection, pytest.raises(ContractError, match="before the start"):
        end_contract(connection, "C-1", on=date(2026, 11, 1), actor="a", at=AT)
    with acme.connect() as connection:
        assert find_contract(connection, "C-1").end_on == date(2027, 2, 9)
    with acme.connect() as connection, pytest.raises(ContractError, match="no contract 'C-9'"):
        find_contract(connection, "C-9")
