"""Contracts and usage from files: each bad one refused alone, a re-import changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.billing.contract_files import (
    ContractFileError,
    ContractImport,
    import_contracts,
    line_of_spec,
)
from core.billing.contracts import Frequency, LineKind, Tier, Timing, UsageSource, load_contracts
from core.billing.model import PaymentMethod
from core.billing.usage import UsageSummary, import_usage
from core.config.billing import BillingConfig
from core.store.db import write
from core.store.models.contracts import UsageRecord
from core.store.models.system import table
from tests.core.billing.support import AT, IBAN, add_clients

CSV = (
    "reference,client,legal_name,address,postcode,city,start,end,frequency,timing,"
    "payment_method,iban,mandate_reference,mandate_signed_on,language,"
    "line_kind,line_description,line_amount,line_per,line_unit_price,line_tiers,"
    "line_included,line_unit,line_source\n"
    "C-1,Acme,Acme SARL,1 rue de la Paix|Bât. B,75002,Paris,2026-12-01,,monthly,advance,"
    f"sepa_debit,{IBAN},M-1,2026-11-02,fr,fee,Hosting,150,month,,,,,\n"
    "C-1,,,,,,,,,,,,,,,usage,Support,,,,10:80;*:60,5,h,worksection_hours\n"
    "C-2,Nobody,Nobody Ltd,,,,2026-12-01,,monthly,advance,transfer,,,,en,fee,Hosting,100,,,,,,\n"
    "C-3,Bigco,Bigco Ltd,,,,2026-12-01,2026-11-01,monthly,advance,transfer,,,,en,"
    "fee,Hosting,100,,,,,,\n"
    "C-4,Bigco,Bigco Ltd,,,,2026-12-01,,yearly,arrears,transfer,,,,en,option,Backup,,,,,,,\n"
    "C-5,Bigco,Bigco Ltd,,,,2027-01-01,,quarterly,arrears,transfer,,,,en,option,Backup,20,,,,,,\n"
)

TOML = """
[[contract]]
reference = "T-1"
client = "Acme"
legal_name = "Acme SARL"
address = ["1 rue de la Paix"]
start = 2026-12-01
frequency = "yearly"
vat_rate = 5.5

  [[contract.line]]
  kind = "fee"
  description = "Licence"
  amount = 1200
  per = "year"

  [[contract.line]]
  kind = "usage"
  description = "Messages"
  unit_price = "0.10"
  included = 100
  unit = "message"
  source = "file"
  service = "sms"

[[contract]]
reference = "T-2"
client = "Bigco"
legal_name = "Bigco Ltd"
start = 2026-12-01
payment_method = "sepa_debit"
iban = "FR7630006000011234567890188"
mandate_reference = "M-2"

  [[contract.line]]
  kind = "fee"
  description = "Hosting"
  amount = 100
