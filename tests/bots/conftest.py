"""Fixtures of the bot's tests: time running fast, and the settings that point at the fake."""

from __future__ import annotations

import pytest

from core.config.settings import Settings
from tests.bots.support import SpeedClock, bot_settings
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
def speed() -> SpeedClock:
    return SpeedClock()


@pytest.fixture
def settings(fake: FakeTelegram) -> Settings:
    """`fake` is each test module's own server (limits enforced or not)."""
    return bot_settings(fake)
