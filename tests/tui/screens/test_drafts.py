"""Drafts in the thread view: each belongs to its thread and its kind until sent or discarded."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine
from textual.widgets import TextArea

from core.config.settings import Settings
from core.conversations.threads import ThreadDetail
from tests.support import MovableClock
from tests.tui.test_dashboard import main_screen, make_app, open_thread, rows, until
from tui.panels.thread import ThreadView, reply_target


def box(thread: ThreadView) -> TextArea:
    return thread.query_one("#reply-text", TextArea)


async def test_a_note_typed_in_one_thread_is_absent_from_another_and_kept_for_its_own(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        await pilot.press("i")
        box(thread).insert("ask Pat first")
        await pilot.press("escape", "escape")
        await until(pilot, lambda: app.thread_shown() is None)

        other = await open_thread(pilot, "Task T4")
        await pilot.press("r")
        assert box(other).text == ""
        await pilot.press("ctrl+s")  # an empty box sends nothing
        await pilot.pause(0.2)
        assert rows(agency, "SELECT count(*) FROM delivery") == [(0,)]
        await pilot.press("escape", "escape")

        back = await open_thread(pilot, "Task T3")
        await pilot.press("r")
        assert box(back).text == ""  # a reply is not the note
        await pilot.press("escape", "i")
        assert box(back).text == "ask Pat first"


async def test_the_reply_key_on_the_main_screen_opens_the_thread_own_draft(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        await pilot.press("r")
        box(thread).insert("Draft for Acme on T3")
        await pilot.press("escape", "escape")
        screen = await main_screen(pilot)
        incoming = screen.query_one("#incoming")
        items = incoming.items  # type: ignore[attr-defined]
        incoming.table.move_cursor(  # type: ignore[attr-defined]
            row=next(i for i, item in enumerate(items) if item.thread == "Task T4")
        )
        await pilot.press("r")
        await until(pilot, lambda: app.thread_shown() is thread)
        await until(pilot, lambda: thread.detail is not None and thread.detail.title == "Task T4")
        await until(pilot, lambda: box(thread).has_focus)
        assert box(thread).text == ""


async def test_a_sent_draft_is_gone_and_a_discarded_one_too(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T4")
        await pilot.press("i")
        box(thread).insert("a note to send")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: thread.detail is not None and thread.detail.events[-1].internal)
        await pilot.press("i")
        assert box(thread).text == ""

        box(thread).insert("second thoughts")
        await pilot.press("ctrl+r")  # discard
        assert not thread.query_one("#reply-box").display
        await pilot.press("i")
        assert box(thread).text == ""
        assert thread.drafts == {}


async def test_a_reply_that_could_not_be_sent_comes_back_as_the_draft(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    settings = dashboard_settings.model_copy(update={"operator": "nobody@agency.example"})
    app = make_app(settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T2")
        await pilot.press("r")
        box(thread).insert("We are on it.")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: thread.drafts.get((thread.thread_id, False)) == "We are on it.")
        assert rows(agency, "SELECT count(*) FROM delivery") == [(0,)]
        [toast] = list(app._notifications)
        assert "nobody@agency.example" in toast.message
        await pilot.press("r")
        assert box(thread).text == "We are on it."


async def test_the_reply_box_names_the_recipient_and_the_channel(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T2")
        await pilot.press("r")
        label = str(thread.query_one("#reply-label").render())
        assert "Reply to Claire Client · reply through the webhook" in label
        await pilot.press("escape", "i")
        label = str(thread.query_one("#reply-label").render())
        assert "Internal note, not sent" in label and "Claire" not in label


def test_each_channel_is_named_in_words() -> None:
    detail = ThreadDetail(
        1, "T", None, "task", "worksection", "Acme", None, None, None, False, [], [], [], []
    )
    assert reply_target(detail) == "Reply to Acme · Worksection comment"
    assert reply_target(replace(detail, channel="telegram", client=None)).endswith(
        "the client · Telegram message"
    )