"""


@pytest.fixture
def clients(engine: Engine) -> Engine:
    add_clients(engine, "Acme", "Bigco")
    return engine


def load(engine: Engine, path: Path) -> ContractImport:
    with write(engine) as connection:
        return import_contracts(connection, path, BillingConfig(), actor="import", at=AT)


def test_a_csv_keeps_the_good_contracts_and_refuses_each_bad_one_with_its_rows(
    clients: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text(CSV.replace("10:80;*:60", '"10:80,*:60"'), encoding="utf-8")
    summary = load(clients, path)
    results = {result.reference: result for result in summary.results}
    assert results["C-1"].status == "created" and results["C-1"].where == "lines 2-3"
    assert results["C-5"].status == "created"
    assert results["C-2"].reason == "unknown client 'Nobody'"
    assert results["C-3"].where == "line 5"
    assert "the end (2026-11-01) is before the start (2026-12-01)" in results["C-3"].reason
    assert results["C-4"].reason == "line 1 (Backup): no price"
    with clients.connect() as connection:
        (first, fifth) = load_contracts(connection)
    terms = first.latest
    assert terms.address == ("1 rue de la Paix", "Bât. B")
    assert terms.payment_method == PaymentMethod.SEPA_DEBIT
    assert terms.mandate_signed_on == date(2026, 11, 2)
    assert terms.lines[1].tiers == (Tier(Decimal(10), 8000), Tier(None, 6000))
    assert terms.lines[1].source == UsageSource.WORKSECTION_HOURS
    assert fifth.latest.frequency == Frequency.QUARTERLY
    assert fifth.latest.timing == Timing.ARREARS
    assert fifth.latest.vat_rate == Decimal(20)

    again = load(clients, path)
    assert [r.status for r in again.results if r.reference in ("C-1", "C-5")] == ["unchanged"] * 2
    assert again.count("rejected") == 3
    with clients.connect() as connection:
        assert len(load_contracts(connection)) == 2


def test_a_toml_file_and_its_bad_contract_by_position(clients: Engine, tmp_path: Path) -> None:
    path = tmp_path / "contracts.toml"
    path.write_text(TOML, encoding="utf-8")
    summary = load(clients, path)
    assert [(r.where, r.status) for r in summary.results] == [
        ("contract 1", "created"),
        ("contract 2", "rejected"),
    ]
    reason = summary.results[1].reason
    assert "IBAN 'FR7630006000011234567890188' is not valid" in reason
    assert "the direct debit mandate has no signature date" in reason
    with clients.connect() as connection:
        (found,) = load_contracts(connection)
    assert found.latest.vat_rate == Decimal("5.5")
    assert found.latest.lines[0].per == "year"
    assert found.latest.lines[1].service_key == "sms"
    assert load(clients, path).results[0].status == "unchanged"


def test_a_changed_file_does_not_rewrite_a_stored_contract(clients: Engine, tmp_path: Path) -> None:
    path = tmp_path / "contracts.toml"
    path.write_text(TOML, encoding="utf-8")
    load(clients, path)
    path.write_text(TOML.replace("amount = 1200", "amount = 1300"), encoding="utf-8")
    result = load(clients, path).results[0]
    assert result.status == "rejected" and "exists with other terms" in result.reason


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("client,reference\n", None),
        ("reference,colour\nC-1,red\n", "unknown column 'colour'"),
        ("name\nC-1\n", "no column 'reference'"),
    ],
)
def test_a_file_unreadable_as_a_whole_imports_nothing(
    clients: Engine, tmp_path: Path, text: str, problem: str | None
) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text(text, encoding="utf-8")
    if problem is None:
        assert load(clients, path).results == []
        return
    with pytest.raises(ContractFileError, match=problem):
        load(clients, path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[contract]\n", encoding="utf-8")
    with pytest.raises(ContractFileError, match="not TOML"):
        load(clients, broken)


def test_a_line_spec() -> None:
    line = line_of_spec("usage;Support;unit_price=80;included=10;unit=h;source=file")
    assert (line.kind, line.unit_price_cents, line.included) == (LineKind.USAGE, 8000, Decimal(10))
    assert line_of_spec("option;Backup;amount=19,90;per=year").amount_cents == 1990
    with pytest.raises(ValueError, match="'colour=red' is not one of"):
        line_of_spec("fee;Hosting;colour=red")
    with pytest.raises(ValueError, match="more than two decimals"):
        line_of_spec("fee;Hosting;amount=1.234")


def usage(engine: Engine, path: Path) -> UsageSummary:
    with write(engine) as connection:
        return import_usage(connection, path, at=AT)


def test_usage_rows_are_taken_or_refused_each_alone(clients: Engine, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        "client,service,quantity,period\n"
        "Acme,SMS,1200,2026-11\n"
        "Nobody,SMS,3,2026-11\n"
        "Bigco,SMS,-4,2026-11\n"
        "Bigco,SMS,4,November\n"
        "bigco,sms,4.5,2026-11-01\n",
        encoding="utf-8",
    )
    summary = usage(clients, path)
    assert [(row.line, row.status) for row in summary.rows] == [
        (2, "created"), (3, "rejected"), (4, "rejected"), (5, "rejected"), (6, "created"),
    ]  # fmt: skip
    assert summary.rows[1].reason == "unknown client 'Nobody'"
    assert summary.rows[2].reason == "quantity -4 is negative"
    assert "period 'November' is not a month" in summary.rows[3].reason
    again = usage(clients, path)
    assert again.count("unchanged") == 2 and again.count("created") == 0
    path.write_text("client,service,quantity,period\nAcme,sms,1300,2026-11\n", encoding="utf-8")
    assert usage(clients, path).rows[0].status == "updated"
    with clients.connect() as connection:
        rows = connection.execute(select(table(UsageRecord).c.quantity)).scalars().all()
    assert sorted(rows) == ["1300", "4.5"]
