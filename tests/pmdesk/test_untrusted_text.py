"""What clients write reaches the command line's output as text, never as terminal codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import make_event

CLIENT = "Acme\x1b]0;pwned\x07 \u202e[blink]Corp[/]"
TITLE = "\x1b[31mRed\x1b[0m [bold]alert[/bold] :smile:"
TEXT = "pay to \x1b[8mhidden\x1b[0m\u202eevil\x9b"


def pmdesk(*args: str, env: dict[str, str], force_terminal: bool = False) -> str:
    if force_terminal:
        # As on a terminal: colours on, so the only escape codes are pmdesk's own.
        env = {**env, "FORCE_COLOR": "1", "TERM": "xterm-256color"}
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.fixture
def hostile(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    event = make_event("m1", 0, client=CLIENT, text=TEXT)
    event["task"]["title"] = TITLE
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event) + "\n")
    pmdesk("ingest", str(path), env=env)
    return env


def assert_safe(output: str) -> None:
    for code in ("]0;", "[31mRed", "[8mhidden", "\x07", "\u202e", "\x9b"):
        assert code not in output, repr(output)


@pytest.mark.parametrize("command", [["clocks"], ["clients"]])
@pytest.mark.parametrize("force_terminal", [False, True])
def test_tables_show_hostile_names_and_titles_as_plain_text(
    hostile: dict[str, str], command: list[str], force_terminal: bool
) -> None:
    output = pmdesk(*command, env=hostile, force_terminal=force_terminal)

    assert_safe(output)
    # Markup and emoji codes are just characters.
    assert "[blink]Corp[/]" in output
    if command == ["clocks"]:
        assert "[bold]alert[/bold] :smile:" in output


def test_plain_text_messages_are_cleaned_too(hostile: dict[str, str]) -> None:
    output = pmdesk("clients", "policy", CLIENT, "default", env=hostile)

    assert_safe(output)
    assert "[blink]Corp[/]: policy default" in output


def test_json_keeps_the_exact_text(hostile: dict[str, str]) -> None:
    clocks = json.loads(pmdesk("clocks", "--json", env=hostile))
    clients = json.loads(pmdesk("clients", "--json", env=hostile))

    assert (clocks[0]["client"], clocks[0]["thread"]) == (CLIENT, TITLE)
    assert clients[0]["name"] == CLIENT
