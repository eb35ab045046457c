"""`pmdesk contracts` as an agency runs it: a real process, real files, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.store.db import insert_with_ids, open_database, write
from core.store.models.system import table
from core.store.models.threads import Client

IBAN = "FR7630006000011234567890189"


def pmdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def agency(env: dict[str, str]) -> dict[str, str]:
    engine = open_database(env["PMDESK_DB"])
    with write(engine) as connection:
        insert_with_ids(
            connection,
            table(Client),
            [
                {"name": name, "language": "fr", "created_at": datetime(2026, 11, 1, tzinfo=UTC)}
                for name in ("Acme", "Bigco")
            ],
        )
    engine.dispose()
    return env


def test_add_show_edit_end_and_list(agency: dict[str, str]) -> None:
    added = pmdesk(
        "contracts", "add", "Acme", "C-1", "--start", "2026-12-01",
        "--legal-name", "Acme SARL", "--address", "1 rue de la Paix", "--postcode", "75002",
        "--city", "Paris", "--payment-method", "sepa_debit", "--iban", IBAN,
        "--mandate-reference", "M-1", "--mandate-signed-on", "2026-11-02",
        "--line", "fee;Hosting;amount=150", "--line", "option;Backup;amount=240;per=year",
        "--json",
        env=agency,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = json.loads(added.stdout)
    assert shown["reference"] == "C-1" and shown["client"] == "Acme"
    assert shown["versions"][0]["vat_rate"] == "20"
    assert shown["versions"][0]["lines"][1]["per"] == "year"

    edited = pmdesk(
        "contracts", "edit", "C-1", "--from", "2027-01-01", "--line", "fee;Hosting;amount=180",
        "--json", env=agency,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    versions = json.loads(edited.stdout)["versions"]
    assert [v["effective_from"] for v in versions] == ["2026-12-01", "2027-01-01"]
    assert versions[1]["lines"] == [
        {"kind": "fee", "description": "Hosting", "amount_cents": 18000, "per": "month"}
    ]
    assert versions[1]["iban"] == IBAN

    ended = pmdesk("contracts", "end", "C-1", "--on", "2027-06-30", env=agency)
    assert ended.returncode == 0 and "C-1 ends on 2027-06-30" in ended.stdout

    listed = pmdesk("contracts", "list", "--json", env=agency)
    (row,) = json.loads(listed.stdout)
    assert row["end_on"] == "2027-06-30" and row["fixed_cents_a_month"] == 18000
    table_text = pmdesk("contracts", "list", "--at", "2026-12-15", env=agency).stdout
    assert "C-1" in table_text and "170.00" in table_text
    assert "No contracts." in pmdesk("contracts", "list", "--at", "2027-07-01", env=agency).stdout
    text = pmdesk("contracts", "show", "C-1", env=agency).stdout
    assert "From 2027-01-01" in text and "Hosting" in text


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--start", "2026-12-01", "--end", "2026-11-01"), "is before the start"),
        (("--start", "2026-12-01", "--line", "fee;Hosting"), "line 1 (Hosting): no price"),
        (("--start", "soon"), "'soon' is not an ISO date"),
        (("--start", "2026-12-01", "--payment-method", "sepa_debit", "--iban", "FR00"), "IBAN"),
        (("--start", "2026-12-01", "--frequency", "weekly"), "'weekly' is not one of"),
    ],
)
def test_a_bad_contract_is_refused_with_its_reason_and_status_2(
    agency: dict[str, str], args: tuple[str, ...], reason: str
) -> None:
    line = () if "--line" in args else ("--line", "fee;Hosting;amount=10")
    result = pmdesk("contracts", "add", "Acme", "C-9", *args, *line, env=agency)
    assert result.returncode == 2
    assert result.stderr.startswith("pmdesk: contract refused:") and reason in result.stderr
    assert "Traceback" not in result.stderr
    assert pmdesk("contracts", "show", "C-9", env=agency).returncode == 2


def test_unknown_client_and_unknown_contract(agency: dict[str, str]) -> None:
    result = pmdesk(
        "contracts", "add", "Nobody", "C-1", "--start", "2026-12-01",
        "--line", "fee;Hosting;amount=10", env=agency,
    )  # fmt: skip
    assert result.returncode == 2 and "unknown client 'Nobody'" in result.stderr
    assert (
        "no contract 'C-1'"
        in pmdesk("contracts", "end", "C-1", "--on", "2027-01-01", env=agency).stderr
    )


def test_import_then_reimport_and_usage(agency: dict[str, str], tmp_path: Path) -> None:
    contracts = tmp_path / "contracts.csv"
    contracts.write_text(
        "reference,client,legal_name,start,line_kind,line_description,line_amount,"
        "line_unit_price,line_included,line_unit,line_source,line_service\n"
        "C-1,Acme,Acme SARL,2026-12-01,fee,Hosting,150,,,,,\n"
        "C-1,,,,usage,SMS,,0.10,100,message,file,sms\n"
        "C-2,Nobody,Nobody,2026-12-01,fee,Hosting,150,,,,,\n",
        encoding="utf-8",
    )
    first = pmdesk("contracts", "import", str(contracts), env=agency)
    assert first.returncode == 1
    assert "1 created, 0 unchanged, 1 rejected" in first.stdout
    assert "line 4 (C-2): unknown client 'Nobody'" in first.stderr
    again = pmdesk("contracts", "import", str(contracts), "--json", env=agency)
    assert json.loads(again.stdout)["counts"] == {"created": 0, "unchanged": 1, "rejected": 1}

    usage = tmp_path / "usage.csv"
    usage.write_text("client,service,quantity,period\nAcme,sms,250,2026-11\nAcme,sms,-1,2026-10\n")
    taken = pmdesk("contracts", "usage", "import", str(usage), env=agency)
    assert taken.returncode == 1
    assert "1 created, 0 updated, 0 unchanged, 1 rejected" in taken.stdout
    assert "line 3: quantity -1 is negative" in taken.stderr
    missing = pmdesk("contracts", "import", str(tmp_path / "none.csv"), env=agency)
    assert missing.returncode == 2 and "cannot be read" in missing.stderr
