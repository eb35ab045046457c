"""`pmdesk billing credit-note | list | show`, as a user runs them."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import text
from typer.testing import CliRunner

from core.billing.issue import issue
from core.config.settings import Settings
from core.store.db import open_database
from pmdesk.cli import app
from tests.core.billing.issuing_support import add_client, draft, line

runner = CliRunner()


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def seed(env: dict[str, str]) -> None:
    """F2026-00001 (December: 2 licences at 100.00, 20 % VAT) and F2027-00001 (January)."""
    engine = open_database(env["PMDESK_DB"])
    client = add_client(engine)
    settings = Settings(agency="Studio Nord")
    december = draft(1, client, line("Licences", "2", 10_000), line("Hosting", "1", 5_000))
    issue(engine, settings, december, on=date(2026, 12, 1), actor="ana")
    january = draft(1, client, period_start=date(2027, 1, 1), period_end=date(2027, 1, 31))
    issue(engine, settings, january, on=date(2027, 1, 4), actor="ana")
    engine.dispose()


def test_billing_list_shows_the_issued_documents_of_a_month(env: dict[str, str]) -> None:
    seed(env)
    code, output, _ = run(env, "billing", "list", "--month", "2026-12")
    assert code == 0
    assert "F2026-00001" in output and "F2027-00001" not in output
    assert "Bigco SAS" in output
    code, output, _ = run(env, "billing", "list", "--json")
    listed = json.loads(output)
    assert [item["number"] for item in listed] == ["F2026-00001", "F2027-00001"]
    assert listed[0]["gross_cents"] == 30_000 and listed[0]["balance_cents"] == 30_000
    code, _, errors = run(env, "billing", "list", "--month", "December")
    assert code == 2 and "not a month" in errors


def test_billing_show_prints_the_document_as_issued(env: dict[str, str]) -> None:
    seed(env)
    code, output, _ = run(env, "billing", "show", "F2026-00001")
    assert code == 0
    assert "Licences" in output and "Hosting" in output
    assert "Studio Nord" not in output  # the configuration names the agency otherwise
    assert "Our agency" in output
    code, output, _ = run(env, "billing", "show", "F2026-00001", "--json")
    shown = json.loads(output)
    assert shown["totals"]["gross_cents"] == 30_000
    assert shown["buyer"]["name"] == "Bigco SAS"
    code, _, errors = run(env, "billing", "show", "F2026-09999")
    assert code == 1 and "no issued invoice or credit note numbered F2026-09999" in errors


def test_billing_credit_note_credits_lines_and_refuses_beyond(env: dict[str, str]) -> None:
    seed(env)
    code, output, errors = run(
        env, "billing", "credit-note", "F2026-00001", "--lines", "1:1", "--reason", "One licence",
        "--date", "2027-01-05", "--json",
    )  # fmt: skip
    assert code == 0, errors
    assert json.loads(output) == {
        "number": "AV2027-00001",
        "corrects": "F2026-00001",
        "gross_cents": -12_000,
        "remaining_cents": 18_000,
    }
    code, _, errors = run(
        env, "billing", "credit-note", "F2026-00001", "--lines", "1:2", "--date", "2027-01-05"
    )
    assert code == 1 and "has 1 left to credit, not 2" in errors
    code, _, errors = run(env, "billing", "credit-note", "F2026-00001", "--lines", "first")
    assert code == 2 and "'first' is not a line" in errors
    code, output, _ = run(env, "billing", "credit-note", "F2026-00001", "--date", "2027-01-06")
    assert code == 0 and "AV2027-00002 credits F2026-00001" in output
    engine = open_database(env["PMDESK_DB"])
    with engine.connect() as connection:
        owed = connection.execute(
            text("SELECT total_cents - paid_cents FROM invoice WHERE number = 'F2026-00001'")
        ).scalar()
    engine.dispose()
    assert owed == 0
    code, output, _ = run(env, "billing", "show", "AV2027-00002")
    assert "F2026-00001" in output and "One licence" not in output
