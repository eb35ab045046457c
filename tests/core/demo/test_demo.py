"""The demo agency: its scenario, a week of history, and the live simulator."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from core.base.kinds import StaffRole
from core.conversations.ingest import Ingestor
from core.demo.history import history
from core.demo.scenario import Scenario, demo_settings, load_scenario
from core.demo.seeding import seed_demo
from core.demo.simulator import Simulator
from core.demo.statement import statement_path
from core.receivables.aging import overdue_invoices, recent_matches, review_queue
from core.sla.policies import PolicyBook
from core.sla.report import sla_report
from core.sla.views import ClockView, running_clocks, thread_clocks
from core.store.connect import reader_for
from core.store.db import open_database
from core.store.reader import EngineReader

# A Wednesday afternoon, with microseconds, as a wall clock would give it.
NOW = datetime(2026, 11, 25, 14, 7, 12, 345678, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario()


@pytest.fixture(scope="module")
def events(scenario: Scenario) -> list[dict[str, Any]]:
    return history(scenario, NOW)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One seeded database for the module (migrations dominate the run time)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with pytest.MonkeyPatch.context() as patch:
        # Module fixtures run before the autouse one that hides PMDESK_*.
        for name in [name for name in os.environ if name.startswith("PMDESK_")]:
            patch.delenv(name)
        engine = open_database(str(path))
        created = seed_demo(engine, demo_settings(), NOW, folder=path.parent)
        engine.dispose()
    return path, created


@pytest.fixture
def engine(seeded: tuple[Path, int], tmp_path: Path) -> Iterator[Engine]:
    """A private copy of the seeded database, so tests may write to it."""
    copy = tmp_path / "demo.db"
    shutil.copy(seeded[0], copy)
    engine = open_database(str(copy))
    yield engine
    engine.dispose()


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def test_the_agency_has_clients_projects_threads_and_staff(scenario: Scenario) -> None:
    assert len(scenario.clients) == 8
    assert len(scenario.projects) == 20
    assert len(scenario.tasks) == 60
    assert 60 <= len(scenario.threads) <= 66
    assert {thread.source for thread in scenario.threads} == {"worksection", "telegram"}
    assert len(scenario.staff) == 6
    assert {member.role for member in scenario.staff} == {role.value for role in StaffRole}
    assert all(m.email.endswith(f"@{scenario.domain}") for m in scenario.staff)
    for client in scenario.clients:
        assert all(c.email.endswith(f"@{client.domain}") for c in client.contacts)
    assert {client.language for client in scenario.clients} == {"fr", "en"}


def test_demo_settings_run_round_the_clock_with_one_vip(scenario: Scenario) -> None:
    settings = demo_settings()

    assert settings.policies["default"].first_response_minutes == 15
    assert settings.policies["vip"].first_response_minutes == 10
    assert {policy.calendar for policy in settings.policies.values()} == {"24/7"}
    vips = [name for name, conf in settings.clients.items() if conf.policy == "vip"]
    assert len(vips) == 1
    assert vips[0] in {client.name for client in scenario.clients}


def test_history_is_a_week_of_office_hours_with_unique_stable_ids(
    scenario: Scenario, events: list[dict[str, Any]]
) -> None:
    assert history(scenario, NOW) == events
    assert history(scenario, NOW, seed=8) != events
    assert len({(event["source"], event["id"]) for event in events}) == len(events)
    assert all(NOW - timedelta(days=7) <= at(event) <= NOW for event in events)
    past = [event for event in events if at(event) < NOW - timedelta(minutes=20)]
    # Only the few messages left unanswered at `now` are outside office hours.
    assert len(events) - len(past) <= 6
    for event in past:
        local = at(event).astimezone(PARIS)
        assert local.weekday() < 5
        assert time(9) <= local.time() <= time(18)
    kinds = Counter(event["kind"] for event in events)
    for kind in ("message", "task_created", "status", "deadline", "assignee", "task_closed"):
        assert kinds[kind] > 0, kind
    assert kinds["no_reply_needed"] > 0
    assert any(event.get("internal") for event in events)
    sources = Counter(event["source"] for event in events)
    assert sources["worksection"] > sources["telegram"] > 0


def test_the_history_ingests_cleanly_once(
    seeded: tuple[Path, int], engine: Engine, events: list[dict[str, Any]]
) -> None:
    assert seeded[1] == len(events)

    again = Ingestor(engine, PolicyBook(demo_settings()), clock=lambda: NOW).ingest(events)

    assert {result.status for result in again} == {"duplicate"}


def test_the_week_meets_most_targets_with_some_breaches(engine: Engine) -> None:
    report = sla_report(EngineReader(engine), NOW - timedelta(days=7), NOW, NOW).overall

    assert report.share_met is not None
    assert 0.80 <= report.share_met <= 0.95
    assert report.breached > 0
    assert report.no_reply_needed > 0
    assert report.median_business_seconds is not None
    assert 120 <= report.median_business_seconds <= 600


def test_clocks_are_about_to_turn_amber_and_red_at_now(engine: Engine) -> None:
    clocks = running_clocks(EngineReader(engine))
    soon = NOW + timedelta(seconds=30)

    def changes(before: str, after: str) -> list[ClockView]:
        return [c for c in clocks if c.state(NOW) == before and c.state(soon) == after]

    assert len(clocks) >= 4
    assert changes("safe", "warning")
    assert changes("warning", "breached")
    # Nothing left over from earlier in the week.
    assert all(NOW - c.started_at < timedelta(minutes=15) for c in clocks)
    assert {c.policy for c in clocks} == {"default", "vip"}


def live(simulator: Simulator, start: datetime, seconds: int, step: int = 10) -> list[list[Any]]:
    """The simulator's events over consecutive windows of `step` seconds."""
    return [
        simulator.events_between(
            start + timedelta(seconds=offset), start + timedelta(seconds=offset + step)
        )
        for offset in range(0, seconds, step)
    ]


