"""Receivables on the dashboard: the overdue panel's keys and the review screen.

Driven through Textual's pilot on a real SQLite database and a frozen clock;
what each key wrote is checked in the database, what it changed on screen
in the widgets.
"""

from __future__ import annotations

import inspect
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine, text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from core.config.settings import DashboardConfig, Settings
from core.receivables.aging import BUCKETS, bucket_totals, overdue_invoices
from core.receivables.dunning import run_dunning
from core.receivables.matching.decisions import reject
from core.receivables.matching.matcher import match_new_lines
from core.store.db import insert_many, write
from core.store.models.receivables import Invoice
from core.store.models.system import table
from core.store.models.threads import Client
from core.store.reader import EngineReader
from tests.core.receivables.matching.test_matching import line
from tests.support import MovableClock
from tests.tui.conftest import HOSTILE
from tests.tui.test_dashboard import main_screen, make_app, rows, until
from tui.app import Dashboard
from tui.panels.invoices import InvoicesPanel
from tui.screens.help import HelpScreen
from tui.screens.main import REVIEW_SENTENCE, MainScreen
from tui.screens.review import EMPTY, ReviewScreen
from tui.widgets.ask import AskDay, AskText

TODAY = date(2026, 11, 23)


def invoice_row(engine: Engine, number: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM invoice WHERE number = :n"), {"n": number}
        ).one()
    return dict(row._mapping)


def audits(engine: Engine, action: str) -> list[tuple[Any, ...]]:
    return rows(
        engine, f"SELECT actor, entity, detail FROM audit WHERE action = '{action}' ORDER BY id"
    )


async def invoices_focused(pilot: Pilot[None], number: str) -> InvoicesPanel:
    """The overdue panel focused, its cursor on `number`."""
    screen = await main_screen(pilot)
    panel = screen.query_one(InvoicesPanel)
    await until(pilot, lambda: bool(panel.invoices))
    assert panel.select_number(number)
    await pilot.pause()
    return panel


def cell(panel: InvoicesPanel, number: str, column: str) -> str:
    index = next(i for i, inv in enumerate(panel.invoices) if inv.number == number)
    return panel.table.row(index)[panel.columns.index(column)].plain


def invoice_row_id(panel: InvoicesPanel, number: str) -> int:
    return next(inv.id for inv in panel.invoices if inv.number == number)


LEVEL, NEXT_STEP = "level", "next step"  # the panel's columns (level: 200 columns up)


def toasted(pilot: Pilot[None], words: str) -> bool:
    return any(words in str(toast.message) for toast in pilot.app._notifications)


# -- the overdue panel -----------------------------------------------------------


async def test_p_records_a_promise_a_week_ahead_by_default(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        panel = await invoices_focused(pilot, "F-102")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskDay))
        field = pilot.app.screen.query_one(Input)
        assert field.value == (TODAY + timedelta(days=7)).isoformat()
        await pilot.press("enter")
        await until(pilot, lambda: invoice_row(agency, "F-102")["promised_on"] is not None)
        await until(pilot, lambda: "promised" in cell(panel, "F-102", NEXT_STEP))
        assert cell(panel, "F-102", NEXT_STEP).startswith("promised 30 Nov")

    assert invoice_row(agency, "F-102")["promised_on"] == "2026-11-30"
    [(actor, entity, detail)] = audits(agency, "promise")
    assert (actor, entity) == ("Ana Assistant", "invoice")
    assert json.loads(detail) == {"number": "F-102", "on": "2026-11-30"}


async def test_a_bad_or_past_day_is_refused_in_the_modal_and_nothing_is_written(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await invoices_focused(pilot, "F-101")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskDay))
        modal = pilot.app.screen
        field = modal.query_one(Input)
        for bad, said in (("30/11/2026", "YYYY-MM-DD"), ("2026-11-01", "already past")):
            field.value = bad
            await pilot.press("enter")
            error = modal.query_one("#ask-error", Static)
            await until(pilot, lambda said=said, error=error: said in str(error.render()))
            assert pilot.app.screen is modal
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))

    assert invoice_row(agency, "F-101")["promised_on"] is None
    assert audits(agency, "promise") == []


