"""Fixtures of the Worksection connector's tests: no fake Telegram here.

The bots' fixtures point `settings` at a fake Telegram server each test module
starts; the connector's modules set up their own Worksection account, and the
tests of its store run on the settings every domain test has.
"""

from __future__ import annotations

import pytest

from core.config.settings import Settings
from tests.conftest import round_the_clock_settings


@pytest.fixture
def settings() -> Settings:
    return round_the_clock_settings()
