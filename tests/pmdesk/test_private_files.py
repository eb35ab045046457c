"""What pmdesk writes about clients is readable by its owner only."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmdesk.dashboard import log_to_file
from pmdesk.logfile import PrivateLogFile

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_dashboards_log_and_its_rotated_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> None:
    monkeypatch.setattr("core.base.paths.default_log_path", lambda: tmp_path / "log" / "pmdesk.log")
    monkeypatch.setattr(os, "umask", os.umask)  # restored whatever happens
    previous = os.umask(0o022)
    try:
        log_to_file()
        [handler] = [h for h in root_logger.handlers if isinstance(h, PrivateLogFile)]
        handler.maxBytes = 200
        for number in range(20):
            logging.getLogger("pmdesk.test").info("client message %d from Acme", number)
    finally:
        os.umask(previous)

    files = sorted((tmp_path / "log").iterdir())
    assert [file.name for file in files] == [
        "pmdesk.log", "pmdesk.log.1", "pmdesk.log.2", "pmdesk.log.3"
    ]  # fmt: skip
    assert {stat.S_IMODE(file.stat().st_mode) for file in files} == {0o600}


def test_config_check_never_prints_a_database_password(env: dict[str, str]) -> None:
    env = {**env, "PMDESK_DB": "postgresql+nosuchdriver://ana:s3cret-pass@db.example/pmdesk"}

    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "config", "check"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert "ana:***@db.example" in result.stdout + result.stderr
