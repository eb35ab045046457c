"""The automatic start against the fake account, over real HTTP and the real webhook.

A project created in Worksection with a tag a rule names gets its template
once, however many roads bring it (the webhook twice, the event log, the
list of projects); an outage in the middle is resumed at the next turn; the
time from the project's creation to its last task is taken on a movable clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from bots.worksection.api import WorksectionClient
from bots.worksection.autostart import AUTOSTART_RETRY
from bots.worksection.poller import WorksectionConnector
from bots.worksection.webhook import worksection_router
from core.config.settings import AutostartRule, Settings, TemplatesConfig
from core.conversations.people import add_staff
from core.notify.rules import PROJECT_STARTED
from core.store.models.outbox import Notification
from core.store.models.system import table
from core.store.models.templates import TemplateRun
from core.tracker.autostart import all_starts, month_median
from core.tracker.templates import load_template, template_files, vocabulary
from tests.bots.worksection.accounts import ws_settings
from tests.bots.worksection.test_webhook import GOOD, served
from tests.fakes.worksection import API_KEY, FakeWorksection
from tests.support import MovableClock

PEOPLE = {"Ana": "ana@agency.example", "Max": "max@agency.example", "Lea": "lea@agency.example"}
TEAM = {
    "assistant": "Ana",
    "pm": "Ana",
    "designer": "Max",
    "developer": "Max",
    "seo": "Lea",
    "copywriter": "Lea",
    "ads": "Max",
    "analyst": "Max",
}
NOTIFICATIONS, RUNS = table(Notification), table(TemplateRun)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, users={email: name for name, email in PEOPLE.items()})
    with fake.running():
        yield fake


@pytest.fixture
def settings(account: FakeWorksection) -> Settings:
    return with_rules(
        ws_settings(account, poll_interval=3600, tags_interval=3600),
        AutostartRule(template="seo-retainer", tag="seo", team=TEAM),
        AutostartRule(template="website-launch", pattern="site *", team=TEAM),
    )


def with_rules(settings: Settings, *rules: AutostartRule) -> Settings:
    templates = TemplatesConfig(autostart=list(rules))
    return settings.model_copy(update={"templates": templates})


@pytest.fixture
def staffed(engine: Engine, clock: MovableClock) -> Engine:
    add_staff(engine, "Ana", "assistant", [PEOPLE["Ana"]], clock())
    for name in ("Max", "Lea"):
        add_staff(engine, name, "specialist", [PEOPLE[name]], clock())
    return engine


class Counting(WorksectionClient):
    """The real client; `on_post(n)` runs before its n-th post_task."""

    def __init__(self, *args: Any, on_post: Any = None, **options: Any) -> None:
        super().__init__(*args, **options)
        self.posts = 0
        self.on_post = on_post

    async def post_task(self, *args: Any, **options: Any) -> Any:
        self.posts += 1
        if self.on_post is not None:
            self.on_post(self.posts)
        return await super().post_task(*args, **options)


@pytest.fixture
async def client(account: FakeWorksection) -> AsyncIterator[Counting]:
    own = Counting(account.url, api_key=API_KEY, min_interval=0.01, backoff=0.01, attempts=2)
    yield own
    await own.aclose()


def size(settings: Settings, name: str) -> int:
    return load_template(template_files(None)[name], vocabulary(settings.templates)).size


def told(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        query = select(NOTIFICATIONS).where(NOTIFICATIONS.c.kind == PROJECT_STARTED)
        return list(connection.execute(query))


def post_tasks(account: FakeWorksection) -> list[Any]:
    return [call for call in account.calls if call.action == "post_task"]


async def test_a_project_created_with_the_tag_is_staffed_once_by_every_road(
    account: FakeWorksection,
    settings: Settings,
    staffed: Engine,
    clock: MovableClock,
    client: Counting,
) -> None:
    connector = WorksectionConnector(settings, staffed, clock=clock, client=client)
    app = FastAPI()
    app.include_router(worksection_router(settings, staffed, clock=clock, wake=connector.wake))
    item = account.add_project("90", "Bakery Dupont", tags=["SEO"])
    async with served(app) as url, httpx.AsyncClient() as http:
        for _ in range(2):  # Worksection delivers the same item twice
            answer = await http.post(f"{url}/v1/worksection", content=json.dumps([item]), auth=GOOD)
            assert answer.status_code == 200
    clock.advance(minutes=3)

    await connector.turn()  # the inbox (twice), the event log and the list of projects
    await connector.turn()

    expected = size(settings, "seo-retainer")
    calls = post_tasks(account)
    assert len(calls) == expected == len(account.tasks)
    assert {call.params["id_project"] for call in calls} == {"90"}
    assert calls[0].params["title"] == "Context and goal"
    assert calls[0].params["email_user_to"] == PEOPLE["Ana"]
    [start] = all_starts(staffed)
    assert (start.project_id, start.template, start.error) == ("90", "seo-retainer", None)
    assert start.staffing_seconds == 180.0
    [notice] = told(staffed)
    assert "Bakery Dupont (#90)" in notice.text and f"{expected} tasks" in notice.text
    assert "staffed 3 min after its creation" in notice.text

    # Seen again by every road later: still nothing more.
    await connector.poll_events()
    await connector.note_projects(await client.get_projects())
    await connector.start_projects()
    assert len(post_tasks(account)) == expected
    assert len(told(staffed)) == 1


async def test_an_outage_mid_apply_is_resumed_at_the_next_turn(
    account: FakeWorksection,
    settings: Settings,
    staffed: Engine,
    clock: MovableClock,
    client: Counting,
) -> None:
    def outage_at_six(posts: int) -> None:
        if posts == 6:
            account.fail("outage", "outage")  # both of the client's attempts

    client.on_post = outage_at_six
    connector = WorksectionConnector(settings, staffed, clock=clock, client=client)
    account.add_project("91", "Site Boulangerie")  # the name pattern "site *"

    await connector.turn()  # the event log and the list bring it
    await connector.turn()  # the apply: stopped by the outage after five tasks

    [stopped] = all_starts(staffed)
    assert stopped.staffed_at is None and "unreachable" in (stopped.error or "")
    assert len(account.tasks) == 5
    assert told(staffed) == []  # an outage is no one's to fix

    clock.advance(minutes=1)
    await connector.turn()  # resumed: exactly the missing tasks

    expected = size(settings, "website-launch")
    assert len(account.tasks) == expected
    [done] = all_starts(staffed)
    assert done.staffed_at == clock() and done.error is None
    assert done.staffing_seconds == 60.0
    assert len(told(staffed)) == 1


async def test_a_role_nobody_holds_tells_the_assistant_once_and_waits(
    account: FakeWorksection,
    settings: Settings,
    staffed: Engine,
    clock: MovableClock,
    client: Counting,
) -> None:
    bare = with_rules(settings, AutostartRule(template="seo-retainer", tag="seo"))  # no team
    connector = WorksectionConnector(bare, staffed, clock=clock, client=client)
    account.add_project("92", "Garage Martin", tags=["SEO"])

    await connector.turn()
    await connector.turn()
    await connector.start_projects()

    assert post_tasks(account) == []
    [start] = all_starts(staffed)
    assert start.staffed_at is None and "nobody holds" in (start.error or "")
    [notice] = told(staffed)
    assert "Garage Martin (#92)" in notice.text and "pmdesk projects team 92" in notice.text
    clock.advance(seconds=AUTOSTART_RETRY.total_seconds())
    await connector.start_projects()
    assert len(told(staffed)) == 1  # the same problem is said once


async def test_old_projects_and_projects_applied_by_hand_are_not_started(
    account: FakeWorksection,
    settings: Settings,
    staffed: Engine,
    clock: MovableClock,
    client: Counting,
) -> None:
    account.projects["80"] = {"name": "Site Ancien", "status": "active"}  # no creation date
    account.projects["81"] = {
        "name": "Site Vieux",
        "status": "active",
        "date_added": (clock() - timedelta(days=3)).strftime("%Y-%m-%d %H:%M"),
    }
    connector = WorksectionConnector(settings, staffed, clock=clock, client=client)

    await connector.turn()
    await connector.turn()

    assert all_starts(staffed) == [] and post_tasks(account) == []


async def test_the_median_of_the_month_counts_the_month_s_projects(
    account: FakeWorksection,
    settings: Settings,
    staffed: Engine,
    clock: MovableClock,
    client: Counting,
) -> None:
    connector = WorksectionConnector(settings, staffed, clock=clock, client=client)
    for project, minutes in (("93", 2), ("94", 10), ("95", 4)):
        account.add_project(project, f"Client {project}", tags=["seo"])
        await connector.poll_events()
        clock.advance(minutes=minutes)
        await connector.start_projects()
        clock.advance(minutes=30)

    starts = all_starts(staffed)
    assert sorted(start.staffing_seconds or 0 for start in starts) == [120.0, 240.0, 600.0]
    assert month_median(starts, clock()) == 240.0
    assert month_median(starts, clock() + timedelta(days=40)) is None
