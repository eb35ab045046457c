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
