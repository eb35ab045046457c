"""The feed's rows: a list drawn with the Line API, a screen's rows at a time.

Textual's DataTable re-rendered every visible cell through Rich whenever the
list scrolled by a row; here each row is rendered once for its width and kept,
so a move draws cached lines, and a move that does not scroll repaints only
the two rows whose cursor mark changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from tui.widgets.cursor import CursorView

# Between columns, as a table's cell padding would leave.
GAP = "  "
# The most rows drawn ahead of their showing that a list keeps.
MADE_ROWS = 1000


class RowList(CursorView, can_focus=True):
    """Rows of cells in fixed-width columns (the last takes the rest), one cursor.

    With `labels`, the columns' names stay on its first line, over the rows as
    they scroll. A cell whose text is justified right keeps to the right of
    its column.
    """

    # The cursor line's colours with the focus and without it (CursorView).
    COMPONENT_CLASSES: ClassVar[set[str]] = {"rows--cursor", "rows--cursor-blurred", "rows--header"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Previous row", show=False, id="rows.cursor_up"),
        Binding("down,j", "cursor_down", "Next row", show=False, id="rows.cursor_down"),
        Binding("home,g", "cursor_first", "First row", show=False, id="rows.cursor_first"),
        Binding("end,G", "cursor_last", "Last row", show=False, id="rows.cursor_last"),
        Binding("pageup", "cursor_page_up", "Page up", show=False, id="rows.cursor_page_up"),
        Binding(
            "pagedown", "cursor_page_down", "Page down", show=False, id="rows.cursor_page_down"
        ),
    ]

    class Highlighted(Message):
        """The cursor moved to row `index`."""

        def __init__(self, rows: RowList, index: int) -> None:
            super().__init__()
            self.rows = rows
            self.index = index

        @property
        def control(self) -> RowList:
            """The list, for `@on(RowList.Highlighted, "#id")`."""
            return self.rows

    class Selected(Message):
        """A click on the cursor's row (Enter is the panel's key: its own binding)."""

        def __init__(self, rows: RowList, index: int) -> None:
            super().__init__()
            self.rows = rows
            self.index = index

        @property
        def control(self) -> RowList:
            """The list, for `@on(RowList.Selected, "#id")`."""
            return self.rows

    def __init__(
        self,
        widths: Sequence[int | None],
        labels: Sequence[str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.widths = list(widths)
        self.labels = list(labels) if labels is not None else None
        # The lines above the rows: the labels' line, when there are labels.
        self.header_lines = 0 if labels is None else 1
        self._rows: list[tuple[Text, ...]] = []
        self._lines: dict[int, Strip] = {}  # row index -> its line, for _width
        self._width = -1
        # Rows drawn before they are shown (prerender), by the row's identity:
        # the row itself (kept, so its identity stays its own), the width and
        # the columns' widths it was drawn for, its line.
        self._made: dict[int, tuple[tuple[Text, ...], int, list[int | None], Strip]] = {}
        self._renderer = Console(color_system=None)
        self._style: Style | None = None  # while render_lines draws

    # -- what it holds -------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor_row(self) -> int:
        return self._cursor if self._rows else -1

    def row(self, index: int) -> tuple[Text, ...]:
        return self._rows[index]

    def set_rows(self, rows: Sequence[tuple[Text, ...]], cursor: int = 0, shift: int = 0) -> None:
        """Show `rows`, the cursor on row `cursor`.

        `shift`: rows inserted above the view; it scrolls down by as many, so
        the rows in view stay where they were on the screen.
        """
        self._rows = list(rows)
        self._lines = {}
        self._cursor = max(0, min(cursor, len(self._rows) - 1))
        size = Size(0, len(self._rows) + self.header_lines)
        if self.is_mounted and self.size and size == self.virtual_size:
            pass  # the same scroll range and bars: nothing to set or redraw for them
        elif self.is_mounted and self.size:
            # As a layout would set it, without one: a new row count changes
            # the scroll range and the bars only (the list's size is its
            # container's), and a layout of the whole screen took longer than
            # the rows' own drawing.
            self.set_reactive(RowList.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        if shift and self.is_mounted:
            self.scroll_to(
                y=self.scroll_offset.y + shift, animate=False, immediate=True, force=True
            )
        self._scroll_to_cursor()
        self.refresh()

    # -- moving --------------------------------------------------------------

    def line_count(self) -> int:
        return len(self._rows)

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        super().refresh_lines(y_start + self.header_lines, line_count)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted or not self.line_count():
            return
        width = max(1, self.scrollable_content_region.width)
        # The row and the labels' line: in view when the row shows under the labels.
        self.scroll_to_region(
            Region(0, self._cursor, width, 1 + self.header_lines),
            animate=False,
            force=True,
            immediate=True,
            x_axis=False,
        )

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_lines)

    def cursor_moved(self, index: int) -> None:
        self.post_message(self.Highlighted(self, index))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < self.header_lines:
            return
        index = self.scroll_offset.y + offset.y - self.header_lines
        if index >= len(self._rows):
            return
        if index == self._cursor:
            self.post_message(self.Selected(self, index))
        else:
            self.move_cursor(index)

    # -- drawing -------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style, the same for every line: worked out once for the
        # lines drawn together (it walks the widget's ancestors each time).
        self._style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._style = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._style or self.rich_style
        if y < self.header_lines and self.labels is not None:
            style = self.get_visual_style("rows--header").rich_style
            labels = header(self.labels, self.widths).render(self._renderer)
            return Strip(list(labels)).adjust_cell_length(width).apply_style(base + style)
        index = self.scroll_offset.y + y - self.header_lines
        if index >= len(self._rows):
            return Strip.blank(width, base)
        if width != self._width:
            self._lines, self._width = {}, width
        line = self._lines.get(index)
        if line is None:
            cells = self._rows[index]
            made = self._made.pop(id(cells), None)
            if made is not None and made[0] is cells and made[1:3] == (width, self.widths):
                line = made[3]
            else:
                line = self._render_row(cells, width)
            self._lines[index] = line
        if index == self._cursor:
            name = "rows--cursor" if self.has_focus else "rows--cursor-blurred"
            cursor = self.get_visual_style(name).rich_style
            return line.apply_style(base + cursor)
        return line.apply_style(base)

    def prerender(self, rows: Sequence[tuple[Text, ...]]) -> None:
        """Draw `rows` now for the list's width and columns, for a set_rows to
        come to show without drawing them (rows it is given later, the same
        tuples). Kept till shown, or till MADE_ROWS others are."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        if len(self._made) > MADE_ROWS:
            self._made = {}
        widths = list(self.widths)
        for cells in rows:
            if id(cells) not in self._made:
                line = self._render_row(cells, width)
                self._made[id(cells)] = (cells, width, widths, line)

    def _render_row(self, cells: tuple[Text, ...], width: int) -> Strip:
        text = Text(no_wrap=True, end="")
        room = width
        for cell, size in zip(cells, self.widths, strict=True):
            if room <= 0:
                break
            size = room if size is None else min(size, room)
            part = cell.copy()
            if cell.justify == "right" and cell.cell_len < size:
                part.pad_left(size - cell.cell_len)
            part.truncate(size, overflow="ellipsis", pad=True)
            text.append_text(part)
            room -= size
            if room > 0:
                text.append(GAP[:room])
                room -= len(GAP[:room])
        # Every cell is cut and padded to its column already: the text's own
        # segments are the line, without Rich's wrapping and cropping pass
        # (render_lines), which took half of the time of a row.
        return Strip(list(text.render(self._renderer))).adjust_cell_length(width)


def header(labels: Sequence[str], widths: Sequence[int | None]) -> Text:
    """The column labels, placed over the columns of a RowList with these widths."""
    text = Text(no_wrap=True, end="")
    for label, size in zip(labels, widths, strict=True):
        text.append(label if size is None else label.ljust(size)[:size] + GAP)
    return text
