"""A debit's credit collects it at once; a return reopens the invoice, records the
reason, alerts the assistant and makes the mandate's next collection FRST."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from core.base.kinds import StaffRole
from core.billing.debits import debits_on, plan_debit
from core.billing.returns import apply_bank_lines, reason_of
from core.billing.sepa import debit_file
from core.config.settings import Settings
from core.conversations.people import add_staff
from core.receivables.matching.matcher import match_new_lines
from core.receivables.statements.importer import import_statement
from core.store.db import write
from tests.core.billing.debit_support import (
    MANDATE,
    NOW,
    add_invoices,
    billing_settings,
    camt054,
)

DAY = date(2026, 12, 15)


def exported(engine: Engine, tmp_path: Path) -> tuple[int, int, Settings]:
    settings = billing_settings()
    first, second = add_invoices(engine, ("F2026-00001", 12000), ("F2026-00002", 3000))
    with write(engine) as connection:
        plan_debit(connection, first, MANDATE, 12000, DAY, now=NOW)
        debit_file(connection, DAY, settings, now=NOW, path=tmp_path / "debits.xml")
    return first, second, settings


def invoice(engine: Engine, ident: int) -> tuple[int, str]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT paid_cents, state FROM invoice WHERE id = :id"), {"id": ident}
        ).one()
    return row[0], row[1]


def feed(engine: Engine, settings: Settings, path: Path) -> None:
    import_statement(engine, path, settings.banks, NOW)
    match_new_lines(engine, settings.banks, NOW)


def test_a_credit_with_the_end_to_end_id_pays_its_invoice_at_once(
    engine: Engine, tmp_path: Path
) -> None:
    first, _second, settings = exported(engine, tmp_path)

    feed(engine, settings, camt054(tmp_path / "n1.xml", [("120.00", "CRDT", "F2026-00001", None)]))
    outcome = apply_bank_lines(engine, NOW)

    assert invoice(engine, first) == (12000, "paid")
    assert outcome.collected == ["F2026-00001"]
    with engine.connect() as connection:
        assert [row.state for row in debits_on(connection)] == ["collected"]


def test_a_return_reopens_records_the_reason_alerts_and_makes_the_next_frst(
    engine: Engine, tmp_path: Path
) -> None:
    add_staff(engine, "Ana", StaffRole.ASSISTANT, ["ana@studio.example"], NOW)
    first, second, settings = exported(engine, tmp_path)
    feed(engine, settings, camt054(tmp_path / "n1.xml", [("120.00", "CRDT", "F2026-00001", None)]))
    apply_bank_lines(engine, NOW)

    feed(
        engine, settings, camt054(tmp_path / "n2.xml", [("120.00", "DBIT", "F2026-00001", "AM04")])
    )
    outcome = apply_bank_lines(engine, NOW)
    again = apply_bank_lines(engine, NOW)

    assert outcome.returned == [("F2026-00001", "AM04")]
    assert again.returned == []
    assert invoice(engine, first) == (0, "open")
    with engine.connect() as connection:
        (debit,) = debits_on(connection)
        alerts = connection.execute(text("SELECT kind, invoice_id, text FROM notification")).all()
        allocations = (
            connection.execute(
                text("SELECT cents FROM allocation WHERE reversed_at IS NULL ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert (debit.state, debit.return_code, debit.returned_on) == (
        "returned",
        "AM04",
        date(2026, 12, 16),
    )
    assert len(alerts) == 1
    # An invoice alert, as the dunning run makes them, linked to the invoice.
    assert alerts[0][:2] == ("invoice_dunning", first)
    assert "AM04, insufficient funds" in alerts[0][2]
    assert list(allocations) == [12000, -12000]
    with write(engine) as connection:
        next_one = plan_debit(connection, second, MANDATE, 3000, date(2027, 1, 15), now=NOW)
        represented = plan_debit(connection, first, MANDATE, 12000, date(2027, 1, 15), now=NOW)
    assert next_one.sequence == "FRST"
    assert (represented.new, represented.end_to_end_id) == (True, "F2026-00001-2")
    assert represented.sequence == "RCUR"


def test_a_reject_before_settlement_reopens_nothing_but_is_recorded(
    engine: Engine, tmp_path: Path
) -> None:
    first, _second, settings = exported(engine, tmp_path)
    feed(
        engine, settings, camt054(tmp_path / "n2.xml", [("120.00", "DBIT", "F2026-00001", "AC04")])
    )

    outcome = apply_bank_lines(engine, NOW)

    assert outcome.returned == [("F2026-00001", "AC04")]
    assert invoice(engine, first) == (0, "open")


def test_a_reason_code_is_found_in_the_banks_words() -> None:
    assert reason_of("RETOUR PRLV SEPA MOTIF MD06 F2026-00001") == "MD06"
    assert reason_of("return reason AM04") == "AM04"
    assert reason_of("RETOUR IMPAYE") == "MS03"
