"""`pmdesk billing run`, as a user runs it: the preview, the issue, a re-run, refusals."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from core.billing.contracts import edit_contract
from core.store.db import open_database, write
from pmdesk.cli import app
from tests.core.billing.support import AT, add_clients, contract, fee, store

runner = CliRunner()
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


SELLER = """
[billing]
folder = "{folder}"
[billing.seller]
name = "Atelier Durand"
address = ["12 rue des Lilas"]
postcode = "69003"
city = "Lyon"
siren = "732829320"
vat_number = "FR44732829320"
iban = "FR7630006000011234567890189"
bic = "AGRIFRPP"
"""


def seed(env: dict[str, str]) -> None:
    """Acme from November (310.00 then Hosting and Backup from December), Bigco from December;
    a seller whose invoices carry every mention, and a folder for them."""
    config = Path(env["PMDESK_CONFIG"])
    folder = config.parent / "invoices"
    config.write_text(config.read_text() + SELLER.format(folder=folder))
    engine = open_database(env["PMDESK_DB"])
    add_clients(engine, "Acme", "Bigco")
    store(
        engine,
        contract("C-ACME", "Acme", start=NOV),
        contract("C-BIG", "Bigco", start=DEC, legal_name="Bigco SAS", lines=(fee("Licence", 100),)),
    )
    with write(engine) as connection:
        edit_contract(
            connection, "C-ACME", DEC, {"lines": (fee("Hosting", 310), fee("Backup", 20))},
            actor="test", at=AT,
        )  # fmt: skip
    engine.dispose()


def count(env: dict[str, str]) -> int:
    engine = open_database(env["PMDESK_DB"])
    with engine.connect() as connection:
        found = connection.execute(text("SELECT count(*) FROM billingdocument")).scalar()
    engine.dispose()
    return int(found or 0)


def test_a_dry_run_previews_the_month_and_issues_nothing(env: dict[str, str]) -> None:
    seed(env)
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--dry-run")
    assert code == 0
    assert "Acme" in output and "Bigco" in output
    assert "Backup" in output and "Licence" in output
    assert "C-BIG" in output and "new" in output
    assert count(env) == 0
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--dry-run", "--json")
    seen = json.loads(output)
    assert seen["to_issue"] == 2 and seen["net_cents"] == 33_000 + 10_000
    assert {change["reference"]: change["kind"] for change in seen["changes"]} == {
        "C-ACME": "lines",
        "C-BIG": "new",
    }


def test_the_run_issues_each_draft_once(env: dict[str, str]) -> None:
    seed(env)
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--on", "2026-12-01")
    assert code == 0
    assert "2 invoices issued: F2026-00001 – F2026-00002" in output
    assert "2 documents written to" in output
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--json")
    assert code == 0
    done = json.loads(output)["run"]
    assert done["issued"] == 0 and done["already_billed"] == 2
    assert [item["number"] for item in done["outcomes"]] == ["F2026-00001", "F2026-00002"]
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--dry-run")
    assert "already billed F2026-00001" in output
    assert count(env) == 2


def test_refused_drafts_exit_1_and_take_no_number(env: dict[str, str]) -> None:
    seed(env)
    code, _, _ = run(env, "billing", "run", "--month", "2026-11", "--on", "2026-12-20")
    assert code == 0 and count(env) == 1
    # December issued on a day before the series' last: refused, no number taken.
    code, _, errors = run(env, "billing", "run", "--month", "2026-12", "--on", "2026-12-01")
    assert code == 1
    assert "refused: C-ACME" in errors and "refused: C-BIG" in errors
    assert count(env) == 1


def test_a_bad_month_is_refused(env: dict[str, str]) -> None:
    code, _, errors = run(env, "billing", "run", "--month", "December")
    assert code == 2 and "not a month" in errors


def test_each_invoice_gets_its_factur_x_pdf_once(env: dict[str, str]) -> None:
    from facturx import get_xml_from_pdf
    from pypdf import PdfReader

    from core.billing.einvoice import validate

    seed(env)
    folder = Path(env["PMDESK_CONFIG"]).parent / "invoices"
    code, _, _ = run(env, "billing", "run", "--month", "2026-12", "--no-documents")
    assert code == 0 and not folder.exists()
    # A re-run writes the PDFs the first run did not.
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--json")
    assert code == 0
    files = json.loads(output)["run"]["files"]
    assert [Path(name).name for name in files] == ["F2026-00001.pdf", "F2026-00002.pdf"]
    pdf = folder / "F2026-00002.pdf"
    assert "Bigco SAS" in "".join(page.extract_text() for page in PdfReader(pdf).pages)
    _, xml = get_xml_from_pdf(pdf.read_bytes(), check_xsd=False)
    validate(xml)
    before = pdf.stat().st_mtime_ns
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--json")
    assert json.loads(output)["run"]["files"] == [] and pdf.stat().st_mtime_ns == before


def test_documents_that_cannot_be_made_exit_1_and_the_invoices_stay_issued(
    env: dict[str, str],
) -> None:
    seed(env)
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(config.read_text().replace('siren = "732829320"', 'siren = "123"'))
    code, _, errors = run(env, "billing", "run", "--month", "2026-12")
    assert code == 1
    assert "documents not written" in errors and "SIREN" in errors
    assert count(env) == 2


def test_send_queues_each_invoices_email_once_and_names_those_without_an_address(
    env: dict[str, str],
) -> None:
    seed(env)
    code, _, errors = run(env, "billing", "run", "--month", "2026-12", "--send")
    assert code == 2 and "[email].host" in errors and count(env) == 0
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(
        config.read_text()
        + '[email]\nhost = "127.0.0.1"\nsender = "billing@studio.example"\n'
        + '[reports.clients."Acme"]\nemail = "compta@acme.example"\n'
    )
    code, output, errors = run(env, "billing", "run", "--month", "2026-12", "--send")
    # Bigco has no billing address: named, the rest done.
    assert code == 1
    assert "1 email queued" in output
    assert "F2026-00002: no email queued: no email address known for Bigco" in errors
    code, output, _ = run(env, "billing", "run", "--month", "2026-12", "--send", "--json")
    assert json.loads(output)["run"]["emailed"] == []  # once per invoice
    engine = open_database(env["PMDESK_DB"])
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT to_address, subject FROM outgoing_email")).all()
    engine.dispose()
    assert len(rows) == 1 and "compta@acme.example" in rows[0][0] and "F2026-00001" in rows[0][1]
