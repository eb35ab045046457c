"""Deadlines as people type them, in the agency's calendar (holidays included)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from core.config.settings import Settings
from core.tracker.dates import BadDate, add_business_days, agency_calendar, parse_deadline

PARIS = ZoneInfo("Europe/Paris")
CHRISTMAS_EVE = date(2026, 12, 24)  # a Thursday; the 25th is a public holiday in France


@pytest.fixture
def office() -> tuple[object, ZoneInfo]:
    return agency_calendar(Settings(calendars={"office": {"closed": ["2026-12-28"]}}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.12.2027", date(2027, 12, 12)),
        ("31.12", date(2026, 12, 31)),
        ("5.1", date(2027, 1, 5)),  # no year: the next such day
        ("2027-02-01", date(2027, 2, 1)),
        ("24/12", CHRISTMAS_EVE),
    ],
)
def test_a_date_in_each_form(office: tuple[object, ZoneInfo], text: str, expected: date) -> None:
    calendar, zone = office
    assert parse_deadline(text, CHRISTMAS_EVE, calendar, zone) == expected  # type: ignore[arg-type]


def test_plus_n_counts_business_days_skipping_the_weekend_holidays_and_closed_days(
    office: tuple[object, ZoneInfo],
) -> None:
    calendar, zone = office
    # Fri 25 (Christmas), the weekend and Mon 28 (closed) are skipped.
    assert parse_deadline("+1", CHRISTMAS_EVE, calendar, zone) == date(2026, 12, 29)  # type: ignore[arg-type]
    assert parse_deadline("+2", CHRISTMAS_EVE, calendar, zone) == date(2026, 12, 30)  # type: ignore[arg-type]
    # 29, 30, 31 December, then 1 January (a holiday) and a weekend: Monday 4 January.
    assert add_business_days(calendar, zone, CHRISTMAS_EVE, 4) == date(2027, 1, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("23.12.2026", "in the past"),
        ("2026-01-01", "in the past"),
        ("31.02.2027", "not a date"),
        ("tomorrow", "not a date"),
        ("+0", "business days"),
        ("+5000", "business days"),
        ("", "not a date"),
    ],
)
def test_what_is_not_a_deadline_is_refused_with_the_reason(
    office: tuple[object, ZoneInfo], text: str, problem: str
) -> None:
    calendar, zone = office
    with pytest.raises(BadDate, match=problem):
        parse_deadline(text, CHRISTMAS_EVE, calendar, zone)  # type: ignore[arg-type]
