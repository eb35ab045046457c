"""The manager view, driven through Textual's pilot on a database filled by the ingestor."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, Tabs

import tui
from core.conversations.ingest import Ingestor
from core.sla.report import DayShare
from core.store.connect import reader_for
from core.store.reader import Reader, Row, SqliteReader
from tests.support import START, make_event
from tui.screens.manager import (
    FIGURES,
    DailyShareChart,
    Figure,
    ManagerScreen,
    custom_period,
    duration,
    share,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = START + timedelta(hours=2)  # Monday 23 November 2026, 12:00 in Paris
STYLESHEET = Path(tui.__file__).parent / "pmdesk.tcss"


def staff(id_: str, minute: float, name: str, task: str, **fields: Any) -> dict[str, Any]:
    event = make_event(id_, minute, role="staff", task=task, **fields)
    event["author"] = {"name": name, "email": f"{name.lower()}@agency.example", "role": "staff"}
    return event


DAY = 24 * 60


@pytest.fixture
def events(ingestor: Ingestor) -> None:
    """Today, four days ago and eighteen days ago, on a round-the-clock 15-minute target."""
    ingestor.ingest(
        [
            make_event("a", 0, task="A"),
            staff("a-r", 2, "Ann", task="A"),  # met
            make_event("d", 0, task="D"),
            staff("d-r", 20, "Bob", task="D"),  # late
            make_event("c", 0, task="C", client="Bigco"),
            staff("c-r", 6, "Bob", task="C"),  # met (Bigco's target is 10 minutes)
            make_event("e", 5, task="E", text="thanks!"),
            staff("e-x", 6, "Ann", task="E", kind="no_reply_needed"),
            make_event("f", 30, task="F"),  # never answered: past due at NOW
            make_event("g", -4 * DAY, task="G"),
            staff("g-r", -4 * DAY + 3, "Ann", task="G"),  # met, Thursday
            make_event("h", -4 * DAY, task="H"),
            staff("h-r", -4 * DAY + 30, "Ann", task="H"),  # late, Thursday
            make_event("i", -18 * DAY, task="I"),
            staff("i-r", -18 * DAY + 25, "Bob", task="I"),  # late, three weeks ago
        ]
    )


class ManagerApp(App[None]):
    """The screen alone, on the dashboard's stylesheet, recording what it asks the app."""

    CSS_PATH = STYLESHEET

    def __init__(self, database: str) -> None:
        super().__init__()
        self.database = database
        self.opened: list[int] = []

    def on_mount(self) -> None:
        self.push_screen(ManagerScreen(lambda: reader_for(self.database), lambda: NOW, PARIS))

    def on_manager_screen_open_thread(self, message: ManagerScreen.OpenThread) -> None:
        self.opened.append(message.thread_id)


@pytest.fixture
def app(engine: Engine, events: None) -> ManagerApp:
    assert engine.url.database
    return ManagerApp(engine.url.database)


