"""What the focused panel offers: its keys act on the rows it shows, and on nothing else.

Driven through Textual's pilot on a real database and a frozen clock; what a
key wrote (or did not write) is checked in the database.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from rich.style import Style
from sqlalchemy import Engine
from textual._styles_cache import StylesCache
from textual.css.styles import StylesBase
from textual.css.stylesheet import Stylesheet
from textual.dom import DOMNode
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from core.config.settings import Settings
from tests.support import MovableClock
from tests.tui.test_dashboard import (
    main_screen,
    make_app,
    on_the_panels,
    open_thread,
    rows,
    until,
)
from tui.display.themes import DARK, LIGHT
from tui.panels.clocks import ClocksPanel
from tui.panels.feed import IncomingPanel
from tui.panels.invoices import InvoicesPanel
from tui.screens.main import MainScreen
from tui.widgets.conversation import Conversation
from tui.widgets.keybar import KeyBar
from tui.widgets.rows import RowList


async def test_thread_keys_do_nothing_while_the_invoices_panel_has_the_focus(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # With the invoices focused the feed's cursor is out of sight: h, n and r
    # would act on a thread the assistant is not looking at.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(InvoicesPanel)
        await until(pilot, lambda: bool(panel.invoices))
        await pilot.press("3")
        await until(pilot, lambda: panel.has_focus_within)
        bar = screen.query_one(KeyBar)
        await until(pilot, lambda: "p Promise to pay" in str(bar.render()))
        shown = str(bar.render())
        assert "h Handled" not in shown and "r Reply" not in shown
        assert "No reply needed" not in shown

        await pilot.press("h", "n", "r")
        await pilot.pause(0.3)

        assert pilot.app.screen is screen
        assert rows(agency, "SELECT count(*) FROM event WHERE triage = 'handled'") == [(0,)]
        assert rows(agency, "SELECT count(*) FROM event WHERE kind = 'no_reply_needed'") == [(0,)]

        await pilot.press("1")  # back on the feed: the keys are there again
        await until(pilot, lambda: "h Handled" in str(bar.render()))


async def test_at_80_by_24_the_focused_invoices_panel_shows_the_rows_its_keys_act_on(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(InvoicesPanel)
        await until(pilot, lambda: bool(panel.invoices))
        table = panel.query_one("#invoice-table", RowList)
        assert table.size.height == 0  # the narrow layout shows the totals only

        await pilot.press("3")
        await until(pilot, lambda: table.size.height >= 4)
        # Every invoice of the fixture in view, and the cursor's among them.
        assert table.size.height - 1 >= len(panel.invoices)
        assert panel.selected is not None

        await pilot.press("1")
        await until(pilot, lambda: table.size.height == 0)
        assert isinstance(pilot.app.screen, MainScreen)


async def test_at_80_columns_the_key_bar_keeps_help_in_view(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        bar = screen.query_one(KeyBar)
        await pilot.pause()
        shown = str(bar.render())
        assert len(shown) <= 80
        assert shown.rstrip().endswith("? Help  ^p Palette")
        assert "⏎ Open thread" in shown  # the panel's own keys come first, cut with …

        await pilot.click(KeyBar, offset=(shown.index("? Help") + 1, 0))
        from tui.screens.help import HelpScreen

        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


async def test_at_80_by_24_tab_reaches_the_invoices_panel(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        panel = screen.query_one(InvoicesPanel)
        await until(pilot, lambda: bool(panel.invoices))
        for _ in range(3):
            await pilot.press("tab")
            await pilot.pause()
            if panel.has_focus_within:
                break
        assert panel.has_focus_within
        table = panel.query_one("#invoice-table", RowList)
        await until(pilot, lambda: table.size.height - 1 >= len(panel.invoices))


async def test_going_back_from_a_thread_keeps_the_focused_panels_frame_drawn(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The focused panel's mark stays while the thread is shown in its place:
    # on the way back its frame is neither styled nor drawn again.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        assert incoming.has_class("-focused")
        assert not screen.query_one(InvoicesPanel).has_class("-focused")
        await open_thread(pilot, "Task T3")
        await pilot.pause(0.2)
        assert incoming.has_class("-focused")

        drawn: list[int] = []
        render_line = StylesCache.render_line

        def counting(self: StylesCache, styles: StylesBase, y: int, *rest: Any) -> Strip:
            if styles.node is incoming:
                drawn.append(y)
            return render_line(self, styles, y, *rest)

        with patch.object(StylesCache, "render_line", counting):
            await pilot.press("escape")
            await until(pilot, lambda: on_the_panels(pilot) and incoming.table.has_focus)
            await pilot.pause(0.2)

        assert incoming.has_class("-focused")
        # The frame's lines are those kept from before the thread (40 rows
        # high, the panel is 18 or more: every line of it drawn before).
        assert len(drawn) <= 2, drawn

        await pilot.press("2")
        await until(pilot, lambda: screen.query_one(ClocksPanel).has_class("-focused"))
        assert not incoming.has_class("-focused")


async def test_a_thread_opened_and_closed_draws_no_background_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # Showing the thread in place of the panels, and the panels again, moves
    # the focus and swaps what is laid out: the screen's background, the grid
    # under the panels and the thread view's own lines are as they were, and
    # drawing them again (a line is about the cost of a list's row) was a third
    # of a return's lines.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        incoming = screen.query_one(IncomingPanel)
        await open_thread(pilot, "Task T3")
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot) and incoming.table.has_focus)
        await pilot.pause(0.2)

        drawn: list[str] = []
        render_line = StylesCache.render_line

        def counting(self: StylesCache, styles: StylesBase, y: int, *rest: Any) -> Strip:
            drawn.append(str(styles.node and styles.node.id))
            return render_line(self, styles, y, *rest)

        with patch.object(StylesCache, "render_line", counting):
            for _ in range(2):
                await open_thread(pilot, "Task T3")
                await pilot.pause(0.2)
                await pilot.press("escape")
                await until(pilot, lambda: on_the_panels(pilot) and incoming.table.has_focus)
                await pilot.pause(0.2)

        backgrounds = [name for name in drawn if name in ("main", "panels", "thread")]
        assert backgrounds == [], sorted(set(backgrounds))
        # The thread's own lines were drawn, and the feed's as it took the focus back.
        assert "conversation" in drawn and "feed-table" in drawn


async def test_going_back_from_a_thread_draws_the_lists_cursor_line_only(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The focus coming back to the feed's list changes its cursor line's
    # colours and nothing else: no other line of it, and neither scrollbar,
    # is drawn again (restyling the list repainted all of them).
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one(IncomingPanel).table
        await open_thread(pilot, "Task T3")
        await pilot.pause(0.2)
        assert not table.has_focus

        drawn: list[tuple[str, int]] = []
        render_line = StylesCache.render_line

        def counting(self: StylesCache, styles: StylesBase, y: int, *rest: Any) -> Strip:
            node = styles.node
            if node is table:
                drawn.append(("list", y))
            elif isinstance(node, ScrollBar) and node.parent is table:
                drawn.append(("scrollbar", y))
            return render_line(self, styles, y, *rest)

        with patch.object(StylesCache, "render_line", counting):
            await pilot.press("escape")
            await until(pilot, lambda: on_the_panels(pilot) and table.has_focus)
            await pilot.pause(0.2)

        line = table.cursor_row + table.header_lines - table.scroll_offset.y
        assert ("list", line) in drawn
        assert not any(kind == "scrollbar" for kind, _ in drawn)
        # At most one other line: a live update landing meanwhile (a relative time
        # on the first row) may draw its own; a restyle drew every line.
        assert len(set(drawn)) <= 2, drawn
        cursor = table.render_line(table.cursor_row + table.header_lines - table.scroll_offset.y)
        focused = table.get_visual_style("rows--cursor").rich_style.bgcolor
        assert any(s.style is not None and s.style.bgcolor == focused for s in cursor)


async def test_a_thread_opened_and_closed_restyles_no_panel(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The focus leaving the feed's list for the thread and coming back changes
    # no panel's styles: none of the panels' widgets is styled again.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        grid = screen.query_one("#panels")
        table = screen.query_one(IncomingPanel).table
        restyled: list[str] = []
        apply = Stylesheet.apply

        def counting(self: Stylesheet, node: DOMNode, *rest: Any, **named: Any) -> None:
            if node is grid or grid in node.ancestors:
                restyled.append(f"{type(node).__name__}#{node.id}")
            apply(self, node, *rest, **named)

        with patch.object(Stylesheet, "apply", counting):
            for _ in range(2):
                await open_thread(pilot, "Task T3")
                await pilot.pause(0.2)
                await pilot.press("escape")
                await until(pilot, lambda: on_the_panels(pilot) and table.has_focus)
                await pilot.pause(0.2)

        assert restyled == []


async def test_going_back_from_a_thread_draws_no_scrollbar_again(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # Showing the panels again lays the screen out; the lists keep their size
    # and rows, so what their scrollbars show is unchanged and not drawn again.
    async with make_app(dashboard_settings, clock).run_test(size=(80, 24)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one(IncomingPanel).table
        await until(pilot, lambda: table.show_vertical_scrollbar)
        await open_thread(pilot, "Task T3")
        await pilot.pause(0.2)

        drawn: list[str] = []
        render_line = StylesCache.render_line

        def counting(self: StylesCache, styles: StylesBase, y: int, *rest: Any) -> Strip:
            node = styles.node
            if isinstance(node, ScrollBar) and node.parent in (
                table,
                screen.query_one(ClocksPanel),
            ):
                drawn.append(f"{node.parent.id} {y}")
            return render_line(self, styles, y, *rest)

        with patch.object(StylesCache, "render_line", counting):
            await pilot.press("escape")
            await until(pilot, lambda: on_the_panels(pilot) and table.has_focus)
            await pilot.pause(0.2)

        assert drawn == []


async def test_a_thread_opened_and_closed_restyles_nothing_in_the_thread_view(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The focus going into the conversation and out of it changes none of its
    # styles (no rule matches its :focus): nothing in the thread view is
    # styled again once it was styled for the first thread.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        screen = await main_screen(pilot)
        table = screen.query_one(IncomingPanel).table
        await open_thread(pilot, "Task T3")
        await pilot.press("escape")
        await until(pilot, lambda: on_the_panels(pilot) and table.has_focus)
        view = screen.query_one("#thread")
        restyled: list[str] = []
        apply = Stylesheet.apply

        def counting(self: Stylesheet, node: DOMNode, *rest: Any, **named: Any) -> None:
            if node is view or view in node.ancestors:
                restyled.append(f"{type(node).__name__}#{node.id}")
            apply(self, node, *rest, **named)

        with patch.object(Stylesheet, "apply", counting):
            for _ in range(2):
                await open_thread(pilot, "Task T3")
                await pilot.pause(0.2)
                await pilot.press("escape")
                await until(pilot, lambda: on_the_panels(pilot) and table.has_focus)
                await pilot.pause(0.2)

        assert restyled == []


async def test_the_conversation_works_its_colours_out_once_and_again_for_a_new_theme(
    agency: Engine, dashboard_settings: Settings, clock: MovableClock
) -> None:
    # The conversation's own colours come from every ancestor's styles: worked
    # out for each line drawn, they were a third of drawing it. They are
    # worked out once, and again when the theme changes.
    async with make_app(dashboard_settings, clock).run_test(size=(120, 40)) as pilot:
        thread = await open_thread(pilot, "Task T3")
        conversation = thread.query_one(Conversation)
        await pilot.pause(0.2)
        reads: list[int] = []
        real = DOMNode.rich_style

        def counting(self: DOMNode) -> Style:
            if self is conversation:
                reads.append(1)
            return real.fget(self)  # type: ignore[attr-defined,no-any-return]

        with patch.object(Conversation, "rich_style", property(counting)):
            for _ in range(3):
                conversation.refresh()
                await pilot.pause(0.1)
            assert len(reads) <= 1

            app = pilot.app
            app.theme = LIGHT if app.theme != LIGHT else DARK
            await pilot.pause(0.3)
            conversation.refresh()
            await pilot.pause(0.1)

        assert reads, "worked out again for the new theme"
        background = real.fget(conversation).bgcolor  # type: ignore[attr-defined]
        line = conversation.render_line(0)
        assert all(segment.style and segment.style.bgcolor == background for segment in line)
