"""The thread on screen follows the database: what changes under it shows without reopening."""

from __future__ import annotations

from sqlalchemy import Engine
from textual.widgets import TextArea

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.notify.drain import mark_delivered
from tests.support import MovableClock, make_event
from tests.tui.test_dashboard import make_app, open_thread, rows, until


async def test_a_reply_delivered_and_the_clients_answer_show_in_the_open_thread(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Ingestor
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T2")
        await pilot.press("r")
        thread.query_one("#reply-text", TextArea).insert("Looking into it now.")
        await pilot.press("ctrl+s")

        def last_event() -> tuple[str | None, str] | None:
            if thread.detail is None:
                return None
            event = thread.detail.events[-1]
            return event.delivery, event.text

        await until(pilot, lambda: last_event() == ("pending", "Looking into it now."))
        [(event_id,)] = rows(agency, "SELECT event_id FROM delivery")

        mark_delivered(agency, event_id, clock(), "comment-1")  # as a channel would

        await until(pilot, lambda: last_event() == ("delivered", "Looking into it now."))
        ingestor.ingest([make_event("t2-thanks", 21, task="T2", client="Bigco", text="Thanks!")])
        await until(pilot, lambda: last_event() == (None, "Thanks!"))
