"""The Worksection connector against a fake account over real HTTP.

Polling, replies, tags, failures and signing; the webhook's own tests are
in test_webhook.py.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bots.worksection.api import WorksectionClient, WorksectionError, sign
from bots.worksection.poller import WorksectionConnector
from bots.worksection.store import (
    EVENTS_POLL,
    FAILED,
    inbox_counts,
    last_success,
    pending_inbox,
    store_inbox,
)
from core.config.settings import Settings
from core.conversations.actions import reply
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.policies import PolicyBook
from core.store.lease import acquire
from core.store.models.outbox import Delivery
from core.store.models.system import table
from core.store.models.threads import Thread
from tests.bots.worksection.accounts import TASK, clocks, events, fast_client, ws_settings
from tests.fakes.worksection import API_KEY, TOKEN, FakeWorksection
from tests.support import MovableClock

THREAD, DELIVERY = table(Thread), table(Delivery)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, min_interval=0.005)
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return ws_settings(account)


def thread(engine: Engine) -> Any:
    with engine.connect() as connection:
        return connection.execute(select(THREAD)).one()


# -- comments become messages -------------------------------------------------


async def test_a_client_comment_opens_a_clock_and_a_staff_comment_stops_it_by_polling(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    account.client_comment(TASK, "Can we move the banner?")
    await connector.poll_events()
    [running] = clocks(engine)
    assert running.outcome == "running"
    clock.advance(minutes=6)
    account.staff_comment(TASK, "Done, have a look")
    clock.advance(minutes=1)
    await connector.poll_events()

    [stopped] = clocks(engine)
    assert stopped.outcome == "met"
    said = events(engine, kind="message")
    assert [(e.author_role, e.text) for e in said] == [
        ("client", "Can we move the banner?"),
        ("staff", "Done, have a look"),
    ]
    assert said[0].external_id.startswith("comment:")
    task = thread(engine)
    assert (task.title, task.channel) == ("Homepage redesign", "worksection")
    assert task.url == f"{account.url}/project/77/{TASK}/"
    assert account.actions().count("get_task") == 1  # the title is cached


async def test_the_same_change_by_webhook_and_by_polling_is_stored_once(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    item = account.client_comment(TASK, "Any news?")
    deadline = account.change_deadline(TASK, "2026-12-01")
    store_inbox(engine, [json_text(item), json_text(deadline)], clock())
    assert await connector.process_inbox() == 2
    await connector.poll_events()
    await connector.poll_events()  # overlapping windows bring them back again

    assert len(events(engine, kind="message")) == 1
    [moved] = events(engine, kind="deadline")
    assert moved.value == "2026-12-01"
    assert len(clocks(engine)) == 1
    assert inbox_counts(engine) == {"done": 2}


async def test_a_hidden_comment_is_an_internal_note_that_stops_no_clock(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    account.client_comment(TASK, "Hello?")
    account.staff_comment(TASK, "Ana, can you take this one?", hidden=True)
    await connector.poll_events()

    note = events(engine, author_role="staff")[0]
    assert note.internal is True
    [running] = clocks(engine)
    assert running.outcome == "running"


async def test_task_changes_become_deadline_and_closing_events(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    account.change_deadline(TASK, "2026-12-24")
    account.close_task(TASK)
    await connector.poll_events()

    assert [e.kind for e in events(engine)] == ["deadline", "task_closed"]
    assert thread(engine).deadline == "2026-12-24"


# -- replies ----------------------------------------------------------------------


async def test_a_dashboard_reply_arrives_as_the_staff_members_comment_and_its_echo_counts_once(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["sam@agency.example"], clock())
    account.client_comment(TASK, "Is the invoice ready?")
    await connector.poll_events()
    clock.advance(minutes=2)
    ingestor = Ingestor(engine, PolicyBook(settings), clock=clock)
    reply(ingestor, thread(engine).id, sam, "Yes, sent this morning", clock=clock)

    assert await connector.deliver_replies() == 1
    [posted] = [call for call in account.calls if call.action == "post_comment"]
    assert posted.params["id_task"] == TASK
    assert posted.params["email_user_from"] == "sam@agency.example"
    assert posted.params["text"] == "Yes, sent this morning"
    with engine.connect() as connection:
        delivery = connection.execute(select(DELIVERY)).one()
    assert delivery.status == "delivered"
    assert delivery.channel_message_id == account.comments[-1]["id"]

    clock.advance(minutes=1)
    await connector.poll_events()  # the comment comes back in the event log
    said = events(engine, kind="message")
    assert [(e.source, e.author_role) for e in said] == [
        ("worksection", "client"),
        ("pmdesk", "staff"),
    ]
    [answered] = clocks(engine)
    assert answered.outcome == "met"
    assert await connector.deliver_replies() == 0  # and it is not posted again


async def test_a_reply_worksection_refuses_fails_and_one_it_cannot_take_now_waits(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["sam@agency.example"], clock())
    account.client_comment(TASK, "Hello")
    await connector.poll_events()
    ingestor = Ingestor(engine, PolicyBook(settings), clock=clock)
    reply(ingestor, thread(engine).id, sam, "Hi!", clock=clock)
    account.fail(*["500"] * 5)  # more than the client's own retries

    assert await connector.deliver_replies() == 0
    with engine.connect() as connection:
        waiting = connection.execute(select(DELIVERY)).one()
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_attempt_at > clock()
    clock.advance(minutes=1)
    assert await connector.deliver_replies() == 1

    del account.tasks[TASK]  # deleted in Worksection meanwhile
    reply(ingestor, thread(engine).id, sam, "Still there?", clock=clock)
    assert await connector.deliver_replies() == 0
    with engine.connect() as connection:
        failed = connection.execute(select(DELIVERY).order_by(DELIVERY.c.event_id)).all()[-1]
    assert failed.status == "failed"
    assert "Task not found" in failed.error


# -- tags ---------------------------------------------------------------------------


async def test_a_tag_change_made_in_the_interface_is_found_by_polling(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    assert await connector.poll_tags() == 0  # the first look only records
    assert events(engine) == []
    account.set_tags(TASK, ["Review", "Urgent"])
    assert await connector.poll_tags() == 1
    assert await connector.poll_tags() == 0

    [status] = events(engine, kind="status")
    assert status.value == "Review, Urgent"
    assert thread(engine).status == "Review, Urgent"
    account.set_tags(TASK, ["In progress"])
    assert await connector.poll_tags() == 1
    assert [e.value for e in events(engine, kind="status")] == ["Review, Urgent", "In progress"]


# -- failures -------------------------------------------------------------------------


async def test_an_outage_a_500_and_an_error_envelope_are_retried_and_lose_nothing(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine
) -> None:
    account.client_comment(TASK, "Are you there?")
    account.fail("outage", "500", "envelope")
    await connector.poll_events()

    assert len(events(engine, kind="message")) == 1
    assert account.actions()[:4] == ["get_events"] * 4


async def test_a_poll_that_keeps_failing_is_covered_by_the_next_window(
    engine: Engine, clock: MovableClock, account: FakeWorksection, settings: Settings
) -> None:
    client = fast_client(account, attempts=2)
    connector = WorksectionConnector(settings, engine, clock=clock, client=client)
    await connector.poll_events()
    polled_at = last_success(engine, EVENTS_POLL)
    clock.advance(minutes=3)
    account.client_comment(TASK, "Hello?")
    account.fail("500", "500")
    clock.advance(minutes=20)
    with pytest.raises(WorksectionError):
        await connector.poll_events()
    assert last_success(engine, EVENTS_POLL) == polled_at

    clock.advance(minutes=20)
    await connector.poll_events()
    assert len(events(engine, kind="message")) == 1
    polls = [call for call in account.calls if call.action == "get_events"]
    assert polls[-1].params["period"] == "48m"  # 43 minutes since the last success + 5
    await client.aclose()


async def test_inbox_items_wait_while_worksection_is_unreachable(
    connector: WorksectionConnector, account: FakeWorksection, engine: Engine, clock: MovableClock
) -> None:
    item = account.client_comment(TASK, "Ping")
    store_inbox(engine, [json_text(item)], clock())
    account.fail(*["outage"] * 5)  # get_task for the title cannot be answered
    await connector.turn()
    assert len(pending_inbox(engine)) == 1
    assert (await connector.state()).last_error is not None

    await connector.process_inbox()
    assert inbox_counts(engine) == {"done": 1}
    assert len(events(engine)) == 1


async def test_unusable_items_are_kept_as_failed_rows_with_a_reason(
    connector: WorksectionConnector, engine: Engine, clock: MovableClock
) -> None:
    store_inbox(
        engine,
        [
            '{"action": "post", "object": {"type": "widget", "id": 1}}',
            '{"action": "post", "object": {"type": "comment", "id": 5, '
            '"page": "/project/77/4211/#com5"}, "date_added": "yesterday"}',
            '{"action": "update", "object": {"type": "project", "id": 77}}',
        ],
        clock(),
    )
    await connector.process_inbox()
    from core.store.models.worksection import WorksectionInbox

    with engine.connect() as connection:
        rows = connection.execute(
            select(table(WorksectionInbox)).order_by(table(WorksectionInbox).c.id)
        ).all()
    assert [(row.status, row.error) for row in rows] == [
        (FAILED, "unknown object type 'widget'"),
        (FAILED, "date_added 'yesterday' is not YYYY-MM-DD HH:MM"),
        ("ignored", "project change"),
    ]
    assert events(engine) == []


# -- the API client ---------------------------------------------------------------------


def test_the_hash_is_the_md5_of_the_query_string_followed_by_the_key() -> None:
    expected = hashlib.md5(b"action=get_events&period=10mws-secret-key").hexdigest()
    assert sign("action=get_events&period=10m", API_KEY) == expected


async def test_the_fake_refuses_a_wrong_hash_and_the_error_is_not_retried(
    account: FakeWorksection,
) -> None:
    client = fast_client(account, api_key="not-the-key")
    with pytest.raises(WorksectionError) as refused:
        await client.get_events(10)
    assert not refused.value.transient
    assert account.refused == ["hash"]
    assert account.actions() == ["get_events"]
    await client.aclose()

    good = fast_client(account)
    assert await good.get_events(10) == []
    assert account.refused == ["hash"]
    await good.aclose()


async def test_oauth_bearer_token_is_the_alternative_to_the_key(account: FakeWorksection) -> None:
    client = WorksectionClient(account.url, oauth_token=TOKEN, min_interval=0.01)
    task = await client.get_task(TASK)
    assert task["name"] == "Homepage redesign"
    await client.aclose()


async def test_calls_are_paced_and_a_rate_limit_answer_is_waited_out(
    account: FakeWorksection,
) -> None:
    account.min_interval = 0.03
    paced = fast_client(account, min_interval=0.1)
    for _ in range(4):
        await paced.get_task(TASK)
    await paced.aclose()
    assert account.refused == []
    assert len(account.calls) == 4

    hasty = fast_client(account, min_interval=0, backoff=0.1)
    for _ in range(3):
        assert (await hasty.get_task(TASK))["id"] == TASK
    await hasty.aclose()
    assert "rate" in account.refused  # refused as too fast, waited out, then answered


@pytest.mark.parametrize(("interval", "apart"), [(1.0, 1.02), (0.0, 0.0)])
async def test_a_client_from_the_configuration_starts_its_calls_the_interval_and_a_margin_apart(
    account: FakeWorksection, engine: Engine, interval: float, apart: float
) -> None:
    """Worksection counts its second from a request's arrival; a request that left a
    few milliseconds late would make the next one "too soon". Every client the
    services and commands build (from_config) keeps 20 ms more; none with no interval."""
    account.min_interval = 0  # the client's own clock is what is read here
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    configured = ws_settings(account).worksection
    assert configured is not None
    config = configured.model_copy(update={"min_request_interval": interval})
    client = WorksectionClient.from_config(config, engine, sleep=sleep, monotonic=lambda: now[0])
    starts = []
    for _ in range(3):
        await client.get_task(TASK)
        starts.append(now[0])
    await client.aclose()

    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [apart, apart]
    assert len(slept) == (2 if apart else 0)


def json_text(item: dict[str, Any]) -> str:
    import json

    return json.dumps(item)


async def test_a_connector_whose_lease_was_taken_over_posts_no_reply(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> None:
    sam = add_staff(engine, "Sam Staff", "pm", ["sam@agency.example"], clock())
    account.client_comment(TASK, "Hello")
    await connector.poll_events()
    reply(
        Ingestor(engine, PolicyBook(settings), clock=clock),
        thread(engine).id,
        sam,
        "Hi!",
        clock=clock,
    )
    acquire(engine, "paused", {}, clock(), timedelta(seconds=30))
    connector.holder = "paused"
    clock.advance(seconds=31)
    acquire(engine, "new", {}, clock(), timedelta(seconds=30))  # taken over meanwhile

    assert await connector.deliver_replies() == 0
    assert [call for call in account.calls if call.action == "post_comment"] == []
    with engine.connect() as connection:
        assert connection.execute(select(DELIVERY)).one().status == "pending"  # the new holder's

    connector.holder = "new"
    assert await connector.deliver_replies() == 1
