"""The email channel's tests: a real SMTP server on loopback and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.people import add_staff
from tests.fakes.smtp import SmtpServer, smtp_server
from tests.support import MovableClock

SENDER = "Studio Nord <billing@studio.example>"


def email_settings(server: SmtpServer | None, **email: object) -> Settings:
    """Settings whose [email] names `server` (security none unless said)."""
    values: dict[str, object] = {"sender": SENDER, "security": "none", "timeout_seconds": 5}
    if server is not None:
        values.update(host=server.host, port=server.port)
    values.update(email)
    return Settings(agency="Studio Nord", policies={"default": {"calendar": "24/7"}}, email=values)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(smtp: SmtpServer) -> Settings:
    return email_settings(smtp)


@pytest.fixture
def assistant(engine: Engine, clock: MovableClock) -> int:
    """The assistant on duty, who is told of failures."""
    return add_staff(engine, "Ana", "assistant", ["ana@studio.example"], clock())
