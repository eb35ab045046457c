"""Credit notes: their own series, negative lines, never beyond what remains, and
seen by the receivables (balance, overdue list, dunning)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

import core.billing.credit
from core.billing.credit import CreditRefused, Pick, credit_note, parse_picks
from core.billing.documents import issued_document, list_documents
from core.billing.issue import issue
from core.billing.model import DocumentKind
from core.config.settings import Settings
from core.receivables.aging import overdue_invoices
from core.receivables.dunning import run_dunning
from core.store.connect import reader_for
from tests.core.billing.issuing_support import add_client, draft, line, numbers

ON = date(2026, 12, 1)
LATER = date(2026, 12, 15)


@pytest.fixture
def invoiced(engine: Engine, settings: Settings) -> str:
    """F2026-00001: 3 licences at 100.00 and hosting 50.00, VAT 20 %: 420.00 TTC."""
    client = add_client(engine)
    two = draft(1, client, line("Licences", "3", 10_000), line("Hosting", "1", 5_000))
    outcome = issue(engine, settings, two, on=ON, actor="ana", clock=lambda: _at(ON))
    assert outcome.number is not None
    return outcome.number


def test_a_whole_credit_note_has_its_series_and_negative_lines(
    engine: Engine, settings: Settings, invoiced: str
) -> None:
    credit = credit_note(
        engine, settings, invoiced, on=LATER, actor="ana", reason="Contract cancelled"
    )
    assert (credit.number, credit.corrects) == ("AV2026-00001", invoiced)
    assert (credit.gross_cents, credit.remaining_cents) == (-42_000, 0)
    with engine.connect() as connection:
        document = issued_document(connection, credit.number, settings)
        invoice = issued_document(connection, invoiced, settings)
    assert document.kind == DocumentKind.CREDIT_NOTE
    assert document.corrects == invoiced
    assert document.buyer == invoice.buyer
    assert [(it.description, it.quantity, it.amount_cents) for it in document.lines] == [
        ("Licences", Decimal(-3), -30_000),
        ("Hosting", Decimal(-1), -5_000),
    ]
    assert document.totals.gross_cents == -42_000
    assert document.notes == ("Contract cancelled",)
    assert numbers(engine, "AV") == ["AV2026-00001"]
    assert numbers(engine) == [invoiced]  # the invoice's series is untouched


def test_chosen_lines_and_quantities_are_credited_never_beyond_what_remains(
    engine: Engine, settings: Settings, invoiced: str
) -> None:
    first = credit_note(engine, settings, invoiced, [Pick(1, Decimal(1))], on=LATER, actor="ana")
    assert (first.gross_cents, first.remaining_cents) == (-12_000, 30_000)
    for picks, message in (
        ([Pick(1, Decimal(3))], "has 2 left to credit, not 3"),
        ([Pick(3)], "has no line 3"),
        ([Pick(1, Decimal(0))], "not above zero"),
        ([Pick(2), Pick(2)], "given twice"),
    ):
        with pytest.raises(CreditRefused, match=message):
            credit_note(engine, settings, invoiced, picks, on=LATER, actor="ana")
    second = credit_note(engine, settings, invoiced, parse_picks("1,2"), on=LATER, actor="ana")
    assert (second.number, second.gross_cents, second.remaining_cents) == (
        "AV2026-00002",
        -30_000,
        0,
    )
    with pytest.raises(CreditRefused, match="credited in full already"):
        credit_note(engine, settings, invoiced, on=LATER, actor="ana")
    with pytest.raises(CreditRefused, match="line 2 is credited in full already"):
        credit_note(engine, settings, invoiced, [Pick(2)], on=LATER, actor="ana")
    # Refusals took no number.
    assert numbers(engine, "AV") == ["AV2026-00001", "AV2026-00002"]


def test_what_cannot_be_credited_is_refused(
    engine: Engine, settings: Settings, invoiced: str
) -> None:
    with pytest.raises(CreditRefused, match="no issued invoice numbered F2026-00404"):
        credit_note(engine, settings, "F2026-00404", on=LATER, actor="ana")
    with pytest.raises(CreditRefused, match="after 2026-11-30"):
        credit_note(engine, settings, invoiced, on=date(2026, 11, 30), actor="ana")
    credit = credit_note(engine, settings, invoiced, [Pick(2)], on=LATER, actor="ana")
    with pytest.raises(CreditRefused, match="is a credit note, not an invoice"):
        credit_note(engine, settings, credit.number, on=LATER, actor="ana")
    for written in ("", "one", "1:x"):
        with pytest.raises(CreditRefused):
            parse_picks(written)
    assert parse_picks("1, 3:0.5") == [Pick(1), Pick(3, Decimal("0.5"))]


def test_the_receivables_see_the_credit_in_the_balance_and_dunning_stops(
    engine: Engine, engine_url: str, settings: Settings, invoiced: str
) -> None:
    reader = reader_for(engine_url)
    credit_note(engine, settings, invoiced, [Pick(1, Decimal(2))], on=LATER, actor="ana")
    [overdue] = overdue_invoices(reader, date(2027, 1, 5))
    assert overdue.balance == Decimal("180.00")  # 420.00 less 240.00
    with engine.connect() as connection:
        [summary] = [s for s in list_documents(connection) if s.number == invoiced]
    assert summary.balance_cents == 18_000
    assert summary.gross_cents == 42_000  # the invoice still says what it printed
    assert run_dunning(engine, settings, date(2027, 1, 5), _at(date(2027, 1, 5))).steps == 1

    credit_note(engine, settings, invoiced, on=date(2027, 1, 6), actor="ana")
    assert overdue_invoices(reader, date(2027, 1, 20)) == []
    assert run_dunning(engine, settings, date(2027, 1, 20), _at(date(2027, 1, 20))).steps == 0
    with engine.connect() as connection:
        state = connection.execute(text("SELECT state, total_cents FROM invoice")).one()
    assert tuple(state) == ("paid", 0)


def test_a_credit_note_is_audited(engine: Engine, settings: Settings, invoiced: str) -> None:
    credit_note(engine, settings, invoiced, [Pick(2)], on=LATER, actor="bob", reason="Double")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT actor, action, detail FROM audit ORDER BY id")).all()
    assert [(actor, action) for actor, action, _ in rows] == [
        ("ana", "issue"),
        ("bob", "credit_note"),
    ]
    assert '"corrects": "F2026-00001"' in rows[1][2] and '"reason": "Double"' in rows[1][2]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC)


def test_a_credit_note_failing_half_way_leaves_no_gap_and_the_invoice_owing(
    engine: Engine, settings: Settings, invoiced: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    # The number, the note, its lines and the receivables' change are written; the audit fails.
    monkeypatch.setattr(core.billing.credit, "write_audit", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        credit_note(engine, settings, invoiced, on=LATER, actor="ana")
    monkeypatch.undo()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT total_cents FROM invoice")).scalar() == 42_000
    assert numbers(engine, "AV") == []
    assert credit_note(engine, settings, invoiced, on=LATER, actor="ana").number == "AV2026-00001"
