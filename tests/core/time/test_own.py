"""pmdesk's own measure: kept, counted in the report once, and queued to be logged back once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, text

from core.config.settings import TimeConfig
from core.conversations.ingest import Ingestor
from core.conversations.people import add_staff
from core.store.models.system import table
from core.store.models.worksection import WorksectionTask
from core.store.reader import EngineReader, instant, sqlite_path
from core.time.costs import (
    claim_cost,
    due_own_costs,
    mark_cost_logged,
    mark_cost_refused,
    own_costs,
    queue_own_costs,
)
from core.time.own import OWN_COMMENT, own_days
from core.time.recorder import add_screen_time, count_telegram_action
from core.time.report import am_report
from core.time.screen_file import add_screen_time_to_file
from core.time.sync import apply_window
from tests.support import MovableClock, make_event

PARIS = ZoneInfo("Europe/Paris")
SAM, ANNA = "sam@agency.example", "anna@agency.example"
NOV = (date(2026, 11, 1), date(2026, 11, 30))
CONFIG = TimeConfig(am_tags=["AM"])
ACME = {"id": "77", "name": "Acme website"}


def cost(row_id: str, time: str, day: str, user: str, comment: str = "", tags=()) -> dict:
    return {
        "id": row_id,
        "time": time,
        "money": "0.00",
        "date": day,
        "comment": comment,
        "user_from": {"email": user, "name": user.split("@")[0].title()},
        "task": {
            "id": "5001",
            "name": "Homepage",
            "project": ACME,
            "tags": {str(n): tag for n, tag in enumerate(tags)},
        },
    }


class Team:
    def __init__(self, engine: Engine, ingestor: Ingestor, clock: MovableClock) -> None:
        self.sam = add_staff(engine, "Sam Staff", "assistant", [SAM], clock())
        self.anna = add_staff(engine, "Anna Designer", "specialist", [ANNA], clock())
        self.nomail = add_staff(engine, "Nora Nomail", "assistant", [], clock())
        ingestor.ingest(
            [
                # A Worksection task of Acme website...
                make_event("ws-1", 0, task="5001", source="worksection", project="Acme website"),
                # ...and a thread of no task (a client's group), of pmdesk's project "Shop".
                make_event("tg-1", 1, task="g-1", source="telegram", project="Shop"),
            ]
        )
        with engine.begin() as connection:
            refs = dict(connection.execute(text("SELECT source, thread_id FROM threadref")).all())
            connection.execute(
                insert(table(WorksectionTask)),
                [
                    {
                        "task_id": "5001",
                        "title": "Homepage",
                        "project_id": "77",
                        "project_name": "Acme website",
                        "fetched_at": clock(),
                    },
                    {
                        "task_id": "6001",
                        "title": "Cart",
                        "project_id": "55",
                        "project_name": "Shop",
                        "fetched_at": clock(),
                    },
                ],
            )
        self.task_thread = int(refs["worksection"])
        self.group_thread = int(refs["telegram"])


@pytest.fixture
def team(engine: Engine, ingestor: Ingestor, clock: MovableClock) -> Team:
    return Team(engine, ingestor, clock)


def at(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock in Paris on `day`, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(UTC)


# -- kept ----------------------------------------------------------------------------------


def test_batches_and_telegram_actions_add_up_per_person_thread_and_day(
    engine: Engine, team: Team, reader: Any
) -> None:
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 90.4}, at(day))
    add_screen_time(engine, team.sam, {(team.task_thread, day): 30.0}, at(day, 11))
    add_screen_time(engine, team.anna, {(team.task_thread, day): 600.0}, at(day, 11))
    config = TimeConfig(telegram_reply_minutes=3, telegram_action_minutes=0.5)
    count_telegram_action(
        engine, team.sam, team.task_thread, at(day, 12), config, PARIS, reply=True
    )
    count_telegram_action(
        engine, team.sam, team.task_thread, at(day, 12), config, PARIS, reply=False
    )
    # 00:30 in Paris the next day is still the 16th in UTC: the agency's day counts.
    late = at(day + timedelta(days=1), 0) + timedelta(minutes=30)
    count_telegram_action(engine, team.sam, team.group_thread, late, config, PARIS, reply=True)
    kept = [
        (d.staff_id, d.thread_id, d.day, d.screen_seconds, d.telegram_seconds, d.telegram_actions)
        for d in own_days(reader, day, day + timedelta(days=1))
    ]
    assert kept == [
        (team.sam, team.task_thread, day, 120, 210, 2),
        (team.anna, team.task_thread, day, 600, 0, 0),
        (team.sam, team.group_thread, day + timedelta(days=1), 0, 180, 1),
    ]


def test_zero_minutes_for_telegram_counts_nothing(engine: Engine, team: Team, reader: Any) -> None:
    config = TimeConfig(telegram_reply_minutes=0)
    day = date(2026, 11, 16)
    assert not count_telegram_action(
        engine, team.sam, team.task_thread, at(day), config, PARIS, reply=True
    )
    assert own_days(reader, day, day) == []


def test_a_batch_naming_a_thread_gone_keeps_the_rest(
    engine: Engine, team: Team, reader: Any
) -> None:
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(999, day): 60.0, (team.task_thread, day): 60.0}, at(day))
    assert [(d.thread_id, d.seconds) for d in own_days(reader, day, day)] == [
        (team.task_thread, 60)
    ]


@pytest.mark.sqlite_only  # on other databases the dashboard writes through the recorder
def test_the_dashboards_file_writes_add_up_with_the_recorders(
    engine: Engine, engine_url: str, team: Team, reader: Any
) -> None:
    """On a SQLite file the dashboard writes with sqlite3 alone: the same rows, added alike."""
    path = sqlite_path(engine_url)
    assert path is not None
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 90.4}, at(day))
    batch = {(team.task_thread, day): 30.0, (999, day): 60.0, (team.group_thread, day): 0.2}
    assert add_screen_time_to_file(path, team.sam, batch, at(day, 11)) == 1
    add_screen_time_to_file(path, team.anna, {(team.task_thread, day): 600.0}, at(day, 11))
    config = TimeConfig(telegram_reply_minutes=3)
    count_telegram_action(
        engine, team.sam, team.task_thread, at(day, 12), config, PARIS, reply=True
    )
    kept = [
        (d.staff_id, d.thread_id, d.day, d.screen_seconds, d.telegram_seconds, d.telegram_actions)
        for d in own_days(reader, day, day)
    ]
    assert kept == [
        (team.sam, team.task_thread, day, 120, 180, 1),
        (team.anna, team.task_thread, day, 600, 0, 0),
    ]
    with engine.connect() as connection:
        written = connection.execute(
            text("SELECT month, updated_at FROM owntime WHERE staff_id = :anna"),
            {"anna": team.anna},
        ).one()
    assert written[0] == "2026-11"
    assert instant(written[1]) == at(day, 11)


# -- counted in the report -------------------------------------------------------------------


def report_lines(engine: Engine, since: date = NOV[0], until: date = NOV[1]) -> Any:
    return am_report(EngineReader(engine), CONFIG, since, until)


def test_own_time_is_account_management_of_the_threads_project(engine: Engine, team: Team) -> None:
    apply_window(engine, [cost("1", "9:00", "2026-11-03", ANNA)], *NOV)
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 29 * 60 + 40}, at(day))
    # No task: under its project's Worksection id, found by the project's name.
    add_screen_time(engine, team.sam, {(team.group_thread, day): 10 * 60}, at(day))
    report = report_lines(engine)
    assert [(p.project_id, p.project, p.time.am, p.time.total) for p in report.projects] == [
        ("77", "Acme website", 30, 570),
        ("55", "Shop", 10, 10),
    ]
    assert [(p.name, p.time.am, p.time.total) for p in report.people] == [
        ("Sam Staff", 40, 40),
        ("Anna Designer", 0, 540),
    ]
    assert (report.trend["2026-11"].am, report.trend["2026-11"].total) == (40, 580)


def test_own_time_outside_the_period_counts_in_the_trend_only(engine: Engine, team: Team) -> None:
    october = date(2026, 10, 30)
    add_screen_time(engine, team.sam, {(team.task_thread, october): 1200}, at(october))
    add_screen_time(engine, team.sam, {(team.task_thread, date(2026, 11, 2)): 600}, at(october))
    report = report_lines(engine, date(2026, 11, 1), date(2026, 11, 15))
    assert (report.total.am, report.total.total) == (10, 10)
    assert (report.trend["2026-10"].am, report.trend["2026-11"].am) == (20, 10)


def test_the_same_time_back_from_worksection_counts_once_and_worksection_wins(
    engine: Engine, team: Team
) -> None:
    day = date(2026, 11, 16)
    apply_window(engine, [cost("1", "9:00", "2026-11-03", ANNA)], *NOV)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 30 * 60}, at(day))
    back = cost("2", "0:30", "2026-11-16", SAM, OWN_COMMENT)
    apply_window(engine, [cost("1", "9:00", "2026-11-03", ANNA), back], *NOV)
    report = report_lines(engine)
    # Not 60 of 600: the row logged back replaces the measure, and counts as
    # account management though its task carries no AM tag.
    assert [(p.time.am, p.time.total) for p in report.projects] == [(30, 570)]
    assert (report.trend["2026-11"].am, report.trend["2026-11"].total) == (30, 570)
    # Edited in Worksection: its figure is the one that counts.
    edited = dict(back, time="0:45")
    apply_window(engine, [cost("1", "9:00", "2026-11-03", ANNA), edited], *NOV)
    assert [(p.time.am, p.time.total) for p in report_lines(engine).projects] == [(45, 585)]
    # Gone from Worksection: the measure counts again, never nothing and never twice.
    apply_window(engine, [cost("1", "9:00", "2026-11-03", ANNA)], *NOV)
    assert [(p.time.am, p.time.total) for p in report_lines(engine).projects] == [(30, 570)]


def test_a_row_logged_back_and_tagged_am_is_not_counted_twice_as_am(
    engine: Engine, team: Team
) -> None:
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 30 * 60}, at(day))
    apply_window(engine, [cost("2", "0:30", "2026-11-16", SAM, OWN_COMMENT, ["AM"])], *NOV)
    assert [(p.time.am, p.time.total) for p in report_lines(engine).projects] == [(30, 30)]


def test_the_row_worksection_made_counts_once_whatever_its_comment_became(
    engine: Engine, team: Team, clock: MovableClock
) -> None:
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 30 * 60}, at(day))
    queue_own_costs(engine, TimeConfig(log_own_time=True), PARIS, at(day + timedelta(days=1)))
    view = due_own_costs(engine, at(day + timedelta(days=1)))[0]
    mark_cost_logged(engine, view, at(day + timedelta(days=1)), "900")
    renamed = dict(cost("900", "0:30", "2026-11-16", SAM, "call with the client"), id="900")
    apply_window(engine, [renamed], *NOV)
    assert [(p.time.am, p.time.total) for p in report_lines(engine).projects] == [(0, 30)]


# -- queued to be logged back ------------------------------------------------------------------


def test_a_day_is_queued_once_it_has_ended_and_settled_once(engine: Engine, team: Team) -> None:
    config = TimeConfig(log_own_time=True)
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 600}, at(day))
    add_screen_time(engine, team.anna, {(team.task_thread, day): 20}, at(day))  # under a minute
    add_screen_time(engine, team.sam, {(team.group_thread, day): 600}, at(day))  # no task
    add_screen_time(engine, team.nomail, {(team.task_thread, day): 600}, at(day))
    midnight = at(day + timedelta(days=1), 0)
    assert queue_own_costs(engine, config, PARIS, midnight - timedelta(minutes=1)) == 0
    assert queue_own_costs(engine, config, PARIS, midnight + timedelta(minutes=5)) == 0
    assert queue_own_costs(engine, TimeConfig(), PARIS, midnight + timedelta(hours=1)) == 0
    assert queue_own_costs(engine, config, PARIS, midnight + timedelta(minutes=16)) == 2
    # Time added to the day afterwards changes nothing queued, and nothing is queued twice.
    add_screen_time(engine, team.sam, {(team.task_thread, day): 600}, at(day, 23))
    assert queue_own_costs(engine, config, PARIS, midnight + timedelta(hours=2)) == 0
    rows = [
        (r["staff_id"], r["task_id"], r["email"], r["minutes"], r["status"])
        for r in own_costs(engine)
    ]
    assert rows == [
        (team.sam, "5001", SAM, 10, "pending"),
        (team.nomail, "5001", None, 10, "failed"),
    ]


def test_days_older_than_the_window_are_not_queued(engine: Engine, team: Team) -> None:
    old = date(2026, 10, 1)
    add_screen_time(engine, team.sam, {(team.task_thread, old): 600}, at(old))
    config = TimeConfig(log_own_time=True, window_days=35)
    assert queue_own_costs(engine, config, PARIS, at(old + timedelta(days=36))) == 0
    assert queue_own_costs(engine, config, PARIS, at(old + timedelta(days=35))) == 1


def test_a_claimed_row_is_not_claimed_again_until_it_is_put_off(engine: Engine, team: Team) -> None:
    day = date(2026, 11, 16)
    add_screen_time(engine, team.sam, {(team.task_thread, day): 600}, at(day))
    now = at(day + timedelta(days=1))
    queue_own_costs(engine, TimeConfig(log_own_time=True), PARIS, now)
    [view] = due_own_costs(engine, now)
    assert claim_cost(engine, view, now, now + timedelta(seconds=5)) == "send"
    assert claim_cost(engine, view, now, now + timedelta(seconds=5)) == "done"
    assert due_own_costs(engine, now) == []
    later = now + timedelta(seconds=5)
    [again] = due_own_costs(engine, later)
    assert again.attempts == 1
    mark_cost_refused(engine, again, later, "Task not found")
    assert claim_cost(engine, again, later, later) == "done"
    with engine.connect() as connection:
        told = connection.execute(
            text("SELECT recipient_id, kind, text FROM notification WHERE kind = 'reply_failed'")
        ).all()
    assert [(who, kind) for who, kind, _ in told] == [(team.sam, "reply_failed")]
    assert "Task not found" in told[0][2] and "0:10" in told[0][2]
