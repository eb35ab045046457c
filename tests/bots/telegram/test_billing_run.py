"""The month's billing preview on Telegram, through the real bot and the fake Bot API:
its Issue and Later buttons, the assistant's word, and a second press that does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from bots.telegram.answers import NOT_YOURS
from bots.telegram.billing_run import LATER
from core.billing.monthly import queue_month_preview
from core.config.settings import Settings
from tests.bots.support import ANA, MAX, TOKEN, SpeedClock, running, service, team, until
from tests.core.billing.support import add_clients, contract, store
from tests.fakes.telegram import JSON, FakeTelegram

# The first business day of December 2026 (a Tuesday), after the run's hour.
FIRST_DAY = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


async def press(fake: FakeTelegram, user: int, chat_id: int, message: JSON, data: str) -> str:
    before = len(fake.calls("answerCallbackQuery"))
    fake.push_callback(user, chat_id, message["message_id"], data)
    calls = await fake.wait_for_async("answerCallbackQuery", count=before + 1)
    return str(calls[-1].params.get("text"))


def issued(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT number FROM billingdocument ORDER BY id"))
        return list(found.scalars())


async def test_the_assistant_issues_the_month_from_its_preview_once(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    team(engine, speed.now())
    add_clients(engine, "Acme", "Bigco")
    store(engine, contract("C-ACME", "Acme"), contract("C-BIG", "Bigco", legal_name="Bigco SAS"))
    scheduled = settings.model_copy(
        update={"billing": settings.billing.model_copy(update={"scheduled_run": True})}
    )
    assert queue_month_preview(engine, scheduled, lambda: FIRST_DAY) == 1

    async with running(service(scheduled, engine, speed)):
        await until(lambda: len(fake.sent_messages(ANA)) == 1, what="the preview sent")
        [preview] = fake.sent_messages(ANA)
        assert (
            "Billing 2026-12: 2 invoices to issue, 620.00 EUR HT, 744.00 EUR TTC."
            in (preview["text"])
        )
        nid = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
        assert [
            [button["text"] for button in row] for row in preview["reply_markup"]["inline_keyboard"]
        ] == [["Issue", "Later"]]

        assert await press(fake, ANA, ANA, preview, f"later:{nid}") == LATER
        assert issued(engine) == []
        # Someone else pressing the assistant's button (a forwarded message) is refused.
        assert await press(fake, MAX, ANA, preview, f"issue:{nid}") == NOT_YOURS
        assert issued(engine) == []

        said = await press(fake, ANA, ANA, preview, f"issue:{nid}")
        assert said.startswith("Issued 2 invoices: F2026-00001 to F2026-00002.")
        again = await press(fake, ANA, ANA, preview, f"issue:{nid}")
        assert again.startswith("Already done: billing 2026-12 has nothing left to issue")
        edits = fake.calls("editMessageText")
        assert edits and "Issued 2 invoices" in edits[0].params["text"]
        assert "reply_markup" not in edits[-1].params or not edits[-1].params["reply_markup"]

    assert issued(engine) == ["F2026-00001", "F2026-00002"]


async def test_the_services_look_for_the_preview_at_start_and_every_quarter_hour(
    engine: Engine, speed: SpeedClock
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bots.services.runner import _daily_jobs

    team(engine, speed.now())
    add_clients(engine, "Acme")
    store(engine, contract("C-ACME", "Acme"))
    scheduler = AsyncIOScheduler()
    _daily_jobs(scheduler, Settings(), engine, lambda: FIRST_DAY)
    assert scheduler.get_job("billing") is None  # not without [billing] scheduled_run
    on = Settings(billing={"scheduled_run": True})
    scheduler = AsyncIOScheduler()
    _daily_jobs(scheduler, on, engine, lambda: FIRST_DAY)
    at_start, every = scheduler.get_job("billing-at-start"), scheduler.get_job("billing")
    assert at_start is not None and every is not None
    await at_start.func(*at_start.args)
    await every.func(*every.args)  # once a month: nothing more
    with engine.connect() as connection:
        kinds = connection.execute(text("SELECT kind FROM notification")).scalars().all()
    assert kinds.count("billing_run") == 1
