"""Applying task templates against the fake account over real HTTP.

The three shipped templates are applied to a project that starts the week of
Christmas (a French public holiday); an outage in the middle, a lost answer,
a refused owner and a parent deleted meanwhile each leave a record that the
next run completes, creating exactly what is missing and nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from bots.worksection.api import WorksectionClient
from bots.worksection.templates import (
    PARENT_DELETED,
    ApplyReport,
    Outcome,
    Project,
    ProjectNotFound,
    apply_template,
    find_project,
)
from core.config.settings import Settings
from core.conversations.people import add_staff
from core.store.models.system import table
from core.store.models.templates import TemplateRun, TemplateTask
from core.tracker.teams import project_team
from core.tracker.templates import Template, load_template, template_files, vocabulary
from core.tracker.templates_plan import PlannedTask, business_days, plan
from core.tracker.templates_record import RunConflict
from tests.bots.worksection.accounts import fast_client
from tests.fakes.worksection import FakeWorksection
from tests.support import MovableClock

PROJECT = Project("77", "Acme website")
START = date(2026, 12, 21)  # a Monday; Friday 25 December is Christmas Day
HOLIDAYS = {date(2026, 12, 25), date(2027, 1, 1)}
NOW = datetime.fromisoformat("2026-12-18T09:00:00+00:00")
PEOPLE = {
    "Ana": "ana@agency.example",
    "Max": "max@agency.example",
    "Lea": "lea@agency.example",
    "Tom": "tom@agency.example",
}
TEAM = {
    "assistant": "Ana",
    "pm": "Ana",
    "designer": "Max",
    "developer": "Tom",
    "copywriter": "Lea",
    "seo": "Lea",
    "ads": "Tom",
    "analyst": "Max",
}
TASKS, RUNS = table(TemplateTask), table(TemplateRun)


@pytest.fixture
def account(clock: MovableClock) -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=clock, users={email: name for name, email in PEOPLE.items()})
    fake.projects[PROJECT.id] = {"name": PROJECT.name, "status": "active"}
    fake.projects["78"] = {"name": "Other client", "status": "active"}
    with fake.running():
        yield fake


@pytest.fixture
def settings() -> Settings:
    # The agency's office calendar: French public holidays, weekends closed.
    return Settings(templates={"teams": {PROJECT.name: TEAM}})


@pytest.fixture
def staffed(engine: Engine) -> Engine:
    for name, email in PEOPLE.items():
        add_staff(engine, name, "specialist", [email], NOW)
    return engine


def shipped(settings: Settings, name: str) -> Template:
    return load_template(template_files(None)[name], vocabulary(settings.templates))


def planned_for(settings: Settings, engine: Engine, template: Template) -> list[PlannedTask]:
    team = project_team(engine, settings.templates.teams, ["acme website"])
    return plan(template, business_days(settings, START), team)


async def run(
    account: FakeWorksection,
    engine: Engine,
    template: Template,
    planned: list[PlannedTask],
    clock: MovableClock,
    *,
    client: WorksectionClient | None = None,
    progress: Any = None,
) -> ApplyReport:
    own = client or fast_client(account, attempts=2)
    try:
        return await apply_template(
            own, engine, template, planned, PROJECT, START, clock, progress=progress
        )
    finally:
        if client is None:
            await own.aclose()


def posted(account: FakeWorksection) -> list[Any]:
    return [call for call in account.calls if call.action == "post_task"]


def tree(account: FakeWorksection) -> list[tuple[str, ...]]:
    """Every task of the project as a path of titles, sorted."""
    paths = []
    for task in account.tasks.values():
        parent = account.tasks.get(task.get("parent") or "")
        paths.append((parent["name"], task["name"]) if parent else (task["name"],))
    return sorted(paths)


def rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {row.path: row for row in connection.execute(select(TASKS))}


def expected_tree(planned: list[PlannedTask]) -> list[tuple[str, ...]]:
    return sorted(task.spec.path for task in planned)


@pytest.mark.parametrize("name", ["website-launch", "seo-retainer", "ad-campaign"])
async def test_a_shipped_template_is_created_parents_first_with_real_dates(
    name: str,
    account: FakeWorksection,
    staffed: Engine,
    settings: Settings,
    clock: MovableClock,
) -> None:
    template = shipped(settings, name)
    planned = planned_for(settings, staffed, template)

    report = await run(account, staffed, template, planned, clock)

    assert report.finished and report.count("created") == len(planned) == template.size
    assert tree(account) == expected_tree(planned)
    calls = posted(account)
    assert len(calls) == len(planned) and account.actions() == ["post_task"] * len(planned)
    first = calls[0].params
    assert first["title"] == "Context and goal" and "id_parent" not in first
    assert first["email_user_to"] == PEOPLE["Ana"]
    assert first["datestart"] == "21.12.2026"
    assert first["tags"] == "Brief,Client approval"
    assert calls[0].lists["todo[]"] == list(template.tasks[0].checklist)
    ids = {row.path: row.task_id for row in rows(staffed).values()}
    for task, call in zip(planned, calls, strict=True):
        assert call.params["title"] == task.spec.title
        assert call.params.get("id_parent") == (ids[task.parent] if task.parent else None)
        assert call.params["datestart"] == task.start.strftime("%d.%m.%Y")
        assert call.params["dateend"] == task.deadline.strftime("%d.%m.%Y")
        for sent in (call.params["datestart"], call.params["dateend"]):
            day = datetime.strptime(sent, "%d.%m.%Y").date()
            assert day.weekday() < 5 and day not in HOLIDAYS
    # Day 3 of every shipped template is Thursday 24 December; day 4, Monday 28.
    dates = {(task.spec.start, task.start) for task in planned}
    assert (3, date(2026, 12, 24)) in dates or (4, date(2026, 12, 28)) in dates
    assert {row.state for row in rows(staffed).values()} == {"created"}
    with staffed.connect() as connection:
        run_row = connection.execute(select(RUNS)).one()
    assert run_row.finished_at is not None and str(run_row.start_on) == "2026-12-21"


async def test_a_second_run_creates_nothing(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "seo-retainer")
    planned = planned_for(settings, staffed, template)
    await run(account, staffed, template, planned, clock)
    before = len(account.calls)

    again = await run(account, staffed, template, planned, clock)

    assert again.finished and again.count("kept") == len(planned)
    assert len(account.calls) == before  # not one request
    assert len(account.tasks) == len(planned)


async def test_an_outage_halfway_then_a_resume_creates_exactly_the_missing_tasks(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "website-launch")
    planned = planned_for(settings, staffed, template)
    seen: list[Outcome] = []

    def outage_after_ten(done: int, total: int, outcome: Outcome) -> None:
        seen.append(outcome)
        if done == 10:
            account.fail("outage", "outage")  # both of the client's attempts

    stopped = await run(account, staffed, template, planned, clock, progress=outage_after_ten)

    assert not stopped.finished and stopped.stopped is not None
    assert stopped.count("created") == 10 and stopped.count("waiting") == len(planned) - 10
    assert [outcome.status for outcome in seen] == ["created"] * 10
    assert len(account.tasks) == 10
    states = [row.state for row in rows(staffed).values()]
    assert sorted(states) == ["created"] * 10 + ["sending"]  # the 11th is in doubt
    calls_before = len(account.calls)

    resumed = await run(account, staffed, template, planned, clock)

    assert resumed.finished
    assert resumed.count("kept") == 10 and resumed.count("created") == len(planned) - 10
    new_calls = account.calls[calls_before:]
    # The task in doubt is looked up once (it was not created), then created.
    assert [call.action for call in new_calls] == ["search_tasks"] + ["post_task"] * 28
    assert tree(account) == expected_tree(planned)  # each task once
    assert {row.state for row in rows(staffed).values()} == {"created"}


async def test_a_task_created_whose_answer_was_lost_is_found_not_created_again(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "seo-retainer")
    planned = planned_for(settings, staffed, template)
    await run(account, staffed, template, planned, clock)
    # A crash between Worksection's answer and the record: two rows left in doubt.
    lost_top, lost_sub = planned[-3].path, planned[-1].path
    with staffed.begin() as connection:
        connection.execute(
            update(TASKS)
            .where(TASKS.c.path.in_([lost_top, lost_sub]))
            .values(state="sending", task_id=None)
        )
        connection.execute(update(RUNS).values(finished_at=None))
    report_id = next(
        task["id"]
        for task in account.tasks.values()
        if task["name"] == planned[-3].spec.title and not task.get("parent")
    )
    before = len(account.calls)

    again = await run(account, staffed, template, planned, clock)

    assert again.finished and again.count("found") == 2
    assert [call.action for call in account.calls[before:]] == ["search_tasks", "search_tasks"]
    # The top-level task among the project's, the subtask among its parent's.
    assert "filter" not in account.calls[-2].params
    assert account.calls[-1].params["filter"] == f"parent={report_id}"
    assert len(account.tasks) == len(planned)
    assert rows(staffed)[lost_top].task_id == report_id


async def test_a_refused_task_skips_its_subtasks_and_is_created_by_the_next_run(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "ad-campaign")
    planned = planned_for(settings, staffed, template)
    del account.users[PEOPLE["Max"]]  # the designer is not in the Worksection account yet

    first = await run(account, staffed, template, planned, clock)

    refused = [o for o in first.outcomes if o.status == "refused"]
    assert refused and all(o.task.owner and o.task.owner.name == "Max" for o in refused)
    assert all("User not found" in (o.message or "") for o in refused)
    skipped = [o for o in first.outcomes if o.status == "skipped"]
    refused_paths = {o.task.path for o in refused}
    assert skipped and all(o.task.parent in refused_paths for o in skipped)
    assert not first.finished and first.stopped is None
    assert len(account.tasks) == len(planned) - len(refused) - len(skipped)
    assert rows(staffed)[refused[0].task.path].error.endswith("User not found: max@agency.example")

    account.users[PEOPLE["Max"]] = "Max"
    second = await run(account, staffed, template, planned, clock)

    assert second.finished
    assert second.count("created") == len(refused) + len(skipped)
    assert tree(account) == expected_tree(planned)


async def test_a_parent_deleted_in_worksection_meanwhile_is_created_again_next_run(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "website-launch")  # Context and goal has 3 subtasks
    planned = planned_for(settings, staffed, template)

    def stop_after_first_subtask(done: int, total: int, outcome: Outcome) -> None:
        if done == 2:
            account.fail("outage", "outage")

    await run(account, staffed, template, planned, clock, progress=stop_after_first_subtask)
    brief_id = rows(staffed)[planned[0].path].task_id
    # Someone deletes "Context and goal" (with its first subtask) in Worksection.
    for task_id in [brief_id, *(child["id"] for child in account.children(brief_id or ""))]:
        del account.tasks[task_id]

    second = await run(account, staffed, template, planned, clock)

    by_path = {o.task.path: o for o in second.outcomes}
    second_sub = by_path[planned[2].path]
    assert (second_sub.status, second_sub.reason, second_sub.task_id) == (
        "refused",
        PARENT_DELETED,
        brief_id,
    )
    # The parent's other subtasks wait for it, saying why.
    third_sub = by_path[planned[3].path]
    assert (third_sub.status, third_sub.reason, third_sub.task_id) == (
        "skipped",
        PARENT_DELETED,
        brief_id,
    )
    assert not second.finished
    assert rows(staffed)[planned[0].path].state == "refused"
    assert rows(staffed)[planned[1].path].state == "refused"  # gone with its parent
    # The rest of the template went on.
    assert planned[4].parent is None and by_path[planned[4].path].status == "created"

    third = await run(account, staffed, template, planned, clock)

    assert third.finished
    assert tree(account) == expected_tree(planned)


async def test_a_resume_keeps_the_start_it_began_with(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    template = shipped(settings, "seo-retainer")
    planned = planned_for(settings, staffed, template)
    await run(account, staffed, template, planned[:3], clock)
    client = fast_client(account)
    try:
        with pytest.raises(RunConflict, match="--start 2026-12-21"):
            await apply_template(
                client, staffed, template, planned, PROJECT, date(2027, 1, 4), clock
            )
    finally:
        await client.aclose()
    assert len(account.tasks) == 3


async def test_the_project_is_found_by_id_or_name_and_an_unknown_one_is_refused(
    account: FakeWorksection,
) -> None:
    client = fast_client(account)
    try:
        assert await find_project(client, "77") == PROJECT
        assert await find_project(client, "ACME website") == PROJECT
        with pytest.raises(ProjectNotFound, match="no active project 'Acme'"):
            await find_project(client, "Acme")
        account.projects["79"] = {"name": "acme WEBSITE", "status": "active"}
        with pytest.raises(ProjectNotFound) as shared:
            await find_project(client, "Acme website")
        assert shared.value.ids == ["77", "79"]
        assert await find_project(client, "79") == Project("79", "acme WEBSITE")
    finally:
        await client.aclose()


async def test_the_first_request_waits_for_not_before(
    account: FakeWorksection, staffed: Engine, settings: Settings, clock: MovableClock
) -> None:
    import time

    template = shipped(settings, "seo-retainer")
    planned = planned_for(settings, staffed, template)[:2]
    started = time.monotonic()
    client = fast_client(account)
    try:
        report = await apply_template(
            client, staffed, template, planned, PROJECT, START, clock, not_before=started + 0.3
        )
    finally:
        await client.aclose()
    assert report.finished and time.monotonic() - started >= 0.3
