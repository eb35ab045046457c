"""The monthly run's two steps: the preview (what would be issued, what changed) and the issue."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, text

from core.billing.contracts import edit_contract
from core.billing.model import PaymentMethod
from core.billing.monthly import (
    confirm_month,
    issue_month,
    month_of,
    preview,
    previous_month,
    queue_month_preview,
)
from core.config.settings import Settings
from core.store.db import write
from tests.core.billing.support import AT, IBAN, add_clients, contract, fee, store

NOV, DEC, JAN = date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)


@pytest.fixture
def agency(engine: Engine) -> Engine:
    add_clients(engine, "Acme", "Bigco", "Cido")
    store(
        engine,
        contract("C-ACME", "Acme", start=NOV),
        contract("C-BIG", "Bigco", start=DEC, legal_name="Bigco SAS", lines=(fee("Licence", 100),)),
        contract("C-CIDO", "Cido", start=NOV, legal_name="Cido SA"),
    )
    with write(engine) as connection:
        edit_contract(
            connection,
            "C-ACME",
            DEC,
            {"lines": (fee("Hosting", 310), fee("Backup", 20))},
            actor="test",
            at=AT,
        )
    return engine


def test_month_of_reads_a_month_and_refuses_anything_else() -> None:
    assert month_of("2026-12") == DEC
    assert previous_month(JAN) == DEC and previous_month(DEC) == NOV
    with pytest.raises(ValueError, match="not a month"):
        month_of("December")
    with pytest.raises(ValueError, match="not a month"):
        month_of("2026-13")


def test_the_preview_says_what_each_draft_bills_and_what_changed(agency: Engine) -> None:
    with agency.connect() as connection:
        seen = preview(connection, DEC, Settings())
    assert [(item.reference, item.status) for item in seen.drafts] == [
        ("C-ACME", "would issue"),
        ("C-BIG", "would issue"),
        ("C-CIDO", "would issue"),
    ]
    acme = seen.drafts[0]
    assert [line.description for line in acme.draft.lines] == ["Hosting", "Backup"]
    assert acme.totals.net_cents == 33_000 and acme.totals.gross_cents == 39_600
    assert seen.totals.net_cents == 33_000 + 10_000 + 31_000
    kinds = {seen.references[change.contract_id]: change.kind for change in seen.changes}
    assert kinds == {"C-ACME": "lines", "C-BIG": "new"}
    added = next(change for change in seen.changes if change.kind == "lines").added
    assert added == ("Backup",)
    as_json = seen.as_dict()
    assert as_json["to_issue"] == 3 and as_json["changes"][0]["reference"] == "C-ACME"
    # Nothing was issued.
    with agency.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM billingdocument")).scalar() == 0


def test_issue_month_issues_once_whatever_is_re_run(agency: Engine) -> None:
    heard: list[tuple[str, int, int]] = []
    first = issue_month(
        agency,
        Settings(),
        DEC,
        DEC,
        "ana",
        lambda step, done, total: heard.append((step, done, total)),
    )
    assert [item.number for item in first.issued] == ["F2026-00001", "F2026-00002", "F2026-00003"]
    assert heard[-1] == ("issue", 3, 3)
    assert not first.done_before
    again = issue_month(agency, Settings(), DEC, date(2026, 12, 2), "ana")
    assert again.done_before and not again.issued
    assert [item.number for item in again.already_billed] == [
        "F2026-00001",
        "F2026-00002",
        "F2026-00003",
    ]
    with agency.connect() as connection:
        seen = preview(connection, DEC, Settings())
    assert {item.status for item in seen.drafts} == {"already billed"}
    assert seen.totals.gross_cents == 0


def test_two_runs_at_once_issue_each_contract_once(agency: Engine) -> None:
    results = []

    def run() -> None:
        results.append(issue_month(agency, Settings(), DEC, DEC, "ana"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issued = sorted(item.number or "" for result in results for item in result.issued)
    assert issued == ["F2026-00001", "F2026-00002", "F2026-00003"]
    with agency.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM billingdocument")).scalar() == 3


def test_a_direct_debit_is_planned_once_per_invoice_on_the_notice_day(engine: Engine) -> None:
    add_clients(engine, "Acme")
    store(
        engine,
        contract(
            "C-ACME",
            "Acme",
            start=DEC,
            payment_method=PaymentMethod.SEPA_DEBIT,
            iban=IBAN,
            mandate_reference="M-1",
            mandate_signed_on=NOV,
        ),
    )
    settings = Settings(billing={"debit_notice_days": 14})
    heard: list[tuple[str, int, int]] = []
    first = issue_month(engine, settings, DEC, DEC, "ana", lambda *step: heard.append(step))
    debit = first.debits["F2026-00001"]
    assert (debit.sequence, debit.collect_on, debit.amount_cents) == (
        "FRST",
        date(2026, 12, 15),
        37_200,
    )
    assert heard[-1] == ("debits", 1, 1)
    again = issue_month(engine, settings, DEC, DEC, "ana")
    assert again.done_before and again.debits == {}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM debit")).scalar() == 1


# -- the scheduled run ---------------------------------------------------------------------


def scheduled(engine: Engine) -> tuple[Settings, dict[str, int]]:
    from tests.bots.support import team

    staff = team(engine, AT)
    add_clients(engine, "Acme")
    store(engine, contract("C-ACME", "Acme", start=NOV))
    return Settings(billing={"scheduled_run": True}), staff


def previews(engine: Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT recipient_id, dedupe_key, text FROM notification WHERE kind = 'billing_run'"
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_the_preview_goes_to_the_assistants_once_from_the_first_business_day(
    engine: Engine,
) -> None:
    settings, staff = scheduled(engine)
    # November 2026 in Paris: the 1st is a Sunday; Monday the 2nd opens at 09:00 (the run's hour).
    for instant in (
        datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 7, 30, tzinfo=UTC),
    ):
        assert queue_month_preview(engine, settings, lambda at=instant: at) == 0
    assert previews(engine) == []
    monday = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert queue_month_preview(engine, settings, lambda: monday) == 1
    assert queue_month_preview(engine, settings, lambda: monday) == 0  # once a month
    later = datetime(2026, 11, 5, 8, 30, tzinfo=UTC)
    assert queue_month_preview(engine, settings, lambda: later) == 0
    [(recipient, key, said)] = previews(engine)
    assert recipient == staff["ana"] and key == f"billing-run:2026-11:{staff['ana']}"
    assert said.startswith("Billing 2026-11: 1 invoice to issue, 310.00 EUR HT, 372.00 EUR TTC.")
    assert "Acme C-ACME: new, 310.00 EUR" in said
    # Without the setting, nothing.
    quiet = Settings()
    assert queue_month_preview(engine, quiet, lambda: datetime(2026, 12, 1, 9, tzinfo=UTC)) == 0


def test_issue_is_the_assistants_word_and_issues_once(engine: Engine) -> None:
    settings, staff = scheduled(engine)
    monday = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    queue_month_preview(engine, settings, lambda: monday)
    with engine.connect() as connection:
        notification = connection.execute(text("SELECT id FROM notification")).scalar_one()
    pressed = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    refused = confirm_month(engine, settings, notification, staff["max"], clock=lambda: pressed)
    assert refused.status == "refused" and refused.result is None
    first = confirm_month(engine, settings, notification, staff["ana"], clock=lambda: pressed)
    assert first.status == "issued"
    # No seller configured: the PDFs cannot carry the mentions; the invoice stays issued.
    assert first.text == (
        "Issued 1 invoice: F2026-00001."
        " The PDFs could not be written: run pmdesk billing run to see why."
    )
    again = confirm_month(engine, settings, notification, staff["ana"], clock=lambda: pressed)
    assert again.status == "done" and again.text.startswith("Already done")
    assert confirm_month(engine, settings, 999, staff["ana"]).status == "gone"
    with engine.connect() as connection:
        issued = connection.execute(text("SELECT number, issued_on FROM billingdocument")).all()
    assert [(number, str(day)) for number, day in issued] == [("F2026-00001", "2026-11-02")]
