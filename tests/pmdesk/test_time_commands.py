"""`pmdesk time sync` and `pmdesk report am`, against a fake Worksection account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from core.conversations.people import add_staff
from core.store.db import open_database
from tests.fakes.worksection import API_KEY, FakeWorksection
from tests.pmdesk.test_staff_commands import run
from tests.support import MovableClock

NOW = datetime.fromisoformat("2026-12-04T09:00:00+00:00")
SAM, ANNA = "sam@agency.example", "anna@agency.example"


@pytest.fixture
def account() -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=MovableClock(NOW))
    with fake.running():
        fake.add_task("1", "Weekly call", project=("77", "Acme website"), tags=["AM"])
        fake.add_task("2", "Homepage", project=("77", "Acme website"))
        fake.add_task("3", "Logo", project=("88", "Brioche shop"))
        fake.add_task("4", "Monthly report", project=("88", "Brioche shop"))
        fake.add_task("5", "Backend", project=("99", "Crumb app"))
        yield fake


@pytest.fixture
def agency(env: dict[str, str], account: FakeWorksection) -> dict[str, str]:
    lines = [
        '[policies.default]\ncalendar = "24/7"\n',
        '[time]\nam_tags = ["AM"]\nam_task_words = ["report"]\n',
        f'[worksection]\nbase_url = "{account.url}"\napi_key = "{API_KEY}"',
        "min_request_interval = 0.01",
        'projects = { "77" = "Acme", "Crumb app" = "Acme" }\n',
    ]
    Path(env["PMDESK_CONFIG"]).write_text("\n".join(lines))
    engine = open_database(env["PMDESK_DB"])
    add_staff(engine, "Sam Staff", "assistant", [SAM], NOW)
    add_staff(engine, "Anna Designer", "specialist", [ANNA], NOW)
    engine.dispose()
    return env


def month(account: FakeWorksection) -> None:
    account.add_cost("1", "2", "9:00", "2026-11-03", user=ANNA)
    account.add_cost("2", "1", "1:00", "2026-11-04", user=SAM)
    account.add_cost("3", "3", "7:00", "2026-11-05", user=ANNA)
    account.add_cost("4", "4", "1:30", "2026-11-30", user=ANNA)
    account.add_cost("5", "5", "10:00", "2026-11-10", user=ANNA)


def test_sync_prints_what_it_did_and_refuses_bad_rows_alone(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    month(account)
    first = run("time", "sync", "--since", "2026-11-01", "--until", "2026-11-30", env=agency)
    assert first.returncode == 0, first.stderr
    assert "5 added, 0 changed, 0 removed, 0 refused" in first.stdout

    account.edit_cost("1", time="8:00")
    account.delete_cost("5")
    account.add_cost("6", "2", "1:75", "2026-11-12")
    second = run(
        "time", "sync", "--since", "2026-11-01", "--until", "2026-11-30", "--json", env=agency
    )
    assert second.returncode == 1
    assert json.loads(second.stdout) == {
        "since": "2026-11-01",
        "until": "2026-11-30",
        "added": 0,
        "changed": 1,
        "removed": 1,
        "unchanged": 3,
        "refused": [{"id": "6", "reason": "time '1:75' is not H:MM"}],
    }
    table = run("time", "sync", "--since", "01.11.2026", "--until", "30.11.2026", env=agency)
    assert table.returncode == 1
    assert "0 added, 0 changed, 0 removed, 1 refused" in table.stdout
    assert "time '1:75' is not H:MM" in table.stdout


def test_sync_refuses_bad_dates_and_no_worksection(env: dict[str, str], agency: dict) -> None:
    bad = run("time", "sync", "--since", "November", env=agency)
    assert bad.returncode == 2 and "'November' is not a date" in bad.stderr
    backwards = run("time", "sync", "--since", "2026-11-30", "--until", "2026-11-01", env=agency)
    assert backwards.returncode == 2 and "--until is before --since" in backwards.stderr
    Path(env["PMDESK_CONFIG"]).write_text("")
    missing = run("time", "sync", "--since", "2026-11-01", env=env)
    assert missing.returncode == 2 and "Worksection is not configured" in missing.stderr


def test_report_am_per_client_project_and_person(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    month(account)
    assert (
        run("time", "sync", "--since", "2026-11-01", "--until", "2026-11-30", env=agency).returncode
        == 0
    )
    data = json.loads(run("report", "am", "--month", "2026-11", "--json", env=agency).stdout)
    assert (data["since"], data["until"], data["target_share"]) == ("2026-11-01", "2026-11-30", 0.1)
    assert [
        (p["client"], p["project"], p["am_minutes"], p["total_minutes"], p["above_target"])
        for p in data["projects"]
    ] == [
        ("Acme", "Acme website", 60, 600, False),
        ("Acme", "Crumb app", 0, 600, False),
        ("Brioche shop", "Brioche shop", 90, 510, True),
    ]
    assert [(c["client"], c["am_minutes"], c["total_minutes"]) for c in data["clients"]] == [
        ("Acme", 60, 1200),
        ("Brioche shop", 90, 510),
    ]
    assert [(s["name"], s["am_minutes"], s["total_minutes"]) for s in data["staff"]] == [
        ("Anna Designer", 90, 1650),
        ("Sam Staff", 60, 60),
    ]
    assert data["trend"][-1] == {
        "month": "2026-11",
        "am_minutes": 150,
        "total_minutes": 1710,
        "am_hours": 2.5,
        "total_hours": 28.5,
        "share": round(150 / 1710, 4),
        "above_target": False,
    }
    assert data["rule"] == {"tags": ["AM"], "task_words": ["report"], "roles": []}

    table = run("report", "am", "--month", "2026-11", env=agency)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    brioche = next(line for line in lines if "Brioche shop" in line and "%" in line)
    assert "1:30" in brioche and "8:30" in brioche and "17.6 %" in brioche
    assert "above target" in brioche
    assert "Account management: tasks tagged AM; tasks whose name holds report" in table.stdout
    assert "pmdesk's own measure of the time spent on threads; the rest" in table.stdout
    same = json.loads(
        run(
            "report", "am", "--since", "2026-11-01", "--until", "2026-11-30", "--json", env=agency
        ).stdout
    )
    assert same == data


def test_report_am_in_french(agency: dict[str, str], account: FakeWorksection) -> None:
    month(account)
    run("time", "sync", "--since", "2026-11-01", "--until", "2026-11-30", env=agency)
    table = run("report", "am", "--month", "2026-11", env={**agency, "PMDESK_LOCALE": "fr_FR"})
    assert table.returncode == 0, table.stderr
    assert "au-dessus de la cible" in table.stdout
    assert "Gestion de compte" in table.stdout


@pytest.mark.parametrize(
    ("args", "fault"),
    [
        (["--month", "2026-13"], "'2026-13' is not a month"),
        (["--month", "soon"], "'soon' is not a month"),
        (["--month", "2026-11", "--since", "2026-11-01"], "not both"),
        (["--until", "2026-11-01"], "--until needs --since"),
    ],
)
def test_report_am_refuses_a_bad_period(
    agency: dict[str, str], args: list[str], fault: str
) -> None:
    ran = run("report", "am", *args, env=agency)
    assert ran.returncode == 2 and fault in ran.stderr


def test_report_am_on_no_time_says_so_by_its_zeros(agency: dict[str, str]) -> None:
    data = json.loads(run("report", "am", "--month", "2026-11", "--json", env=agency).stdout)
    assert data["projects"] == [] and data["total"]["share"] is None
    table = run("report", "am", "--month", "2026-11", env=agency)
    assert table.returncode == 0
    assert table.stdout.strip() == (
        "no time logged from 2026-11-01 to 2026-11-30 (pmdesk time sync --since 2026-11-01)"
    )


def test_report_am_follows_a_change_of_the_rule(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    month(account)
    synced = run("time", "sync", "--since", "2026-11-01", "--until", "2026-11-30", env=agency)
    assert "summed by month again" in synced.stderr  # the first time: built
    first = run("report", "am", "--month", "2026-11", "--json", env=agency)
    assert first.stderr == "" and json.loads(first.stdout)["total"]["am_minutes"] == 150
    config = Path(agency["PMDESK_CONFIG"])
    config.write_text(
        config.read_text().replace('am_task_words = ["report"]', "am_task_words = []")
    )
    changed = run("report", "am", "--month", "2026-11", "--json", env=agency)
    assert "summed by month again" in changed.stderr
    assert json.loads(changed.stdout)["total"]["am_minutes"] == 60  # the tag only
    again = run("report", "am", "--month", "2026-11", "--json", env=agency)
    assert again.stderr == "" and again.stdout == changed.stdout
