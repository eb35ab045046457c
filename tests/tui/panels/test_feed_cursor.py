"""The feed's cursor stays on its item while new rows arrive above it."""

from __future__ import annotations

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from tests.support import MovableClock, make_event
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.panels.feed import IncomingPanel


async def test_the_cursor_keeps_its_item_while_fifty_events_arrive(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Ingestor
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        incoming.table.focus()
        await pilot.press("down", "down", "down", "down", "down")
        chosen = incoming.selected
        assert chosen is not None and incoming.table.cursor_row == 5

        for batch in range(5):  # in several turns of the watcher, as the demo does
            ingestor.ingest(
                [
                    make_event(f"new-{batch}-{n}", 20, task=f"N{batch}{n}", client="Acme")
                    for n in range(10)
                ]
            )
            await until(pilot, lambda b=batch: len(incoming.items) >= 7 + 10 * (b + 1))
            assert incoming.selected is not None and incoming.selected.id == chosen.id

        assert incoming.table.cursor_row == 55
        assert "50 new ↑" in str(incoming.border_subtitle)

        # h, n, r and Enter act on the row under the cursor: still the chosen one.
        assert screen.selected_thread() == chosen.thread_id

        await pilot.press("up")
        assert "50 new ↑" in str(incoming.border_subtitle)
        await pilot.press("home")
        assert "new ↑" not in str(incoming.border_subtitle)
        assert incoming.selected is not None and incoming.selected.thread == "Task N49"


async def test_the_count_of_new_rows_falls_as_the_cursor_goes_up_past_them(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock, ingestor: Ingestor
) -> None:
    app = make_app(dashboard_settings, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        incoming.table.focus()
        await pilot.press("down")
        ingestor.ingest([make_event(f"n{n}", 20, task=f"N{n}") for n in range(3)])
        await until(pilot, lambda: "3 new ↑" in str(incoming.border_subtitle))
        await pilot.press("up")  # the old top row
        assert "3 new ↑" in str(incoming.border_subtitle)
        await pilot.press("up")  # onto the last of the new rows: the two above are unseen
        assert "2 new ↑" in str(incoming.border_subtitle)
        await pilot.press("up", "up")
        assert "new ↑" not in str(incoming.border_subtitle)
