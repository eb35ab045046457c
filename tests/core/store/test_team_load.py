"""The team load test (bench/team_load.py), a few seconds of it: its invariants hold.

A real PostgreSQL server, `pmdesk serve` with the intake, two `pmdesk ingest`
processes and two dashboards' readers at once; then the same on SQLite. No
event acknowledged or imported is missing, no alert exists twice, and every
reader saw the last change within a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import Unavailable, binaries, in_ci

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.postgres


def test_a_short_team_load_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    try:
        binaries()
    except Unavailable as reason:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
        pytest.skip(f"PostgreSQL: {reason}")
    out = tmp_path / "figures.json"
    options = ["--seconds", "6", "--sqlite-seconds", "3", "--readers", "2", "--chunk", "300"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "team_load.py"), *options, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    postgres, sqlite = json.loads(out.read_text())
    for phase in (postgres, sqlite):
        assert phase["ingested"] > 0 and phase["acknowledged"] > 0
        assert phase["lost_ingested"] == phase["lost_acknowledged"] == 0
        assert phase["duplicate_keys"] == phase["duplicate_alerts"] == 0
        assert all(seen is not None and seen < 1000 for seen in phase["last_change_ms"])
        assert phase["problems"] == []
    assert postgres["ingest_writers"] == 2