async def test_d_records_a_dispute_with_its_reason_and_pauses_reminders(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        panel = await invoices_focused(pilot, "F-103")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskText))
        await pilot.press(*"wrong rate")
        await pilot.press("enter")
        await until(pilot, lambda: invoice_row(agency, "F-103")["state"] == "disputed")
        await until(pilot, lambda: "disputed" in cell(panel, "F-103", NEXT_STEP))

    [(actor, _entity, detail)] = audits(agency, "dispute")
    assert actor == "Ana Assistant"
    assert json.loads(detail) == {"number": "F-103", "reason": "wrong rate"}


async def test_s_marks_todays_reminder_sent_and_says_so_when_there_is_none(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(200, 60)) as pilot:
        panel = await invoices_focused(pilot, "F-101")
        assert cell(panel, "F-101", LEVEL) == "—"
        # No run yet today: nothing to mark, and a toast says why.
        await pilot.press("s")
        await until(pilot, lambda: toasted(pilot, "no reminder drafted today"))
        assert audits(agency, "reminder_sent") == []

        run_dunning(agency, dashboard_settings, TODAY, clock())
        assert rows(agency, "SELECT status FROM reminder") == [("draft",)]
        # Shown on the panel once it reads the invoices again (here, at once).
        pilot.app.screen._reload = True  # type: ignore[attr-defined]
        await until(pilot, lambda: cell(panel, "F-101", LEVEL) == "1 •")
        assert "1 reminder to send" in str(panel.border_subtitle)
        await pilot.press("s")
        await until(pilot, lambda: rows(agency, "SELECT status FROM reminder") == [("sent",)])
        await until(pilot, lambda: cell(panel, "F-101", LEVEL) == "1 ✓")
        assert cell(panel, "F-103", LEVEL) == "2 ✓"  # the client's one message a day
        assert "to send" not in str(panel.border_subtitle)

    [(actor, entity, _detail)] = audits(agency, "reminder_sent")
    assert (actor, entity) == ("Ana Assistant", "reminder")


async def test_the_next_step_shows_the_level_and_its_day(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    with agency.begin() as connection:
        connection.execute(
            text(
                "UPDATE invoice SET next_step = 'firm reminder on 2026-12-02 (500.50 due)', "
                "next_step_on = '2026-12-02' WHERE number = 'F-102'"
            )
        )
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        panel = await invoices_focused(pilot, "F-102")
        assert cell(panel, "F-102", NEXT_STEP) == "2 Dec · firm reminder"


async def test_without_an_operator_the_write_is_refused_with_a_toast(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    with agency.begin() as connection:
        connection.execute(text("UPDATE staff SET active = 0"))
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        await invoices_focused(pilot, "F-101")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskText))
        await pilot.press("enter")
        await until(pilot, lambda: any(n.severity == "error" for n in pilot.app._notifications))
    assert invoice_row(agency, "F-101")["state"] == "open"


