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
