"""`pmdesk templates` and `pmdesk projects team`, against a fake Worksection account."""

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

NOW = datetime.fromisoformat("2026-12-18T09:00:00+00:00")
TEAM = {
    "Ana": ("ana@agency.example", ["pm", "assistant", "analyst"]),
    "Max": ("max@agency.example", ["designer", "developer", "ads"]),
    "Lea": ("lea@agency.example", ["copywriter", "seo"]),
}


@pytest.fixture
def account() -> Iterator[FakeWorksection]:
    fake = FakeWorksection(now=MovableClock(NOW))
    fake.projects["77"] = {"name": "Acme website", "status": "active"}
    with fake.running():
        yield fake


@pytest.fixture
def agency(env: dict[str, str], account: FakeWorksection) -> dict[str, str]:
    """A configuration with the office calendar for templates, the fake account, and staff."""
    lines = [
        '[policies.default]\ncalendar = "24/7"\n',
        '[templates]\ncalendar = "office"\n',
        '[templates.teams."Acme website"]',
        *(f'{role} = "{name}"' for name, (_email, roles) in TEAM.items() for role in roles),
        f'\n[worksection]\nbase_url = "{account.url}"\napi_key = "{API_KEY}"',
        "min_request_interval = 0.01\n",
    ]
    Path(env["PMDESK_CONFIG"]).write_text("\n".join(lines))
    engine = open_database(env["PMDESK_DB"])
    for name, (email, _roles) in TEAM.items():
        add_staff(engine, name, "specialist", [email], NOW)
    engine.dispose()
    return env


def test_list_shows_the_shipped_templates(env: dict[str, str]) -> None:
    table = run("templates", "list", env=env)
    listed = json.loads(run("templates", "list", "--json", env=env).stdout)

    assert table.returncode == 0 and "Website launch" in table.stdout
    assert [(row["name"], row["tasks"], row["source"]) for row in listed] == [
        ("ad-campaign", 31, "shipped"),
        ("seo-retainer", 23, "shipped"),
        ("website-launch", 38, "shipped"),
    ]


def test_the_agencys_folder_adds_its_templates_and_a_broken_one_is_listed_as_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "audit.toml").write_text(
        'title = "Audit"\n[[task]]\ntitle = "Context and goal"\nphase = "Brief"\n'
        'role = "pm"\nstart = 0\ndeadline = 1\n'
    )
    (folder / "broken.toml").write_text('title = "Broken"\n[[task]]\ntitle = "x"\n')
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(config.read_text() + f'\n[templates]\nfolder = "{folder}"\n')

    listed = {
        row["name"]: row for row in json.loads(run("templates", "list", "--json", env=env).stdout)
    }

    assert (listed["audit"]["source"], listed["audit"]["tasks"]) == ("own", 1)
    assert listed["broken"]["problems"] == 4  # phase, role, start, deadline
    assert "refused: 4 problems" in run("templates", "list", env=env).stdout


def test_check_says_good_or_gives_each_problem_with_file_and_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    good = run("templates", "check", "website-launch", env=env)
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(
        'title = "Bad"\n'  # 1
        "\n"  # 2
        "[[task]]\n"  # 3
        'title = "Context and goal"\n'  # 4
        'phase = "Brief"\n'  # 5
        'role = "wizard"\n'  # 6
        "start = 4\n"  # 7
        "deadline = 2\n"  # 8
    )
    bad = run("templates", "check", str(bad_file), env=env)
    broken_toml = tmp_path / "broken.toml"
    broken_toml.write_text('title = "Bad"\n[[task]\n')
    broken = run("templates", "check", str(broken_toml), env=env)

    assert good.returncode == 0 and "good, 38 tasks (Website launch)" in good.stdout
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert lines[0].startswith(f"{bad_file}:6: unknown role 'wizard'")
    assert lines[1] == f"{bad_file}:8: deadline on day 2, before its start on day 4"
    assert lines[2] == f"pmdesk: {bad_file}: refused, 2 problems"
    assert broken.returncode == 2
    assert broken.stderr.startswith(f"{broken_toml}:2: not valid TOML: ")


