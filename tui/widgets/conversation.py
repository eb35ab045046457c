"""A thread's conversation, drawn a screen's worth of lines at a time.

The whole conversation is wrapped once for the width it is shown at; each
frame then draws only the lines in view. As a single Static it was rendered
whole on every layout, several times per thread opened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class Conversation(ScrollView, can_focus=True):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._text = Text()
        self._lines: list[Strip] = []
        self._width = -1  # the width _lines were wrapped for
        # Showing the newest event: kept there when the view's size changes
        # (the thread's header arriving above it shortens it, for one).
        self._at_end = True
        # The widget's own colours and the theme they were worked out for,
        # worked out again after a restyle (None: not yet).
        self._style: tuple[Style, str] | None = None

    @property
    def text(self) -> Text:
        """What the conversation shows, whole."""
        return self._text

    @property
    def at_end(self) -> bool:
        """Showing the newest event (kept there as the text or the size changes)."""
        return self._at_end

    @property
    def wrap_width(self) -> int:
        """The width lines are wrapped for (0 before the first layout)."""
        return max(0, self.scrollable_content_region.width)

    def show(self, text: Text, *, wrapped: Wrapped | None = None, at_end: bool = True) -> None:
        """Show `text`, scrolled to its end (the newest event) unless told otherwise.

        `wrapped` is the text already wrapped (in a worker) for some width:
        used as it is when that is this view's width.
        """
        self._text = text
        self._width = -1
        # Not laid out yet (just shown in place of the panels): the lines
        # wrapped in the worker are kept, and wrapped anew only if the width
        # the layout gives differs.
        if wrapped is not None and wrapped.width == (self.wrap_width or wrapped.width):
            self._set_lines(wrapped)
        else:
            self._wrap()
        self._at_end = at_end
        if at_end:
            self._scroll_to_end()
        self.refresh()

    def watch_has_focus(self, _has_focus: bool) -> None:
        # Textual restyles a widget whose focus changed; no rule of the
        # stylesheet matches the conversation's :focus, so that restyle, once
        # on every thread opened and once on every return, changed nothing.
        pass

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None  # a new theme, for one

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()
        if self._at_end:
            self._scroll_to_end()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._at_end = new >= self.max_scroll_y

    def _scroll_to_end(self) -> None:
        # Forced: the scrollbar that allows scrolling appears only at the next layout.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def _wrap(self) -> None:
        width = self.wrap_width
        if width > 0 and width != self._width:
            self._set_lines(wrap(self._text, width))

    def _set_lines(self, wrapped: Wrapped) -> None:
        self._lines = wrapped.lines
        self._width = wrapped.width
        self.virtual_size = Size(wrapped.width, len(wrapped.lines))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        style = self._base_style()
        if index >= len(self._lines) or width != self._width:
            return Strip.blank(width, style)
        # The widget's own colours under the text's, applied at draw time so a
        # theme switch needs no re-wrap.
        return self._lines[index].apply_style(style)

    def _base_style(self) -> Style:
        # Worked out from every ancestor's styles, this was a third of drawing a
        # line; it changes only with a restyle or a theme.
        theme = self.app.theme
        if self._style is None or self._style[1] != theme:
            self._style = (self.rich_style, theme)
        return self._style[0]


@dataclass(frozen=True)
class Wrapped:
    width: int
    lines: list[Strip]


_consoles = threading.local()


def wrap(text: Text, width: int) -> Wrapped:
    """`text` as lines of `width` cells; safe in any thread (each has its own console)."""
    console: Console | None = getattr(_consoles, "console", None)
    if console is None:
        # Only measures and splits: colours stay styles until the app draws them.
        console = _consoles.console = Console(width=max(1, width), color_system=None)
    lines = console.render_lines(text, console.options.update_width(width), pad=False)
    return Wrapped(width, [Strip(line).crop_extend(0, width, None) for line in lines])
