"""The Clocks panel: every running response clock, most urgent first, ticking.

The panel is open all day with a couple of thousand clocks, and ticks every
second. A tick therefore costs the same whatever the number of clocks: it
reads no database, sorts nothing (the order by due time does not change as
time passes), finds crossings by moving a pointer along a list of future
crossing instants prepared when the clocks were loaded, and repaints only
the lines on screen whose countdown reads differently (a clock due days ago
shows "-10d04h" all hour long): most ticks repaint a few lines, or none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from core.base.i18n import N_, duration, gettext
from core.config.quick import TargetSettings
from core.sla.views import ClockView
from tui.display.text import first_line, fit
from tui.messages import ThreadInView
from tui.widgets.cursor import CursorView

STATES = (N_("safe"), N_("warning"), N_("breached"), N_("escalated"))
# The kinds of reply a clock waits for, as its "reply" column names them.
KINDS = (N_("first"), N_("next"))
_RANK = {state: rank for rank, state in enumerate(STATES)}
ESCALATED_MARK = "▲"
UNKNOWN_TIME = "--"
EMPTY = N_("No running clocks")
LOADING = N_("Reading clocks…")

# The longest times left drawn to the second or to the minute, "-59m59s" and "-10h02m":
# the column is as wide as they are in the active language.
WIDEST_TIMES = (-3599.0, -35999.0)
COLUMN_GAP = "  "
CLIENT_WIDTH = 18
ASSIGNEE_WIDTH = 14
KIND_WIDTH = 5  # "first", "next"; wider when the language's words are
# Below this many cells for client, thread and assignee, the assignee gives
# its room to the others.
ASSIGNEE_FROM = 40
# Below this many cells after the countdown, the columns stand one space apart.
NARROW_BELOW = 40
# The line above the clocks: it names the columns.
HEADER_LINES = 1
HEADER = (N_("left"), N_("reply"), N_("target"), N_("client"), N_("thread"), N_("assignee"))
DEFAULT_POLICY = "default"

# When a clock changes state: (instant, strictly after it, clock id, state rank).
# "Strictly" because a clock breaches once now > due_at, while it warns and
# escalates once now >= warn_at, escalate_at. False sorts first, so at one
# instant the inclusive crossings are taken before a strict one holds the line.
Crossing = tuple[datetime, bool, int, int]


@dataclass(frozen=True, slots=True)
class _Cells:
    """A clock's words, cleaned once rather than on every repaint."""

    kind: str
    target: str
    client: str
    thread: str
    assignee: str


def _cells(clock: ClockView, target: float) -> _Cells:
    return _Cells(
        kind=gettext(first_line(clock.kind)),
        target=_minutes(target),
        client=first_line(clock.client or "") or "—",
        thread=first_line(clock.thread or "") or "—",
        assignee=first_line(clock.assignee or "") or "—",
    )


def _minutes(minutes: float) -> str:
    return gettext("{minutes} min").format(minutes=f"{minutes:g}")


def _urgency(clock: ClockView) -> tuple[datetime, int]:
    return clock.due_at, clock.id


def _rank(clock: ClockView, now: datetime) -> int:
    return _RANK.get(clock.state(now), len(STATES))


def _crossings(clock: ClockView, seen: int) -> list[Crossing]:
    """The state changes still ahead of a clock last seen at rank `seen`."""
    if clock.outcome != "running":
        return []
    points = (
        (clock.warn_at, False, _RANK["warning"]),
        (clock.due_at, True, _RANK["breached"]),
        (clock.escalate_at, False, _RANK["escalated"]),
    )
    return [(at, strict, clock.id, rank) for at, strict, rank in points if rank > seen]


def _reached(crossing: Crossing, now: datetime) -> bool:
    at, strict = crossing[0], crossing[1]
    return now > at if strict else now >= at


def _gap(width: int) -> str:
    """Two spaces between columns, one when they are short of room."""
    return COLUMN_GAP if width >= NARROW_BELOW else " "


