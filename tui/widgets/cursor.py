"""Lists drawn by line with one cursor row: the feed's rows and the clocks.

A move repaints only the two lines whose cursor mark changed, unless it
scrolls; the keys move by one, by a page, or to either end. The focus coming
or going changes the cursor line's colours only: that line alone is drawn
again.
"""

from __future__ import annotations

import contextlib
from math import ceil
from typing import Self

from textual import events
from textual.dom import NoScreen
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar


class CursorView(ScrollView):
    """A ScrollView of `line_count()` lines, one of them under the cursor."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._cursor = 0
        # The virtual size and the room the scrollbars were last set for.
        self._bars_for: tuple[Size, Size] | None = None

    def line_count(self) -> int:
        raise NotImplementedError

    # -- the scrollbars: set and drawn again when what they show changes -------
    # A layout gives each widget its size and its container's; ScrollView
    # compares that container's size with its own (never equal) and so set
    # and repainted its scrollbars on every layout of the screen, such as each
    # return from a thread, though neither the list's size nor its rows changed.

    def _scroll_update(self, virtual_size: Size) -> None:
        super()._scroll_update(virtual_size)
        self._bars_for = (virtual_size, self.container_size)

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        room = size - self.styles.gutter.totals
        if size == self._size and self._bars_for == (self.virtual_size, room):
            return False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # A scroll by a row among 2,000 clocks moves the scrollbar's thumb by a
        # fraction of the eighth of a cell it is drawn in: Textual repainted the
        # whole scrollbar on every such move for the same cells. The position is
        # kept without the repaint when the thumb's cells stay the same.
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            position = bar.validate_position(new_value)
            if _thumb(bar, position) == _thumb(bar, bar.position):
                bar.set_reactive(ScrollBar.position, position)
        super().watch_scroll_y(old_value, new_value)

    # -- the focus: the cursor line's colours, nothing else --------------------
    # Textual restyles a widget whose focus changed and repaints it whole. For
    # a list neither is needed: no rule of the stylesheet matches its :focus
    # (the cursor's colours are a component class of their own for each case,
    # chosen as a line is drawn), and restyling it set every rule again, which
    # repainted both its scrollbars and all its lines on each return from a
    # thread (docs/benchmarks.md, dashboard round 20).

    def watch_has_focus(self, _has_focus: bool) -> None:
        if self.line_count():
            self.refresh_lines(self._cursor)

    def focus(self, scroll_visible: bool = True) -> Self:
        """As Widget.focus, without its repaint of the whole widget."""

        def set_focus(widget: CursorView) -> None:
            with contextlib.suppress(NoScreen):
                widget.screen.set_focus(widget, scroll_visible=scroll_visible)

        self.app.call_later(set_focus, self)
        return self

    def _on_focus(self, event: events.Focus) -> None:
        # As Widget._on_focus, without its repaint of the whole widget.
        event.prevent_default()
        self.has_focus = True
        if self.parent is not None:
            self.parent.post_message(events.DescendantFocus(self))

    def _on_blur(self, event: events.Blur) -> None:
        event.prevent_default()
        self.has_focus = False
        if self.parent is not None:
            self.parent.post_message(events.DescendantBlur(self))

    def cursor_moved(self, index: int) -> None:
        """Called after a move that changed the cursor's line."""

    def move_cursor(self, row: int, animate: bool = False) -> None:
        """Put the cursor on `row` (clamped), scrolling it into view."""
        count = self.line_count()
        if not count:
            return
        before, scrolled = self._cursor, self.scroll_offset.y
        self._cursor = max(0, min(row, count - 1))
        self._scroll_to_cursor()
        if self.scroll_offset.y == scrolled:
            # Only the two lines whose cursor mark changed: a whole panel
            # repainted on every key made holding an arrow key stutter.
            self.refresh_lines(before)
            self.refresh_lines(self._cursor)
        else:
            self.refresh()
        if self._cursor != before:
            self.cursor_moved(self._cursor)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted or not self.line_count():
            return
        width = max(1, self.scrollable_content_region.width)
        self.scroll_to_region(
            Region(0, self._cursor, width, 1),
            animate=False,
            force=True,
            immediate=True,
            x_axis=False,
        )

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_cursor_first(self) -> None:
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.move_cursor(self.line_count() - 1)

    def action_cursor_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page())

    def action_cursor_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page())


def thumb_cells(
    size: int, virtual_size: float, window_size: float, position: float
) -> tuple[int, int] | None:
    """Where a vertical scrollbar of `size` cells draws its thumb, in eighths of a cell
    (None: no thumb), as Textual's ScrollBarRender.render_bar works it out from
    ScrollBar's figures (Textual 8.2.8; tests/tui/widgets/test_cursor.py checks that
    the same cells here mean the same bar drawn)."""
    virtual, window = ceil(virtual_size), ceil(window_size if window_size < virtual_size else 0)
    if not (window and size and virtual and size != virtual):
        return None
    eighths = len(ScrollBar.renderer.VERTICAL_BARS)
    thumb_size = max(1, window / (virtual / size))
    offset = (size - thumb_size) * (position / (virtual - window))
    start = int(offset * eighths)
    return start, start + ceil(thumb_size * eighths)


def _thumb(bar: ScrollBar, position: float) -> tuple[int, int] | None:
    return thumb_cells(bar.size.height, bar.window_virtual_size, bar.window_size, position)
