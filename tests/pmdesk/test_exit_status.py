"""One exit-status rule for every command, from a real process.

0: done. 1: done, but some of the input was refused on its own (rejected
lines of an ingest or an invoice import; the good ones are kept). 2: nothing
done: the command line, a file, the configuration, the database or the thing
named is wrong; one line on stderr says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import make_event

INVOICES = "number;client;issued_on;due_on;currency;total\nF-1;Acme;01/10/2026;01/11/2026;EUR;10\n"


def pmdesk(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Input files of every kind, good and bad, in the directory the commands run in."""
    (tmp_path / "events.jsonl").write_text(json.dumps(make_event("m1", 0)) + "\n")
    (tmp_path / "events-one-bad.jsonl").write_text(json.dumps(make_event("m2", 0)) + "\n{oops\n")
    (tmp_path / "invoices.csv").write_text(INVOICES)
    (tmp_path / "invoices-one-bad.csv").write_text(INVOICES + "F-2;Acme;x;01/11/2026;EUR;10\n")
    (tmp_path / "invoices-no-column.csv").write_text("number;total\nF-1;10\n")
    (tmp_path / "invoices-latin.csv").write_bytes(INVOICES.replace("Acme", "Sté").encode("latin-1"))
    (tmp_path / "statement.xml").write_text("<Document><nothing/></Document>")
    (tmp_path / "bad.toml").write_text("[policies.default\n")
    return tmp_path


# (command line, exit status, what stderr says); one group of commands after another.
CASES = [
    (["ingest", "events.jsonl"], 0, ""),
    (["ingest", "events-one-bad.jsonl"], 1, "line 2: malformed JSON"),
    (["ingest", "missing.jsonl"], 2, "missing.jsonl: no such file"),
    (["ingest", "--batch", "0", "events.jsonl"], 2, "Invalid value for '--batch'"),
    (["clocks"], 0, ""),
    (["clocks", "--limit", "0"], 2, "Invalid value for '--limit'"),
    (["--db", "nosuchdialect://x/y", "clocks"], 2, "cannot use database"),
    (["report", "sla"], 0, ""),
    (["report", "sla", "--since", "someday"], 2, "'someday' is neither an ISO date"),
    (["clients"], 0, ""),
    (["clients", "policy", "Nobody", "default"], 2, "Nobody"),
    (["config", "check"], 0, ""),
    (["--config", "bad.toml", "config", "check"], 2, "bad.toml"),
    (["staff"], 0, ""),
    (["staff", "remove", "nobody"], 2, "no staff member 'nobody'"),
    (["staff", "add", "X", "--role", "boss"], 2, "Invalid value for '--role'"),
    (["invoices", "import", "invoices.csv"], 0, ""),
    (["invoices", "import", "invoices-one-bad.csv"], 1, "line 3: issued_on 'x' is not a date"),
    (["invoices", "import", "missing.csv"], 2, "missing.csv"),
    (["invoices", "import", "invoices-no-column.csv"], 2, "missing columns"),
    (["invoices", "import", "invoices-latin.csv"], 2, "not UTF-8"),
    (["invoices", "import", "--profile", "sage", "invoices.csv"], 2, "no CSV profile named"),
    (["invoices", "overdue", "--at", "someday"], 2, "'someday' is not an ISO date"),
    (["invoices", "sent", "404"], 2, "no reminder #404"),
    (["payments", "matches"], 0, ""),
    (["payments", "import", "missing.xml"], 2, "missing.xml"),
    (["payments", "import", "statement.xml"], 2, "nothing imported"),
    (["payments", "accept", "404"], 2, "no statement line #404"),
    (["task", "pending"], 0, ""),
    (["task", "close", "1"], 2, "Worksection is not configured"),
    (["serve", "--port", "70000"], 2, "Invalid value for '--port'"),
    (["demo", "--pace", "0"], 2, "Invalid value for '--pace'"),
    (["manager"], 2, "needs a terminal"),
    (["no-such-command"], 2, "No such command"),
]


@pytest.mark.parametrize(
    ("args", "status", "message"), CASES, ids=[" ".join(case[0]) for case in CASES]
)
def test_every_command_follows_the_exit_status_rule(
    files: Path, env: dict[str, str], args: list[str], status: int, message: str
) -> None:
    result = pmdesk(*args, env=env, cwd=files)

    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if status == 2 and message.startswith(("Invalid", "No such")):
        return  # the argument parser's own message: usage, then the error
    if status == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
