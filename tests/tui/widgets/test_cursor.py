"""A list's scrollbar drawn again only when its thumb's cells change (tui/widgets/cursor.py)."""

from __future__ import annotations

import random
from math import ceil
from typing import Any
from unittest.mock import patch

from rich.text import Text
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.css.styles import StylesBase
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip

from tui.widgets.cursor import thumb_cells
from tui.widgets.rows import RowList


def drawn_bar(size: int, virtual_size: int, window_size: int, position: float) -> list[str]:
    """The bar as Textual draws it for a ScrollBar's figures (ScrollBar._render_bar)."""
    window = ceil(window_size if window_size < virtual_size else 0)
    segments = ScrollBarRender.render_bar(
        size=size, virtual_size=ceil(virtual_size), window_size=window, position=position
    )
    return [repr(segment) for segment in segments.segments]


def test_the_same_thumb_cells_are_the_same_bar_drawn() -> None:
    # Textual 8.2.8's own drawing: should its formula change, this says so.
    rng = random.Random(3)
    for _ in range(3000):
        size = rng.randint(1, 60)
        virtual = rng.randint(1, 5000)
        window = rng.randint(1, 80)
        top = max(0, virtual - window)
        first, second = rng.randint(0, top), rng.randint(0, top)
        if rng.random() < 0.5:  # neighbours, as a scroll by one row
            second = min(top, first + 1)
        positions = [int(p * 8) / 8 for p in (first, second)]  # as ScrollBar keeps them
        cells = [thumb_cells(size, virtual, window, p) for p in positions]
        bars = [drawn_bar(size, virtual, window, p) for p in positions]
        if cells[0] == cells[1]:
            assert bars[0] == bars[1], (size, virtual, window, positions)


class Long(App[None]):
    def compose(self) -> ComposeResult:
        yield RowList([8, None])

    def on_mount(self) -> None:
        table = self.query_one(RowList)
        table.set_rows([(Text(f"C-{i}"), Text("due")) for i in range(2000)])
        table.focus()


async def test_a_scroll_by_one_row_draws_the_scrollbar_only_when_its_thumb_moves() -> None:
    async with Long().run_test(size=(40, 12)) as pilot:
        table = pilot.app.query_one(RowList)
        for _ in range(12):  # the cursor to the bottom of the view: each down then scrolls
            await pilot.press("down")
        await pilot.pause()
        bar = table.vertical_scrollbar
        drawn: list[int] = []
        render_line = StylesCache.render_line

        def counting(self: StylesCache, styles: StylesBase, y: int, *rest: Any) -> Strip:
            if isinstance(styles.node, ScrollBar):
                drawn.append(y)
            return render_line(self, styles, y, *rest)

        moves, thumbs = 40, set[tuple[str, ...]]()
        with patch.object(StylesCache, "render_line", counting):
            for _ in range(moves):
                before = table.scroll_offset.y
                await pilot.press("down")
                await pilot.pause()
                assert table.scroll_offset.y == before + 1
                thumbs.add(tuple(drawn_bar(bar.size.height, 2000, bar.window_size, bar.position)))
        # 40 rows among 2,000 move the thumb by about a cell and a half: a few
        # redraws of its lines, not one per row.
        assert 1 < len(thumbs) < 10
        assert 0 < len(drawn) <= len(thumbs) * bar.size.height, (len(drawn), len(thumbs))
        assert bar.position == table.scroll_offset.y  # kept for dragging it
