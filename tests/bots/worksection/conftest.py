"""Fixtures of the Worksection connector's tests: no fake Telegram here.

The bots' fixtures point `settings` at a fake Telegram server each test module
starts; the connector's modules set up their own Worksection account, and the
tests of its store run on the settings every domain test has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine

from bots.worksection.poller import WorksectionConnector
from core.config.settings import Settings
from tests.bots.worksection.accounts import fast_client
from tests.conftest import round_the_clock_settings
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock


@pytest.fixture
def settings() -> Settings:
    return round_the_clock_settings()


@pytest.fixture
async def connector(
    settings: Settings, engine: Engine, clock: MovableClock, account: FakeWorksection
) -> AsyncIterator[WorksectionConnector]:
    """A connector to the module's fake account, with the module's settings."""
    client = fast_client(account)
    yield WorksectionConnector(settings, engine, clock=clock, client=client)
    await client.aclose()
