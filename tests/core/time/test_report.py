"""Account management on a hand-built month: three projects, one above 10 %, exact figures."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from core.config.settings import TimeConfig
from core.conversations.people import add_staff
from core.store.reader import EngineReader
from core.time import sums
from core.time.report import am_report, months_back
from core.time.sync import apply_window
from tests.support import MovableClock

SAM, ANNA = "sam@agency.example", "anna@agency.example"
ACME = {"id": "77", "name": "Acme website"}
BRIOCHE = {"id": "88", "name": "Brioche shop"}
CRUMB = {"id": "99", "name": "Crumb app"}
PROJECTS = {"77": "Acme", "Crumb app": "Acme"}
CONFIG = TimeConfig(
    am_tags=["AM", "Communication"], am_task_words=["report"], am_roles=["assistant"]
)


def cost(row_id: str, time: str, day: str, user: str, task: str, project: Any, tags=()) -> dict:
    return {
        "id": row_id,
        "time": time,
        "money": "0.00",
        "date": day,
        "user_from": {"email": user, "name": user.split("@")[0].title()},
        "task": {
            "id": f"t-{task}",
            "name": task,
            "project": project,
            "tags": {str(n): tag for n, tag in enumerate(tags)},
        },
    }


MONTH = [
    # Acme website: 1:00 of 10:00 is account management, 10 % exactly: not above.
    cost("1", "9:00", "2026-11-03", ANNA, "Homepage", ACME),
    cost("2", "1:00", "2026-11-04", SAM, "Weekly call", ACME, ["AM"]),
    # Brioche shop: a report (by its name) and the assistant's time: 2:00 of 8:30.
    cost("3", "6:30", "2026-11-05", ANNA, "Logo", BRIOCHE),
    cost("4", "0:30", "2026-11-05", SAM, "Logo", BRIOCHE),
    cost("5", "1:30", "2026-11-30", ANNA, "Monthly REPORT", BRIOCHE),
    # Crumb app (Acme's too): 0:20 of 10:20, tagged in another case.
    cost("6", "10:00", "2026-11-10", ANNA, "Backend", CRUMB),
    cost("7", "0:20", "2026-11-11", ANNA, "Client questions", CRUMB, ["communication"]),
    # Someone pmdesk does not know, on a task of no project: unassigned, kept.
    cost("8", "0:40", "2026-11-12", "free@else.example", "Loose", None),
    # Outside the month: October counts in the trend, December nowhere.
    cost("9", "2:00", "2026-10-15", SAM, "Kick-off call", ACME, ["AM"]),
    cost("10", "5:00", "2026-12-01", ANNA, "Homepage", ACME),
]


@pytest.fixture(params=["rows", "sums"])
def month(engine: Engine, clock: MovableClock, request: pytest.FixtureRequest) -> EngineReader:
    """The month, read from the rows, or from the monthly sums built under CONFIG."""
    add_staff(engine, "Sam Staff", "assistant", [SAM], clock())
    add_staff(engine, "Anna Designer", "specialist", [ANNA], clock())
    apply_window(engine, MONTH, date(2026, 10, 1), date(2026, 12, 31), clock=clock)
    if request.param == "sums":
        assert sums.ensure(engine, CONFIG, clock())
    return EngineReader(engine)


def test_the_month_per_project_and_client(month: EngineReader) -> None:
    report = am_report(month, CONFIG, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    lines = [
        (line.client, line.project, line.time.am, line.time.total, report.above_target(line.time))
        for line in report.projects
    ]
    assert lines == [
        ("Acme", "Acme website", 60, 600, False),
        ("Acme", "Crumb app", 20, 620, False),
        ("Brioche shop", "Brioche shop", 120, 510, True),
        (None, None, 0, 40, False),
    ]
    assert {client: (s.am, s.total) for client, s in report.clients.items()} == {
        "Acme": (80, 1220),
        "Brioche shop": (120, 510),
        None: (0, 40),
    }
    assert (report.total.am, report.total.total) == (200, 1770)
    brioche = report.as_dict()["projects"][2]
    assert brioche["am_hours"] == 2.0 and brioche["total_hours"] == 8.5
    assert brioche["share"] == round(120 / 510, 4)
    assert brioche["above_target"] is True
    assert brioche["months"] == {
        "2026-11": {
            "am_minutes": 120,
            "total_minutes": 510,
            "am_hours": 2.0,
            "total_hours": 8.5,
            "share": round(120 / 510, 4),
        }
    }


def test_the_month_per_person(month: EngineReader) -> None:
    report = am_report(month, CONFIG, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    people = [(p.name, p.staff, p.time.am, p.time.total) for p in report.people]
    assert people == [
        ("Anna Designer", True, 110, 1640),
        ("Sam Staff", True, 90, 90),
        ("Free", False, 0, 40),
    ]


def test_the_trend_is_the_six_months_ending_with_the_period(month: EngineReader) -> None:
    report = am_report(month, CONFIG, date(2026, 11, 1), date(2026, 11, 30), PROJECTS)
    assert list(report.trend) == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert (report.trend["2026-10"].am, report.trend["2026-10"].total) == (120, 120)
    assert (report.trend["2026-11"].am, report.trend["2026-11"].total) == (200, 1770)
    assert report.trend["2026-06"].share is None


def test_the_rule_is_the_configuration(month: EngineReader) -> None:
    tags_only = TimeConfig(am_tags=["AM"], target_share=0.05)
    report = am_report(month, tags_only, date(2026, 11, 1), date(2026, 11, 30))
    assert (report.total.am, report.total.total) == (60, 1770)
    acme = next(line for line in report.projects if line.project_id == "77")
    assert acme.client == "Acme website"  # no mapping: a project is its own client
    assert report.above_target(acme.time)  # 10 % is above a 5 % target
    nothing = am_report(month, TimeConfig(am_tags=[]), date(2026, 11, 1), date(2026, 11, 30))
    assert nothing.total.am == 0


def test_a_tag_with_like_wildcards_matches_itself_only(engine: Engine) -> None:
    rows = [
        cost("1", "1:00", "2026-11-03", SAM, "A", ACME, ["A_M"]),
        cost("2", "1:00", "2026-11-03", SAM, "B", ACME, ["AXM"]),
    ]
    apply_window(engine, rows, date(2026, 11, 1), date(2026, 11, 30))
    report = am_report(
        EngineReader(engine), TimeConfig(am_tags=["A_M"]), date(2026, 11, 1), date(2026, 11, 30)
    )
    assert report.total.am == 60


def test_months_back_crosses_the_year() -> None:
    assert months_back(date(2026, 2, 10), 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize(
    ("fields", "fault"),
    [
        ({"am_roles": ["designer"]}, "not a staff role"),
        ({"am_tags": [" "]}, "matches nothing"),
        ({"am_task_words": ["a|b"]}, "matches nothing"),
        ({"target_share": 0}, "greater than 0"),
        ({"target_share": 1.5}, "less than or equal to 1"),
    ],
)
def test_a_bad_time_table_is_refused(fields: dict[str, Any], fault: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=fault):
        TimeConfig(**fields)


def test_a_period_taking_part_of_its_months_counts_its_days_only(month: EngineReader) -> None:
    # From the 4th of November to the 10th of December: rows 1 (the 3rd) and 5 (the 30th
    # is in) and December's row 10; the trend's months stay whole.
    report = am_report(month, CONFIG, date(2026, 11, 4), date(2026, 12, 10), PROJECTS)
    lines = {line.project: (line.time.am, line.time.total) for line in report.projects}
    assert lines == {
        "Acme website": (60, 60 + 300),
        "Crumb app": (20, 620),
        "Brioche shop": (120, 510),
        None: (0, 40),
    }
    assert (report.total.am, report.total.total) == (200, 1530)
    assert report.projects[0].months == {
        "2026-11": report.projects[0].months["2026-11"],
        "2026-12": report.projects[0].months["2026-12"],
    }
    assert (report.trend["2026-11"].am, report.trend["2026-11"].total) == (200, 1770)
    assert (report.trend["2026-12"].am, report.trend["2026-12"].total) == (0, 300)
    one_day = am_report(month, CONFIG, date(2026, 11, 30), date(2026, 11, 30), PROJECTS)
    assert (one_day.total.am, one_day.total.total) == (90, 90)
