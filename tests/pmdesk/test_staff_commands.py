"""`pmdesk staff`: list, add, remove and invite.

Most cases run the command in this process (typer's runner): a write command
started as a new process spends over a second importing the ORM, and these
tests would take several each. Two run it as a user does, in a real process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from core.base.instants import utc_now
from core.conversations.people import redeem, staff_by_telegram
from core.store.db import open_database
from core.store.reader import EngineReader
from pmdesk.cli import app
from tests.fakes.telegram import FakeTelegram
from tests.pmdesk.test_commands import pmdesk

runner = CliRunner()


class Ran:
    """What a command printed, and its exit status, however it was run."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args: str, env: dict[str, str]) -> Ran:
    """`pmdesk ARGS` in this process."""
    result = runner.invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


TOKEN = "123:ABC"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, bot_username="atelier_pm_bot") as server:
        yield server


def staff_json(env: dict[str, str]) -> list[dict[str, object]]:
    result = run("staff", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_add_then_list_as_a_table_and_as_json(env: dict[str, str]) -> None:
    empty = run("staff", env=env)
    added = run(
        "staff", "add", "Ana Lopez", "--role", "assistant",
        "--email", "Ana@Agency.example", "--email", "ana.l@agency.example", env=env,
    )  # fmt: skip
    again = run("staff", "add", "Ana L.", "--role", "pm", "--email", "ana@agency.example", env=env)
    run("staff", "add", "Max", "--role", "MANAGER", env=env)
    table = run("staff", "list", env=env)

    assert "No staff yet" in empty.stdout
    assert (added.returncode, added.stdout.strip()) == (0, "added Ana Lopez (#1), assistant")
    assert again.returncode == 0 and "already Ana Lopez (#1, assistant): kept as is" in again.stdout
    assert staff_json(env) == [
        {
            "id": 1,
            "name": "Ana Lopez",
            "role": "assistant",
            "emails": ["ana.l@agency.example", "ana@agency.example"],
            "telegram_id": None,
            "active": True,
            "muted_until": None,
        },
        {
            "id": 2,
            "name": "Max",
            "role": "manager",
            "emails": [],
            "telegram_id": None,
            "active": True,
            "muted_until": None,
        },
    ]
    assert table.returncode == 0
    assert re.search(
        r"1 \| Ana Lopez \| assistant \| ana.l@agency.example, ana@", _cells(table.stdout)
    )


def _cells(table: str) -> str:
    """A rich table's rows as `a | b | c`, whatever its box characters."""
    rows = []
    for line in table.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Bob", "--role", "boss"], "'boss' is not one of"),
        (["add", "Bob"], "Missing option '--role'"),
        (["add", "Bob", "--role", "pm", "--email", "bob"], "'bob' is not an email address"),
        (["remove", "Zed"], "no staff member 'Zed'"),
        (["invite", "Zed"], "no staff member 'Zed'"),
        (["invite", "Anna", "--hours", "0"], "--hours"),
    ],
)
def test_mistakes_are_clear_errors(env: dict[str, str], args: list[str], message: str) -> None:
    run("staff", "add", "Ana", "--role", "assistant", env=env)

    result = run("staff", *args, env=env)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_is_one_line_from_a_real_process(env: dict[str, str]) -> None:
    result = pmdesk("staff", "remove", "Zed", env=env)

    assert result.returncode == 2
    assert result.stderr == "pmdesk: no staff member 'Zed'\n"


def test_remove_keeps_the_person_inactive_and_they_can_no_longer_be_invited(
    env: dict[str, str],
) -> None:
    run("staff", "add", "Ana", "--role", "assistant", "--email", "ana@a.example", env=env)

    removed = run("staff", "remove", "ana@a.example", env=env)
    invited = run("staff", "invite", "Ana", env=env)

    assert removed.returncode == 0 and removed.stdout.startswith("Ana (#1) removed")
    assert [person["active"] for person in staff_json(env)] == [False]
    assert "removed" in run("staff", env=env).stdout
    assert invited.returncode == 2
    assert "Ana is no longer on the team" in invited.stderr


