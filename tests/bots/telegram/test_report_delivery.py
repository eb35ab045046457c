"""A client's report posted in its Telegram group by the bot, against the fake Bot API server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from core.config.settings import ReportsConfig, Settings
from core.conversations.chats import link_chat
from core.conversations.ingest import Ingestor
from core.reports.drafts import AlreadySent, drafts, send
from core.reports.period import ReportPeriod
from core.store.models.system import table
from core.store.models.threads import Thread
from tests.bots.support import (
    GROUP,
    TOKEN,
    SpeedClock,
    client_message,
    ingestor,
    running,
    service,
    team,
    until,
)
from tests.bots.telegram.test_bot import CLIENT_USER, messages_to
from tests.core.reports.week import build
from tests.fakes.telegram import FakeTelegram

W48 = ReportPeriod.week("2026-W48")


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


async def test_the_report_is_posted_in_the_clients_group_once(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    settings = settings.model_copy(update={"reports": ReportsConfig(channel="telegram")})
    staff = team(engine, speed.now())
    feed: Ingestor = ingestor(engine, settings, speed)
    build(feed)
    feed.ingest([client_message("c-0", speed.now(), client="Acme")])
    link_chat(engine, GROUP, "Acme", staff["ana"], speed.now())

    async with running(service(settings, engine, speed)):
        fake.push_message(GROUP, CLIENT_USER, "Bonjour ?")
        await until(lambda: _group_thread(engine), what="the group's thread")
        send(engine, feed, settings, "Acme", W48, staff["ana"], speed.now())
        [posted] = await messages_to(fake, GROUP, 1)
        with pytest.raises(AlreadySent):
            send(engine, feed, settings, "Acme", W48, staff["ana"], speed.now())

    assert posted["text"].startswith("Point d'avancement — Acme\nsemaine 48")
    assert len(fake.sent_messages(GROUP)) == 1
    [acme] = [view for view in drafts(engine, W48) if view.client == "Acme"]
    assert acme.state == "sent"


def _group_thread(engine: Engine) -> bool:
    thread = table(Thread)
    with engine.connect() as connection:
        found = connection.execute(select(thread.c.id).where(thread.c.channel == "telegram"))
        return found.first() is not None