def test_the_simulator_feeds_events_that_ingest_as_new(scenario: Scenario, engine: Engine) -> None:
    windows = live(Simulator(scenario), NOW, 120)
    ingestor = Ingestor(engine, PolicyBook(demo_settings()), clock=lambda: NOW)

    for number, window in enumerate(windows):
        start = NOW + timedelta(seconds=10 * number)
        assert all(start <= at(event) < start + timedelta(seconds=10) for event in window)
        results = ingestor.ingest(window)
        assert [result.status for result in results] == ["created"] * len(window)
    assert any(
        event["kind"] == "message" and event["author"]["role"] == "client" for event in windows[0]
    )
    assert sum(len(window) for window in windows) >= 8


def test_the_simulator_answers_the_clocks_left_running(scenario: Scenario, engine: Engine) -> None:
    left = {clock.thread_id: clock for clock in running_clocks(EngineReader(engine))}
    ingestor = Ingestor(engine, PolicyBook(demo_settings()), clock=lambda: NOW)

    for window in live(Simulator(scenario), NOW, 8 * 60, step=30):
        ingestor.ingest(window)

    outcomes = Counter(
        next(c for c in thread_clocks(EngineReader(engine), thread_id) if c.id == clock.id).outcome
        for thread_id, clock in left.items()
    )
    # All answered: the one about to breach late, the others in time.
    assert outcomes == {"met": len(left) - 1, "breached": 1}


def test_the_simulator_is_deterministic_whatever_the_windows(scenario: Scenario) -> None:
    by_ten = [event for window in live(Simulator(scenario), NOW, 120) for event in window]
    at_once = Simulator(scenario).events_between(NOW, NOW + timedelta(minutes=2))
    other_seed = Simulator(scenario, seed=8).events_between(NOW, NOW + timedelta(minutes=2))

    assert by_ten == at_once
    assert at_once != other_seed
    assert len({event["id"] for event in at_once}) == len(at_once)


def test_the_simulator_keeps_its_pace(scenario: Scenario) -> None:
    for pace in (3.0, 6.0):
        simulator = Simulator(scenario, pace=pace, follow_history=False)
        count = sum(len(window) for window in live(simulator, NOW, 60 * 60, step=60))
        assert 0.7 * pace * 60 <= count <= 1.3 * pace * 60, (pace, count)


def test_the_simulator_wants_consecutive_windows(scenario: Scenario) -> None:
    simulator = Simulator(scenario)
    simulator.events_between(NOW, NOW + timedelta(seconds=10))

    with pytest.raises(ValueError, match="consecutive"):
        simulator.events_between(NOW + timedelta(seconds=20), NOW + timedelta(seconds=30))


def test_time_is_passed_in_with_its_offset(scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="aware"):
        history(scenario, NOW.replace(tzinfo=None))


def test_a_weekend_night_still_has_clocks_running(tmp_path: Path) -> None:
    sunday_night = datetime(2026, 11, 29, 2, 30, tzinfo=UTC)
    engine = open_database(str(tmp_path / "night.db"))

    seed_demo(engine, demo_settings(), sunday_night, seed=3, folder=tmp_path)

    assert len(running_clocks(EngineReader(engine))) >= 4
    engine.dispose()


