"""The pain.008 file: built by sepaxml, checked against the schema it ships, read back with lxml."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import Engine, text

from core.billing.debits import DebitError, debits_on, plan_debit
from core.billing.model import Mandate
from core.billing.sepa import debit_file
from core.store.db import write
from tests.core.billing.debit_support import MANDATE, NOW, OTHER, add_invoices, billing_settings

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
DAY = date(2026, 12, 15)


def plan_three(engine: Engine) -> None:
    ids = add_invoices(engine, ("F2026-00001", 12000), ("F2026-00002", 9050), ("F2026-00003", 500))
    with write(engine) as connection:
        # MANDATE used once before: its December debit is RCUR.
        plan_debit(connection, ids[0], MANDATE, 12000, date(2026, 11, 15), now=NOW)
        connection.execute(
            text("UPDATE debit SET state = 'collected' WHERE invoice_number = 'F2026-00001'")
        )
        plan_debit(connection, ids[1], MANDATE, 9050, DAY, now=NOW)
        plan_debit(connection, ids[2], OTHER, 500, DAY, now=NOW)


def test_the_file_passes_its_schema_and_carries_each_debit(engine: Engine, tmp_path: Path) -> None:
    plan_three(engine)
    path = tmp_path / "out" / "debits.xml"
    with write(engine) as connection:
        made = debit_file(connection, DAY, billing_settings(), now=NOW, path=path)

    root = etree.fromstring(path.read_bytes())
    assert made.data == path.read_bytes()
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert root.findtext("p:CstmrDrctDbtInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "95.50"
    blocks = root.findall("p:CstmrDrctDbtInitn/p:PmtInf", namespaces=NS)
    found = {}
    for block in blocks:
        sequence = block.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS)
        assert block.findtext("p:ReqdColltnDt", namespaces=NS) == "2026-12-15"
        assert block.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == (
            "FR7630006000011234567890189"
        )
        assert (
            block.findtext("p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=NS)
            == "FR72ZZZ123456"
        )
        for tx in block.findall("p:DrctDbtTxInf", namespaces=NS):
            found[tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS)] = (
                sequence,
                tx.findtext("p:InstdAmt", namespaces=NS),
                tx.findtext("p:DrctDbtTx/p:MndtRltdInf/p:MndtId", namespaces=NS),
                tx.findtext("p:DrctDbtTx/p:MndtRltdInf/p:DtOfSgntr", namespaces=NS),
                tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS),
            )
    assert len(blocks) == 2
    assert found == {
        "F2026-00002": ("RCUR", "90.50", "MDT-DUPONT-1", "2026-01-15", "DE89370400440532013000"),
        "F2026-00003": (
            "FRST",
            "5.00",
            "MDT-MARTIN-1",
            "2026-03-02",
            "FR1420041010050500013M02606",
        ),
    }
    assert made.blocks == [("FRST", 1, 500), ("RCUR", 1, 9050)]
    with engine.connect() as connection:
        states = {
            row.invoice_number: (row.state, row.file_name) for row in debits_on(connection, DAY)
        }
    assert states == {
        "F2026-00002": ("exported", "debits.xml"),
        "F2026-00003": ("exported", "debits.xml"),
    }
    assert not list(path.parent.glob("*.part"))


def test_a_date_exported_already_is_refused_unless_asked_again(
    engine: Engine, tmp_path: Path
) -> None:
    plan_three(engine)
    with write(engine) as connection:
        debit_file(connection, DAY, billing_settings(), now=NOW, path=tmp_path / "a.xml")
    with pytest.raises(DebitError, match=r"in a.xml already; --again"), write(engine) as connection:
        debit_file(connection, DAY, billing_settings(), now=NOW, path=tmp_path / "b.xml")
    assert not (tmp_path / "b.xml").exists()
    with write(engine) as connection:
        again = debit_file(
            connection, DAY, billing_settings(), now=NOW, path=tmp_path / "c.xml", again=True
        )
    assert again.count == 2


def test_a_date_with_nothing_to_collect_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DebitError, match="nothing to collect on 2026-12-15"), write(engine) as c:
        debit_file(c, DAY, billing_settings(), now=NOW, path=tmp_path / "d.xml")


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (billing_settings(creditor_id=""), "billing.creditor_id"),
        (billing_settings(seller={"name": "S", "bic": "AGRIFRPP882"}), "billing.seller.iban"),
    ],
)
def test_missing_creditor_settings_are_refused(
    engine: Engine, tmp_path: Path, settings: object, why: str
) -> None:
    plan_three(engine)
    with pytest.raises(DebitError, match=why), write(engine) as connection:
        debit_file(connection, DAY, settings, now=NOW, path=tmp_path / "d.xml")  # type: ignore[arg-type]


def test_a_file_its_schema_rejects_is_refused_and_nothing_is_exported(
    engine: Engine, tmp_path: Path
) -> None:
    (invoice,) = add_invoices(engine, ("F2026-00001", 12000))
    bad = Mandate(MANDATE.reference, MANDATE.signed_on, MANDATE.iban, "NOT A BIC")
    with write(engine) as connection:
        plan_debit(connection, invoice, bad, 12000, DAY, now=NOW)
    path = tmp_path / "debits.xml"

    refusal = pytest.raises(DebitError, match="does not pass its schema")
    with refusal as refused, write(engine) as connection:
        debit_file(connection, DAY, billing_settings(), now=NOW, path=path)

    assert "BIC" in str(refused.value) or "pattern" in str(refused.value)
    assert not path.exists() and not list(tmp_path.glob("*.part"))
    with engine.connect() as connection:
        assert [row.state for row in debits_on(connection)] == ["planned"]
