"""The command line speaks the language of `locale`, as the dashboard does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import make_event

EXPECTED = {
    "en_GB": {
        "title": "1 running clock",
        "header": ["left", "state", "client", "thread", "assignee", "started", "policy"],
        "late": re.compile(r"^-\d+d\d\dh$"),
        "started": "Mon 23 Nov 10:00",
        "sla": "SLA from 2026-11-23 00:00 to 2026-11-24 00:00 (Europe/Paris)",
        "median": "4m00s",
        "overall": "Overall",
    },
    "fr_FR": {
        "title": "1 horloge en cours",
        "header": ["reste", "état", "client", "fil", "responsable", "début", "politique"],
        "late": re.compile(r"^-\d+ j \d\d h$"),
        "started": "lun. 23 nov. 10:00",
        "sla": "SLA du 2026-11-23 00:00 au 2026-11-24 00:00 (Europe/Paris)",
        "median": "4 min 00 s",
        "overall": "Ensemble",
    },
}


def pmdesk(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("│┃").split("│" if "│" in line else "┃")]


@pytest.fixture
def ingested(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """One clock long past due, and one answer after 4 minutes, on 2026-11-23."""
    events = [
        make_event("m1", 0, task="open"),
        make_event("m2", 0, task="answered"),
        make_event("r2", 4, role="staff", task="answered"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    pmdesk("ingest", str(path), env=env)
    return env


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_clocks_in_the_language_of_the_locale(ingested: dict[str, str], locale: str) -> None:
    expected = EXPECTED[locale]
    lines = pmdesk("clocks", env={**ingested, "PMDESK_LOCALE": locale}).splitlines()

    assert lines[0].strip() == expected["title"]
    header = next(line for line in lines if "┃" in line)
    assert cells(header) == expected["header"]
    row = next(line for line in lines if "Task open" in line)
    left, *_rest, started, _policy = cells(row)
    # A duration, never a clock time like -240:00:00.
    assert expected["late"].match(left), left
    assert started == expected["started"]


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_report_sla_in_the_language_of_the_locale(ingested: dict[str, str], locale: str) -> None:
    expected = EXPECTED[locale]
    out = pmdesk(
        "report", "sla", "--since", "2026-11-23", "--until", "2026-11-23",
        env={**ingested, "PMDESK_LOCALE": locale},
    )  # fmt: skip

    assert out.splitlines()[0] == expected["sla"]
    assert expected["overall"] in out
    assert expected["median"] in out


def test_a_language_without_a_catalog_reads_english(ingested: dict[str, str]) -> None:
    out = pmdesk("clocks", env={**ingested, "PMDESK_LOCALE": "de_DE"})

    assert out.splitlines()[0].strip() == "1 running clock"


def test_an_unknown_locale_is_refused_with_its_name(ingested: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "clocks"],
        capture_output=True, text=True, timeout=60,
        env={**ingested, "PMDESK_LOCALE": "xx_NOWHERE"},
    )  # fmt: skip

    assert result.returncode == 2
    assert "locale: unknown locale 'xx_NOWHERE'" in result.stderr
