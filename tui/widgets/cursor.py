"""Lists drawn by line with one cursor row: the feed's rows and the clocks.

A move repaints only the two lines whose cursor mark changed, unless it
scrolls; the keys move by one, by a page, or to either end.
"""

from __future__ import annotations

from textual.geometry import Region
from textual.scroll_view import ScrollView


class CursorView(ScrollView):
    """A ScrollView of `line_count()` lines, one of them under the cursor."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._cursor = 0

    def line_count(self) -> int:
        raise NotImplementedError

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
