"""Business-time arithmetic: properties on random instants, then the cases that bite."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.base.business_time import AlwaysOpen, BusinessCalendar, ShiftCalendar, parse_shift

PARIS = ZoneInfo("Europe/Paris")
OFFICE_SHIFTS = {day: [(time(9), time(13)), (time(14), time(18))] for day in range(5)}
OFFICE = ShiftCalendar("Europe/Paris", OFFICE_SHIFTS, country="FR")
ALWAYS = AlwaysOpen()
NIGHTS = ShiftCalendar("Europe/Paris", {day: [(time(0), time(6))] for day in range(7)})
FIFTEEN_MINUTES = 15 * 60
HOUR = 3600.0

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
durations = st.floats(min_value=0, max_value=4 * 86400, allow_nan=False, allow_infinity=False)
calendars = pytest.mark.parametrize(
    "calendar", [OFFICE, ALWAYS, NIGHTS], ids=["office", "always", "nights"]
)
quick = settings(max_examples=200, deadline=None)


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Properties


@calendars
@quick
@given(start=instants, seconds=durations)
def test_between_undoes_add(calendar: BusinessCalendar, start: datetime, seconds: float) -> None:
    assert calendar.between(start, calendar.add(start, seconds)) == pytest.approx(seconds, abs=1e-6)


@calendars
@quick
@given(start=instants, seconds=st.lists(durations, max_size=4))
def test_add_many_walks_once_to_what_add_finds_each_time(
    calendar: BusinessCalendar, start: datetime, seconds: list[float]
) -> None:
    assert calendar.add_many(start, seconds) == [calendar.add(start, each) for each in seconds]


EVENINGS = ShiftCalendar(
    "Europe/Paris",
    {day: [(time(0), time(1)), (time(19), time(0))] for day in range(7) if day != 2},
    closed_dates=[date(2026, 3, 27), date(2026, 3, 28)],
)


@pytest.mark.parametrize(
    "calendar", [OFFICE, NIGHTS, EVENINGS], ids=["office", "nights", "evenings"]
)
@quick
@given(start=instants, seconds=st.lists(durations, max_size=3), spans=st.lists(durations))
def test_the_short_cuts_find_what_the_full_walk_finds(
    calendar: ShiftCalendar, start: datetime, seconds: list[float], spans: list[float]
) -> None:
    """The common cases (all within the first open interval) give the same instants."""
    wanted = [timedelta(seconds=each) for each in seconds]
    assert calendar.add_many(start, seconds) == calendar._walk_add(start, wanted, start)
    for span in [*seconds, *spans, 60.0, 900.0, 3 * HOUR, 12 * HOUR]:
        end = start + timedelta(seconds=span)
        if end > start:
            assert calendar.between(start, end) == calendar._walk_between(start, end)


@calendars
@quick
@given(first=instants, second=instants, seconds=durations)
def test_add_is_monotonic_in_start(
    calendar: BusinessCalendar, first: datetime, second: datetime, seconds: float
) -> None:
    early, late = sorted((first, second))
    assert calendar.add(early, seconds) <= calendar.add(late, seconds)


@calendars
@quick
@given(start=instants, first=durations, second=durations)
def test_add_is_monotonic_in_seconds(
    calendar: BusinessCalendar, start: datetime, first: float, second: float
) -> None:
    short, long = sorted((first, second))
    assert start <= calendar.add(start, short) <= calendar.add(start, long)


@calendars
@quick
@given(points=st.lists(instants, min_size=3, max_size=3))
def test_between_is_additive(calendar: BusinessCalendar, points: list[datetime]) -> None:
    a, b, c = sorted(points)
    whole = calendar.between(a, c)
    assert calendar.between(a, b) + calendar.between(b, c) == pytest.approx(whole, abs=1e-6)
    assert 0.0 <= whole <= (c - a).total_seconds()
    assert calendar.between(c, a) == 0.0


@calendars
@quick
@given(start=instants)
def test_add_zero_is_the_next_open_instant(calendar: BusinessCalendar, start: datetime) -> None:
    opening = calendar.add(start, 0)
    assert opening == calendar.next_open(start)
    assert opening >= start
    assert calendar.is_open(opening)
    assert calendar.between(start, opening) == 0.0
    if calendar.is_open(start):
        assert opening == start


@quick
@given(start=instants, end=instants)
def test_office_hours_match_a_plain_day_by_day_count(start: datetime, end: datetime) -> None:
    """An independent count: walk each Paris date, skipping weekends and French holidays."""
    start, end = sorted((start, end))
    french = holidays.country_holidays("FR", years=range(start.year - 1, end.year + 2))
    expected = 0.0
    day = start.astimezone(PARIS).date()
    while day <= end.astimezone(PARIS).date():
        if day.weekday() < 5 and day not in french:
            for opens, closes in ((9, 13), (14, 18)):
                low = max(start, datetime.combine(day, time(opens), PARIS))
                high = min(end, datetime.combine(day, time(closes), PARIS))
                expected += max((high - low).total_seconds(), 0.0)
        day += timedelta(days=1)
    assert OFFICE.between(start, end) == pytest.approx(expected, abs=1e-6)


# Daylight saving time: Paris goes forward on 2026-03-29 and back on 2026-10-25


def test_a_night_shift_lasts_five_hours_when_clocks_go_forward() -> None:
    assert NIGHTS.between(paris(2026, 3, 29), paris(2026, 3, 29, 12)) == 5 * HOUR
    assert NIGHTS.between(paris(2026, 3, 28), paris(2026, 3, 28, 12)) == 6 * HOUR


def test_a_night_shift_lasts_seven_hours_when_clocks_go_back() -> None:
    assert NIGHTS.between(paris(2026, 10, 25), paris(2026, 10, 25, 12)) == 7 * HOUR
    assert NIGHTS.between(paris(2026, 10, 26), paris(2026, 10, 26, 12)) == 6 * HOUR


def test_fifteen_minutes_across_the_jump_forward() -> None:
    start = paris(2026, 3, 29, 1, 50)  # 00:50 UTC; at 01:00 UTC 02:00 becomes 03:00
    due = NIGHTS.add(start, FIFTEEN_MINUTES)
    assert due == utc(2026, 3, 29, 1, 5)
    assert due.astimezone(PARIS).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 5)


def test_fifteen_minutes_across_the_jump_back() -> None:
    start = paris(2026, 10, 25, 2, 50)  # the first 02:50 (summer time), 00:50 UTC
    assert start.astimezone(UTC) == utc(2026, 10, 25, 0, 50)
    due = NIGHTS.add(start, FIFTEEN_MINUTES)
    assert due == utc(2026, 10, 25, 1, 5)  # 02:05 again, now winter time
    assert due.astimezone(PARIS).utcoffset() == timedelta(hours=1)


def test_a_shift_starting_inside_the_missing_hour_starts_when_clocks_jump() -> None:
    calendar = ShiftCalendar("Europe/Paris", {6: [(time(2, 30), time(4))]})
    assert calendar.next_open(paris(2026, 3, 29)) == utc(2026, 3, 29, 1)  # 03:00 summer time
    assert calendar.between(paris(2026, 3, 29), paris(2026, 3, 29, 12)) == HOUR


def test_shifts_meeting_in_the_repeated_hour_are_not_counted_twice() -> None:
    calendar = ShiftCalendar("Europe/Paris", {6: [(time(0), time(2, 30)), (time(2, 30), time(6))]})
    assert calendar.between(paris(2026, 10, 25), paris(2026, 10, 25, 12)) == 7 * HOUR


def test_a_shift_starting_in_the_repeated_hour_starts_at_its_first_occurrence() -> None:
    calendar = ShiftCalendar("Europe/Paris", {6: [(time(2, 15), time(4))]})
    assert calendar.next_open(paris(2026, 10, 25)) == utc(2026, 10, 25, 0, 15)
    assert calendar.between(paris(2026, 10, 25), paris(2026, 10, 25, 12)) == 2.75 * HOUR


def test_midnight_twice_ends_an_evening_shift_at_the_second_midnight() -> None:
    # Havana goes back from 01:00 to 00:00 on 2026-11-01 (05:00 UTC): midnight happens
    # twice, so Saturday's 20:00-24:00 lasts 5 hours and runs into Sunday's first hour.
    evenings = ShiftCalendar("America/Havana", {day: [(time(20), time(0))] for day in range(7)})
    first_midnight = utc(2026, 11, 1, 4)
    sunday_first_hour = first_midnight + timedelta(minutes=30)
    assert sunday_first_hour.astimezone(ZoneInfo("America/Havana")).day == 1
    assert evenings.is_open(sunday_first_hour)
    assert evenings.add(sunday_first_hour, 0) == sunday_first_hour
    assert evenings.add(first_midnight, HOUR) == utc(2026, 11, 1, 5)
    assert evenings.between(first_midnight, utc(2026, 11, 1, 12)) == HOUR
    saturday_evening = utc(2026, 11, 1)  # 20:00 summer time
    assert evenings.between(saturday_evening, utc(2026, 11, 1, 12)) == 5 * HOUR


def test_a_shift_overlapping_the_previous_days_is_counted_once() -> None:
    # Sunday's 00:00-01:00 starts at the first midnight, inside Saturday's 20:00-24:00.
    nights = ShiftCalendar(
        "America/Havana", {day: [(time(0), time(1)), (time(20), time(0))] for day in range(7)}
    )
    saturday_evening = utc(2026, 11, 1)
    assert nights.between(saturday_evening, utc(2026, 11, 1, 12)) == 6 * HOUR
    assert nights.add(saturday_evening, 6 * HOUR) == utc(2026, 11, 1, 6)


def test_a_shift_ending_in_the_repeated_hour_ends_at_its_second_occurrence() -> None:
    calendar = ShiftCalendar("Europe/Paris", {6: [(time(1), time(2, 30))]})
    assert calendar.between(paris(2026, 10, 25), paris(2026, 10, 25, 12)) == 2.5 * HOUR
    assert calendar.add(paris(2026, 10, 25), 2.5 * HOUR) == utc(2026, 10, 25, 1, 30)


# Holidays, weekends and shift boundaries inside the 15 minutes


def test_a_friday_night_message_before_whit_monday_is_due_on_tuesday() -> None:
    friday_night = paris(2026, 5, 22, 23, 50)
    due = OFFICE.add(friday_night, FIFTEEN_MINUTES)
    assert due == paris(2026, 5, 26, 9, 15)
    assert due == utc(2026, 5, 26, 7, 15)
    assert due.tzinfo is UTC
    assert not OFFICE.is_open(paris(2026, 5, 25, 10))  # Whit Monday


def test_a_message_before_lunch_is_due_after_lunch() -> None:
    due = OFFICE.add(paris(2026, 6, 10, 12, 55), FIFTEEN_MINUTES)  # a Wednesday
    assert due == paris(2026, 6, 10, 14, 10)
    assert due == utc(2026, 6, 10, 12, 10)


def test_a_friday_evening_message_is_due_on_monday_morning() -> None:
    due = OFFICE.add(paris(2026, 6, 12, 17, 50), FIFTEEN_MINUTES)
    assert due == paris(2026, 6, 15, 9, 5)
    assert due == utc(2026, 6, 15, 7, 5)
    assert OFFICE.between(paris(2026, 6, 12, 17, 50), due) == FIFTEEN_MINUTES


def test_a_message_at_night_counts_from_opening() -> None:
    night = paris(2026, 6, 10, 3, 0)
    assert not OFFICE.is_open(night)
    assert OFFICE.next_open(night) == paris(2026, 6, 10, 9)
    assert OFFICE.add(night, 0) == paris(2026, 6, 10, 9)
    assert OFFICE.add(night, FIFTEEN_MINUTES) == paris(2026, 6, 10, 9, 15)


def test_shift_ends_are_closed_and_starts_are_open() -> None:
    assert OFFICE.is_open(paris(2026, 6, 10, 9))
    assert OFFICE.is_open(paris(2026, 6, 10, 12, 59, 59))
    assert not OFFICE.is_open(paris(2026, 6, 10, 13))
    assert OFFICE.add(paris(2026, 6, 10, 9), 4 * HOUR) == paris(2026, 6, 10, 13)


def test_extra_closed_dates_are_skipped() -> None:
    closure = [date(2026, 12, 24) + timedelta(days=n) for n in range(8)]  # 24 to 31 December
    calendar = ShiftCalendar("Europe/Paris", OFFICE_SHIFTS, country="FR", closed_dates=closure)
    due = calendar.add(paris(2026, 12, 23, 17, 50), FIFTEEN_MINUTES)
    assert due == paris(2027, 1, 4, 9, 5)  # 1 January is a holiday, then a weekend
    assert OFFICE.add(paris(2026, 12, 23, 17, 50), FIFTEEN_MINUTES) == paris(2026, 12, 24, 9, 5)


def test_subdivision_holidays_apply() -> None:
    alsace = ShiftCalendar("Europe/Paris", OFFICE_SHIFTS, country="FR", subdivision="57")
    good_friday = paris(2026, 4, 3, 10)
    assert OFFICE.is_open(good_friday)
    assert not alsace.is_open(good_friday)


def test_a_weekend_only_calendar() -> None:
    weekends = ShiftCalendar("Europe/Paris", {5: [(time(10), time(16))], 6: [(time(10), time(16))]})
    monday = paris(2026, 6, 8, 11)
    assert not weekends.is_open(monday)
    assert weekends.add(monday, FIFTEEN_MINUTES) == paris(2026, 6, 13, 10, 15)
    assert weekends.add(paris(2026, 6, 13, 15, 50), FIFTEEN_MINUTES) == paris(2026, 6, 14, 10, 5)
    assert weekends.between(monday, paris(2026, 6, 15)) == 12 * HOUR


def test_a_shift_ending_at_midnight_runs_into_the_next_day() -> None:
    late = ShiftCalendar(
        "Europe/Paris", {day: [(time(0), time(2)), (time(18), time(0))] for day in range(7)}
    )
    assert late.add(paris(2026, 6, 10, 23, 55), FIFTEEN_MINUTES) == paris(2026, 6, 11, 0, 10)
    assert late.between(paris(2026, 6, 10, 22), paris(2026, 6, 11, 1)) == 3 * HOUR
    assert late.is_open(paris(2026, 6, 10, 23, 59, 59))


def test_always_open_is_wall_time() -> None:
    start = paris(2026, 6, 10, 3)
    assert ALWAYS.add(start, FIFTEEN_MINUTES) == utc(2026, 6, 10, 1, 15)
    assert ALWAYS.add(start, FIFTEEN_MINUTES).tzinfo is UTC
    assert ALWAYS.between(start, paris(2026, 6, 11, 3)) == 24 * HOUR
    assert ALWAYS.between(paris(2026, 6, 11, 3), start) == 0.0
    assert ALWAYS.next_open(start) == start


def test_holidays_are_built_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    original = holidays.country_holidays

    def counting(*args: object, **kwargs: object) -> object:
        built.append(kwargs.get("years"))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(holidays, "country_holidays", counting)
    calendar = ShiftCalendar("Europe/Paris", OFFICE_SHIFTS, country="FR")
    for minute in range(0, 60 * 24 * 30, 7):
        calendar.add(paris(2026, 6, 1) + timedelta(minutes=minute), FIFTEEN_MINUTES)
    assert [years for years in built if years != ()] == [2026]  # () checks the country


# Refusals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-13:00", (time(9), time(13))),
        ("14:00-24:00", (time(14), time(0))),
        (" 8:30 - 12:15 ", (time(8, 30), time(12, 15))),
        ("00:00-24:00", (time(0), time(0))),
    ],
)
def test_parse_shift(text: str, expected: tuple[time, time]) -> None:
    assert parse_shift(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "written like 09:00-13:00"),
        ("9h-13h", "written like 09:00-13:00"),
        ("09:00", "written like 09:00-13:00"),
        ("25:00-26:00", "not a time of day"),
        ("09:60-10:00", "not a time of day"),
        ("24:00-24:00", "not a time of day"),
        ("24:30-24:00", "not a time of day"),
        ("13:00-09:00", "ends at or before it starts"),
        ("09:00-09:00", "ends at or before it starts"),
        ("18:00-00:00", "as 24:00"),
    ],
)
def test_parse_shift_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_shift(text)


@pytest.mark.parametrize("calendar", [OFFICE, ALWAYS], ids=repr)
def test_naive_datetimes_are_refused(calendar: BusinessCalendar) -> None:
    naive = datetime(2026, 6, 10, 12)
    aware = utc(2026, 6, 10, 12)
    for call in (
        lambda: calendar.add(naive, 60),
        lambda: calendar.between(naive, aware),
        lambda: calendar.between(aware, naive),
        lambda: calendar.next_open(naive),
        lambda: calendar.is_open(naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


@pytest.mark.parametrize("calendar", [OFFICE, ALWAYS], ids=repr)
@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_impossible_durations_are_refused(calendar: BusinessCalendar, seconds: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        calendar.add(utc(2026, 6, 10), seconds)


def test_a_calendar_without_shifts_refuses_to_add() -> None:
    never = ShiftCalendar("Europe/Paris", {})
    with pytest.raises(ValueError, match="never open"):
        never.add(utc(2026, 6, 10), FIFTEEN_MINUTES)
    with pytest.raises(ValueError, match="never open"):
        never.next_open(utc(2026, 6, 10))
    assert never.between(utc(2026, 6, 10), utc(2026, 6, 20)) == 0.0
    assert not never.is_open(utc(2026, 6, 10))


def test_a_calendar_closed_for_years_refuses_to_add() -> None:
    closure = [date(2026, 1, 1) + timedelta(days=n) for n in range(4 * 366)]
    closed = ShiftCalendar("Europe/Paris", OFFICE_SHIFTS, closed_dates=closure)
    with pytest.raises(ValueError, match="no open time"):
        closed.add(utc(2026, 1, 1), FIFTEEN_MINUTES)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"timezone": "Europe/Atlantis"}, "'Europe/Atlantis'"),
        ({"timezone": ""}, "unknown time zone"),
        ({"country": "XX"}, "'XX'"),
        ({"country": "FR", "subdivision": "ZZ"}, "'FR/ZZ'"),
        ({"subdivision": "57"}, "without a country"),
        ({"shifts": {7: [(time(9), time(10))]}}, "weekday 7"),
        ({"shifts": {0: [(time(9), time(12)), (time(11), time(13))]}}, "overlap"),
        ({"shifts": {0: [(time(12), time(9))]}}, "ends at or before it starts"),
        ({"shifts": {0: [(time(9, tzinfo=UTC), time(10))]}}, "without tzinfo"),
    ],
)
def test_bad_calendars_are_refused(arguments: dict[str, object], message: str) -> None:
    keywords: dict[str, object] = {"timezone": "Europe/Paris", "shifts": OFFICE_SHIFTS}
    with pytest.raises(ValueError, match=message):
        ShiftCalendar(**{**keywords, **arguments})  # type: ignore[arg-type]
