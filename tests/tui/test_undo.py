"""The five-second undo on the dashboard: a toast after each action, `u` takes it back.

Driven with Textual's pilot on a real database; the app's clock is moved by
hand, never slept on. What an undo leaves is checked in the database: the
clock, the outbox (delivery rows) and the audit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from textual.pilot import Pilot
from textual.widgets import TextArea

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.panels.test_invoices import (
    audits,
    line_state,
    review_opened,
    review_queue_of,
    toasted,
)
from tests.tui.test_dashboard import clock_of, main_screen, make_app, open_thread, rows, until
from tui.app import Dashboard
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.screens.main import MainScreen

T5_TRIAGE = (
    "SELECT e.triage FROM event e JOIN thread t ON t.id = e.thread_id WHERE t.title = 'Task T5'"
)


REPLY = "Back in 10 minutes."


def feed_texts(app: Dashboard) -> list[str]:
    main = next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))
    return [item.text for item in main.query_one(IncomingPanel).items]


def toasts(app: Dashboard) -> list[str]:
    return [str(toast.message) for toast in app._notifications]


def said(app: Dashboard, words: str) -> bool:
    return any(words in message for message in toasts(app))


async def reply_on_t2(pilot: Pilot[None], app: Dashboard) -> None:
    thread = await open_thread(pilot, "Task T2")
    await pilot.press("r")
    thread.query_one("#reply-text", TextArea).insert("Back in 10 minutes.")
    await pilot.press("ctrl+s")
    await until(pilot, lambda: said(app, "Reply · u undoes it for 5 seconds"))


async def test_a_reply_is_held_and_u_within_five_seconds_takes_it_back(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        sent_at = clock()
        await reply_on_t2(pilot, app)
        # Held in the outbox until its five seconds are over.
        [(status, not_before)] = rows(agency, "SELECT status, next_attempt_at FROM delivery")
        assert status == "pending"
        assert not_before == f"{sent_at + timedelta(seconds=5):%Y-%m-%d %H:%M:%S.%f}"
        assert clock_of(agency, "Task T2")[0] == "breached"

        await until(pilot, lambda: REPLY in feed_texts(app))

        clock.advance(seconds=4)
        await pilot.press("u")
        await until(pilot, lambda: said(app, "Reply undone"))

        assert rows(agency, "SELECT count(*) FROM delivery") == [(0,)]
        assert rows(agency, "SELECT count(*) FROM event WHERE text = 'Back in 10 minutes.'") == [
            (0,)
        ]
        assert clock_of(agency, "Task T2") == ("running", None)
        assert rows(agency, "SELECT actor, action FROM audit") == [
            ("Ana Assistant", "undo_message")
        ]
        # The text is not lost: it is the thread's draft again.
        thread = app.screen
        await pilot.press("r")
        assert thread.query_one("#reply-text", TextArea).text == "Back in 10 minutes."


async def test_u_after_five_seconds_is_refused_and_the_reply_stays(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await reply_on_t2(pilot, app)

        clock.advance(seconds=5)
        await pilot.press("u")
        await until(pilot, lambda: said(app, "can no longer be undone: undo works for 5 seconds"))

        assert rows(agency, "SELECT status FROM delivery") == [("pending",)]
        assert clock_of(agency, "Task T2")[0] == "breached"
        assert rows(agency, "SELECT count(*) FROM audit") == [(0,)]


async def test_no_reply_needed_is_undone_and_its_clock_runs_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("2")  # the clocks; the most urgent is T2
        await pilot.press("n")
        await until(pilot, lambda: said(app, "No reply needed · u undoes it for 5 seconds"))
        assert clock_of(agency, "Task T2")[0] == "no_reply_needed"

        clock.advance(seconds=3)
        await pilot.press("u")
        await until(pilot, lambda: said(app, "No reply needed undone"))

        assert clock_of(agency, "Task T2") == ("running", None)
        assert rows(agency, "SELECT action FROM audit") == [("undo_no_reply_needed",)]
        clocks = screen.query_one(ClocksPanel)
        await until(pilot, lambda: clocks.clocks[0].thread == "Task T2")
        # u undid: the feed's unread toggle was left alone.
        assert not screen.feed.unread


async def test_handled_is_undone_and_the_thread_is_unread_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert incoming.selected is not None and incoming.selected.thread == "Task T5"
        await pilot.press("h")
        await until(pilot, lambda: said(app, "Handled · u undoes it for 5 seconds"))
        assert rows(agency, T5_TRIAGE) == [("handled",)]

        clock.advance(seconds=1)
        await pilot.press("u")
        await until(pilot, lambda: said(app, "Handled undone"))

        assert rows(agency, T5_TRIAGE) == [("new",)]
        assert rows(agency, "SELECT action FROM audit") == [("undo_handled",)]
        await until(pilot, lambda: incoming.items[0].unread and incoming.unread == 5)
        assert not screen.feed.unread


async def test_after_five_seconds_u_on_the_main_screen_toggles_unread_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        await pilot.press("h")
        await until(pilot, lambda: said(app, "Handled · u undoes it for 5 seconds"))

        clock.advance(seconds=5)
        await pilot.press("u")
        await pilot.pause(0.2)

        assert screen.feed.unread
        assert rows(agency, "SELECT count(*) FROM audit") == [(0,)]
        assert rows(agency, T5_TRIAGE) == [("handled",)]


# -- a payment accepted in the review screen ---------------------------------------


async def test_an_accept_in_review_is_undone_with_u_within_five_seconds(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        await pilot.press("a")
        await until(pilot, lambda: toasted(pilot, "X-1 · u undoes it for 5 seconds"))
        assert rows(agency, f"SELECT paid_cents, state FROM invoice WHERE id = {ids['X-1']}") == [
            (7700, "paid")
        ]

        clock.advance(seconds=4)
        await pilot.press("u")
        await until(pilot, lambda: toasted(pilot, "Match of X-1 undone"))

        # The invoice as it was, the line back for review, the undo audited.
        assert rows(agency, f"SELECT paid_cents, state FROM invoice WHERE id = {ids['X-1']}") == [
            (0, "open")
        ]
        assert line_state(agency, ids["first"]) == "review"
        await until(pilot, lambda: ids["first"] in [line.id for line in screen.lines])
        assert [row[0] for row in audits(agency, "undo_accept")] == ["Ana Assistant"]


async def test_an_accept_in_review_is_not_undone_with_u_after_five_seconds(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await review_opened(pilot)
        await pilot.press("a")
        await until(pilot, lambda: toasted(pilot, "X-1 · u undoes it for 5 seconds"))

        clock.advance(seconds=5)
        await pilot.press("u")
        await until(pilot, lambda: toasted(pilot, "Match of X-1 can no longer be undone"))

        assert rows(agency, f"SELECT paid_cents, state FROM invoice WHERE id = {ids['X-1']}") == [
            (7700, "paid")
        ]
        assert line_state(agency, ids["first"]) == "matched"
        assert audits(agency, "undo_accept") == audits(agency, "unallocate") == []