async def settled(pilot: Pilot[None]) -> ManagerScreen:
    """The screen once every read asked for so far has been shown."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ManagerScreen)
    return screen


def figure(screen: ManagerScreen, key: str) -> str:
    return screen.query_one(f"#manager-figure-{key}", Figure).value


def rows(screen: ManagerScreen, table_id: str) -> list[list[str]]:
    table = screen.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def period_line(screen: ManagerScreen) -> str:
    return str(screen.query_one("#manager-period", Static).content)


def thread_id(reader: Reader, title: str) -> int:
    [(found,)] = reader.rows("SELECT id FROM thread WHERE title = :title", {"title": title})
    return int(found)


async def test_opens_on_the_last_seven_days(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)

        assert period_line(screen).startswith("7 days: Tue 17 Nov – Mon 23 Nov 2026")
        assert screen.query_one(Tabs).active == "manager-week"
        assert figure(screen, "answered") == "5"
        assert figure(screen, "met") == "60%"
        assert figure(screen, "median") == "6m00s"
        assert figure(screen, "breaches") == "3"
        assert figure(screen, "open") == "1"
        assert figure(screen, "no-reply") == "1"
        assert rows(screen, "manager-staff") == [
            ["Ann", "3", "66%", "3m00s", "24m36s", "1"],
            ["Bob", "2", "50%", "13m00s", "18m36s", "1"],
        ]
        assert rows(screen, "manager-clients") == [
            ["Acme", "4", "50%", "11m30s", "27m00s", "1", "3"],
            ["Bigco", "1", "100%", "6m00s", "6m00s", "0", "0"],
        ]


async def test_figures_give_business_and_wall_times(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)

        # Round the clock, business time is wall time.
        assert figure(screen, "median-wall") == figure(screen, "median") == "6m00s"
        assert figure(screen, "p90-wall") == figure(screen, "p90") == "26m00s"


async def test_keys_switch_between_today_and_thirty_days(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)

        await pilot.press("1")
        screen = await settled(pilot)
        assert period_line(screen).startswith("Today: Mon 23 Nov 2026")
        assert (figure(screen, "answered"), figure(screen, "met")) == ("3", "66%")
        assert [row[0] for row in rows(screen, "manager-staff")] == ["Bob", "Ann"]

        await pilot.press("3")
        screen = await settled(pilot)
        assert period_line(screen).startswith("30 days: Sun 25 Oct – Mon 23 Nov 2026")
        assert (figure(screen, "answered"), figure(screen, "met")) == ("6", "50%")
        assert figure(screen, "breaches") == "4"


async def test_clicking_a_period_tab_switches_to_it(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)

        await pilot.click("#manager-today")
        screen = await settled(pilot)

        assert screen.query_one(Tabs).active == "manager-today"
        assert figure(screen, "answered") == "3"


async def test_a_custom_period_between_two_dates(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)

        await pilot.press("c")
        screen = await settled(pilot)
        start = screen.query_one("#manager-from", Input)
        assert screen.focused is start
        assert start.value == "2026-11-17"  # filled in from the period shown
        start.value = ""
        await pilot.press(*"2026-11-19", "tab")
        screen.query_one("#manager-to", Input).value = ""
        await pilot.press(*"2026-11-19", "enter")
        screen = await settled(pilot)

        assert period_line(screen).startswith("Custom: Thu 19 Nov 2026")
        assert (figure(screen, "answered"), figure(screen, "met")) == ("2", "50%")
        assert [row[2] for row in rows(screen, "manager-breaches")] == ["Task H"]


async def test_an_invalid_custom_date_is_explained_and_nothing_changes(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("c")
        screen = await settled(pilot)
        screen.query_one("#manager-from", Input).value = "2026-13-01"

        await pilot.press("enter")
        screen = await settled(pilot)

        note = screen.query_one("#manager-custom-note", Static)
        assert str(note.content) == "The start date '2026-13-01' is not a date as YYYY-MM-DD."
        assert note.has_class("-error")
        assert period_line(screen).startswith("7 days")
        assert figure(screen, "answered") == "5"

        screen.query_one("#manager-from", Input).value = "2026-11-20"
        screen.query_one("#manager-to", Input).value = "2026-11-19"
        await pilot.press("enter")
        screen = await settled(pilot)
        note = screen.query_one("#manager-custom-note", Static)
        assert str(note.content) == "The start (2026-11-20) is after the end (2026-11-19)."

        await pilot.press("escape", "1")  # out of the field, then a period key
        screen = await settled(pilot)
        assert not screen.query_one("#manager-custom-note").has_class("-error")
        assert figure(screen, "answered") == "3"


async def test_breaches_of_the_period_and_enter_opens_the_thread(
    app: ManagerApp, reader: Reader
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)
        assert rows(screen, "manager-breaches") == [
            ["Thu 19 10:15", "Acme", "Task H", "–", "answered after 30m00s"],
            ["Mon 23 10:15", "Acme", "Task D", "–", "answered after 20m00s"],
            ["Mon 23 10:45", "Acme", "Task F", "–", "open, 1h15m over, escalated"],
        ]

        screen.query_one("#manager-breaches", DataTable).focus()
        await pilot.press("down", "enter")
        await pilot.pause()

        assert app.opened == [thread_id(reader, "Task D")]


async def test_the_chart_shows_each_day_of_the_period(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)
        chart = screen.query_one(DailyShareChart)

        assert [day.day for day in chart.days] == [
            date(2026, 11, 17) + timedelta(days=n) for n in range(7)
        ]
        lines = chart.render().plain.splitlines()
        assert lines[-1].split() == ["Nov", "17", "18", "19", "20", "21", "22", "23"]
        assert lines[0].startswith("100%│")


async def test_names_and_titles_are_shown_literally(engine: Engine, ingestor: Ingestor) -> None:
    hostile = "[bold red]Evil[/] \x1b[31mCo"
    event = make_event("x", 0, task="X", client=hostile)
    event["task"]["title"] = hostile
    assert ingestor.ingest([event])[0].status == "created"
    assert engine.url.database
    async with ManagerApp(engine.url.database).run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)

        assert rows(screen, "manager-clients")[0][0] == "[bold red]Evil[/] Co"
        assert rows(screen, "manager-breaches")[0][1:3] == ["[bold red]Evil[/] Co"] * 2


async def test_escape_goes_back(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)

        await pilot.press("escape")
        await pilot.pause()

        assert not isinstance(pilot.app.screen, ManagerScreen)


async def test_every_binding_has_an_id_and_shows_in_the_footer(app: ManagerApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)
        bindings = [binding for binding in ManagerScreen.BINDINGS if not isinstance(binding, tuple)]

        assert len(bindings) == len(ManagerScreen.BINDINGS)
        assert all(binding.id and binding.id.startswith("manager.") for binding in bindings)
        shown = {active.binding.id for active in screen.active_bindings.values()}
        assert {binding.id for binding in bindings} <= shown


async def test_fits_in_80_by_24(app: ManagerApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await settled(pilot)

        assert screen.has_class("-narrow")
        assert figure(screen, "answered") == "5"
        for widget in screen.query("#manager-periods, #manager-body, KeyBar"):
            assert widget.region.right <= 80
            assert widget.region.bottom <= 24
        assert screen.query_one("#manager-body").region.height >= 10

        await pilot.press("3", "c")
        screen = await settled(pilot)
        assert screen.query_one("#manager-custom-row").region.bottom <= 24


class RecordingReader:
    """A reader that notes the thread it was opened in, and whether it was closed."""

    def __init__(self, database: str) -> None:
        self.inner = SqliteReader(Path(database))
        self.thread = threading.get_ident()
        self.closed = False

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self.inner.rows(sql, params)

    def close(self) -> None:
        self.inner.close()
        self.closed = True


async def test_each_read_asks_for_its_reader_in_the_worker_and_leaves_it_open(
    engine: Engine,
) -> None:
    # The dashboard's factory hands out the worker thread's own reader, which
    # later reads in that pooled thread use again: closing it crashed them.
    assert engine.url.database
    database, opened = engine.url.database, list[RecordingReader]()

    def factory() -> Reader:
        opened.append(RecordingReader(database))
        return opened[-1]

    class RecordingApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ManagerScreen(factory, lambda: NOW, PARIS))

    async with RecordingApp().run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        await pilot.press("r")
        await settled(pilot)

    assert len(opened) == 2
    assert all(reader.thread != threading.get_ident() for reader in opened)
    assert not any(reader.closed for reader in opened)


async def test_a_failed_read_is_shown_in_place_of_the_figures(tmp_path: Path) -> None:
    def broken() -> Reader:
        raise OSError("disk unplugged")

    class BrokenApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ManagerScreen(broken, lambda: NOW, PARIS))

    async with BrokenApp().run_test(size=(80, 24)) as pilot:
        screen = await settled(pilot)

        assert period_line(screen).endswith("could not read: disk unplugged")


def test_custom_period_ends_at_now_when_it_includes_today() -> None:
    period = custom_period("2026-11-20", "2026-11-30", NOW, PARIS)

    assert period.since == datetime(2026, 11, 19, 23, tzinfo=UTC)
    assert period.until == NOW
    with pytest.raises(ValueError, match="after today"):
        custom_period("2026-11-24", "2026-11-30", NOW, PARIS)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        custom_period("20261120", "2026-11-30", NOW, PARIS)
    with pytest.raises(ValueError, match="Type the end date"):
        custom_period("2026-11-20", " ", NOW, PARIS)


def test_durations_and_shares_read_like_the_clocks() -> None:
    assert [duration(s) for s in (None, 0, 250, 3600 + 62)] == ["–", "0s", "4m10s", "1h01m"]
    assert [share(s) for s in (None, 0.0, 0.666, 0.999, 1.0)] == ["–", "0%", "66%", "99%", "100%"]


class ChartApp(App[None]):
    CSS_PATH = STYLESHEET

    def compose(self) -> ComposeResult:
        yield DailyShareChart(id="manager-chart")


async def test_days_without_answers_are_not_drawn_as_zero() -> None:
    async with ChartApp().run_test(size=(40, 10)) as pilot:
        chart = pilot.app.query_one(DailyShareChart)
        chart.show(
            [
                DayShare(date(2026, 11, 22), 0, 0, None, 0),
                DayShare(date(2026, 11, 23), 2, 0, 0.0, 2),
                DayShare(date(2026, 11, 24), 2, 1, 0.5, 1),
            ]
        )

        lines = chart.render().plain.splitlines()

        # Four rows of bars from 100% down to 0%, the axis, then the days.
        assert [line[5:].rstrip() for line in lines[:4]] == ["", "", "        ███", "··· ▁▁▁ ███"]
        assert lines[-1].split() == ["Nov", "22", "23", "24"]


async def test_a_failed_read_takes_the_previous_period_figures_away(
    engine: Engine, events: None
) -> None:
    # 7-day numbers must never stand under a "Today" title.
    assert engine.url.database
    database, failing = engine.url.database, threading.Event()

    def factory() -> Reader:
        if failing.is_set():
            raise OSError("disk unplugged")
        return reader_for(database)

    class FlakyApp(App[None]):
        CSS_PATH = STYLESHEET

        def on_mount(self) -> None:
            self.push_screen(ManagerScreen(factory, lambda: NOW, PARIS))

    async with FlakyApp().run_test(size=(120, 40)) as pilot:
        screen = await settled(pilot)
        assert figure(screen, "answered") == "5"
        failing.set()

        await pilot.press("1")
        screen = await settled(pilot)

        assert period_line(screen).startswith("Today: ")
        assert period_line(screen).endswith("could not read: disk unplugged")
        assert {figure(screen, key) for key, _label in FIGURES} == {"–"}
        for table in ("manager-staff", "manager-clients", "manager-breaches"):
            assert rows(screen, table) == []
        assert screen.snapshot is None


async def test_time_to_a_staffed_project_per_project_and_the_month_s_median(
    engine: Engine, events: None
) -> None:
    from core.tracker.autostart import all_starts, mark_staffed, mark_stopped, note_project

    # Created this month, staffed 4 and 12 minutes later; one still waiting for a role;
    # one created last month (out of the 7 days and of the month's median).
    took = {"90": 4, "91": 12, "92": None, "80": 1}
    for project, created in (
        ("90", NOW - timedelta(days=1)),
        ("91", NOW - timedelta(hours=3)),
        ("92", NOW - timedelta(hours=1)),
        ("80", NOW - timedelta(days=40)),
    ):
        name = f"Client {project}"
        note_project(engine, project, name, "seo-retainer", created, created.date(), created)
    for start in all_starts(engine):
        minutes = took[start.project_id]
        if minutes is None:
            mark_stopped(engine, start, "nobody holds seo on the project", NOW)
        else:
            mark_staffed(engine, start, start.created_at + timedelta(minutes=minutes), "staffed")
    assert engine.url.database
    app = ManagerApp(engine.url.database)
    async with app.run_test(size=(140, 80)) as pilot:
        screen = await settled(pilot)
        title = str(screen.query_one("#manager-staffing-title", Static).content)
        assert title.endswith(duration(8 * 60))  # the median of 4 and 12 minutes
        shown = rows(screen, "manager-staffing")
        assert [row[0] for row in shown] == ["Client 92", "Client 91", "Client 90"]
        assert shown[0][3].startswith("stopped: nobody holds seo")
        assert [row[3] for row in shown[1:]] == [duration(12 * 60), duration(4 * 60)]
