#!/usr/bin/env python3
"""The two commands a newcomer needs, each installing what it needs first.

    python3 dev.py demo    open the demo dashboard on a fresh demo database
    python3 dev.py test    lint, type-check, check import contracts, run the tests

Only Python 3.11+ is assumed. Dependencies go into ./.venv, pinned by
requirements.lock; they are installed again only when pyproject.toml or the
lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".pmdesk-installed"


def fingerprint() -> str:
    """What the installation depends on: the project's metadata and the pinned versions."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "requirements.lock"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def read_stamp() -> tuple[str, set[str]]:
    """The fingerprint of the last installation and the extras installed with it.

    A `test` installation serves `demo` too, so switching between the two
    commands installs nothing.
    """
    if not STAMP.exists():
        return "", set()
    installed, _, extras = STAMP.read_text().partition("\n")
    return installed, {name for name in extras.split(",") if name}


def ensure_environment(extras: str) -> None:
    wanted = fingerprint()
    installed, have = read_stamp()
    needed = {name for name in extras.split(",") if name}
    if installed == wanted and needed <= have:
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    # Keep what was there: installing for `test` after `demo` keeps the demo working.
    everything = ",".join(sorted(needed | have))
    print("installing dependencies into .venv (after a change to them only) ...", flush=True)
    target = f".[{everything}]" if everything else "."
    install([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools"])
    install([str(PYTHON), "-m", "pip", "install", "--quiet", "-c", str(LOCK), "-e", target])
    STAMP.write_text(f"{wanted}\n{everything}")


def run(command: list[str]) -> None:
    completed = subprocess.run(command, cwd=ROOT)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def install(command: list[str]) -> None:
    """Run pip quietly: its output (setuptools' notices included) shows only if it fails."""
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stdout + completed.stderr, file=sys.stderr)
        sys.exit(completed.returncode)


# What the tests need from the system's packages, by the command that provides it:
# Chromium for the dashboard in a browser (tests/pmdesk/test_web_browser.py);
# PostgreSQL's server for the storage tests' second engine (tests/pg.py).
SYSTEM_PACKAGES = {"chromium": "chromium", "initdb": "postgresql"}


def found(command: str) -> bool:
    """Whether `command` is here: on PATH, or for PostgreSQL's, where Debian puts them."""
    if shutil.which(command):
        return True
    return command == "initdb" and any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def ensure_system_packages() -> None:
    """In CI (CI=true), install the system packages the tests need when missing.

    Elsewhere nothing is installed: the tests that need one skip, saying so.
    """
    if os.environ.get("CI") != "true" or not shutil.which("apt-get"):
        return
    missing = [package for command, package in SYSTEM_PACKAGES.items() if not found(command)]
    if not missing:
        return
    print(f"installing {', '.join(missing)} (system packages) ...", flush=True)
    os.environ.setdefault("DEBIAN_FRONTEND", "noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], cwd=ROOT, capture_output=True, check=False)
    install(["apt-get", "install", "-y", "-qq", *missing])


def test(arguments: list[str]) -> None:
    ensure_environment("test")
    ensure_system_packages()
    steps = [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "core", "bots", "tui", "pmdesk"],
        ["lint-imports"],
        ["pytest", *arguments],
    ]
    failed = []
    for step in steps:
        print(f"\n$ {' '.join(step)}", flush=True)
        if subprocess.run([str(BIN / step[0]), *step[1:]], cwd=ROOT).returncode != 0:
            failed.append(step[0])
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        sys.exit(1)
    print("\nall checks passed")


def demo(arguments: list[str]) -> None:
    ensure_environment("")
    os.execv(str(BIN / "pmdesk"), [str(BIN / "pmdesk"), "demo", *arguments])


COMMANDS = {"test": test, "demo": demo}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
