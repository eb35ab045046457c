"""What a client report says, on the hand-built week (tests/core/reports/week.py)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from core.conversations.clients import UnknownClient
from core.conversations.ingest import Ingestor
from core.reports.content import (
    NO_ACTIVITY,
    NO_PROJECTS,
    DoneTask,
    OpenTask,
    Question,
    Responsiveness,
    clients_with_activity,
)
from core.reports.period import PeriodError, ReportPeriod
from core.store.reader import Reader
from tests.core.reports.conftest import PARIS, W48, report_of
from tests.core.reports.week import NOW


def url(task: str) -> str:
    return f"https://tracker.example/{task}"


def test_the_french_client_s_week_exactly(week: Reader) -> None:
    report = report_of(week, "Acme")
    assert report.language == "fr"
    assert report.nothing_to_report is None
    # T5 was closed the week before: not done this week.
    assert report.done == [
        DoneTask("Website", "Homepage", url("T1"), ["Sam Staff"], date(2026, 11, 24))
    ]
    # T4 is started (the agency wrote on it) though it has no owner.
    assert report.in_progress == [
        OpenTask("Website", "Contact form", url("T2"), ["Ana Dev"], date(2026, 12, 2)),
        OpenTask("Website", "Logo files", url("T4"), [], None),
    ]
    # Created with a deadline, nothing done on it yet.
    assert report.next == [OpenTask("Website", "Legal page", url("T3"), [], date(2026, 12, 10))]
    assert report.more_next == 0
    # The agency's last public word on T4 is a question; on T2 it is an answer.
    assert report.awaiting_client == [
        Question("Logo files", url("T4"), "Sam Staff", date(2026, 11, 23))
    ]
    # Two answers: 10 min (met) and 30 min (breached against 15 min).
    assert report.responsiveness == Responsiveness(2, 1, 0.5, 1200.0)


def test_the_english_client_and_who_did_a_task(week: Reader) -> None:
    report = report_of(week, "bigco")  # any case
    assert (report.client, report.language) == ("Bigco", "en")
    # Closed by Sam, but Ana owns it: the owner did it.
    assert report.done == [
        DoneTask("App", "Login screen", url("B1"), ["Ana Dev"], date(2026, 11, 26))
    ]
    # An internal note by the agency is work started.
    assert report.in_progress == [OpenTask("App", "Dark mode", url("B2"), [], None)]
    assert report.next == [] and report.awaiting_client == []
    assert report.responsiveness == Responsiveness(0, 0, None, None)


def test_a_client_without_activity_has_nothing_to_report(week: Reader) -> None:
    report = report_of(week, "Crumb")
    assert report.nothing_to_report == NO_ACTIVITY
    assert report.done == report.in_progress == report.next == []
    # The week before, Crumb had something.
    before = report_of(week, "Crumb", ReportPeriod.week("2026-W47"))
    assert before.nothing_to_report is None
    assert clients_with_activity(week, W48, PARIS) == ["Acme", "Bigco"]


def test_a_client_without_any_thread_has_no_projects(week: Reader, engine: Engine) -> None:
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO client (name, language, created_at) VALUES ('Dough', 'fr', :at)"),
            {"at": "2026-11-01 00:00:00.000000"},
        )
    assert report_of(week, "Dough").nothing_to_report == NO_PROJECTS


def test_a_task_reopened_after_its_close_is_not_done(week: Reader, ingestor: Ingestor) -> None:
    from tests.core.reports.week import DAY
    from tests.support import make_event

    reopened = make_event("a12", 2 * DAY, task="T1", role="staff", kind="task_reopened")
    reopened["task"]["title"] = "Homepage"
    ingestor.ingest([reopened])
    report = report_of(week, "Acme")
    assert report.done == []
    # Nearest deadline first, then those without one by title.
    titles = [task.title for task in report.in_progress]
    assert titles == ["Contact form", "Homepage", "Logo files"]


def test_a_question_on_a_task_closed_since_awaits_nothing(week: Reader, ingestor: Ingestor) -> None:
    from tests.core.reports.week import DAY
    from tests.support import make_event

    asked = make_event("a13", DAY + 60, task="T1", role="staff", text="Tout est bon ?")
    asked["task"]["title"] = "Homepage"
    ingestor.ingest([asked])
    report = report_of(week, "Acme")
    assert [question.thread for question in report.awaiting_client] == ["Logo files"]


def test_a_period_in_the_future_is_refused(week: Reader) -> None:
    with pytest.raises(PeriodError, match="in the future"):
        report_of(week, "Acme", ReportPeriod.week("2026-W50"))
    # The week under way (NOW is Friday of W49) is reported so far.
    assert report_of(week, "Acme", ReportPeriod.week("2026-W49")).nothing_to_report == NO_ACTIVITY


def test_an_unknown_client_is_refused_with_the_known_names(week: Reader) -> None:
    with pytest.raises(UnknownClient, match=r"no client 'Acne' \(did you mean Acme\?\)"):
        report_of(week, "Acne")


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-W48", date(2026, 11, 23), date(2026, 11, 29)),
        ("2026w1", date(2025, 12, 29), date(2026, 1, 4)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
    ],
)
def test_weeks(text: str, first: date, last: date) -> None:
    period = ReportPeriod.week(text)
    assert period == (first, last)
    assert period.iso_week == f"{first.isocalendar()[0]}-W{first.isocalendar()[1]:02d}"


@pytest.mark.parametrize("text", ["2026-48", "2025-W53", "W48"])
def test_weeks_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        ReportPeriod.week(text)


def test_local_days_in_utc() -> None:
    since, until = W48.instants(PARIS)
    assert since.isoformat() == "2026-11-22T23:00:00+00:00"
    assert until.isoformat() == "2026-11-29T23:00:00+00:00"
    assert until < NOW
