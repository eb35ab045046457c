"""The demo's dashboard as `pmdesk demo` opens it: seeded agency, simulator, services.

Built by the command line's own `demo_dashboard` on a freshly seeded demo
database, and driven through Textual's pilot on the wall clock: the
simulated clients and the services run in their own threads as they do for
a newcomer, so the tests wait (a few seconds at most) for what they do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from textual.pilot import Pilot
from textual.widgets import TextArea

from core.base.instants import utc_now
from core.config.settings import Settings
from core.demo.scenario import demo_settings, load_scenario
from core.demo.seeding import seed_demo
from core.demo.simulator import Simulator
from core.receivables.dunning import DRAFT, SENT, list_reminders
from core.sla.views import running_clocks
from core.store.db import open_database
from core.store.reader import EngineReader
from pmdesk.dashboard import demo_dashboard
from tests.tui.panels.test_invoices import invoices_focused, toasted
from tests.tui.test_dashboard import main_screen, open_thread, rows, until
from tui.screens.main import StatusBar
from tui.screens.review import ReviewScreen

# The services' and the simulator's turns are a second each: room for a few.
SERVICES_WAIT = 15.0


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Engine, datetime]:
    """A demo database seeded as `pmdesk demo` seeds it, and when."""
    # Set in the environment, neither reaches out from the demo: it runs offline.
    monkeypatch.setenv("PMDESK_TELEGRAM_TOKEN", "123:not-a-real-token")
    settings = demo_settings().model_copy(update={"db": str(tmp_path / "demo.db")})
    assert settings.telegram_token
    engine = open_database(settings.db)
    now = utc_now()
    seed_demo(engine, settings, now, folder=tmp_path)
    return settings, engine, now


@asynccontextmanager
async def demo_pilot(demo: tuple[Settings, Engine, datetime]) -> AsyncIterator[Pilot[None]]:
    settings, _, seeded_at = demo
    app, stopped = demo_dashboard(settings, Simulator(load_scenario()), seeded_at)
    async with app.run_test(size=(120, 40)) as pilot:
        yield pilot
    # Quitting stops the demo's services, which give their lease back.
    assert stopped.wait(10)


async def test_the_top_line_says_the_demos_services_run_here_and_a_toast_who_you_are(
    demo: tuple[Settings, Engine, datetime],
) -> None:
    async with demo_pilot(demo) as pilot:
        screen = await main_screen(pilot)
        status = screen.query_one(StatusBar)
        await until(
            pilot, lambda: "demo · services ● running" in str(status.render()), SERVICES_WAIT
        )
        backend = screen.backend
        assert backend.services is not None
        assert backend.services(backend.reader()).states == {
            "scheduler": "running",
            "simulated clients": "running",
        }
        await until(pilot, lambda: toasted(pilot, "You act as Camille Roux (assistant)"))
        # Offline, whatever the environment says: no bot, nothing listening for HTTP.
        _, engine, _ = demo
        [(reported,)] = rows(engine, "SELECT services FROM lease")
        assert json.loads(reported) == {
            "intake": "stopped",
            "bot": "stopped",
            "scheduler": "running",
            "simulated clients": "running",
        }


async def test_a_reply_goes_from_pending_to_delivered_and_the_client_thanks(
    demo: tuple[Settings, Engine, datetime],
) -> None:
    _, engine, _ = demo
    title = running_clocks(EngineReader(engine))[0].thread
    async with demo_pilot(demo) as pilot:
        thread = await open_thread(pilot, title)
        await pilot.press("r")
        thread.query_one("#reply-text", TextArea).insert("Bien reçu, je reviens vers vous.")
        await pilot.press("ctrl+s")

        def reply_is(state: str) -> bool:
            detail = thread.detail
            return detail is not None and any(
                event.delivery == state and event.text.startswith("Bien reçu")
                for event in detail.events
            )

        await until(pilot, lambda: reply_is("pending") or reply_is("delivered"))
        await until(pilot, lambda: reply_is("delivered"), SERVICES_WAIT)

        def thanked() -> bool:
            detail = thread.detail
            assert detail is not None
            ours = next(e for e in detail.events if e.text.startswith("Bien reçu"))
            return any(
                e.author_role == "client" and e.occurred_at > ours.occurred_at
                for e in detail.events
            )

        await until(pilot, thanked, SERVICES_WAIT + 12)
    [(status, message_id)] = rows(
        engine,
        "SELECT status, channel_message_id FROM delivery JOIN event ON event.id = event_id"
        " WHERE event.text LIKE 'Bien reçu%'",
    )
    assert status == "delivered" and message_id.startswith("demo-")


async def test_v_shows_the_statement_waiting_for_review_and_s_marks_a_reminder_sent(
    demo: tuple[Settings, Engine, datetime],
) -> None:
    _, engine, _ = demo
    draft = list_reminders(engine, DRAFT)[0]
    async with demo_pilot(demo) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
        review = pilot.app.screen
        assert isinstance(review, ReviewScreen)
        await until(pilot, lambda: review.loaded)
        assert len(review.lines) == 3
        assert [bool(line.candidates) for line in review.lines].count(False) == 1
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen)

        await invoices_focused(pilot, draft.invoices[0][0])
        await pilot.press("s")
        # The demo agency works in French (locale fr_FR).
        await until(
            pilot, lambda: toasted(pilot, f"Relance du jour à {draft.client} marquée envoyée")
        )
    assert [r.id for r in list_reminders(engine, SENT) if r.run_on == draft.run_on] == [draft.id]
