"""The SLA report: share met, median and p90, breaches, by staff and client."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.conversations.ingest import Ingestor
from core.sla.report import (
    DayShare,
    daily_share_met,
    hourly_response_times,
    percentile,
    sla_report,
)
from core.store.reader import Reader, Row
from tests.support import START, MovableClock, make_event


def staff(id_: str, minute: float, name: str, task: str, **fields: object) -> dict[str, object]:
    event = make_event(id_, minute, role="staff", task=task, **fields)
    event["author"] = {"name": name, "email": f"{name.lower()}@agency.example", "role": "staff"}
    return event


@pytest.fixture
def week(ingestor: Ingestor) -> None:
    ingestor.ingest(
        [
            make_event("m1", 0, task="A"),
            staff("r1", 2, "Ann", task="A"),
            make_event("m2", 0, task="B"),
            staff("r2", 4, "Ann", task="B"),
            make_event("m3", 0, task="C", client="Bigco"),
            staff("r3", 6, "Bob", task="C"),
            make_event("m4", 0, task="D"),
            staff("r4", 20, "Bob", task="D"),
            make_event("m5", 0, task="E", text="thanks!"),
            staff("x5", 1, "Ann", task="E", kind="no_reply_needed"),
            make_event("m6", 30, task="F"),  # still unanswered
        ]
    )


def test_overall_figures(reader: Reader, week: None, clock: MovableClock) -> None:
    now = clock.advance(hours=1)

    report = sla_report(reader, START, now, now)

    overall = report.overall
    assert (overall.answered, overall.met, overall.breached) == (4, 3, 1)
    assert overall.share_met == 0.75
    assert overall.median_business_seconds == 300
    assert overall.p90_business_seconds == pytest.approx(360 + 0.7 * 840)
    assert overall.no_reply_needed == 1
    assert (overall.open, overall.open_breached, overall.breaches) == (1, 1, 2)


def test_by_staff_member_and_by_client(reader: Reader, week: None, clock: MovableClock) -> None:
    now = clock.advance(hours=1)

    report = sla_report(reader, START, now, now)

    by_staff = {line.name: line for line in report.by_staff}
    assert (by_staff["Ann"].answered, by_staff["Ann"].share_met) == (2, 1.0)
    assert (by_staff["Bob"].answered, by_staff["Bob"].share_met) == (2, 0.5)
    by_client = {line.name: line for line in report.by_client}
    assert by_client["Bigco"].answered == 1
    assert (by_client["Acme"].answered, by_client["Acme"].open) == (3, 1)


def test_an_open_clock_not_yet_due_is_open_but_not_a_breach(
    reader: Reader, week: None, clock: MovableClock
) -> None:
    now = START + timedelta(minutes=35)

    report = sla_report(reader, START, now, now)

    assert (report.overall.open, report.overall.open_breached) == (1, 0)


def test_answers_outside_the_period_do_not_count(reader: Reader, week: None) -> None:
    later = START + timedelta(days=1)

    report = sla_report(reader, later, later + timedelta(days=1), later)

    assert report.overall.answered == 0
    assert report.overall.share_met is None
    assert report.overall.median_business_seconds is None


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([float(n) for n in range(1, 11)], 0.9) == pytest.approx(9.1)


# -- series: share met per local day, median response time per local hour ------------------

PARIS = ZoneInfo("Europe/Paris")


def minute_of(instant: datetime) -> float:
    """`instant` as make_event's minutes after START."""
    return (instant - START).total_seconds() / 60


def answered(task: str, asked: datetime, after_minutes: float) -> list[dict[str, object]]:
    """A client message on its own task and a staff answer `after_minutes` later."""
    minute = minute_of(asked)
    return [
        make_event(f"{task}-q", minute, task=task),
        staff(f"{task}-a", minute + after_minutes, "Ann", task=task),
    ]


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS, fold=fold)


@pytest.fixture
def around_midnight(ingestor: Ingestor) -> None:
    """Answers either side of Paris midnight, which is 23:00 UTC in November."""
    ingestor.ingest(
        [
            *answered("A", paris(2026, 11, 22, 23, 20), 5),  # met, Sunday the 22nd
            # Answered at 00:40 Paris on the 23rd, still the 22nd in UTC: late.
            *answered("B", paris(2026, 11, 23, 0, 20), 20),
            *answered("C", START, 4),  # met, Monday the 23rd
            make_event("D-q", 10, task="D", text="thanks!"),
            staff("D-x", 11, "Ann", task="D", kind="no_reply_needed"),
            make_event("E-q", 30, task="E"),  # never answered
        ]
    )


