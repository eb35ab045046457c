"""A database the process may read but not write: one clear line and exit 2, never a traceback.

The database is opened read-only by SQLite itself (`mode=ro`), as it is for
a file the user may not write, whoever runs the tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.pmdesk.test_commands import jsonl, pmdesk
from tests.support import make_event

DATA = Path(__file__).resolve().parents[1] / "data" / "statements"


@pytest.fixture
def read_only(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment of a run on an existing database opened read-only."""
    created = pmdesk("ingest", str(jsonl(tmp_path, [make_event("m0", 0)], "first.jsonl")), env=env)
    assert created.returncode == 0, created.stderr
    return {**env, "PMDESK_DB": f"sqlite:///file:{env['PMDESK_DB']}?mode=ro&uri=true"}


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_ingest_into_a_read_only_database_is_one_line_and_exit_2(
    tmp_path: Path, read_only: dict[str, str]
) -> None:
    path = jsonl(tmp_path, [make_event(f"m{n}", n) for n in range(1, 11)])

    line = one_clear_line(pmdesk("ingest", str(path), env=read_only))

    assert line.startswith("pmdesk: cannot write to the database ")
    assert line.endswith(": attempt to write a readonly database")


def test_payments_import_into_a_read_only_database_is_one_line_and_exit_2(
    read_only: dict[str, str],
) -> None:
    line = one_clear_line(pmdesk("payments", "import", str(DATA / "camt053.xml"), env=read_only))

    assert "attempt to write a readonly database" in line


def test_serve_on_a_read_only_database_is_one_line_and_exit_2(read_only: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "serve", "--port", "0"],
        env=read_only,
        capture_output=True,
        text=True,
        timeout=60,
    )

    line = one_clear_line(result)
    assert line.startswith("pmdesk: cannot write to the database ")


def test_config_check_tries_a_write(read_only: dict[str, str], env: dict[str, str]) -> None:
    refused = pmdesk("config", "check", env=read_only)
    fine = pmdesk("config", "check", env=env)

    assert "attempt to write a readonly database" in one_clear_line(refused)
    assert "configuration is valid" not in refused.stdout
    assert fine.returncode == 0
    assert "opened, schema up to date, writable" in fine.stdout
