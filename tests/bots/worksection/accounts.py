"""What the connector's tests share: settings and a client for a fake account, and reads.

Each test module starts its own fake account (with or without pacing
refusals), so the `account` fixture stays in the modules; everything built
on an account is here once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from bots.worksection.api import WorksectionClient
from core.config.settings import Settings, WorksectionConfig
from core.store.models.system import table
from core.store.models.threads import Clock, Event
from tests.conftest import round_the_clock_settings
from tests.fakes.worksection import API_KEY, ZONE, FakeWorksection

TASK = "4211"
EVENT, CLOCK = table(Event), table(Clock)


def ws_settings(account: FakeWorksection, **changes: Any) -> Settings:
    config = WorksectionConfig(
        base_url=account.url,
        api_key=API_KEY,
        timezone=ZONE,
        staff_domains=["agency.example"],
        projects={"77": "Acme"},
        webhook_user="worksection",
        webhook_password="s3cret",
        min_request_interval=0.01,
        **changes,
    )
    return round_the_clock_settings().model_copy(update={"worksection": config})


def fast_client(account: FakeWorksection, **options: Any) -> WorksectionClient:
    options.setdefault("api_key", API_KEY)
    options.setdefault("min_interval", 0.01)
    options.setdefault("backoff", 0.01)
    return WorksectionClient(account.url, **options)


def events(engine: Engine, **where: Any) -> list[Any]:
    query = select(EVENT).order_by(EVENT.c.id)
    for column, value in where.items():
        query = query.where(EVENT.c[column] == value)
    with engine.connect() as connection:
        return list(connection.execute(query))


def clocks(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(CLOCK).order_by(CLOCK.c.id)))