async def test_a_ledger_longer_than_the_panel_lists_the_most_overdue_and_totals_every_invoice(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    now = clock()
    ledger = add_client(agency, "Ledger Co", now)
    for n in range(150):
        add_invoice(agency, f"L-{n:03d}", ledger, 1_000 + n, TODAY - timedelta(days=1 + n), now)
    everything = overdue_invoices(EngineReader(agency), TODAY)
    assert len(everything) > 150

    async with make_app(dashboard_settings, clock).run_test(size=(200, 50)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(InvoicesPanel)
        await until(pilot, lambda: bool(panel.invoices))
        table = panel.table
        numbers = [table.row(i)[0].plain for i in range(table.row_count)]
        subtitle = str(panel.border_subtitle)
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        last = panel.selected
        totals = Console(width=400, record=True, color_system=None)
        totals.print(panel._totals())
        money = panel.formatter.money

    # The most overdue first, as many as the panel lists; the end of the list is its last.
    assert numbers == [invoice.number for invoice in everything[:100]]
    assert last == everything[99]
    assert subtitle.startswith(f"{len(everything)} overdue (100 most overdue shown)")
    # The totals are those of every overdue invoice, listed or not.
    line = totals.export_text()
    for bucket in BUCKETS[1:]:
        assert f"{bucket}: {money(bucket_totals(everything)['EUR'][bucket], 'EUR')}" in line


# -- the review screen -------------------------------------------------------------


def add_client(engine: Engine, name: str, now: datetime) -> int:
    with write(engine) as connection:
        insert_many(connection, table(Client), [{"name": name, "created_at": now}])
        return int(connection.execute(text("SELECT max(id) FROM client")).scalar_one())


def add_invoice(engine: Engine, number: str, client_id: int, cents: int, due: date,
                now: datetime) -> int:  # fmt: skip
    row = {
        "number": number, "client_id": client_id, "issued_on": date(2026, 10, 1), "due_on": due,
        "currency": "EUR", "total_cents": cents, "paid_cents": 0, "state": "open",
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, table(Invoice), [row])
        return int(connection.execute(text("SELECT max(id) FROM invoice")).scalar_one())


def line_state(engine: Engine, line_id: int) -> str:
    return str(rows(engine, f"SELECT match_state FROM banktransaction WHERE id = {line_id}")[0][0])


def paid(engine: Engine, invoice_id: int) -> int:
    return int(rows(engine, f"SELECT paid_cents FROM invoice WHERE id = {invoice_id}")[0][0])


def review_queue_of(agency: Engine, settings: Settings, clock: MovableClock) -> dict[str, int]:
    """Two lines the matcher leaves for review, each with two candidates of the same amount.

    X-1 is due close to the payment and ranks first; X-2 is due long before.
    The first line's payer is hostile markup.
    """
    now = clock()
    one, two = add_client(agency, "One", now), add_client(agency, "Two", now)
    ids = {
        "X-1": add_invoice(agency, "X-1", one, 7700, date(2026, 11, 15), now),
        "X-2": add_invoice(agency, "X-2", two, 7700, date(2025, 1, 1), now),
        "Y-1": add_invoice(agency, "Y-1", one, 3300, date(2026, 11, 15), now),
        "Y-2": add_invoice(agency, "Y-2", two, 3300, date(2025, 1, 1), now),
    }
    ids["first"] = line(agency, now, 7700, "thanks", HOSTILE, booked=date(2026, 11, 19))
    ids["second"] = line(agency, now, 3300, "virement", "Somebody")
    summary = match_new_lines(agency, settings.banks, now)
    assert summary.review == 2
    return ids


async def review_opened(pilot: Pilot[None]) -> ReviewScreen:
    await main_screen(pilot)
    await pilot.press("v")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ReviewScreen)
    await until(pilot, lambda: screen.loaded)
    return screen


async def test_the_review_screen_accepts_the_highlighted_candidate_then_shows_the_next_line(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        assert [line.id for line in screen.lines] == [ids["first"], ids["second"]]
        candidates = screen.query_one("#review-candidates", DataTable)
        assert [candidates.get_row_at(i)[0].plain for i in range(2)] == ["X-1", "X-2"]
        # The second candidate, not the best one: the person knows better.
        candidates.focus()
        candidates.move_cursor(row=1)
        await pilot.press("a")
        await until(pilot, lambda: line_state(agency, ids["first"]) == "matched")
        await until(pilot, lambda: [line.id for line in screen.lines] == [ids["second"]])
        assert candidates.get_row_at(0)[0].plain == "Y-1"
        # Enter on the line itself takes its highlighted (best) candidate.
        screen.query_one("#review-lines", DataTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: line_state(agency, ids["second"]) == "matched")
        await until(pilot, lambda: not screen.lines and screen.has_class("-empty"))

    assert (paid(agency, ids["X-1"]), paid(agency, ids["X-2"])) == (0, 7700)
    assert (paid(agency, ids["Y-1"]), paid(agency, ids["Y-2"])) == (3300, 0)
    by = rows(agency, f"SELECT by FROM allocation WHERE transaction_id = {ids['first']}")
    assert by == [("Ana Assistant",)]


async def test_x_rejects_the_line_and_u_undoes_a_recent_match(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        await pilot.press("x")
        await until(pilot, lambda: line_state(agency, ids["first"]) == "rejected")
        await until(pilot, lambda: [line.id for line in screen.lines] == [ids["second"]])
        assert paid(agency, ids["X-1"]) == paid(agency, ids["X-2"]) == 0

        await pilot.press("a")
        await until(pilot, lambda: paid(agency, ids["Y-1"]) == 3300)
        await until(pilot, lambda: [match.id for match in screen.recent][:1] == [ids["second"]])
        screen.query_one("#review-recent", DataTable).focus()
        await pilot.press("u")
        await until(pilot, lambda: paid(agency, ids["Y-1"]) == 0)
        await until(pilot, lambda: [line.id for line in screen.lines] == [ids["second"]])
        assert line_state(agency, ids["second"]) == "review"
        assert [(match.id, match.state) for match in screen.recent] == [(ids["first"], "rejected")]

    assert [row[0] for row in audits(agency, "unallocate")] == ["Ana Assistant"]


async def test_a_rejected_line_cannot_be_accepted_twice_and_the_error_is_a_toast(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        # Decided elsewhere (another terminal) while the screen still shows it.
        with agency.begin() as connection:
            connection.execute(
                text(
                    f"UPDATE banktransaction SET match_state = 'matched' WHERE id = {ids['first']}"
                )
            )
        await pilot.press("a")
        await until(pilot, lambda: toasted(pilot, "already matched"))
        assert screen.lines  # nothing changed on screen by a refused action
    assert paid(agency, ids["X-1"]) == paid(agency, ids["X-2"]) == 0


async def test_hostile_payer_names_show_literally(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    review_queue_of(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        payer = screen.query_one("#review-lines", DataTable).get_row_at(0)[2]
        assert payer.plain.startswith("[bold red]URGENT[/] red [link=https://e")
        assert "\x1b" not in payer.plain and "\x07" not in payer.plain
        assert not payer.spans  # no style came from the text


async def test_the_review_screen_says_when_there_is_nothing_to_review(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        empty = screen.query_one("#review-empty", Static)
        assert screen.has_class("-empty") and empty.display
        assert str(empty.render()) == EMPTY
        assert not screen.query_one("#review-lines", DataTable).display
        await pilot.press("a", "x", "u")  # nothing to act on: nothing happens
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))


async def test_the_palette_opens_the_review_and_help_lists_the_new_keys(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        app = pilot.app
        assert isinstance(app, Dashboard)
        [(_name, run, key)] = [a for a in app.palette_actions(screen) if a[0] == REVIEW_SENTENCE]
        assert key == "key v"
        started = run()
        if inspect.isawaitable(started):  # a binding's action is run as a coroutine
            await started
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        # From the review screen itself the palette still offers it, and it does nothing more.
        [(_name, again, key)] = [
            a for a in app.palette_actions(app.screen) if a[0] == REVIEW_SENTENCE
        ]
        assert key == "key v on the main screen"
        again()
        await pilot.pause()
        assert sum(isinstance(s, ReviewScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        ids = {b.id for _, bindings in app.screen.groups for b in bindings}  # type: ignore[attr-defined]
        for holder in (InvoicesPanel, ReviewScreen, AskDay, AskText, MainScreen):
            assert {binding.id for binding in holder.BINDINGS} <= ids  # type: ignore[union-attr]


async def test_the_new_keys_are_remapped_from_the_configuration(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    keys = {"invoices.promise": "w", "main.review": "b"}
    settings = dashboard_settings.model_copy(update={"dashboard": DashboardConfig(keys=keys)})
    async with make_app(settings, clock).run_test(size=(120, 40)) as pilot:
        await invoices_focused(pilot, "F-101")
        await pilot.press("p")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, MainScreen)  # p no longer asks
        await pilot.press("w")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskDay))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReviewScreen))


def table_lines(panel: InvoicesPanel) -> list[str]:
    """The invoice table's lines as drawn, cut where the panel ends."""
    table = panel.table
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


@pytest.mark.parametrize("size", [(120, 40), (200, 60)])
async def test_the_next_step_and_its_day_fit_the_panel_from_120_columns(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, size: tuple[int, int]
) -> None:
    # The longest a step gets: a promise, then a level with a long name, for a
    # client with a long name and an amount in the thousands.
    with agency.begin() as connection:
        connection.execute(
            text(
                "UPDATE client SET name = 'Boulangeries Pâquier et Fils'"
                " WHERE name = 'Delta Invoicing'"
            )
        )
        connection.execute(
            text(
                "UPDATE invoice SET number = 'F-2026-0101', promised_on = '2026-11-30',"
                " next_step = 'suspension flag on 2026-12-03 (1200.00 due)',"
                " next_step_on = '2026-12-03' WHERE number = 'F-101'"
            )
        )
    async with make_app(dashboard_settings, clock).run_test(size=size) as pilot:
        panel = await invoices_focused(pilot, "F-103")
        lines = table_lines(panel)
        row = next(line for line in lines if "F-2026-0101" in line)
        assert "promised 30 Nov" in row
        assert "3 Dec" in row  # the day of the next step, not cut at the right edge
        assert "€1,200.00" in row
        assert all("firm reminder" in line for line in lines if "F-10" in line)


async def test_at_120_columns_todays_reminder_is_marked_before_the_next_step(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    run_dunning(agency, dashboard_settings, TODAY, clock())
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        panel = await invoices_focused(pilot, "F-101")
        assert panel.compact
        assert cell(panel, "F-101", NEXT_STEP).startswith("• ")
        assert "bucket" not in panel.columns and "level" not in panel.columns


def auto_matched(agency: Engine, settings: Settings, clock: MovableClock) -> tuple[int, int]:
    """A line the rules applied on their own (its reference and amount): (line, invoice)."""
    now = clock()
    invoice = add_invoice(agency, "Z-9", add_client(agency, "Zed", now), 5000, TODAY, now)
    paying = line(agency, now, 5000, "Z-9", "Zed")
    match_new_lines(agency, settings.banks, now)
    assert line_state(agency, paying) == "matched"
    return paying, invoice


async def test_u_undoes_the_reject_just_made_not_an_automatic_match(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    automatic, invoice = auto_matched(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        await pilot.press("x")
        await until(pilot, lambda: line_state(agency, ids["first"]) == "rejected")
        await until(pilot, lambda: [line.id for line in screen.lines] == [ids["second"]])

        await pilot.press("u")

        await until(pilot, lambda: line_state(agency, ids["first"]) == "review")
        await until(pilot, lambda: ids["first"] in [line.id for line in screen.lines])
        assert line_state(agency, automatic) == "matched"
        assert paid(agency, invoice) == 5000
        assert [row[0] for row in audits(agency, "restore")] == ["Ana Assistant"]
        assert audits(agency, "unallocate") == []


async def test_u_undoes_the_accept_just_made_then_says_there_is_nothing_left(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    automatic, invoice = auto_matched(agency, dashboard_settings, clock)
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        await pilot.press("a")
        await until(pilot, lambda: paid(agency, ids["X-1"]) == 7700)
        await until(pilot, lambda: [line.id for line in screen.lines] == [ids["second"]])

        await pilot.press("u")

        await until(pilot, lambda: paid(agency, ids["X-1"]) == 0)
        assert line_state(agency, ids["first"]) == "review"
        await pilot.press("u")
        await until(pilot, lambda: toasted(pilot, "Nothing decided here to undo"))
        assert paid(agency, invoice) == 5000 and line_state(agency, automatic) == "matched"


async def test_a_rejected_line_is_brought_back_from_recent_decisions(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ids = review_queue_of(agency, dashboard_settings, clock)
    reject(agency, ids["first"], "Pat PM", clock())  # decided earlier, elsewhere
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await review_opened(pilot)
        assert [(m.id, m.state) for m in screen.recent] == [(ids["first"], "rejected")]
        recent = screen.query_one("#review-recent", DataTable)
        assert recent.get_row_at(0)[3].plain == "rejected"
        recent.focus()
        await pilot.press("u")
        await until(pilot, lambda: line_state(agency, ids["first"]) == "review")
        await until(pilot, lambda: ids["first"] in [line.id for line in screen.lines])
        assert screen.recent == []


async def test_e_emails_todays_reminder_to_the_contracts_billing_address(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    from core.config.billing import EmailConfig
    from tests.core.billing.support import contract, store

    mails = "SELECT key, to_address, state FROM outgoing_email"
    run_dunning(agency, dashboard_settings, TODAY, clock())
    async with make_app(dashboard_settings, clock).run_test(size=(200, 60)) as pilot:
        await invoices_focused(pilot, "F-101")
        await pilot.press("e")
        await until(pilot, lambda: toasted(pilot, "set [email] host"))
    sending = dashboard_settings.model_copy(
        update={"email": EmailConfig(host="127.0.0.1", sender="billing@agency.example")}
    )
    async with make_app(sending, clock).run_test(size=(200, 60)) as pilot:
        await invoices_focused(pilot, "F-101")
        await pilot.press("e")
        await until(pilot, lambda: toasted(pilot, "no email address known for Delta Invoicing"))
        assert rows(agency, mails) == []
        store(agency, contract(client="Delta Invoicing", billing_email="ap@delta.example"))
        await pilot.press("e")
        await until(pilot, lambda: toasted(pilot, "queued for email"))

    [(key, to, state)] = rows(agency, mails)
    assert (to, state) == ("ap@delta.example", "queued") and key.startswith("reminder:")
    # Marked sent when the services have sent it, not before.
    assert rows(agency, "SELECT status FROM reminder") == [("draft",)]
