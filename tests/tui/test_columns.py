"""How the main screen uses its width and height: the feed's dates and columns, and, on a
small terminal, the rows of the panel whose keys act on them."""

from __future__ import annotations

from sqlalchemy import Engine

from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from tests.support import MovableClock, make_event
from tests.tui.test_dashboard import main_screen, make_app, until
from tui.panels.feed import IncomingPanel
from tui.panels.invoices import InvoicesPanel
from tui.widgets.rows import RowList

LONG_CLIENT = "Grande Boulangerie Industrielle du Centre"
LONG_THREAD = "Refonte complète du site vitrine et de la boutique en ligne"


def row_text(panel: IncomingPanel, thread: str) -> list[str]:
    index = next(
        i for i, item in enumerate(panel.items) if item.thread.startswith(f"Task {thread}")
    )
    return [cell.plain for cell in panel.table.row(index)]


def shown(panel: IncomingPanel, thread: str) -> str:
    """The row as drawn on the screen, cut to its columns."""
    index = next(
        i for i, item in enumerate(panel.items) if item.thread.startswith(f"Task {thread}")
    )
    strip = panel.table._render_row(panel.table.row(index), panel.table.size.width)
    return "".join(segment.text for segment in strip)


async def test_rows_of_earlier_days_carry_their_date_and_midnight_dates_todays(
    agency: Engine, ingestor: Ingestor, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ingestor.ingest(
        [make_event("old-m", -24 * 60, task="T9", client="Acme", text="From yesterday")]
    )
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        feed = screen.query_one(IncomingPanel)
        # Paris time: START is 10:00 on Nov 23; the event of the day before at 10:00 on Nov 22.
        assert row_text(feed, "T9")[0].strip("● ") == "Nov 22 10:00"
        assert row_text(feed, "T4")[0].strip("● ") == "10:18"
        assert "Nov 22 10:00" in shown(feed, "T9")  # the time column made room for it

        # Past midnight in Paris, today's rows become yesterday's and take their date.
        clock.advance(hours=14)
        await until(pilot, lambda: row_text(feed, "T4")[0].strip("● ") == "Nov 23 10:18")


async def test_client_and_thread_columns_widen_from_120_columns(
    agency: Engine, ingestor: Ingestor, dashboard_settings: Settings, clock: MovableClock
) -> None:
    ingestor.ingest([make_event("long-m", 19, task="T8", client=LONG_CLIENT, text="Bonjour")])
    widths = {}
    for size in ((80, 24), (120, 40), (200, 60)):
        async with make_app(dashboard_settings, clock).run_test(size=size) as pilot:
            screen = await main_screen(pilot)
            feed = screen.query_one(IncomingPanel)
            widths[size[0]] = feed.table.widths[1:3]
            line = shown(feed, "T8")
            if size[0] == 200:
                assert LONG_CLIENT[:22] in line  # most of a long name reads
            if size[0] == 80:
                assert "Grande Boula…" in line
    assert widths[80] == [13, 20]
    assert widths[120][0] > 13 and widths[120][1] > 20
    assert widths[200][0] > widths[120][0] and widths[200][1] > widths[120][1]


async def test_at_80x24_the_invoices_focused_show_their_rows_and_the_totals_otherwise(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one("#invoice-table", RowList)
        # The totals only while another panel has the keys (the table is kept
        # in the focus chain at no height, so that tab reaches it).
        assert table.region.height == 0

        await pilot.press("3")
        await pilot.pause()
        assert pilot.app.focused is table
        await until(pilot, lambda: table.display and table.region.height >= 4)
        # The rows p, d and s act on are in view, the cursor's among them.
        assert table.row_count == 3
        assert table.region.height - 1 >= table.row_count  # a header line, then the rows
        panel = screen.query_one(InvoicesPanel)
        assert panel.selected is not None and panel.selected.number == "F-103"
        # The feed still shows its title and a row: what is going on stays in view.
        feed = screen.query_one(IncomingPanel)
        assert feed.region.height >= 4

        await pilot.press("1")
        await until(pilot, lambda: table.region.height == 0)
        assert screen.query_one(IncomingPanel).table.region.height >= 4