def test_invite_without_a_bot_prints_the_start_line_which_binds_once(
    env: dict[str, str],
) -> None:
    run("staff", "add", "Ana", "--role", "assistant", env=env)

    shown = run("staff", "invite", "ana", "--hours", "2", env=env)
    as_json = run("staff", "invite", "ana", "--json", env=env)

    assert shown.returncode == 0, shown.stderr
    assert "Invite for Ana (assistant), once, until " in shown.stdout
    assert "(Europe/Paris)" in shown.stdout and "t.me" not in shown.stdout
    code = re.search(r"/start (\S+)", shown.stdout).group(1)  # type: ignore[union-attr]
    invite = json.loads(as_json.stdout)
    assert invite["link"] is None and invite["start"] == f"/start {invite['code']}"
    expires = invite["expires_at"]
    engine = open_database(env["PMDESK_DB"])
    redeem(engine, code, 4242, utc_now())
    bound = staff_by_telegram(EngineReader(engine), 4242)
    assert bound is not None and bound.name == "Ana"
    assert timedelta(hours=23) < _until(expires) <= timedelta(hours=24)


def _until(iso: str) -> timedelta:
    from datetime import datetime

    return datetime.fromisoformat(iso) - utc_now()


def test_invite_with_a_bot_prints_its_t_me_link(env: dict[str, str], fake: FakeTelegram) -> None:
    env = {**env, "PMDESK_TELEGRAM_TOKEN": TOKEN, "PMDESK_TELEGRAM_API_URL": fake.base_url}
    run("staff", "add", "Ana", "--role", "assistant", env=env)

    shown = pmdesk("staff", "invite", "Ana", env=env)  # a real process, asking the fake by HTTP

    assert shown.returncode == 0, shown.stderr
    link = re.search(r"https://t\.me/atelier_pm_bot\?start=([A-Za-z0-9_-]+)", shown.stdout)
    assert link is not None
    assert f"/start {link.group(1)}" in shown.stdout
    assert fake.calls("getMe")


def test_invite_when_telegram_cannot_be_reached_still_gives_the_start_line(
    env: dict[str, str], fake: FakeTelegram
) -> None:
    env = {**env, "PMDESK_TELEGRAM_TOKEN": TOKEN, "PMDESK_TELEGRAM_API_URL": fake.base_url}
    run("staff", "add", "Ana", "--role", "assistant", env=env)
    fake.go_down()

    shown = run("staff", "invite", "Ana", env=env)

    assert shown.returncode == 0
    assert "/start " in shown.stdout and "t.me" not in shown.stdout
    assert "could not ask Telegram for the bot's name" in shown.stderr


def test_add_brings_a_removed_member_back_and_says_so(env: dict[str, str]) -> None:
    run("staff", "add", "Ana", "--role", "assistant", "--email", "ana@a.example", env=env)
    run("staff", "remove", "Ana", env=env)

    again = run("staff", "add", "Ana", "--role", "pm", "--email", "ana@a.example", env=env)
    known = run("staff", "add", "Ana", "--role", "pm", "--email", "ana@a.example", env=env)

    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Ana (#1) was removed: back on the team as pm")
    assert [(p["name"], p["role"], p["active"]) for p in staff_json(env)] == [("Ana", "pm", True)]
    assert "kept as is" in known.stdout
    assert run("staff", "invite", "Ana", env=env).returncode == 0


def test_edit_changes_name_role_emails_and_whether_on_the_team(env: dict[str, str]) -> None:
    run("staff", "add", "Ana", "--role", "assistant", "--email", "ana@a.example", env=env)
    run("staff", "add", "Bea", "--role", "pm", "--email", "bea@a.example", env=env)

    edited = run(
        "staff", "edit", "ana@a.example", "--name", "Ana Lopez", "--role", "manager",
        "--add-email", "ana.l@a.example", "--remove-email", "ana@a.example", env=env,
    )  # fmt: skip
    off = run("staff", "edit", "Bea", "--inactive", env=env)
    back = run("staff", "edit", "Bea", "--active", env=env)
    taken = run("staff", "edit", "Bea", "--add-email", "ana.l@a.example", env=env)
    nothing = run("staff", "edit", "Bea", env=env)

    assert edited.returncode == 0, edited.stderr
    assert edited.stdout.strip() == "Ana Lopez (#1): manager, ana.l@a.example, on the team"
    assert off.stdout.strip() == "Bea (#2): pm, bea@a.example, off the team"
    assert back.stdout.strip() == "Bea (#2): pm, bea@a.example, on the team"
    assert taken.returncode == 2 and "ana.l@a.example is Ana Lopez's" in taken.stderr
    assert nothing.returncode == 2 and "say what to change" in nothing.stderr
    assert [(p["name"], p["emails"]) for p in staff_json(env)] == [
        ("Ana Lopez", ["ana.l@a.example"]),
        ("Bea", ["bea@a.example"]),
    ]
