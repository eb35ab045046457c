"""Tables fit the terminal: long text cut with "…", figures whole; --wide shows everything."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.support import make_event

CLIENT = "A very long client name that goes on and on"
TITLE = "A really long thread title about the new website banner and the photos"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def pmdesk(*args: str, env: dict[str, str], columns: int) -> list[str]:
    """The lines a terminal `columns` wide would show (its colour codes taken out)."""
    terminal = {**env, "TTY_COMPATIBLE": "1", "COLUMNS": str(columns)}
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True, text=True, env=terminal, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return ANSI.sub("", result.stdout).splitlines()


@pytest.fixture
def long_names(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    event = make_event("m1", 0, client=CLIENT)
    event["task"]["title"] = TITLE
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n")
    subprocess.run([sys.executable, "-m", "pmdesk", "ingest", str(path)], env=env, check=True)
    return env


@pytest.mark.parametrize("columns", [80, 100])
def test_a_table_fits_the_terminal_one_line_a_row(long_names: dict[str, str], columns: int) -> None:
    lines = pmdesk("clocks", env=long_names, columns=columns)

    assert all(cell_len(line) <= columns for line in lines), lines
    [row] = [line for line in lines if "…" in line]
    assert re.search(r"-\d+d\d\dh", row)  # the time left, a figure, is never cut
    assert "default" in row
    assert CLIENT not in "\n".join(lines)


def test_wide_shows_every_cell_whole(long_names: dict[str, str]) -> None:
    lines = pmdesk("clocks", "--wide", env=long_names, columns=80)

    cells = " ".join(" ".join(line.strip("│ ").split()) for line in lines)
    assert "…" not in cells
    for word in (*CLIENT.split(), *TITLE.split()):
        assert word in cells


def test_a_pipe_gets_every_cell_whole(long_names: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "clients"],
        capture_output=True, text=True, env={**long_names, "COLUMNS": "250"}, timeout=60,
    )  # fmt: skip

    assert CLIENT in result.stdout
    assert "…" not in result.stdout
