"""Fixtures shared by every test: a real SQLite file, settings, a movable clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.base import i18n
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.connect import reader_for
from core.store.db import open_database
from core.store.reader import Reader
from tests.support import MovableClock


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own PMDESK_* settings or data directory."""
    for name in list(os.environ):
        if name.startswith("PMDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """A dashboard or command started in French leaves the next test in English."""
    yield
    i18n.activate("en_US")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def round_the_clock_settings() -> Settings:
    """Round-the-clock policies, so arithmetic in tests is plain minutes."""
    return Settings(
        policies={
            "default": {"calendar": "24/7"},
            "vip": {
                "calendar": "24/7",
                "first_response_minutes": 10,
                "next_response_minutes": 10,
                "warn_before_minutes": 3,
            },
        },
        clients={"Bigco": {"policy": "vip", "language": "en"}},
        # Any free port: services started by tests never clash with a real one.
        http={"port": 0},
    )


@pytest.fixture
def settings() -> Settings:
    return round_the_clock_settings()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(str(tmp_path / "pmdesk.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def reader(engine: Engine) -> Reader:
    """What the read commands use: the stdlib driver on the same file."""
    assert engine.url.database
    return reader_for(engine.url.database)


@pytest.fixture
def ingestor(engine: Engine, settings: Settings, clock: MovableClock) -> Ingestor:
    return Ingestor(engine, PolicyBook(settings), clock=clock)