def test_daily_share_met_counts_answers_by_local_day(reader: Reader, around_midnight: None) -> None:
    days = daily_share_met(reader, paris(2026, 11, 22), paris(2026, 11, 25), PARIS)

    assert days == [
        DayShare(date(2026, 11, 22), answered=1, met=1, share_met=1.0, breaches=0),
        DayShare(date(2026, 11, 23), answered=2, met=1, share_met=0.5, breaches=1),
        DayShare(date(2026, 11, 24), answered=0, met=0, share_met=None, breaches=0),
    ]


def test_daily_share_met_cuts_days_in_the_zone_asked_for(
    reader: Reader, around_midnight: None
) -> None:
    utc = ZoneInfo("UTC")
    since = datetime(2026, 11, 22, tzinfo=UTC)

    days = daily_share_met(reader, since, since + timedelta(days=2), utc)

    assert [(day.day, day.answered, day.breaches) for day in days] == [
        (date(2026, 11, 22), 2, 1),
        (date(2026, 11, 23), 1, 0),
    ]


def test_daily_share_met_leaves_out_answers_outside_the_period(
    reader: Reader, around_midnight: None
) -> None:
    # From 10:00 Paris on the 23rd: B, answered at 00:40, is before the period.
    days = daily_share_met(reader, START, START + timedelta(hours=2), PARIS)

    assert days == [DayShare(date(2026, 11, 23), answered=1, met=1, share_met=1.0, breaches=0)]


def test_daily_share_met_of_an_empty_period_is_empty(reader: Reader) -> None:
    assert daily_share_met(reader, START, START, PARIS) == []
    assert daily_share_met(reader, START, START + timedelta(days=1), PARIS)[0].share_met is None


def test_a_day_when_clocks_go_back_lasts_25_hours(ingestor: Ingestor, reader: Reader) -> None:
    # Sunday 25 October 2026: Paris goes from UTC+2 back to UTC+1 at 03:00.
    ingestor.ingest(
        [
            *answered("A", paris(2026, 10, 25, 0, 10), 5),  # 22:10 UTC on the 24th
            *answered("B", paris(2026, 10, 25, 23, 50), 5),  # 22:50 UTC, the 25th hour
            *answered("C", paris(2026, 10, 26, 0, 10), 20),  # late, on the 26th
        ]
    )

    days = daily_share_met(reader, paris(2026, 10, 25), paris(2026, 10, 27), PARIS)

    assert [(day.day, day.answered, day.met, day.breaches) for day in days] == [
        (date(2026, 10, 25), 2, 2, 0),
        (date(2026, 10, 26), 1, 0, 1),
    ]


