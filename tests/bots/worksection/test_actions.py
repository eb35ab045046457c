"""Tracker actions from pmdesk to the fake Worksection over real HTTP, and their echoes.

Each action is recorded (an event of its author and a pending delivery),
sent by the connector with the exact parameters the API documents, and
comes back through the event log or the webhook, where it is recognised as
ours: no second event, no clock opened or stopped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from bots.worksection.poller import WorksectionConnector
from bots.worksection.store import inbox_counts, store_inbox
from bots.worksection.webhook import worksection_router
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.conversations.threads import thread_detail
from core.notify.drain import due_deliveries
from core.sla.policies import PolicyBook
from core.store.lease import acquire
from core.store.models.outbox import Delivery, Notification
from core.store.models.system import table
from core.store.models.threads import Assignment, Thread
from core.store.models.tracker import TrackerAction
from core.store.reader import EngineReader
from core.tracker.actions import Tracker
from tests.bots.worksection.accounts import TASK, clocks, events, ws_settings
from tests.bots.worksection.test_webhook import served
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

THREAD, DELIVERY, ACTION = table(Thread), table(Delivery), table(TrackerAction)
NOTIFICATION, ASSIGNMENT = table(Notification), table(Assignment)
SAM, ANNA = "sam@agency.example", "anna@agency.example"


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, min_interval=0.005, users={SAM: "Sam", ANNA: "Anna"})
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return ws_settings(account)


@pytest.fixture
async def ready(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
) -> tuple[Tracker, int]:
    """A thread for the task (a client's comment, polled) and Sam, the assistant."""
    sam = add_staff(engine, "Sam", "assistant", [SAM], clock())
    add_staff(engine, "Anna", "specialist", [ANNA], clock())
    account.client_comment(TASK, "Can we move the launch?")
    await connector.poll_events()
    clock.advance(minutes=1)
    return Tracker(Ingestor(engine, PolicyBook(settings), clock), settings, clock), sam


def sent(account: FakeWorksection, action: str) -> list[Any]:
    return [call for call in account.calls if call.action == action]


def deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(DELIVERY).order_by(DELIVERY.c.event_id)))


