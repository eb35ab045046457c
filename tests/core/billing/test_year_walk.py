"""A small agency billed month by month through 2026 with the monthly run.

Three contracts: Acme (hosting from January, ended mid-June: pro rata),
Bigco (from 16 March, pro rata, a usage line above its quota, paid by SEPA
direct debit whose first collection comes back) and Cido (quarterly in
arrears from September: its third quarter pro rata, billed in October). A
credit note in April. Every invoice's number and amounts are exact, each has
its Factur-X PDF and its email queued once, the run of each month is
idempotent, and the numbering has no gap. Then the billing audit: no month has
an invoice missing or extra, and the partner's report for May shows its two
discrepancies (Bigco's messages under-billed, a client the agency does not
know).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from facturx import get_xml_from_pdf
from pypdf import PdfReader
from sqlalchemy import Engine, text

from core.billing.audit_month import audit_month
from core.billing.contracts import Frequency, Line, LineKind, Timing, UsageSource
from core.billing.credit import credit_note, parse_picks
from core.billing.debits import debits_on
from core.billing.einvoice import validate
from core.billing.model import PaymentMethod
from core.billing.monthly import issue_month, preview
from core.billing.returns import apply_bank_lines
from core.billing.sepa import debit_file
from core.billing.usage import import_usage
from core.receivables.matching.matcher import match_new_lines
from core.receivables.statements.importer import import_statement
from core.store.db import write
from core.store.reader import EngineReader
from tests.core.billing.debit_support import billing_settings, camt054
from tests.core.billing.support import AT, IBAN, add_clients, contract, fee, store

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

# (month, number, buyer, net, VAT, gross) of every invoice of the year.
EXPECTED = [
    (1, "F2026-00001", "Acme SARL", 10_000, 2_000, 12_000),
    (2, "F2026-00002", "Acme SARL", 10_000, 2_000, 12_000),
    (3, "F2026-00003", "Acme SARL", 10_000, 2_000, 12_000),
    # 310.00 for 16 of March's 31 days.
    (3, "F2026-00004", "Bigco SAS", 16_000, 3_200, 19_200),
    (4, "F2026-00005", "Acme SARL", 10_000, 2_000, 12_000),
    (4, "F2026-00006", "Bigco SAS", 31_000, 6_200, 37_200),
    (5, "F2026-00007", "Acme SARL", 10_000, 2_000, 12_000),
    # April's 1,250 messages, 100 included: 1,150 at 0.05.
    (5, "F2026-00008", "Bigco SAS", 36_750, 7_350, 44_100),
    # 15 of June's 30 days.
    (6, "F2026-00009", "Acme SARL", 5_000, 1_000, 6_000),
    (6, "F2026-00010", "Bigco SAS", 31_000, 6_200, 37_200),
    (7, "F2026-00011", "Bigco SAS", 31_000, 6_200, 37_200),
    (8, "F2026-00012", "Bigco SAS", 31_000, 6_200, 37_200),
    (9, "F2026-00013", "Bigco SAS", 31_000, 6_200, 37_200),
    (10, "F2026-00014", "Bigco SAS", 31_000, 6_200, 37_200),
    # The third quarter in arrears: 3 months at 200.00, for 30 of its 92 days.
    (10, "F2026-00015", "Cido SA", 19_565, 3_913, 23_478),
    (11, "F2026-00016", "Bigco SAS", 31_000, 6_200, 37_200),
    (12, "F2026-00017", "Bigco SAS", 31_000, 6_200, 37_200),
]


def agency(engine: Engine) -> None:
    add_clients(engine, "Acme", "Bigco", "Cido")
    usage = Line(
        LineKind.USAGE, "Messages", unit_price_cents=5, included=Decimal(100),
        unit="message", source=UsageSource.FILE, service="sms",
    )  # fmt: skip
    store(
        engine,
        contract(
            "C-ACME", "Acme", start=date(2026, 1, 1), end=date(2026, 6, 15),
            lines=(fee("Hosting", 100),), billing_email="compta@acme.example",
        ),
        contract(
            "C-BIG", "Bigco", start=date(2026, 3, 16), legal_name="Bigco SAS",
            lines=(fee("Licence", 310), usage), payment_method=PaymentMethod.SEPA_DEBIT,
            iban=IBAN, mandate_reference="MDT-BIG-1", mandate_signed_on=date(2026, 3, 2),
            billing_email="ap@bigco.example",
        ),
        contract(
            "C-CIDO", "Cido", start=date(2026, 9, 1), legal_name="Cido SA",
            lines=(fee("Retainer", 200),), frequency=Frequency.QUARTERLY, timing=Timing.ARREARS,
            billing_email="factures@cido.example",
        ),
    )  # fmt: skip


def test_a_year_of_a_small_agency(engine: Engine, tmp_path: Path) -> None:
    agency(engine)
    folder = tmp_path / "invoices"
    settings = billing_settings(
        folder=str(folder),
        seller={
            "name": "Studio Nord SAS", "address": ["4 quai des Chartrons"], "postcode": "33000",
            "city": "Bordeaux", "siren": "732829320", "vat_number": "FR44732829320",
            "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP882",
        },
    )  # fmt: skip
    settings = settings.model_copy(
        update={
            "email": settings.email.model_copy(
                update={"host": "127.0.0.1", "sender": "f@s.example"}
            )
        }
    )
    usage = tmp_path / "usage.csv"
    usage.write_text("client,service,quantity,period\nBigco,sms,1250,2026-04\n", encoding="utf-8")
    with write(engine) as connection:
        import_usage(connection, usage, at=AT)
    seen: list[tuple[int, str, str, int, int, int]] = []
    sequences: dict[str, str] = {}
    for month in range(1, 13):
        first = date(2026, month, 1)
        with engine.connect() as connection:
            planned = preview(connection, first, settings)
        result = issue_month(
            engine, settings, first, first, "walk", clock=lambda: NOW, documents=True, send=True
        )
        assert not result.refused, result.refused
        assert result.document_problem is None, result.document_problem
        assert not result.email_problems and len(result.emailed) == len(result.issued)
        assert len(result.issued) == len(planned.to_issue)
        again = issue_month(engine, settings, first, first, "walk", clock=lambda: NOW)
        assert again.done_before or not result.issued
        for number, debit in result.debits.items():
            sequences[number] = debit.sequence
        with engine.connect() as connection:
            for number, buyer, net, vat, gross in connection.execute(
                text(
                    "SELECT number, buyer_name, net_cents, vat_cents, gross_cents"
                    " FROM billingdocument WHERE kind = 'invoice' AND issued_on = :on"
                    " ORDER BY number"
                ),
                {"on": first},
            ):
                seen.append((month, number, buyer, net, vat, gross))
        if month == 3:
            # Bigco's first collection comes back (insufficient funds): the next is FRST again.
            with write(engine) as connection:
                debit_file(
                    connection, date(2026, 3, 15), settings, now=NOW, path=tmp_path / "d.xml"
                )
            returned = camt054(
                tmp_path / "r.xml",
                [
                    ("192.00", "CRDT", "F2026-00004", None),
                    ("192.00", "DBIT", "F2026-00004", "AM04"),
                ],
            )
            import_statement(engine, returned, settings.banks, NOW)
            match_new_lines(engine, settings.banks, NOW)
            assert apply_bank_lines(engine, NOW).returned == [("F2026-00004", "AM04")]
        if month == 4:
            # Half of Acme's April hosting is credited.
            credit = credit_note(
                engine, settings, "F2026-00005", parse_picks("1:0.5"),
                on=date(2026, 4, 10), actor="walk", reason="outage",
            )  # fmt: skip
            assert (credit.number, credit.gross_cents) == ("AV2026-00001", -6_000)
    assert seen == EXPECTED
    assert sequences["F2026-00004"] == "FRST"
    assert sequences["F2026-00006"] == "FRST"  # first again after the return
    assert sequences["F2026-00008"] == "RCUR"
    with engine.connect() as connection:
        debits = debits_on(connection)
        owed = connection.execute(
            text("SELECT total_cents FROM invoice WHERE number = 'F2026-00005'")
        ).scalar_one()
    # One debit per Bigco invoice, the one returned kept as returned.
    assert len(debits) == 10
    assert [row.state for row in debits if row.invoice_number == "F2026-00004"] == ["returned"]
    # Each debit is collected the issue day plus the notice (14 days).
    assert {row.collect_on.day for row in debits} == {15}
    assert owed == 6_000  # what the receivables still ask for after the credit note
    with engine.connect() as connection:
        emails = (
            connection.execute(
                text("SELECT to_address FROM outgoing_email WHERE kind = 'invoice' ORDER BY id")
            )
            .scalars()
            .all()
        )
    assert len(emails) == len(EXPECTED) and emails[-1] == "ap@bigco.example"
    # Each invoice's Factur-X PDF: readable, its embedded XML valid, its amounts the invoice's.
    files = sorted(path.name for path in folder.iterdir())
    assert files == [f"{number}.pdf" for _, number, *_ in EXPECTED]
    for _month, number, buyer, _net, _vat, gross in EXPECTED[::4]:
        pdf = folder / f"{number}.pdf"
        words = "".join(page.extract_text() for page in PdfReader(pdf).pages)
        assert number in words and buyer in words
        _, xml = get_xml_from_pdf(pdf.read_bytes(), check_xsd=False)
        validate(xml)
        assert f"<ram:GrandTotalAmount>{gross / 100:.2f}</ram:GrandTotalAmount>" in xml.decode()


def test_the_audit_of_the_year_finds_nobody_forgotten_and_the_partners_two_discrepancies(
    engine: Engine, tmp_path: Path
) -> None:
    agency(engine)
    settings = billing_settings()
    usage = tmp_path / "usage.csv"
    usage.write_text("client,service,quantity,period\nBigco,sms,1250,2026-04\n", encoding="utf-8")
    with write(engine) as connection:
        import_usage(connection, usage, at=AT)
    for month in range(1, 13):
        first = date(2026, month, 1)
        issue_month(engine, settings, first, first, "walk", clock=lambda: NOW)
    reader = EngineReader(engine)
    with engine.connect() as connection:
        for month in range(1, 13):
            report = audit_month(connection, reader, date(2026, month, 1), settings)
            assert report.findings == 0, (month, report.as_dict())
    partner = tmp_path / "partner.csv"
    partner.write_text(
        "client,service,quantity,period\n"
        "Acme,Hosting,1,2026-05\n"
        "Bigco,Messages,1300,2026-05\n"
        "Dupont,Hosting,1,2026-05\n",
        encoding="utf-8",
    )
    with engine.connect() as connection:
        report = audit_month(connection, reader, date(2026, 5, 1), settings, partner=partner)
    assert report.partner is not None
    [difference] = report.partner.differences
    assert (difference.client, difference.line, difference.measured, difference.billed) == (
        "Bigco", "Messages", Decimal(1300), Decimal(1150),
    )  # fmt: skip
    assert (difference.direction, difference.amount_cents) == ("under", 750)
    assert [(item.client, item.services) for item in report.partner.unknown_clients] == [
        ("Dupont", ("Hosting",))
    ]
    assert report.findings == 2
    totals = report.totals()
    assert (totals["under_billed_lines"], totals["under_billed_cents"]) == (1, 750)
    assert totals["unknown_clients"] == 1 and totals["missing_invoices"] == 0