def test_show_prints_the_tree_with_business_days_and_the_teams_owners(
    agency: dict[str, str],
) -> None:
    shown = run("templates", "show", "website-launch", "--start", "2026-12-21", env=agency)
    as_json = json.loads(
        run(
            "templates", "show", "website-launch", "--start", "21.12.2026",
            "--project", "Acme website", "--json", env=agency,
        ).stdout
    )  # fmt: skip

    assert shown.returncode == 0
    assert "Website launch (website-launch): 38 tasks, Mon 21 Dec to" in shown.stdout
    assert "Sitemap and content plan   Thu 24 Dec - Tue 29 Dec   pm" in shown.stdout
    sitemap = next(task for task in as_json if task["title"] == "Sitemap and content plan")
    assert (sitemap["start"], sitemap["deadline"], sitemap["owner"]) == (
        "2026-12-24",
        "2026-12-29",
        "Ana",
    )
    assert all(task["owner_email"] for task in as_json)


def test_a_role_with_nobody_refuses_the_apply_before_anything_is_created(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    config = Path(agency["PMDESK_CONFIG"])
    config.write_text(config.read_text().replace('designer = "Max"\n', ""))

    dry = run(
        "templates", "apply", "website-launch", "--project", "Acme website",
        "--start", "2026-12-21", "--dry-run", env=agency,
    )  # fmt: skip
    real = run(
        "templates", "apply", "website-launch", "--project", "77", "--start", "2026-12-21",
        env=agency,
    )  # fmt: skip

    assert dry.returncode == 2 and "designer: nobody" in dry.stdout
    message = "pmdesk: nobody holds designer on 77: nothing was created "
    assert real.returncode == 2 and real.stderr.startswith(message)
    assert "pmdesk projects team 77 designer=NAME" in real.stderr
    assert account.actions() == ["get_projects"]  # nothing written


def test_projects_team_sets_roles_over_the_configuration(agency: dict[str, str]) -> None:
    changed = run("projects", "team", "Acme website", "designer=lea@agency.example", env=agency)
    team = json.loads(run("projects", "team", "acme website", "--json", env=agency).stdout)
    unknown = run("projects", "team", "Acme website", "wizard=Ana", env=agency)
    nobody = run("projects", "team", "Acme website", "pm=Zed", env=agency)
    malformed = run("projects", "team", "Acme website", "pm", env=agency)

    assert changed.returncode == 0 and "designer" in changed.stdout
    assert {row["role"]: row["name"] for row in team}["designer"] == "Lea"
    assert {row["role"]: row["name"] for row in team}["developer"] == "Max"
    assert unknown.returncode == 2 and "unknown role 'wizard'" in unknown.stderr
    assert nobody.returncode == 2 and "no staff member 'Zed'" in nobody.stderr
    assert malformed.returncode == 2 and "write role=NAME" in malformed.stderr


def test_apply_creates_the_tree_once_and_a_second_run_creates_nothing(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    dry = run(
        "templates", "apply", "seo-retainer", "--project", "Acme website",
        "--start", "2026-12-21", "--dry-run", "--json", env=agency,
    )  # fmt: skip
    first = run(
        "templates", "apply", "seo-retainer", "--project", "Acme website",
        "--start", "2026-12-21", env=agency,
    )  # fmt: skip
    created = len(account.tasks)
    again = run(
        "templates", "apply", "seo-retainer", "--project", "77", "--start", "2026-12-21",
        "--json", env=agency,
    )  # fmt: skip
    dry_after = run(
        "templates", "apply", "seo-retainer", "--project", "77", "--start", "2026-12-21",
        "--dry-run", env=agency,
    )  # fmt: skip

    assert dry.returncode == 0 and len(json.loads(dry.stdout)) == 23
    assert account.actions().count("post_task") == 23 == created
    assert first.returncode == 0, first.stderr
    assert "seo-retainer on Acme website (#77): 23 created, 0 already there" in first.stdout
    assert "[23/23] created: Report call with the client" in first.stderr  # the progress
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["finished"]
    assert {task["status"] for task in report["tasks"]} == {"kept"}
    assert len(account.tasks) == 23
    assert "23 created already, 0 to create" in dry_after.stdout


def test_apply_to_an_unknown_project_or_with_a_bad_start_writes_nothing(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    unknown = run(
        "templates", "apply", "seo-retainer", "--project", "Nope", "--start", "2026-12-21",
        env=agency,
    )  # fmt: skip
    bad_date = run(
        "templates", "apply", "seo-retainer", "--project", "77", "--start", "21/12", env=agency
    )
    no_template = run(
        "templates", "apply", "seo-retainr", "--project", "77", "--start", "2026-12-21",
        env=agency,
    )  # fmt: skip

    assert unknown.returncode == 2 and "no active project 'Nope'" in unknown.stderr
    assert bad_date.returncode == 2 and "'21/12' is not a date" in bad_date.stderr
    assert no_template.returncode == 2 and "did you mean seo-retainer?" in no_template.stderr
    assert "post_task" not in account.actions()


def test_a_refused_task_exits_1_and_the_same_command_finishes_the_job(
    agency: dict[str, str], account: FakeWorksection
) -> None:
    args = ["templates", "apply", "ad-campaign", "--project", "77", "--start", "2026-12-21"]
    # Max is not a user of the Worksection account yet: his tasks are refused.
    account.users.update({"ana@agency.example": "Ana", "lea@agency.example": "Lea"})

    partly = run(*args, env=agency)
    account.users["max@agency.example"] = "Max"
    finished = run(*args, env=agency)

    assert partly.returncode == 1
    assert "refused: Creatives: Worksection: User not found: max@agency.example" in partly.stderr
    assert "not created: Creatives / Visuals in every format: its parent task is not created" in (
        partly.stderr
    )
    assert "tasks not created: apply again once the cause is fixed" in partly.stderr
    assert finished.returncode == 0, finished.stderr
    assert len(account.tasks) == 31


def test_apply_refuses_a_bad_template_before_asking_worksection_anything(
    agency: dict[str, str], account: FakeWorksection, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'title = "Bad"\n[[task]]\ntitle = "Context and goal"\nphase = "Brief"\n'
        'role = "pm"\nstart = 3\ndeadline = 1\n'
    )

    refused = run(
        "templates", "apply", str(bad), "--project", "77", "--start", "2026-12-21", env=agency
    )

    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"{bad}:7: deadline on day 1, before its start on day 3",
        f"pmdesk: {bad}: refused, 1 problem",
    ]
    assert account.calls == []


def test_apply_without_worksection_configured_says_so(env: dict[str, str]) -> None:
    result = run(
        "templates", "apply", "seo-retainer", "--project", "77", "--start", "2026-12-21", env=env
    )
    assert result.returncode == 2
    assert "Worksection is not configured" in result.stderr


def test_the_commands_speak_french_with_a_french_locale(
    agency: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "Bad"\n[[task]]\ntitle = "A"\nphase = "Brief"\nrole = "boss"\n'
                   "start = 0\ndeadline = 0\n")  # fmt: skip
    french = {**agency, "PMDESK_LOCALE": "fr_FR"}

    checked = run("templates", "check", str(bad), env=french)

    assert checked.stderr.splitlines()[0].startswith(f"{bad}:5: rôle inconnu 'boss'")
    assert "refusé, 1 problème" in checked.stderr


@pytest.mark.parametrize(
    ("name", "size"), [("website-launch", 38), ("seo-retainer", 23), ("ad-campaign", 31)]
)
def test_a_dry_run_of_each_shipped_template_skips_christmas_and_new_year(
    agency: dict[str, str], account: FakeWorksection, name: str, size: int
) -> None:
    from datetime import date

    result = run(
        "templates", "apply", name, "--project", "Acme website", "--start", "2026-12-21",
        "--dry-run", "--json", env=agency,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    planned = json.loads(result.stdout)
    assert len(planned) == size and planned[0]["title"] == "Context and goal"
    assert planned[0]["start"] == "2026-12-21" and planned[0]["owner"] == "Ana"
    days = {date.fromisoformat(task[key]) for task in planned for key in ("start", "deadline")}
    assert not days & {date(2026, 12, 25), date(2027, 1, 1)}
    assert all(day.weekday() < 5 for day in days)
    assert date(2026, 12, 24) in days and date(2026, 12, 28) in days
    assert account.calls == []  # a dry run asks Worksection nothing
