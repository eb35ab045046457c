"""Planning direct debits: idempotent per invoice, FRST then RCUR per mandate."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from core.billing.debits import DebitError, debits_on, plan_debit
from core.billing.model import Mandate
from core.store.db import write
from tests.core.billing.debit_support import MANDATE, NOW, OTHER, add_invoices


def test_first_collection_is_frst_then_rcur_per_mandate(engine: Engine) -> None:
    first, second, third = add_invoices(
        engine, ("F2026-00001", 12000), ("F2026-00002", 9000), ("F2026-00003", 500)
    )
    with write(engine) as connection:
        a = plan_debit(connection, first, MANDATE, 12000, date(2026, 12, 15), now=NOW)
        b = plan_debit(connection, second, MANDATE, 9000, date(2027, 1, 15), now=NOW)
        c = plan_debit(connection, third, OTHER, 500, date(2026, 12, 15), now=NOW)

    assert (a.sequence, b.sequence, c.sequence) == ("FRST", "RCUR", "FRST")
    assert (a.end_to_end_id, b.end_to_end_id) == ("F2026-00001", "F2026-00002")
    with engine.connect() as connection:
        rows = debits_on(connection, date(2026, 12, 15))
    assert [(row.invoice_number, row.iban, row.state) for row in rows] == [
        ("F2026-00001", "DE89370400440532013000", "planned"),
        ("F2026-00003", "FR1420041010050500013M02606", "planned"),
    ]


def test_planning_again_gives_the_same_debit(engine: Engine) -> None:
    (invoice,) = add_invoices(engine, ("F2026-00001", 12000))
    with write(engine) as connection:
        first = plan_debit(connection, invoice, MANDATE, 12000, date(2026, 12, 15), now=NOW)
    with write(engine) as connection:
        again = plan_debit(connection, invoice, MANDATE, 12000, date(2026, 12, 15), now=NOW)
        count = connection.execute(text("SELECT count(*) FROM debit")).scalar()

    assert first.new and not again.new
    assert (again.id, again.sequence) == (first.id, "FRST")
    assert count == 1


def test_a_mandate_unused_for_36_months_starts_with_frst_again(engine: Engine) -> None:
    old, late, later = add_invoices(
        engine, ("F2023-00001", 100), ("F2026-00001", 100), ("F2026-00002", 100)
    )
    mandate = Mandate("MDT-1", date(2023, 1, 2), MANDATE.iban, MANDATE.bic)
    with write(engine) as connection:
        plan_debit(connection, old, mandate, 100, date(2023, 1, 10), now=NOW)
        after = plan_debit(connection, late, mandate, 100, date(2026, 1, 10), now=NOW)
        next_one = plan_debit(connection, later, mandate, 100, date(2026, 2, 10), now=NOW)

    assert (after.sequence, next_one.sequence) == ("FRST", "RCUR")


@pytest.mark.parametrize(
    ("mandate", "cents", "why"),
    [
        (Mandate("M", date(2026, 1, 1), "DE00 1234"), 100, "is not valid"),
        (Mandate("M", date(2027, 1, 1), MANDATE.iban), 100, "after the collection date"),
        (MANDATE, 0, "positive amount"),
        (Mandate(" ", date(2026, 1, 1), MANDATE.iban), 100, "no reference"),
    ],
)
def test_bad_mandates_are_refused_and_nothing_is_planned(
    engine: Engine, mandate: Mandate, cents: int, why: str
) -> None:
    (invoice,) = add_invoices(engine, ("F2026-00001", 100))
    with pytest.raises(DebitError, match=why), write(engine) as connection:
        plan_debit(connection, invoice, mandate, cents, date(2026, 12, 15), now=NOW)
    with engine.connect() as connection:
        assert debits_on(connection) == []