def _columns(width: int, target: int) -> list[int]:
    """Widths of kind, target, client, thread and assignee in `width` cells (after the countdown).

    `target`: the width of the target column, 0 when the clocks share one
    target (the title says it).
    """
    gap = len(_gap(width))
    kind = _kind_width()
    rest = max(0, width - kind - gap - (target + gap if target else 0))
    assignee = min(ASSIGNEE_WIDTH, rest // 6) if rest >= ASSIGNEE_FROM else 0
    client = min(CLIENT_WIDTH, rest // 3)
    thread = max(0, rest - client - gap - (assignee + gap if assignee else 0))
    return [kind, target, client, thread, assignee]


def _kind_width() -> int:
    """The reply column as wide as its header and its words in the active language."""
    return max(KIND_WIDTH, *(cell_len(gettext(word)) for word in (HEADER[1], *KINDS)))


def _row_text(values: Sequence[str], width: int, target: int) -> str:
    """kind, target, client, thread and assignee, fitted to their columns in `width` cells."""
    parts = [
        set_cell_size(fit(value, size), size)
        for value, size in zip(values, _columns(width, target), strict=True)
        if size > 0
    ]
    return set_cell_size(_gap(width).join(parts), width)


class ClocksPanel(CursorView):
    """Running clocks as countdowns to their due time, coloured by state."""

    can_focus = True

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "clocks--safe",
        "clocks--warning",
        "clocks--breached",
        "clocks--escalated",
        "clocks--cursor",
        "clocks--cursor-blurred",
        "clocks--empty",
        "clocks--header",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Previous clock", show=False, id="clocks.cursor_up"),
        Binding("down,j", "cursor_down", "Next clock", show=False, id="clocks.cursor_down"),
        Binding(
            "home,g", "cursor_first", "Most urgent clock", show=False, id="clocks.cursor_first"
        ),
        Binding("end,G", "cursor_last", "Least urgent clock", show=False, id="clocks.cursor_last"),
        Binding("pageup", "cursor_page_up", "Page up", show=False, id="clocks.cursor_page_up"),
        Binding(
            "pagedown", "cursor_page_down", "Page down", show=False, id="clocks.cursor_page_down"
        ),
        Binding("enter", "select", "Open thread", id="clocks.select"),
    ]

    class Crossed(Message):
        """A clock entered `state` (warning, breached or escalated) since the previous tick.

        Posted once per clock and state. When one tick carries a clock past
        several points (the dashboard was suspended), only the latest state is
        posted: the earlier ones are no longer news.
        """

        def __init__(self, clock: ClockView, state: str) -> None:
            super().__init__()
            self.clock = clock
            self.state = state

    class Selected(Message):
        """The assistant chose a clock (Enter or a click): open its thread."""

        def __init__(self, thread_id: int) -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(
        self,
        target_minutes: float = 15,
        *,
        policies: Mapping[str, TargetSettings] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.target_minutes = target_minutes
        # Each clock's target comes from its policy; without policies, all
        # clocks have `target_minutes`.
        self.policies = policies or {}
        # The target column's width: 0 while every clock has the same target.
        self._target_width = 0
        self._countdown_width = max(len(duration(seconds)) for seconds in WIDEST_TIMES)
        self._clocks: list[ClockView] = []
        self._by_id: dict[int, ClockView] = {}
        self._loaded = False
        self._now: datetime | None = None
        # The state rank each clock was last seen in: what makes a crossing news.
        self._seen: dict[int, int] = {}
        self._crossings: list[Crossing] = []
        self._next_crossing = 0
        self._cells: dict[int, _Cells] = {}
        # Per clock: the room the words were fitted to, and the fitted text.
        self._rests: dict[int, tuple[int, str]] = {}
        self._styles: dict[tuple[str, bool, bool], tuple[Style, Style]] = {}
        # What each clock's line last showed, by its index: the clock, its countdown
        # and its state. A tick repaints only the lines on screen that would differ.
        self._drawn: dict[int, tuple[int, str, str]] = {}
        # The clocks' distinct targets in minutes, lowest first (the title and its column).
        self._targets: list[float] = []
        self._update_titles()

    # -- what it shows -------------------------------------------------------

    @property
    def clocks(self) -> Sequence[ClockView]:
        """The clocks, most urgent first."""
        return self._clocks

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def selected(self) -> ClockView | None:
        """The clock under the cursor."""
        return self._clocks[self._cursor] if self._clocks else None

    def target_of(self, clock: ClockView) -> float:
        """A clock's response target in minutes: its policy's, the default's if that is gone."""
        policy = self.policies.get(clock.policy) or self.policies.get(DEFAULT_POLICY)
        return policy.target_minutes(clock.kind) if policy else self.target_minutes

    def line_state(self, index: int) -> str:
        """safe, warning, breached or escalated: the colour of line `index` at the last tick."""
        clock = self._clocks[index]
        state = clock.state(self._now) if self._now is not None else "safe"
        return state if state in _RANK else "safe"

    # -- feeding it ----------------------------------------------------------

    def set_clocks(self, clocks: list[ClockView]) -> None:
        """Replace the clocks; the cursor stays on the same clock while it runs."""
        kept = self.selected
        self._clocks = sorted(clocks, key=_urgency)
        self._by_id = {clock.id: clock for clock in self._clocks}
        self._seen = {key: rank for key, rank in self._seen.items() if key in self._by_id}
        self._cells = {}
        self._rests = {}
        self._drawn = {}
        self._loaded = True
        # The words of a clock are made when its line is first drawn (a screenful of
        # the 2,000): its target's width needs only the distinct targets.
        self._targets = sorted({self.target_of(c) for c in self._clocks})
        targets = {_minutes(minutes) for minutes in self._targets}
        self._target_width = max(map(cell_len, targets)) if len(targets) > 1 else 0
        if self._now is not None:
            self._index_crossings(self._now)
        self._cursor = self._cursor_after(kept)
        self.virtual_size = Size(0, len(self._clocks) + HEADER_LINES)
        self._update_titles()
        if self.has_focus:
            self._scroll_to_cursor()
        self.refresh()

    def tick(self, now: datetime) -> None:
        """Count down to `now` from the stored due times, and tell of new crossings."""
        first = self._now is None
        if first:
            # Clocks loaded before the first tick: what they show now is no news.
            self._index_crossings(now)
        self._now = now
        crossed = self._advance(now)
        if crossed:
            self.call_next(self._post_crossed, crossed)
        if first or crossed:
            self._update_titles()
            self.refresh()
        else:
            self._refresh_countdowns(now)

    def _refresh_countdowns(self, now: datetime) -> None:
        """Repaint the clock lines on screen whose countdown or state reads differently now.

        A whole panel repainted every second made a key pressed during the
        tick wait for every line of it (docs/benchmarks.md, dashboard round 13).
        """
        if not self._clocks or not self.is_mounted:
            self.refresh()
            return
        top = self.scroll_offset.y
        shown = max(0, self.scrollable_content_region.height - HEADER_LINES)
        drawn = self._drawn
        for index in range(top, min(len(self._clocks), top + shown)):
            clock = self._clocks[index]
            face = (clock.id, duration(clock.seconds_left(now)), self.line_state(index))
            if drawn.get(index) != face:
                self.refresh_lines(index)

    def _post_crossed(self, crossed: list[tuple[ClockView, str]]) -> None:
        # Built here, in the panel's own message loop, so that the panel is their
        # sender: built in the caller's (the screen's timer), Textual would stop
        # them at that caller and the app would never hear of them.
        for clock, state in crossed:
            self.post_message(self.Crossed(clock, state))

    def _index_crossings(self, now: datetime) -> None:
        crossings: list[Crossing] = []
        for clock in self._clocks:
            seen = self._seen.get(clock.id)
            if seen is None:
                seen = self._seen[clock.id] = _rank(clock, now)
            crossings.extend(_crossings(clock, seen))
        crossings.sort()
        self._crossings = crossings
        self._next_crossing = 0

    def _advance(self, now: datetime) -> list[tuple[ClockView, str]]:
        """Clocks whose state rose since the previous tick, each with its newest state."""
        crossings, index = self._crossings, self._next_crossing
        risen: dict[int, int] = {}
        while index < len(crossings) and _reached(crossings[index], now):
            clock_id = crossings[index][2]
            rank = _rank(self._by_id[clock_id], now)
            if rank > self._seen[clock_id]:
                self._seen[clock_id] = risen[clock_id] = rank
            index += 1
        self._next_crossing = index
        return [(self._by_id[key], STATES[rank]) for key, rank in risen.items()]

    def _cursor_after(self, kept: ClockView | None) -> int:
        if kept is not None:
            for index, clock in enumerate(self._clocks):
                if clock.id == kept.id:
                    return index
        return max(0, min(self._cursor, len(self._clocks) - 1))

    def _update_titles(self) -> None:
        targets = self._targets
        if len(targets) > 1:
            target = gettext("targets {low}–{high}").format(
                low=f"{targets[0]:g}", high=_minutes(targets[-1])
            )
        else:
            target = gettext("{minutes} target").format(
                minutes=_minutes(targets[0] if targets else self.target_minutes)
            )
        count = (
            gettext("{count} running · ").format(count=len(self._clocks)) if self._loaded else ""
        )
        self.border_title = gettext("Clocks · {count}{target}").format(count=count, target=target)
        ranks = Counter(self._seen.values())
        self.border_subtitle = " · ".join(
            f"{ranks[_RANK[state]]} {gettext(state)}"
            for state in reversed(STATES[1:])
            if ranks[_RANK[state]]
        )

    # -- drawing -------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if not self._clocks:
            return self._message_line(y, width)
        if y < HEADER_LINES:
            return self._header_line(width)
        index = self.scroll_offset.y + y - HEADER_LINES
        if index >= len(self._clocks):
            return Strip.blank(width, self.rich_style)
        return self._clock_line(index, width)

    def _message_line(self, y: int, width: int) -> Strip:
        if y != 0:
            return Strip.blank(width, self.rich_style)
        text = f" {gettext(EMPTY if self._loaded else LOADING)}"
        style = self.get_visual_style("clocks--empty").rich_style
        return Strip([Segment(text, style)]).crop_extend(0, width, self.rich_style)

    def _header_line(self, width: int) -> Strip:
        """The columns' names, over the countdown and the words as _clock_line lays them out."""
        left, *words = (gettext(name) for name in HEADER)
        head = f"  {left:>{self._countdown_width}}"
        room = max(0, width - cell_len(head) - len(COLUMN_GAP))
        text = head + COLUMN_GAP + _row_text(words, room, self._target_width)
        style = self.get_visual_style("clocks--header").rich_style
        return Strip([Segment(text, style)]).crop_extend(0, width, style)

    def _clock_line(self, index: int, width: int) -> Strip:
        # Every visible line is drawn again on each tick: only the countdown
        # is new, so the words and the styles come from caches.
        clock = self._clocks[index]
        state = self.line_state(index)
        count_style, line_style = self._line_styles(state, index == self._cursor)
        mark = ESCALATED_MARK if state == "escalated" else " "
        now = self._now
        left = UNKNOWN_TIME if now is None else duration(clock.seconds_left(now))
        self._drawn[index] = (clock.id, left, state)
        head = f"{mark} {left:>{self._countdown_width}}"
        head_cells = cell_len(head)
        room = max(0, width - head_cells - len(COLUMN_GAP))
        rest = self._rest_of(clock, room)
        segments = [Segment(head, count_style), Segment(rest, line_style)]
        if room and head_cells + len(COLUMN_GAP) + room == width:
            return Strip(segments, width)  # exactly the width: nothing to crop or pad
        return Strip(segments).crop_extend(0, width, line_style)

    def _rest_of(self, clock: ClockView, room: int) -> str:
        """The gap and the words after the countdown, fitted to `room` cells."""
        known = self._rests.get(clock.id)
        if known is not None and known[0] == room:
            return known[1]
        cells = self._cells_of(clock)
        values = (cells.kind, cells.target, cells.client, cells.thread, cells.assignee)
        rest = COLUMN_GAP + _row_text(values, room, self._target_width)
        self._rests[clock.id] = (room, rest)
        return rest

    def _line_styles(self, state: str, cursor: bool) -> tuple[Style, Style]:
        """The countdown's style and the rest of the line's.

        On the cursor line the countdown keeps its state colour over the
        cursor's background (state class last), while the words take the
        cursor's colours (cursor class last) so they stay readable.
        """
        key = (state, cursor and self.has_focus, cursor)
        found = self._styles.get(key)
        if found is not None:
            return found
        name = f"clocks--{state}"
        if not cursor:
            style = self.get_visual_style(name).rich_style
            found = (style, style)
        else:
            mark = "clocks--cursor" if self.has_focus else "clocks--cursor-blurred"
            found = (
                self.get_visual_style(mark, name).rich_style,
                self.get_visual_style(name, mark).rich_style,
            )
        self._styles[key] = found
        return found

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a new theme

    def _cells_of(self, clock: ClockView) -> _Cells:
        cells = self._cells.get(clock.id)
        if cells is None:
            cells = self._cells[clock.id] = _cells(clock, self.target_of(clock))
        return cells

    # -- moving --------------------------------------------------------------
    # The cursor's index counts clocks; the header line sits above them.

    def line_count(self) -> int:
        return len(self._clocks)

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        super().refresh_lines(y_start + HEADER_LINES, line_count)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted or not self.line_count():
            return
        width = max(1, self.scrollable_content_region.width)
        # The clock's line and the header's: in view when the clock shows under the header.
        self.scroll_to_region(
            Region(0, self._cursor, width, 1 + HEADER_LINES),
            animate=False,
            force=True,
            immediate=True,
            x_axis=False,
        )

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_LINES)

    def cursor_moved(self, index: int) -> None:
        self.read_ahead()

    def read_ahead(self) -> None:
        """The thread of the clock under the cursor read ahead of Enter, then those of
        the clocks below and above it, where the cursor goes next."""
        index, clocks = self.cursor, self._clocks
        if 0 <= index < len(clocks):
            ahead = [clocks[i].thread_id for i in (index + 1, index - 1) if 0 <= i < len(clocks)]
            self.post_message(ThreadInView(clocks[index].thread_id, ahead))

    def action_select(self) -> None:
        clock = self.selected
        if clock is not None:
            self.call_next(self._post_selected, clock.thread_id)

    def _post_selected(self, thread_id: int) -> None:
        # In the panel's own loop for the same reason as _post_crossed: a screen
        # calling action_select would otherwise keep the message to itself.
        self.post_message(self.Selected(thread_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < HEADER_LINES:
            return
        index = self.scroll_offset.y + offset.y - HEADER_LINES
        if index < len(self._clocks):
            self.move_cursor(index)
            self.action_select()
