"""`pmdesk task`: each change recorded, queued, then delivered with the exact parameters.

The commands run in this process (typer's runner) on their own database and
configuration, with a fake Worksection account over real HTTP; the
connector then sends what they queued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bots.worksection.poller import WorksectionConnector
from core.base.instants import utc_now
from core.config.settings import load_settings
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.sla.policies import PolicyBook
from core.store.db import open_database
from pmdesk.cli import app
from tests.bots.worksection.accounts import fast_client
from tests.fakes.worksection import API_KEY, FakeWorksection
from tests.support import make_event

runner = CliRunner()
TASK = "4211"
SAM, ANNA = "sam@agency.example", "anna@agency.example"


@pytest.fixture
def account() -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=utc_now, users={SAM: "Sam", ANNA: "Anna"})
    with fake.running():
        fake.add_task(TASK, "Homepage redesign", tags=["In progress"])
        yield fake


@pytest.fixture
def env(env: dict[str, str], account: FakeWorksection) -> dict[str, str]:
    """The command line's environment, Worksection configured, a thread on the task."""
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(
        config.read_text()
        + f'\n[worksection]\nbase_url = "{account.url}"\napi_key = "{API_KEY}"\n'
        + 'staff_domains = ["agency.example"]\nmin_request_interval = 0.0\n'
    )
    engine = open_database(env["PMDESK_DB"])
    add_staff(engine, "Sam", "assistant", [SAM], utc_now())
    add_staff(engine, "Anna", "specialist", [ANNA], utc_now())
    ingestor = Ingestor(engine, PolicyBook(load_settings(db=env["PMDESK_DB"])))
    event = make_event("c1", 0, task=TASK, source="worksection")
    ingestor.ingest_one(event)
    ingestor.close()
    engine.dispose()
    return env


def run(*args: str, env: dict[str, str]) -> Any:
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


async def deliver(
    env: dict[str, str], account: FakeWorksection, monkeypatch: pytest.MonkeyPatch
) -> int:
    """What the services do with the queue: the connector on the same database and settings."""
    monkeypatch.setenv("PMDESK_CONFIG", env["PMDESK_CONFIG"])
    settings = load_settings(db=env["PMDESK_DB"])
    engine = open_database(env["PMDESK_DB"])
    client = fast_client(account)
    try:
        connector = WorksectionConnector(settings, engine, client=client)
        return await connector.deliver_actions()
    finally:
        await client.aclose()
        engine.dispose()


async def test_each_command_queues_its_change_and_the_services_send_it(
    env: dict[str, str], account: FakeWorksection, monkeypatch: pytest.MonkeyPatch
) -> None:
    year = date.today().year + 1
    commands = [
        ["task", "deadline", f"ws:{TASK}", f"12.12.{year}"],
        ["task", "todo", "1", "Logo", "Fonts"],
        ["task", "sub", "1", "Wireframes", "--owner", "Anna", "--deadline", "+2", "--todo", "Home"],
        ["task", "owner", "1", "anna@agency.example"],
        ["task", "tag", "1", "+Urgent", "-In progress"],
        ["task", "close", "1"],
        ["task", "reopen", "1", "--as", "Anna"],
        ["task", "owner", "1", "--none"],
    ]
    for args in commands:
        result = run(*args, env=env)
        assert result.exit_code == 0, result.stderr
        assert f"Queued for Worksection task {TASK} (thread 1)" in result.stdout
    pending = run("task", "pending", "--json", env=env)
    rows = json.loads(pending.stdout)
    assert [row["verb"] for row in rows] == [
        "deadline",
        "todo",
        "subtask",
        "owner",
        "tags",
        "close",
        "reopen",
        "owner",
    ]
    assert "8 changes wait" in run("task", "pending", env=env).stdout

    assert await deliver(env, account, monkeypatch) == 8
    posts = [call for call in account.calls if call.method == "POST"]
    assert [call.action for call in posts] == [
        "update_task",
        "post_comment",
        "post_task",
        "update_task",
        "update_task_tags",
        "complete_task",
        "reopen_task",
        "update_task",
    ]
    assert posts[0].params["dateend"] == f"12.12.{year}"
    assert posts[1].lists["todo[]"] == ["Logo", "Fonts"]
    assert posts[1].params["email_user_from"] == SAM
    assert posts[2].params["id_parent"] == TASK and posts[2].params["email_user_to"] == ANNA
    assert posts[2].lists["todo[]"] == ["Home"]
    assert posts[4].params == {
        "action": "update_task_tags",
        "id_task": TASK,
        "plus": "Urgent",
        "minus": "In progress",
    }
    assert posts[7].params["email_user_to"] == "NOONE"
    assert "Nothing waits" in run("task", "pending", env=env).stdout


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["task", "deadline", "1", "01.01.2020"], "in the past"),
        (["task", "deadline", "9", "+1"], "no thread 9"),
        (["task", "todo", "1", " "], "empty checklist"),
        (["task", "owner", "1", "Zed"], "no staff member 'Zed'"),
        (["task", "owner", "1"], "--none"),
        (["task", "tag", "1", "Urgent"], "+TAG"),
        (["task", "close", "1", "--as", "Nobody"], "no staff member 'Nobody'"),
        (["task", "close", "ws:1"], "knows no thread"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_queues_nothing(
    env: dict[str, str], args: list[str], problem: str
) -> None:
    result = run(*args, env=env)
    assert result.exit_code == 2
    assert problem in result.stderr and result.stderr.startswith("pmdesk: ")
    assert json.loads(run("task", "pending", "--json", env=env).stdout) == []


def test_the_command_speaks_the_agencys_language(env: dict[str, str]) -> None:
    french = {**env, "PMDESK_LOCALE": "fr_FR"}
    said = run("task", "close", "1", env=french)
    assert said.stdout.strip() == (
        f"En file pour la tâche Worksection {TASK} (fil 1) : fermer la tâche"
    )
    refused = run("task", "deadline", "1", "01.01.2020", env=french)
    assert "01.01.2020 est passé" in refused.stderr