def test_hourly_response_times_tells_the_repeated_hour_apart(
    ingestor: Ingestor, reader: Reader
) -> None:
    first, second = paris(2026, 10, 25, 2, 20), paris(2026, 10, 25, 2, 20, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    ingestor.ingest(
        [
            *answered("A", first, 6),
            *answered("B", first + timedelta(minutes=5), 10),
            *answered("C", second, 2),
        ]
    )

    hours = hourly_response_times(reader, paris(2026, 10, 25), paris(2026, 10, 26), PARIS)

    assert len(hours) == 25
    assert [hour.start.hour for hour in hours[:5]] == [0, 1, 2, 2, 3]
    assert hours[2].start.utcoffset() == timedelta(hours=2)
    assert (hours[2].answered, hours[2].median_business_seconds) == (2, 480)
    assert hours[3].start.utcoffset() == timedelta(hours=1)
    assert (hours[3].answered, hours[3].median_business_seconds) == (1, 120)
    assert all(hour.median_business_seconds is None for hour in hours[4:])


def test_a_period_ending_inside_the_repeated_hour_stops_there(reader: Reader) -> None:
    # 02:30 the first time round (UTC+2): the second 02:00 (UTC+1) comes after
    # it, though on the wall 02:00 is before 02:30.
    until = paris(2026, 10, 25, 2, 30)

    hours = hourly_response_times(reader, paris(2026, 10, 25, 1), until, PARIS)

    assert [(hour.start.hour, hour.start.utcoffset()) for hour in hours] == [
        (1, timedelta(hours=2)),
        (2, timedelta(hours=2)),
    ]


def test_a_day_when_clocks_go_forward_has_23_hours(reader: Reader) -> None:
    hours = hourly_response_times(reader, paris(2026, 3, 29), paris(2026, 3, 30), PARIS)

    assert len(hours) == 23
    assert [hour.start.hour for hour in hours[:3]] == [0, 1, 3]


def test_hourly_response_times_leave_out_no_reply_needed(
    reader: Reader, around_midnight: None
) -> None:
    # 10:00-12:00 Paris: C answered in 4 minutes, D closed as needing no reply.
    hours = hourly_response_times(reader, START, START + timedelta(hours=2), PARIS)

    assert [(hour.start.hour, hour.answered, hour.median_business_seconds) for hour in hours] == [
        (10, 1, 240),
        (11, 0, None),
    ]


class DatetimeReader:
    """Stops as naive-UTC datetimes, the way PostgreSQL drivers return them."""

    def __init__(self, stops: list[tuple[datetime, str, float]]) -> None:
        self.stops = stops

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        if params is None:
            return []  # no rollups (their zone is asked without parameters): stops are read
        since, until = (params[name].astimezone(UTC).replace(tzinfo=None) for name in params)
        return sorted(row for row in self.stops if since <= row[0] < until)


def test_series_cut_instants_returned_as_datetimes_the_same_way() -> None:
    late_evening = datetime(2026, 11, 22, 23, 30)  # naive UTC: 00:30 Paris on the 23rd
    reader = DatetimeReader([(late_evening, "met", 60.0), (datetime(2026, 11, 22, 8), "met", 30.0)])

    days = daily_share_met(reader, paris(2026, 11, 22), paris(2026, 11, 24), PARIS)

    assert [(day.day, day.answered) for day in days] == [
        (date(2026, 11, 22), 1),
        (date(2026, 11, 23), 1),
    ]


# -- dates from the command line are the agency's -----------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "end_of_day", "expected"),
    [
        ("2026-12-01", "Europe/Paris", False, datetime(2026, 11, 30, 23, tzinfo=UTC)),
        ("2026-12-01", "America/New_York", False, datetime(2026, 12, 1, 5, tzinfo=UTC)),
        ("2026-12-01", "Europe/Paris", True, datetime(2026, 12, 1, 23, tzinfo=UTC)),
        # The day the clocks go forward is 23 hours long: it ends at the next local midnight.
        ("2026-03-29", "Europe/Paris", True, datetime(2026, 3, 29, 22, tzinfo=UTC)),
        ("2026-12-01T09:30", "Europe/Paris", False, datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("2026-12-01T09:30+00:00", "Europe/Paris", False, datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_a_date_or_an_instant_without_offset_is_local(
    text: str, zone: str, end_of_day: bool, expected: datetime
) -> None:
    from core.base.instants import parse_instant

    assert parse_instant(text, ZoneInfo(zone), end_of_day=end_of_day) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", (7, timedelta())),
        ("2w", (14, timedelta())),
        ("12h", (0, timedelta(hours=12))),
        ("48h", (0, timedelta(hours=48))),
        ("1d12h", (1, timedelta(hours=12))),
        ("90m", (0, timedelta(minutes=90))),
        ("30", (30, timedelta())),
    ],
)
def test_a_period_is_read_in_weeks_days_hours_or_minutes(
    text: str, expected: tuple[int, timedelta]
) -> None:
    from core.base.instants import parse_period

    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["", "week", "7x", "0d", "-3d", "7d later"])
def test_a_period_that_means_nothing_is_refused(text: str) -> None:
    from core.base.instants import parse_period

    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_days_are_moved_on_the_local_wall_clock_across_a_clock_change() -> None:
    from core.base.instants import parse_period

    paris = ZoneInfo("Europe/Paris")
    # Tuesday 31 March 2026, 00:00 in Paris (summer time since the 29th).
    end = datetime(2026, 3, 30, 22, tzinfo=UTC)

    week_before = parse_period("7d").before(end, paris)
    hours_before = parse_period("48h").before(end, paris)

    assert week_before.astimezone(paris).isoformat() == "2026-03-24T00:00:00+01:00"
    assert end - week_before == timedelta(days=7, hours=-1)
    assert hours_before == end - timedelta(hours=48)
    assert parse_period("7d").after(week_before, paris) == end
