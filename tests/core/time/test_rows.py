"""Reading a row of logged time: `H:MM`, money, dates, tags, and what is refused."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from core.time.rows import BadRow, hours_text, minutes_of, read_row


def row(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "501",
        "comment": "Call with the client",
        "time": "1:30",
        "money": "100.00",
        "date": "2026-11-04",
        "is_timer": 1,
        "user_from": {"id": "3", "email": "Sam@Agency.example", "name": "Sam Staff"},
        "task": {
            "id": "4211",
            "name": "Weekly Call",
            "page": "/project/77/4211/",
            "project": {"id": "77", "name": "Acme website"},
            "tags": {"101": "AM", "102": "Communication"},
        },
    }
    data.update(fields)
    return data


@pytest.mark.parametrize(
    ("text", "minutes"), [("0:00", 0), ("1:30", 90), ("0:05", 5), ("12:59", 779), ("100:00", 6000)]
)
def test_time_is_hours_and_minutes(text: str, minutes: int) -> None:
    assert minutes_of(text) == minutes
    assert minutes_of(hours_text(minutes)) == minutes


@pytest.mark.parametrize("text", ["1:75", "-1:00", "1:5", "1.30", "", "1:00:00", "h:mm", " :30"])
def test_a_malformed_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="H:MM"):
        minutes_of(text)


def test_a_row_is_read_whole() -> None:
    entry = read_row(row())
    assert entry.id == "501"
    assert (entry.day, entry.month, entry.minutes, entry.money_cents) == (
        date(2026, 11, 4),
        "2026-11",
        90,
        10000,
    )
    assert entry.is_timer
    assert entry.user_email == "sam@agency.example"
    assert (entry.task_id, entry.project_id, entry.project_name) == ("4211", "77", "Acme website")
    assert entry.tag_key == "|am|communication|"
    assert entry.task_key == "weekly call"


def test_a_row_without_tags_user_or_project_is_kept() -> None:
    entry = read_row(row(user_from=None, task={"id": "9", "name": "Loose"}))
    assert entry.user_email is None
    assert entry.project_id is None
    assert entry.tag_key == "|"


@pytest.mark.parametrize(
    ("fields", "fault"),
    [
        ({"time": "1:75"}, "time '1:75'"),
        ({"time": "-1:00"}, "time '-1:00'"),
        ({"time": None}, "time None"),
        ({"money": "lots"}, "money 'lots'"),
        ({"date": "04.11.2026"}, "date '04.11.2026'"),
    ],
)
def test_a_bad_row_is_refused_with_its_id(fields: dict[str, Any], fault: str) -> None:
    with pytest.raises(BadRow) as caught:
        read_row(row(**fields))
    assert caught.value.row_id == "501"
    assert fault in caught.value.reason


def test_a_row_with_a_date_and_time_takes_the_date() -> None:
    assert read_row(row(date="2026-11-04 18:30")).day == date(2026, 11, 4)
