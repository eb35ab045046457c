"""The receivables digest reaches the assistant on duty through the real bot, escaped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from html import unescape

import pytest
from sqlalchemy import Engine, text

from bots.telegram.render import notification_html
from core.config.settings import Settings
from core.notify.drain import due_notifications
from core.receivables.digest import queue_daily_digest
from core.store.db import insert_many, write
from core.store.models.receivables import DunningStep, Invoice, Reminder
from core.store.models.system import table
from core.store.models.threads import Client
from tests.bots.support import ANA, MAX, SAM, TOKEN, SpeedClock, running, service, team, until
from tests.fakes.telegram import FakeTelegram

HOSTILE = "<b>Dupont & Fils</b> <a href='javascript:x'>"
# After the reminders' hour in Paris on a Monday.
AFTER_RUN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def fake(speed: SpeedClock) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, clock=speed.monotonic) as server:
        yield server


def drafted_today(engine: Engine, client: str) -> None:
    """A reminder drafted today for `client`, listing one invoice."""
    today = date(2026, 11, 23)
    with write(engine) as connection:
        insert_many(connection, table(Client), [{"name": client, "created_at": AFTER_RUN}])
        client_id = connection.execute(text("SELECT max(id) FROM client")).scalar_one()
        insert_many(
            connection,
            table(Invoice),
            [
                {
                    "number": "F-<9>", "client_id": client_id, "issued_on": date(2026, 10, 1),
                    "due_on": date(2026, 11, 1), "currency": "EUR", "total_cents": 9900,
                    "paid_cents": 0, "state": "open", "created_at": AFTER_RUN,
                    "updated_at": AFTER_RUN,
                }
            ],
        )  # fmt: skip
        insert_many(
            connection,
            table(Reminder),
            [
                {
                    "client_id": client_id, "run_on": today, "language": "fr", "text": "…",
                    "status": "draft", "created_at": AFTER_RUN, "status_at": None,
                }
            ],
        )  # fmt: skip
        insert_many(
            connection,
            table(DunningStep),
            [
                {
                    "invoice_id": 1, "level": 1, "name": "friendly reminder", "action": "draft",
                    "run_on": today, "reminder_id": 1, "balance_cents": 9900,
                    "created_at": AFTER_RUN,
                }
            ],
        )  # fmt: skip


async def test_the_digest_reaches_the_assistant_on_duty_escaped(
    engine: Engine, settings: Settings, speed: SpeedClock, fake: FakeTelegram
) -> None:
    team(engine, speed.now())
    drafted_today(engine, HOSTILE)
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    assert queue_daily_digest(engine, paris, lambda: AFTER_RUN) == 1

    async with running(service(settings, engine, speed)):
        await until(lambda: len(fake.sent_messages(ANA)) == 1, what="the digest sent")

    [message] = fake.sent_messages(ANA)
    html = fake.calls("sendMessage")[0].params["text"]
    assert fake.calls("sendMessage")[0].params["parse_mode"] == "HTML"
    assert html.startswith("🧾 <b>Receivables · Mon 23 Nov 2026</b>\n")
    assert (
        "• &lt;b&gt;Dupont &amp; Fils&lt;/b&gt; &lt;a href='javascript:x'&gt;: "
        "F-&lt;9&gt; friendly reminder" in html
    )
    assert "<a " not in html and "</b> <" not in html
    # Once Telegram reads the entities, the names show as written.
    assert f"• {HOSTILE}: F-<9> friendly reminder" in unescape(message["text"])
    assert "reply_markup" not in fake.calls("sendMessage")[0].params  # nothing to press
    assert fake.sent_messages(SAM) == fake.sent_messages(MAX) == []


def test_an_unknown_kind_still_renders_with_a_plain_mark(engine: Engine, speed: SpeedClock) -> None:
    team(engine, speed.now())
    drafted_today(engine, "Acme")
    queue_daily_digest(engine, Settings(timezone="Europe/Paris"), lambda: AFTER_RUN)
    [view] = due_notifications(engine, AFTER_RUN)
    assert notification_html(view).startswith("🧾 <b>")
    unknown = replace(view, kind="something_new")
    assert notification_html(unknown).startswith("• <b>Receivables · ")


async def test_the_daily_job_runs_the_reminders_then_queues_their_digest(
    engine: Engine, speed: SpeedClock
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bots.services.runner import _daily_jobs

    team(engine, speed.now())
    with write(engine) as connection:
        insert_many(connection, table(Client), [{"name": "Acme", "created_at": AFTER_RUN}])
        insert_many(
            connection,
            table(Invoice),
            [
                {
                    "number": "F-1", "client_id": 1, "issued_on": date(2026, 10, 1),
                    "due_on": date(2026, 11, 1), "currency": "EUR", "total_cents": 9900,
                    "paid_cents": 0, "state": "open", "created_at": AFTER_RUN,
                    "updated_at": AFTER_RUN,
                }
            ],
        )  # fmt: skip
    paris = Settings(timezone="Europe/Paris")
    scheduler = AsyncIOScheduler()
    _daily_jobs(scheduler, paris, engine, lambda: AFTER_RUN)
    at_start = scheduler.get_job("dunning-at-start")
    daily = scheduler.get_job("dunning")
    assert at_start is not None and daily is not None

    await at_start.func()
    await daily.func()  # the day's run after a start the same day adds nothing

    [view] = due_notifications(engine, AFTER_RUN)
    assert view.kind == "receivables_digest" and view.recipient_name == "Ana"
    assert "• Acme: F-1 friendly reminder" in view.text