def test_within_ten_seconds_one_clock_turns_amber_and_one_breaches(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    path = str(tmp_path / "demo.db")
    seed_demo(open_database(path), demo_settings(), now, folder=tmp_path)
    running = running_clocks(reader_for(path))
    later = now + timedelta(seconds=10)

    amber = [c for c in running if c.state(now) == "safe" and c.state(later) == "warning"]
    breaching = [c for c in running if c.state(now) == "warning" and c.state(later) == "breached"]
    assert len(amber) == 1 and len(breaching) == 1
    # ... and not before the dashboard can be up to show it.
    assert (amber[0].warn_at - now).total_seconds() >= 3
    assert (breaching[0].due_at - now).total_seconds() >= 3


def test_the_demo_has_invoices_in_every_overdue_bucket(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    path = str(tmp_path / "demo.db")
    seed_demo(open_database(path), demo_settings(), now, folder=tmp_path)

    overdue = overdue_invoices(reader_for(path), date(2026, 11, 23))

    assert {invoice.bucket for invoice in overdue} == {"1-30", "31-60", "61-90", "90+"}
    assert any(invoice.balance < invoice.total for invoice in overdue)  # a partial payment
    assert any(invoice.state == "disputed" for invoice in overdue)


def test_the_demos_invoices_are_where_the_ladder_takes_them(engine: Engine) -> None:
    """The levels and next steps come from the real dunning run over the invoices' past days."""
    from core.receivables.dunning import DRAFT, list_reminders

    settings = demo_settings()
    levels = settings.receivables.levels
    today = NOW.astimezone(PARIS).date()

    overdue = overdue_invoices(EngineReader(engine), today)

    assert max(invoice.days_past_due for invoice in overdue) >= levels[-1].days
    for invoice in overdue:
        reached = sum(level.days <= invoice.days_past_due for level in levels)
        assert invoice.dunning_level == reached, invoice.number
        if invoice.state == "disputed":
            assert invoice.next_action == "disputed: reminders paused"
        elif reached == len(levels):
            assert invoice.next_step == "all reminder levels done: call the client"
        else:
            following = levels[reached]
            due_then = invoice.due_on + timedelta(days=following.days)
            if invoice.promised_on is not None:
                due_then = max(due_then, invoice.promised_on + timedelta(days=1))
            assert invoice.next_step_on == due_then, invoice.number
            assert invoice.next_step is not None
            assert invoice.next_step.startswith(f"{following.name} on {due_then.isoformat()}")
    # Invoices reaching a level today wait in today's drafts; earlier ones went out.
    drafts = list_reminders(engine, DRAFT)
    assert drafts and {draft.run_on for draft in drafts} == {today}
    assert all(draft.run_on < today for draft in list_reminders(engine, "sent"))


def test_a_promise_on_one_demo_invoice_leaves_the_others_next_steps(engine: Engine) -> None:
    from core.receivables.dunning import record_promise

    settings = demo_settings()
    today = NOW.astimezone(PARIS).date()
    before = {i.number: i.next_step for i in overdue_invoices(EngineReader(engine), today)}
    chosen = next(number for number, step in before.items() if step and " on " in step)

    record_promise(engine, settings, chosen, today + timedelta(days=3), "ana", NOW, today=today)

    after = {i.number: i.next_step for i in overdue_invoices(EngineReader(engine), today)}
    assert {n: s for n, s in after.items() if n != chosen} == {
        n: s for n, s in before.items() if n != chosen
    }
    assert len(set(after.values())) > 2


def test_a_bank_statement_waits_for_review_with_two_credits_matched(
    seeded: tuple[Path, int],
) -> None:
    path, _ = seeded
    reader = reader_for(str(path))

    queue = review_queue(reader)
    matched = recent_matches(reader)

    # A deposit, a payment of the wrong amount by a third party, and a
    # credit that no invoice explains, shown as having no candidate.
    assert len(queue) == 3
    assert [bool(line.candidates) for line in queue].count(False) == 1
    assert all(line.amount > 0 for line in queue)  # the bank's fees never wait for review
    assert {match.by for match in matched} == {"rule:reference", "rule:payer+amount"}
    # Both were paid before they fell due: the overdue list is still the ladder's.
    today = NOW.astimezone(PARIS).date()
    paid = {match.invoices for match in matched}
    assert paid.isdisjoint(invoice.number for invoice in overdue_invoices(reader, today))


def test_the_statement_is_a_camt053_file_in_the_demos_folder(
    seeded: tuple[Path, int], engine: Engine
) -> None:
    """The lines came through the statement importer: the same file again adds nothing."""
    from core.receivables.statements.importer import detect_format, import_statement

    path, _ = seeded
    statement = statement_path(path.parent)
    assert detect_format(statement) == "camt053"

    again = import_statement(engine, statement, demo_settings().banks, NOW)

    assert (again.new, again.known) == (0, 6)


def test_a_reply_reaches_the_simulated_client_who_thanks_on_the_thread(
    scenario: Scenario, engine: Engine
) -> None:
    from sqlalchemy import select

    from core.conversations.actions import reply
    from core.conversations.people import operator
    from core.demo.simulator import deliver_to_simulated_clients
    from core.store.models.outbox import Delivery
    from core.store.models.system import table

    ingestor = Ingestor(engine, PolicyBook(demo_settings()), clock=lambda: NOW)
    clock = running_clocks(EngineReader(engine))[0]
    me = operator(engine)
    assert me is not None
    reply(
        ingestor, clock.thread_id, me.id, "C'est en cours, je reviens vers vous.", clock=lambda: NOW
    )
    simulator = Simulator(scenario, follow_history=False)
    simulator.events_between(NOW, NOW + timedelta(seconds=1))

    delivered = deliver_to_simulated_clients(engine, NOW + timedelta(seconds=1))
    simulator.delivered(delivered, NOW + timedelta(seconds=1))

    assert [view.thread_id for view in delivered] == [clock.thread_id]
    with engine.connect() as connection:
        status, message_id = connection.execute(
            select(table(Delivery).c["status", "channel_message_id"])
        ).one()
    assert (status, message_id) == ("delivered", f"demo-{delivered[0].event_id}")
    assert deliver_to_simulated_clients(engine, NOW + timedelta(minutes=5)) == []  # once only
    later = [e for w in live(simulator, NOW + timedelta(seconds=1), 20, step=1) for e in w]
    thanks = [e for e in later if e["task"]["id"] == delivered[0].target]
    assert len(thanks) == 1
    assert thanks[0]["author"]["role"] == "client" and thanks[0]["kind"] == "message"
    phrases = {text for p in scenario.phrases for text in p.thanks}
    assert thanks[0]["text"] in phrases
    assert NOW + timedelta(seconds=4) <= at(thanks[0]) <= NOW + timedelta(seconds=14)
    assert [r.status for r in ingestor.ingest(thanks)] == ["created"]
    # Like any client message, the thanks starts a clock: `n` closes it as no reply needed.
    assert clock.thread_id in {c.thread_id for c in running_clocks(EngineReader(engine))}


def test_thanks_leave_the_rest_of_the_live_stream_as_the_seed_makes_it(
    scenario: Scenario, engine: Engine
) -> None:
    from core.conversations.actions import reply
    from core.conversations.people import operator
    from core.demo.simulator import deliver_to_simulated_clients

    expected = [event for window in live(Simulator(scenario), NOW, 60) for event in window]
    thanked = Simulator(scenario)
    first = thanked.events_between(NOW, NOW + timedelta(seconds=10))
    me = operator(engine)
    assert me is not None
    ingestor = Ingestor(engine, PolicyBook(demo_settings()), clock=lambda: NOW)
    reply(ingestor, running_clocks(EngineReader(engine))[0].thread_id, me.id, "Bien reçu.")
    delivered = deliver_to_simulated_clients(engine, NOW + timedelta(seconds=10))

    thanked.delivered(delivered, NOW + timedelta(seconds=10))
    rest = [e for window in live(thanked, NOW + timedelta(seconds=10), 50) for e in window]

    thanks = [
        e
        for e in rest
        if e["task"]["id"] == delivered[0].target and e["author"]["role"] == "client"
    ]
    assert len(thanks) == 1

    def story(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(e["occurred_at"], e["kind"], e["text"]) for e in events]

    assert story([e for e in first + rest if e is not thanks[0]]) == story(expected)


def test_each_start_replaces_the_demos_statement_rather_than_piling_them_up(
    engine: Engine, tmp_path: Path
) -> None:
    from core.demo.statement import seed_statement

    folder = tmp_path / "data"
    for day in range(3):
        seed_statement(engine, demo_settings(), folder, NOW + timedelta(days=day))

    assert sorted(folder.iterdir()) == [statement_path(folder)]
