"""Start-up speed: the command line loads none of the heavy libraries until a command needs them.

`pmdesk --help`, `pmdesk clocks` and the others start in a fraction of a
second because the database layer (SQLAlchemy, SQLModel), the settings'
validation (pydantic) and the dashboard (Textual) are imported inside the
commands that use them. A fresh interpreter imports the module and reports
what it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "textual", "telegram")

PROBE = """
import json, sys
import {module}
print(json.dumps(sorted({{name.partition(".")[0] for name in sys.modules}})))
"""


def loaded_by(module: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize("module", ["pmdesk.cli", "pmdesk.dashboard"])
def test_the_command_line_imports_no_heavy_library(module: str) -> None:
    assert loaded_by(module) & set(HEAVY) == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above would pass on a probe that saw nothing: the database
    # module does load SQLAlchemy and pydantic.
    assert {"sqlalchemy", "pydantic"} <= loaded_by("core.store.db")


RUN_PROBE = """
import json, sys
sys.argv = ["pmdesk", *{arguments!r}]
from pmdesk.cli import register
register(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def registered_by(arguments: list[str]) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", RUN_PROBE.format(arguments=arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize(
    ("arguments", "module"),
    [
        (["report", "sla", "--json"], "pmdesk.report"),
        (["--db", "clocks", "clocks", "--json"], "pmdesk.clocks"),
    ],
)
def test_a_command_run_imports_its_own_module_alone(arguments: list[str], module: str) -> None:
    loaded = registered_by(arguments)
    commands = {name for name in loaded if name.startswith("pmdesk.")}
    assert module in commands
    assert not commands & {"pmdesk.invoices", "pmdesk.dashboard", "pmdesk.staff", "pmdesk.ingest"}
    assert {name.partition(".")[0] for name in loaded} & set(HEAVY) == set()


def test_help_and_unknown_names_register_every_command() -> None:
    from pmdesk.cli import COMMAND_MODULES, _command_named

    assert _command_named(["--help", "report"]) is None
    assert _command_named(["nosuch"]) is None
    assert _command_named(["--config", "x.toml", "report", "--help"]) == "report"
    listed = subprocess.run(
        [sys.executable, "-m", "pmdesk", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(f"  {name} " in listed for name in COMMAND_MODULES)
