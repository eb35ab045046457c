"""Dates in business days of the agency's calendar, and each task's owner from the team."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.people import add_staff
from core.tracker.teams import Owner, project_team
from core.tracker.templates import load_template, template_files, vocabulary
from core.tracker.templates_plan import business_days, plan, roles_used

NOW = datetime.fromisoformat("2026-12-01T09:00:00+00:00")


def test_day_0_is_the_start_and_weekends_and_holidays_are_skipped() -> None:
    # Christmas (Fri 25 Dec) and New Year's Day (Fri 1 Jan) are French public holidays.
    days = business_days(Settings(), date(2026, 12, 21))

    assert [days.day(n) for n in range(8)] == [
        date(2026, 12, 21),
        date(2026, 12, 22),
        date(2026, 12, 23),
        date(2026, 12, 24),
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
    ]
    assert days.day(8) == date(2027, 1, 4)


def test_the_days_are_those_of_the_tracker_deadlines_plus_n() -> None:
    from zoneinfo import ZoneInfo

    from core.tracker.dates import add_business_days, agency_calendar

    settings = Settings()
    calendar, zone = agency_calendar(settings)
    assert zone == ZoneInfo(settings.templates_timezone)
    for start in (date(2026, 12, 19), date(2026, 12, 21), date(2027, 4, 30)):
        days = business_days(settings, start)
        assert [days.day(n) for n in range(30)] == [
            add_business_days(calendar, zone, start, n) for n in range(30)
        ]


def test_a_start_on_a_closed_day_counts_from_the_next_business_day() -> None:
    settings = Settings(calendars={"office": {"closed": ["2026-12-07"]}})
    days = business_days(settings, date(2026, 12, 5))  # a Saturday, then a closed Monday
    assert days.day(0) == date(2026, 12, 8)


def test_the_templates_calendar_is_their_own_when_set() -> None:
    settings = Settings(
        calendars={"office": {}, "studio": {"country": None, "shifts": {"sat": ["10:00-12:00"]}}},
        templates={"calendar": "studio"},
    )
    days = business_days(settings, date(2026, 12, 21))
    assert [days.day(n) for n in range(2)] == [date(2026, 12, 26), date(2027, 1, 2)]


def test_the_shipped_website_launch_laid_on_a_project_with_christmas_in_it(engine: Engine) -> None:
    settings = Settings()
    template = load_template(template_files(None)["website-launch"], vocabulary(settings.templates))
    ana = add_staff(engine, "Ana", "pm", ["ana@agency.example"], NOW)
    team = {"pm": Owner("pm", ana, "Ana", "ana@agency.example")}
    planned = plan(template, business_days(settings, date(2026, 12, 21)), team)
    by_title = {task.spec.title: task for task in planned}

    brief = by_title["Context and goal"]
    assert (brief.start, brief.deadline, brief.owner) == (
        date(2026, 12, 21),
        date(2026, 12, 23),
        team["pm"],
    )
    sitemap = by_title["Sitemap and content plan"]
    # Day 3 is Thu 24 Dec; day 5 is Tue 29 Dec, after Christmas and the weekend.
    assert (sitemap.start, sitemap.deadline) == (date(2026, 12, 24), date(2026, 12, 29))
    assert by_title["Wireframes"].owner is None  # no designer on this team
    assert planned[1].parent == planned[0].path
    assert all(task.start.weekday() < 5 and task.deadline.weekday() < 5 for task in planned)
    holidays = {date(2026, 12, 25), date(2027, 1, 1)}
    assert not {task.start for task in planned} & holidays
    assert not {task.deadline for task in planned} & holidays
    assert roles_used(template)[:2] == ["pm", "assistant"]


def test_the_team_is_the_configurations_with_the_stored_one_over_it(engine: Engine) -> None:
    from core.tracker.teams import TeamError, missing_roles, project_keys, set_team

    ana = add_staff(engine, "Ana", "pm", ["ana@agency.example"], NOW)
    add_staff(engine, "Max", "specialist", ["max@agency.example"], NOW)
    add_staff(engine, "Nomail", "specialist", [], NOW)
    teams = {"Acme Website": {"pm": "Max", "designer": "max@agency.example"}}
    keys = project_keys("77", "acme website")

    assert {role: owner.name for role, owner in project_team(engine, teams, keys).items()} == {
        "designer": "Max",
        "pm": "Max",
    }
    set_team(engine, "77", {"pm": "ana"}, ["pm", "designer", "seo"], NOW)
    team = project_team(engine, teams, keys)
    assert (team["pm"].staff_id, team["pm"].email) == (ana, "ana@agency.example")
    assert missing_roles(team, ["pm", "seo", "designer"]) == ["seo"]

    set_team(engine, "77", {"pm": ""}, ["pm"], NOW)  # cleared: the configuration's again
    assert project_team(engine, teams, keys)["pm"].name == "Max"
    for bad, message in (
        ({"ninja": "Ana"}, "unknown role 'ninja'"),
        ({"pm": "Nobody Known"}, "no staff member"),
        ({"pm": "Nomail"}, "has no email"),
    ):
        try:
            set_team(engine, "77", bad, ["pm"], NOW)
        except TeamError as error:
            assert message in str(error)
        else:
            raise AssertionError(bad)
