"""The SLA report: share met, median and p90, breaches, by staff and client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.ingest import Ingestor
from core.reader import Reader
from core.report import percentile, sla_report
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
