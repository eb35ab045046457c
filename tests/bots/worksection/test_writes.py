"""The connector's writes to tasks against the fake account over real HTTP.

Each call is checked as it reaches Worksection: a POST, its parameters in
the body as the API documents them (dates `DD.MM.YYYY`, `todo[]` repeated,
`id_parent`, `NOONE`), and the change logged so that it comes back through
get_events and the webhook.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bots.worksection.api import NOONE, CreatedTask, WorksectionError, ws_date
from tests.bots.worksection.accounts import fast_client
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

TASK = "4211"
SAM, ANNA = "sam@agency.example", "anna@agency.example"


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, users={SAM: "Sam Staff", ANNA: "Anna Designer"})
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


def last(account: FakeWorksection) -> Any:
    return account.calls[-1]


def test_a_date_is_written_day_month_year() -> None:
    assert ws_date(date(2026, 12, 4)) == "04.12.2026"


async def test_post_task_creates_a_subtask_with_its_checklist_owner_and_dates(
    account: FakeWorksection,
) -> None:
    client = fast_client(account)
    try:
        created = await client.post_task(
            "77",
            "Wireframes",
            parent_id=TASK,
            email_user_to=ANNA,
            todo=["Home", "Contact & legal"],
            datestart=date(2026, 12, 1),
            dateend=date(2026, 12, 12),
            tags=["In progress"],
            priority=5,
            text="As agreed",
        )
    finally:
        await client.aclose()
    call = last(account)
    assert call.method == "POST" and call.action == "post_task"
    assert call.line_length < 200  # the parameters travel in the body
    assert call.params["id_parent"] == TASK and call.params["email_user_to"] == ANNA
    assert call.params["datestart"] == "01.12.2026" and call.params["dateend"] == "12.12.2026"
    assert call.lists["todo[]"] == ["Home", "Contact & legal"]
    assert isinstance(created, CreatedTask)
    task = account.tasks[created.id]
    assert created.page == f"/project/77/{TASK}/{created.id}/" == task["page"]
    assert task["parent"] == TASK and task["todo"] == ["Home", "Contact & legal"]
    assert task["user_to"]["email"] == ANNA and task["date_end"] == "2026-12-12"
    assert [child["id"] for child in account.children(TASK)] == [created.id]
    # The change is in the event log, as Worksection logs it.
    item = account.log[-1]
    assert item["action"] == "post" and item["object"]["id"] == created.id


async def test_post_task_for_nobody_and_a_top_level_task(account: FakeWorksection) -> None:
    client = fast_client(account)
    try:
        created = await client.post_task("77", "Context and goal", email_user_to=NOONE)
    finally:
        await client.aclose()
    assert last(account).params["email_user_to"] == "NOONE"
    assert "id_parent" not in last(account).params
    assert account.tasks[created.id]["user_to"]["email"] == "NOONE"
    assert account.tasks[created.id]["page"] == f"/project/77/{created.id}/"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"id_project": "999", "title": "x"}, "Project not found"),
        ({"id_project": "77", "title": "x", "id_parent": "1"}, "Parent task not found"),
        ({"id_project": "77", "title": "x", "email_user_to": "who@x.example"}, "User not found"),
        ({"id_project": "77", "title": "x", "email_user_from": "who@x.example"}, "User not found"),
        (
            {"id_project": "77", "title": "x", "datestart": "12.12.2026", "dateend": "01.12.2026"},
            "start date is after",
        ),
        ({"id_project": "77", "title": "x", "dateend": "2026-12-12"}, "DD.MM.YYYY"),
        ({"id_project": "77", "title": "x", "todo": "one"}, "Unknown parameter todo"),
        ({"id_project": "77", "title": "x", "priority": "11"}, "priority"),
        ({"id_project": "77", "title": " "}, "title is required"),
    ],
)
async def test_the_fake_refuses_what_the_api_does_not_take(
    account: FakeWorksection, params: dict[str, str], message: str
) -> None:
    client = fast_client(account)
    try:
        with pytest.raises(WorksectionError) as refused:
            await client.call("post_task", dict(params), post=True)
    finally:
        await client.aclose()
    assert message in refused.value.message and not refused.value.transient
    assert len(account.tasks) == 1


async def test_update_task_moves_the_deadline_and_the_owner(account: FakeWorksection) -> None:
    client = fast_client(account)
    try:
        shown = await client.update_task(TASK, dateend=date(2026, 12, 12), email_user_to=SAM)
        await client.update_task(TASK, email_user_to=NOONE)
        with pytest.raises(WorksectionError, match="Task not found"):
            await client.update_task("1", dateend=date(2026, 12, 12))
    finally:
        await client.aclose()
    assert shown["date_end"] == "2026-12-12" and shown["user_to"]["email"] == SAM
    update = next(call for call in account.calls if call.action == "update_task")
    assert update.method == "POST"
    assert update.params["dateend"] == "12.12.2026" and update.params["id_task"] == TASK
    assert account.tasks[TASK]["user_to"]["email"] == "NOONE"
    changes = [item for item in account.log if item["action"] == "update"]
    assert changes[0]["new"]["date_end"] == "2026-12-12"
    assert changes[1]["new"]["user_to"]["email"] == "NOONE"
    assert changes[1]["old"]["user_to"]["email"] == SAM


async def test_tags_are_added_and_removed_the_others_kept(account: FakeWorksection) -> None:
    account.known_tags = {"In progress", "Urgent", "Waiting"}
    client = fast_client(account)
    try:
        await client.update_task_tags(TASK, plus=["Urgent", "Waiting"])
        await client.update_task_tags(TASK, minus=["In progress"])
        with pytest.raises(WorksectionError, match="Tag not found: Nope"):
            await client.update_task_tags(TASK, plus=["Nope"])
    finally:
        await client.aclose()
    assert list(account.tasks[TASK]["tags"].values()) == ["Urgent", "Waiting"]
    assert account.calls[0].params["plus"] == "Urgent,Waiting"
    assert account.log[-1]["new"] == {"tags": ["Urgent", "Waiting"]}


async def test_a_task_is_closed_and_reopened(account: FakeWorksection) -> None:
    client = fast_client(account)
    try:
        await client.complete_task(TASK)
        assert account.tasks[TASK]["status"] == "done"
        with pytest.raises(WorksectionError, match="already closed"):
            await client.complete_task(TASK)
        await client.reopen_task(TASK)
    finally:
        await client.aclose()
    assert account.tasks[TASK]["status"] == "active"
    assert [item["action"] for item in account.log] == ["close", "reopen"]
    assert {call.method for call in account.calls} == {"POST"}


async def test_a_comment_with_checkboxes_repeats_todo(account: FakeWorksection) -> None:
    client = fast_client(account)
    try:
        comment = await client.post_comment(TASK, "", SAM, todo=["Logo", "Fonts"])
    finally:
        await client.aclose()
    call = last(account)
    assert call.lists["todo[]"] == ["Logo", "Fonts"] and "text" not in call.params
    assert comment is not None and account.comments[-1]["todo"] == ["Logo", "Fonts"]


async def test_search_tasks_lists_a_tasks_subtasks(account: FakeWorksection) -> None:
    client = fast_client(account)
    try:
        first = await client.post_task("77", "One", parent_id=TASK)
        await client.post_task("77", "Elsewhere")
        found = await client.search_tasks(filter=f"parent={TASK}")
        mine = await client.search_tasks(project_id="77", status="active")
        with pytest.raises(ValueError):
            await client.search_tasks()
    finally:
        await client.aclose()
    assert [task["id"] for task in found] == [first.id]
    assert len(mine) == 3
    assert last(account).method == "GET"


async def test_writes_too_close_together_are_refused_then_waited_out(clock: MovableClock) -> None:
    fake = FakeWorksection(now=clock, min_interval=0.2)
    with fake.running():
        fake.add_task(TASK, "Homepage redesign")
        client = fast_client(fake, min_interval=0.0, backoff=0.25)
        try:
            await client.complete_task(TASK)
            await client.reopen_task(TASK)
        finally:
            await client.aclose()
    assert "rate" in fake.refused
    assert fake.tasks[TASK]["status"] == "active"


async def test_each_change_comes_back_in_get_events_and_to_the_webhook(
    account: FakeWorksection,
) -> None:
    received: list[Any] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.headers["Authorization"], json.loads(self.rfile.read(length))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    account.webhook = (f"http://127.0.0.1:{server.server_address[1]}/", "ws", "pw")
    client = fast_client(account)
    try:
        await client.update_task(TASK, dateend=date(2026, 12, 12))
        await client.complete_task(TASK)
        events = await client.get_events(60)
    finally:
        await client.aclose()
        account.settle_hooks()
        server.shutdown()
        server.server_close()
    assert [item["action"] for item in events] == ["update", "close"]
    assert sorted(body[0]["action"] for _, body in received) == ["close", "update"]
    assert all(auth.startswith("Basic ") for auth, _ in received)
