"""Issuing invoices from drafts: one transaction each, idempotent, refused drafts
alone, the receivables row, and documents that never change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from core.billing.documents import UnknownDocument, issued_document, list_documents
from core.billing.issue import issue
from core.billing.model import DocumentKind, PaymentMethod
from core.billing.run import run_drafts
from core.config.settings import Settings
from core.receivables.aging import overdue_invoices
from core.receivables.dunning import run_dunning
from core.receivables.invoices import creditor_reference
from core.store.connect import reader_for
from core.store.db import create_db_engine, migrate
from core.store.models.system import Audit, table
from core.store.reader import HEAD_REVISION
from tests.core.billing.issuing_support import NOW, add_client, draft, line, numbers

ON = date(2026, 12, 1)


@pytest.fixture
def billing_settings() -> Settings:
    return Settings(
        agency="Studio Nord",
        billing={
            "seller": {"siren": "987654321", "iban": "FR7630006000011234567890189"},
            "creditor_id": "FR12ZZZ123456",
            "debit_notice_days": 10,
        },
    )


def test_an_issued_invoice_is_stored_as_printed_and_enters_the_receivables(
    engine: Engine, billing_settings: Settings
) -> None:
    client = add_client(engine)
    two_lines = draft(
        7, client, line("Retainer", "1", 50_000), line("Options", "2.5", 1_999, rate="5.5")
    )
    outcome = issue(engine, billing_settings, two_lines, on=ON, actor="ana", clock=lambda: NOW)

    assert (outcome.status, outcome.number) == ("issued", "F2026-00001")
    # 500.00 + 49.98 (49.975 rounded up); VAT 100.00 + 2.75 (2.7489 rounded).
    assert outcome.gross_cents == 50_000 + 4_998 + 10_000 + 275
    with engine.connect() as connection:
        invoice = connection.execute(text("SELECT * FROM invoice")).mappings().one()
        document = issued_document(connection, "F2026-00001", billing_settings)
    assert invoice["number"] == "F2026-00001"
    assert invoice["client_id"] == client
    assert str(invoice["issued_on"]) == "2026-12-01"  # text on SQLite, a date elsewhere
    assert str(invoice["due_on"]) == "2026-12-31"
    assert invoice["total_cents"] == outcome.gross_cents
    assert invoice["state"] == "open"
    assert invoice["creditor_reference"] == creditor_reference("F2026-00001")

    assert document.kind == DocumentKind.INVOICE
    assert document.seller.name == "Studio Nord"  # the agency: the seller names none
    assert document.seller.siren == "987654321"
    assert document.seller_iban == "FR7630006000011234567890189"
    assert document.buyer == two_lines.buyer
    assert document.lines == two_lines.lines
    assert document.totals == two_lines.totals
    assert (document.service_start, document.service_end) == (ON, date(2026, 12, 31))
    assert document.due_on == date(2026, 12, 31)
    assert document.creditor_reference == invoice["creditor_reference"]
    assert document.mandate is None and document.debit_on is None and document.creditor_id == ""
    audits = _audits(engine)
    assert [(row.action, row.actor) for row in audits] == [("issue", "ana")]
    assert '"number": "F2026-00001"' in audits[0].detail


def test_a_direct_debit_invoice_prints_its_mandate_and_debit_day(
    engine: Engine, billing_settings: Settings
) -> None:
    client = add_client(engine)
    issue(engine, billing_settings, draft(1, client, sepa=True), on=ON, actor="ana")
    with engine.connect() as connection:
        document = issued_document(connection, "F2026-00001", billing_settings)
    assert document.payment_method == PaymentMethod.SEPA_DEBIT
    assert document.mandate is not None and document.mandate.reference == "MD-1"
    assert document.mandate.signed_on == date(2026, 1, 5)
    assert document.debit_on == date(2026, 12, 11)
    assert document.creditor_id == "FR12ZZZ123456"


def test_a_contract_and_period_is_billed_once_whatever_is_rerun(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    drafts = [draft(contract, client) for contract in (1, 2, 3)]
    first = run_drafts(engine, settings, drafts, on=ON, actor="ana")
    assert [outcome.number for outcome in first.issued] == [
        "F2026-00001",
        "F2026-00002",
        "F2026-00003",
    ]
    # The same drafts again, with one new; even with other lines, a key billed stays billed.
    again = [draft(1, client, line(price_cents=1)), *drafts[1:], draft(4, client)]
    second = run_drafts(engine, settings, again, on=ON, actor="ana")
    assert [(o.status, o.number) for o in second.outcomes] == [
        ("already billed", "F2026-00001"),
        ("already billed", "F2026-00002"),
        ("already billed", "F2026-00003"),
        ("issued", "F2026-00004"),
    ]
    # Another period of the same contract is another invoice.
    january = draft(1, client, period_start=date(2027, 1, 1), period_end=date(2027, 1, 31))
    assert issue(engine, settings, january, on=date(2027, 1, 2), actor="ana").number == (
        "F2027-00001"
    )


def test_a_refused_draft_is_refused_alone_and_takes_no_number(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    empty = draft(1, client)
    drafts = [
        draft(1, client, line(quantity="0")),  # zero total
        type(empty)(**{**empty.__dict__, "lines": ()}),  # no lines
        draft(3, client, buyer="  "),
        draft(4, client),
        type(empty)(**{**draft(5, client, sepa=True).__dict__, "mandate": None}),
        draft(6, client + 99),  # no such client
        draft(7, client, line(price_cents=-500)),
        draft(8, client, line(start=date(2026, 12, 31), end=date(2026, 12, 1))),
        draft(9, client),
    ]
    result = run_drafts(engine, settings, drafts, on=ON, actor="ana")
    assert [(o.status, o.number) for o in result.outcomes] == [
        ("refused", None),
        ("refused", None),
        ("refused", None),
        ("issued", "F2026-00001"),
        ("refused", None),
        ("refused", None),
        ("refused", None),
        ("refused", None),
        ("issued", "F2026-00002"),
    ]
    reasons = [o.reason or "" for o in result.refused]
    assert "above zero" in reasons[0]
    assert "no lines" in reasons[1]
    assert "no name" in reasons[2]
    assert "mandate" in reasons[3]
    assert "no client" in reasons[4]
    assert "above zero" in reasons[5]
    assert "line 1" in reasons[6] and "before it starts" in reasons[6]
    assert numbers(engine) == ["F2026-00001", "F2026-00002"]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM invoice")).scalar() == 2


def test_a_dry_run_issues_nothing_and_takes_no_number(engine: Engine, settings: Settings) -> None:
    client = add_client(engine)
    issue(engine, settings, draft(1, client), on=ON, actor="ana")
    drafts = [draft(1, client), draft(2, client), draft(3, client, buyer="")]
    result = run_drafts(engine, settings, drafts, on=ON, actor="ana", dry_run=True)
    assert [o.status for o in result.outcomes] == ["already billed", "would issue", "refused"]
    assert numbers(engine) == ["F2026-00001"]
    seen: list[tuple[int, int]] = []
    run_drafts(
        engine, settings, drafts, on=ON, actor="ana", progress=lambda *done: seen.append(done)
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_an_issued_number_already_imported_is_refused_without_a_gap(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO invoice (number, client_id, issued_on, due_on, currency, total_cents,"
                " paid_cents, state, dunning_level, created_at, updated_at, fee_cents,"
                " dunning_paid_cents) VALUES ('F2026-00001', :client, '2026-11-01', '2026-12-01',"
                " 'EUR', 100, 0, 'open', 0, :at, :at, 0, 0)"
            ),
            {"client": client, "at": NOW.replace(tzinfo=None)},
        )
    outcome = issue(engine, settings, draft(1, client), on=ON, actor="ana")
    assert outcome.status == "refused"
    assert outcome.reason is not None and "already an invoice of the receivables" in outcome.reason
    assert numbers(engine) == []


def test_the_receivables_age_and_remind_an_issued_invoice(
    engine: Engine, engine_url: str, settings: Settings
) -> None:
    client = add_client(engine)
    issue(engine, settings, draft(1, client, terms=10), on=ON, actor="ana")
    reader = reader_for(engine_url)
    [overdue] = overdue_invoices(reader, date(2026, 12, 20))
    assert overdue.number == "F2026-00001"
    assert overdue.balance == Decimal("120.00")
    assert overdue.due_on == date(2026, 12, 11)
    assert overdue.bucket == "1-30"
    summary = run_dunning(
        engine, settings, date(2026, 12, 21), datetime(2026, 12, 21, 8, tzinfo=UTC)
    )
    assert summary.steps == 1


def test_an_issued_document_never_changes(engine: Engine, settings: Settings) -> None:
    client = add_client(engine)
    issue(engine, settings, draft(1, client), on=ON, actor="ana")
    attempts = [
        "UPDATE billingdocument SET gross_cents = 1",
        "UPDATE billingdocument SET buyer_name = 'Someone else'",
        "DELETE FROM billingdocument",
        "UPDATE billingline SET amount_cents = 1",
        "DELETE FROM billingline",
    ]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="never changes"), engine.begin() as connection:
            connection.execute(text(attempt))
    with engine.connect() as connection:
        document = issued_document(connection, "F2026-00001", settings)
    assert document.buyer.name == "Bigco SAS"
    assert document.totals.gross_cents == 12_000


def test_documents_are_listed_by_month_and_an_unknown_number_is_one_error(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    issue(engine, settings, draft(1, client), on=ON, actor="ana")
    january = draft(1, client, period_start=date(2027, 1, 1), period_end=date(2027, 1, 31))
    issue(engine, settings, january, on=date(2027, 1, 4), actor="ana")
    with engine.connect() as connection:
        everything = list_documents(connection)
        december = list_documents(connection, ON, date(2026, 12, 31))
        with pytest.raises(UnknownDocument, match="F2026-00099"):
            issued_document(connection, "F2026-00099", settings)
    assert [summary.number for summary in everything] == ["F2026-00001", "F2027-00001"]
    assert [(s.number, s.gross_cents, s.balance_cents) for s in december] == [
        ("F2026-00001", 12_000, 12_000)
    ]


def _audits(engine: Engine) -> list[Audit]:
    with engine.connect() as connection:
        return [Audit(**row) for row in connection.execute(table(Audit).select()).mappings()]


def test_a_database_upgraded_by_its_migrations_refuses_changes_too(
    tmp_path: Path, settings: Settings
) -> None:
    engine = create_db_engine(str(tmp_path / "migrated.db"))
    migrate(engine, HEAD_REVISION)
    client = add_client(engine)
    issue(engine, settings, draft(1, client), on=ON, actor="ana")
    for attempt in ("UPDATE billingdocument SET due_on = '2027-06-30'", "DELETE FROM billingline"):
        with pytest.raises(DBAPIError, match="never changes"), engine.begin() as connection:
            connection.execute(text(attempt))
    engine.dispose()


def test_an_invoice_the_database_refuses_in_a_group_is_refused_alone_without_a_gap(
    engine: Engine, settings: Settings
) -> None:
    client = add_client(engine)
    refuse = (
        "CREATE TRIGGER refuse_two BEFORE INSERT ON billingdocument WHEN NEW.contract_id = 2 "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        if engine.dialect.name == "sqlite"
        else "CREATE FUNCTION refuse_two() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.contract_id = 2 THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$; CREATE TRIGGER refuse_two BEFORE INSERT ON billingdocument "
        "FOR EACH ROW EXECUTE FUNCTION refuse_two()"
    )
    with engine.begin() as connection:
        connection.exec_driver_sql(refuse)

    result = run_drafts(engine, settings, [draft(n, client) for n in (1, 2, 3)], on=ON, actor="ana")

    assert [(o.status, o.number) for o in result.outcomes] == [
        ("issued", "F2026-00001"),
        ("refused", None),
        ("issued", "F2026-00002"),
    ]
    assert "refused by the test" in (result.outcomes[1].reason or "")
    assert numbers(engine) == ["F2026-00001", "F2026-00002"]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM invoice")).scalar() == 2
