"""`pmdesk billing debits`: the file of a date, the refusals, the list."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from lxml import etree
from typer.testing import CliRunner

from core.billing.debits import plan_debit
from core.store.db import open_database, write
from pmdesk.cli import app
from tests.core.billing.debit_support import MANDATE, NOW, add_invoices, camt054

runner = CliRunner()
BILLING = """
[billing]
creditor_id = "FR72ZZZ123456"
[billing.seller]
name = "Studio Nord SAS"
iban = "FR7630006000011234567890189"
bic = "AGRIFRPP882"
"""


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def seed(env: dict[str, str]) -> None:
    engine = open_database(env["PMDESK_DB"])
    (invoice,) = add_invoices(engine, ("F2026-00001", 12000))
    with write(engine) as connection:
        plan_debit(connection, invoice, MANDATE, 12000, date(2026, 12, 15), now=NOW)
    engine.dispose()


def configure(env: dict[str, str]) -> None:
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(config.read_text() + BILLING)


def test_the_file_of_a_date_then_the_list(env: dict[str, str], tmp_path: Path) -> None:
    configure(env)
    seed(env)
    output = tmp_path / "bank" / "dd.xml"

    code, stdout, stderr = run(
        env, "billing", "debits", "--date", "2026-12-15", "--output", str(output), "--json"
    )
    twice = run(env, "billing", "debits", "--date", "2026-12-15", "--output", str(output))
    listed = json.loads(run(env, "billing", "debits", "list", "--json")[1])
    table = run(env, "billing", "debits", "list")[1]

    assert code == 0, stderr
    assert json.loads(stdout) == {
        "file": str(output), "count": 1, "total_cents": 12000,
        "blocks": [{"sequence": "FRST", "count": 1, "cents": 12000}],
    }  # fmt: skip
    root = etree.fromstring(output.read_bytes())
    assert root.tag.endswith("Document")
    assert twice[0] == 2 and "--again" in twice[2]
    assert [(row["invoice"], row["state"], row["file"]) for row in listed] == [
        ("F2026-00001", "exported", "dd.xml")
    ]
    assert "F2026-00001" in table and "FRST" in table


def test_refusals_say_why(env: dict[str, str], tmp_path: Path) -> None:
    seed(env)
    unconfigured = run(env, "billing", "debits", "--date", "2026-12-15")
    configure(env)
    nothing = run(env, "billing", "debits", "--date", "2026-12-16")
    bad_date = run(env, "billing", "debits", "--date", "15/12/2026")

    assert unconfigured[0] == 2 and "billing.creditor_id" in unconfigured[2]
    assert nothing[0] == 2 and "nothing to collect on 2026-12-16" in nothing[2]
    assert bad_date[0] == 2 and "not an ISO date" in bad_date[2]
    assert not list(tmp_path.rglob("debits-*.xml"))


def test_a_statement_import_settles_the_debits_it_collects_and_returns(
    env: dict[str, str], tmp_path: Path
) -> None:
    configure(env)
    seed(env)
    assert (
        run(env, "billing", "debits", "--date", "2026-12-15", "--output", str(tmp_path / "dd.xml"))[
            0
        ]
        == 0
    )
    paid = camt054(tmp_path / "n1.xml", [("120.00", "CRDT", "F2026-00001", None)])
    back = camt054(tmp_path / "n2.xml", [("120.00", "DBIT", "F2026-00001", "AM04")])

    first = json.loads(run(env, "payments", "import", str(paid), "--json")[1])
    state_after_credit = json.loads(run(env, "billing", "debits", "list", "--json")[1])[0]["state"]
    code, stdout, _ = run(env, "payments", "import", str(back))
    listed = json.loads(run(env, "billing", "debits", "list", "--json")[1])

    assert first["auto_matched"] == 1 and first["debits_collected"] == 1
    assert state_after_credit == "collected"
    assert code == 0 and "F2026-00001 returned (AM04)" in stdout
    assert listed[0]["state"] == "returned"
