"""The command line's tests: each runs on its own database and configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `pmdesk` run: a fresh database, a 24/7 policy, wide tables.

    In English (en_GB): the tests of the French output set their own locale.
    """
    config = tmp_path / "pmdesk.toml"
    config.write_text('[policies.default]\ncalendar = "24/7"\n')
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    return {
        **clean,
        "PMDESK_DB": str(tmp_path / "pmdesk.db"),
        "PMDESK_CONFIG": str(config),
        "COLUMNS": "200",
        "PMDESK_LOCALE": "en_GB",
    }
