"""The services drain the email outbox as soon as they start, under their lease."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from bots.services.runner import run_services
from core.base.instants import utc_now
from core.config.settings import HttpConfig, Settings
from core.mail.message import Mail
from core.mail.outbox import SENT, get_email, queue
from tests.bots.email.conftest import SENDER
from tests.bots.support import until
from tests.fakes.smtp import SmtpServer


async def test_the_services_send_what_is_queued(
    engine: Engine, settings: Settings, smtp: SmtpServer
) -> None:
    mail = Mail(to=("compta@acme.example",), subject="Invoice", body="b\n", language="en")
    queued = queue(engine, "invoice:F1", "invoice", mail, SENDER, utc_now())
    settings = settings.model_copy(update={"http": HttpConfig(host="127.0.0.1", port=0)})
    stop = asyncio.Event()
    task = asyncio.create_task(run_services(settings, stop, engine=engine, intake=False))
    try:
        await until(lambda: len(smtp.received) == 1, what="the queued email sent")
        await until(
            lambda: get_email(engine, queued.id).state == SENT, what="the email recorded sent"
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert len(smtp.received) == 1
