"""`pmdesk billing audit`: findings exit 0, refused partner rows 1, an unreadable file 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def pmdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_quiet_month_has_nothing_to_report(env: dict[str, str]) -> None:
    done = pmdesk("billing", "audit", "--month", "2026-11", env=env)

    assert done.returncode == 0, done.stderr
    assert "Billing of 2026-11: nothing to report." in done.stdout


def test_unknown_clients_are_findings_and_bad_rows_exit_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "partner.csv"
    report.write_text(
        "client;service;quantity;period\n"
        "Zulu Ltd;Mailboxes;4;2026-11\n"
        "Zulu Ltd;Mailboxes;-4;2026-11\n"
    )

    done = pmdesk(
        "billing", "audit", "--month", "2026-11", "--partner", str(report), "--json", env=env
    )

    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["partner"]["unknown_clients"] == [
        {"client": "Zulu Ltd", "services": ["Mailboxes"], "lines": [2]}
    ]
    assert data["partner"]["refused"] == [{"line": 3, "reason": "quantity '-4' is negative"}]


def test_a_partner_file_without_a_column_is_refused_whole(
    env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "partner.csv"
    report.write_text("client;service;quantity\nZulu Ltd;Mailboxes;4\n")

    done = pmdesk("billing", "audit", "--month", "2026-11", "--partner", str(report), env=env)

    assert done.returncode == 2
    assert "missing column 'period'" in done.stderr


def test_a_month_that_is_not_one_is_refused(env: dict[str, str]) -> None:
    done = pmdesk("billing", "audit", "--month", "2026-13", env=env)

    assert done.returncode == 2
    assert "is not a month" in done.stderr


def test_a_partner_profile_names_the_files_columns(env: dict[str, str], tmp_path: Path) -> None:
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(
        config.read_text()
        + '\n[billing.partner_profiles.ovh]\nclient = "Customer"\nservice = "Product"\n'
        'quantity = "Qty"\nperiod = "Month"\n'
    )
    report = tmp_path / "partner.csv"
    report.write_text("Customer;Product;Qty;Month\nZulu Ltd;Mailboxes;4;2026-11\n")
    args = ("billing", "audit", "--month", "2026-11", "--partner", str(report))

    done = pmdesk(*args, "--profile", "ovh", "--json", env=env)
    plain = pmdesk(*args, env=env)
    unknown = pmdesk(*args, "--profile", "acme", env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["partner"]["unknown_clients"][0]["client"] == "Zulu Ltd"
    assert plain.returncode == 2 and "missing column" in plain.stderr
    assert unknown.returncode == 2
    assert "no partner profile 'acme' in [billing.partner_profiles] (ovh)" in unknown.stderr
