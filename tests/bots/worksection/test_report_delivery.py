"""A client's report posted as a comment on its pinned task of a fake Worksection account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bots.worksection.poller import WorksectionConnector
from core.config.settings import ReportsConfig, Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.reports.drafts import AlreadySent, drafts, send
from core.reports.period import ReportPeriod
from core.sla.policies import PolicyBook
from tests.bots.worksection.accounts import TASK, clocks, events, ws_settings
from tests.core.reports.week import NOW, build
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

W48 = ReportPeriod.week("2026-W48")


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, min_interval=0.005)
    with fake.running():
        fake.add_task(TASK, "Weekly reports", tags=[])
        yield fake


@pytest.fixture
def settings(account: FakeWorksection, tmp_path: Path) -> Settings:
    reports = ReportsConfig(channel="worksection", clients={"Acme": {"task": TASK}})
    return ws_settings(account).model_copy(update={"reports": reports})


async def test_the_report_is_posted_once_and_its_echo_neither_counts_nor_stops_a_clock(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    ingestor = Ingestor(engine, PolicyBook(settings), clock=clock)
    build(ingestor)
    clock.instant = NOW
    alice = add_staff(engine, "Alice Assistant", "assistant", ["alice@agency.example"], clock())
    account.client_comment(TASK, "Where are we this week?")
    await connector.poll_events()
    before = [(c.id, c.outcome) for c in clocks(engine)]
    assert before[-1][1] == "running"
    clock.advance(minutes=1)

    sent = send(engine, ingestor, settings, "Acme", W48, alice, clock())
    assert await connector.deliver_replies() == 1

    [posted] = [call for call in account.calls if call.action == "post_comment"]
    assert posted.params["id_task"] == TASK
    assert posted.params["email_user_from"] == "alice@agency.example"
    assert "Homepage" in posted.params["text"]
    [view] = [view for view in drafts(engine, W48) if view.client == "Acme"]
    assert (view.state, view.event_id) == ("sent", sent.event_id)
    # The comment comes back in the event log: known as the report, no message of its own.
    clock.advance(minutes=1)
    await connector.poll_events()
    assert [e.text for e in events(engine, kind="message") if e.source == "worksection"] == [
        "Where are we this week?"
    ]
    assert [(c.id, c.outcome) for c in clocks(engine)] == before
    # Nothing sent twice: neither by the command nor by the next drain.
    with pytest.raises(AlreadySent):
        send(engine, ingestor, settings, "Acme", W48, alice, clock())
    assert await connector.deliver_replies() == 0
    assert len([call for call in account.calls if call.action == "post_comment"]) == 1


async def test_an_outage_puts_the_report_off_and_the_next_drain_posts_it(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    ingestor = Ingestor(engine, PolicyBook(settings), clock=clock)
    build(ingestor)
    clock.instant = NOW
    alice = add_staff(engine, "Alice Assistant", "assistant", ["alice@agency.example"], clock())
    account.client_comment(TASK, "Where are we this week?")
    await connector.poll_events()
    send(engine, ingestor, settings, "Acme", W48, alice, clock())

    account.fail(*["500"] * 5)  # more than the client's own retries
    assert await connector.deliver_replies() == 0
    [view] = [view for view in drafts(engine, W48) if view.client == "Acme"]
    assert view.state == "queued"
    clock.advance(minutes=5)
    assert await connector.deliver_replies() == 1
    [view] = [view for view in drafts(engine, W48) if view.client == "Acme"]
    assert view.state == "sent"
    assert len([c for c in account.comments if "Homepage" in str(c.get("text"))]) == 1