async def test_each_action_is_sent_with_the_documented_parameters(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    ref = f"ws:{TASK}"
    tracker.deadline(ref, sam, "12.12.2026")
    tracker.todo(ref, sam, ["Logo\nFonts", "Colours"])
    tracker.subtask(ref, sam, "Wireframes", owner="Anna", deadline="2026-12-10", todo=["Home"])
    tracker.owner(ref, sam, "anna@agency.example")
    tracker.tags(ref, sam, plus=["Urgent"], minus=["In progress"])
    tracker.close(ref, sam)
    tracker.reopen(ref, sam)
    tracker.owner(ref, sam, None)
    assert all(row.status == "pending" for row in deliveries(engine))

    assert await connector.deliver_actions() == 8
    assert [call.action for call in account.calls if call.method == "POST"] == [
        "update_task",
        "post_comment",
        "post_task",
        "update_task",
        "update_task_tags",
        "complete_task",
        "reopen_task",
        "update_task",
    ]
    deadline, owner, nobody = sent(account, "update_task")
    assert deadline.params["dateend"] == "12.12.2026" and deadline.params["id_task"] == TASK
    assert owner.params["email_user_to"] == ANNA
    assert nobody.params["email_user_to"] == "NOONE"
    [checklist] = sent(account, "post_comment")
    assert checklist.lists["todo[]"] == ["Logo", "Fonts", "Colours"]
    assert checklist.params["email_user_from"] == SAM
    [subtask] = sent(account, "post_task")
    assert subtask.params["id_parent"] == TASK and subtask.params["id_project"] == "77"
    assert subtask.params["email_user_to"] == ANNA and subtask.params["dateend"] == "10.12.2026"
    assert subtask.lists["todo[]"] == ["Home"]
    [tags] = sent(account, "update_task_tags")
    assert (tags.params["plus"], tags.params["minus"]) == ("Urgent", "In progress")
    [child] = account.children(TASK)
    assert child["name"] == "Wireframes"
    assert all(row.status == "delivered" for row in deliveries(engine))
    with engine.connect() as connection:
        made = connection.execute(select(ACTION).where(ACTION.c.verb == "subtask")).one()
    assert made.result_id == child["id"]
    assert await connector.deliver_actions() == 0  # nothing is sent twice


async def test_the_echoes_count_once_and_open_no_clock(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    ref = f"ws:{TASK}"
    [opened] = clocks(engine)
    tracker.deadline(ref, sam, "12.12.2026")
    tracker.todo(ref, sam, ["Logo"])
    tracker.subtask(ref, sam, "Wireframes")
    tracker.owner(ref, sam, "Anna")
    tracker.close(ref, sam)
    before = [(e.source, e.kind) for e in events(engine)]
    assert before[-5:] == [
        ("pmdesk", "deadline"),
        ("pmdesk", "checklist"),
        ("pmdesk", "subtask"),
        ("pmdesk", "assignee"),
        ("pmdesk", "task_closed"),
    ]
    await connector.deliver_actions()
    clock.advance(minutes=1)
    await connector.poll_events()
    # The same items by webhook too: ignored as well.
    store_inbox(engine, [json.dumps(item) for item in account.log[1:]], clock())
    await connector.process_inbox()

    assert [(e.source, e.kind) for e in events(engine)] == before
    assert inbox_counts(engine) == {"ignored": 5}
    [still] = clocks(engine)
    assert (still.id, still.outcome) == (opened.id, "running")
    with engine.connect() as connection:
        echoed = connection.execute(select(ACTION.c.echoed_at)).scalars().all()
        task = connection.execute(select(THREAD)).one()
        owners = connection.execute(
            select(ASSIGNMENT.c.staff_id).where(ASSIGNMENT.c.role == "assignee")
        ).all()
    assert all(echoed)
    assert (task.deadline, task.closed) == ("2026-12-12", True)
    assert len(owners) == 1  # pmdesk's own assignment follows the tracker's owner


async def test_a_change_made_in_worksection_by_someone_else_still_counts(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    tracker.deadline(f"ws:{TASK}", sam, "12.12.2026")
    await connector.deliver_actions()
    account.change_deadline(TASK, "2026-12-20")  # a colleague, in Worksection
    clock.advance(minutes=1)
    await connector.poll_events()
    kinds = [(e.source, e.kind, e.value) for e in events(engine, kind="deadline")]
    assert kinds == [
        ("pmdesk", "deadline", "2026-12-12"),
        ("worksection", "deadline", "2026-12-20"),
    ]


async def test_a_refusal_fails_the_action_and_tells_its_author(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    account.known_tags = {"In progress"}
    tracker.tags(f"ws:{TASK}", sam, plus=["Nope"])
    tracker.deadline(f"ws:{TASK}", sam, "+1")  # not held back by the refused one
    assert await connector.deliver_actions() == 1
    refused, moved = deliveries(engine)[-2:]
    assert refused.status == "failed" and "Tag not found: Nope" in refused.error
    assert moved.status == "delivered"
    with engine.connect() as connection:
        [told] = connection.execute(select(NOTIFICATION)).all()[-1:]
    assert told.recipient_id == sam and told.kind == "reply_failed"
    assert "Worksection refused your change (tags +Nope)" in told.text
    assert "Tag not found: Nope" in told.text
    # The thread view shows it failed, with Worksection's message.
    detail = thread_detail(EngineReader(engine), refused.thread_id)
    assert detail is not None
    shown = next(event for event in detail.events if event.id == refused.event_id)
    assert (shown.delivery, shown.delivery_error) == ("failed", refused.error)
    await connector.deliver_actions()
    assert len(sent(account, "update_task_tags")) == 1  # not tried again


async def test_an_outage_then_recovery_sends_each_task_in_order(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    other = account.add_task("4300", "Blog")
    account.client_comment(other["id"], "And the blog?")
    await connector.poll_events()
    tracker.deadline(f"ws:{TASK}", sam, "12.12.2026")
    tracker.close(f"ws:{TASK}", sam)
    tracker.close("ws:4300", sam)
    account.fail(*["outage"] * 5)  # the first call, retried by the client, fails throughout

    assert await connector.deliver_actions() == 1  # 4211 waits; 4300 goes
    assert account.tasks["4300"]["status"] == "done"
    assert account.tasks[TASK]["status"] == "active"  # not closed before its deadline moved
    first, second, _ = deliveries(engine)[-3:]
    assert (first.status, first.attempts, second.status) == ("pending", 1, "pending")
    # The change behind it waits as long: no drain sees it as due meanwhile.
    assert second.next_attempt_at == first.next_attempt_at > clock()
    assert due_deliveries(engine, clock()) == []
    clock.advance(minutes=1)
    assert await connector.deliver_actions() == 2
    done = [call.params.get("id_task") for call in account.calls if call.method == "POST"]
    assert done[-2:] == [TASK, TASK]
    assert [c.action for c in account.calls if c.method == "POST"][-2:] == [
        "update_task",
        "complete_task",
    ]
    assert account.tasks[TASK]["date_end"] == "2026-12-12"


async def test_a_lost_record_of_a_sent_subtask_is_found_by_its_echo_and_not_sent_again(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    tracker.subtask(f"ws:{TASK}", sam, "Wireframes")
    # Sent, but the process stopped before recording it.
    client = connector.client
    await client.post_task("77", "Wireframes", parent_id=TASK, email_user_from=SAM)
    clock.advance(minutes=1)
    await connector.poll_events()
    assert await connector.deliver_actions() == 0
    assert len(account.children(TASK)) == 1
    assert deliveries(engine)[-1].status == "delivered"


async def test_our_tag_change_found_by_the_tag_poll_gives_no_second_event(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    await connector.poll_tags()  # the snapshot: "In progress"
    tracker.tags(f"ws:{TASK}", sam, plus=["Urgent"])
    with engine.connect() as connection:
        assert connection.execute(select(THREAD.c.status)).scalar() == "In progress, Urgent"
    await connector.deliver_actions()
    clock.advance(minutes=1)
    await connector.poll_events()
    assert await connector.poll_tags() == 0
    account.set_tags(TASK, ["Waiting"])  # then someone in Worksection's interface
    assert await connector.poll_tags() == 1
    said = [(e.source, e.kind, e.text, e.value) for e in events(engine) if e.kind != "message"]
    assert said == [
        ("pmdesk", "status", "+Urgent", "In progress, Urgent"),
        ("worksection", "status", "", "Waiting"),
    ]


async def test_the_echo_by_the_real_webhook_is_set_aside_too(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    settings: Settings,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    app = FastAPI()
    app.include_router(worksection_router(settings, engine, clock=clock))
    async with served(app) as url:
        account.webhook = (f"{url}/v1/worksection", "worksection", "s3cret")
        tracker.subtask(f"ws:{TASK}", sam, "Wireframes", owner="Anna")
        tracker.deadline(f"ws:{TASK}", sam, "+3")
        tracker.close(f"ws:{TASK}", sam)
        before = [(e.source, e.kind) for e in events(engine)]
        await connector.deliver_actions()
        await asyncio.to_thread(account.settle_hooks)
    assert [hook["status"] for hook in account.hooks] == [200, 200, 200]
    assert await connector.process_inbox() == 3
    assert inbox_counts(engine) == {"ignored": 3}
    assert [(e.source, e.kind) for e in events(engine)] == before
    [running] = clocks(engine)
    assert running.outcome == "running"


async def test_a_connector_whose_lease_was_taken_over_sends_no_change(
    connector: WorksectionConnector,
    account: FakeWorksection,
    engine: Engine,
    clock: MovableClock,
    ready: tuple[Tracker, int],
) -> None:
    tracker, sam = ready
    tracker.close(f"ws:{TASK}", sam)
    acquire(engine, "paused", {}, clock(), timedelta(seconds=30))
    connector.holder = "paused"
    clock.advance(seconds=31)
    acquire(engine, "new", {}, clock(), timedelta(seconds=30))  # taken over meanwhile

    assert await connector.deliver_actions() == 0
    assert sent(account, "complete_task") == []
    assert deliveries(engine)[-1].status == "pending"  # the new holder's to send
    connector.holder = "new"
    assert await connector.deliver_actions() == 1
    assert account.tasks[TASK]["status"] == "done"
