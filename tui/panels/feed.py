"""The Incoming panel: the live feed of what arrived, newest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.widgets import Static

from core.base.i18n import N_, gettext
from core.conversations.feed import FEED_PAGE, FeedFilter, FeedItem
from tui.display.format import Formatter
from tui.display.text import as_text, first_line, kind_words
from tui.messages import OpenThread, ThreadInView
from tui.widgets.rows import RowList, header

# Time, client and thread are fixed; the rest of the width goes to who wrote
# what (and the kind, when it is not a message), so the text stays in view.
COLUMNS = ((N_("time"), 7), (N_("client"), 13), (N_("thread"), 20), (N_("what"), None))
LABELS = tuple(label for label, _width in COLUMNS)
# From this many terminal columns (the side-by-side layout) the client and
# thread columns take these shares of the panel's width, at least their
# width above, at most the caps: a name or a title reads whole more often,
# and "what" keeps the rest.
WIDE_FROM = 120
CLIENT_SHARE, THREAD_SHARE = 0.2, 0.3
CLIENT_CAP, THREAD_CAP = 30, 48


class IncomingPanel(Vertical):
    """Newest first; client messages stand out, unread ones carry a dot."""

    BINDINGS = [
        Binding("enter", "open", "Open thread", id="feed.open"),
    ]

    def __init__(
        self, formatter: Formatter, clock: Callable[[], datetime], **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.formatter = formatter
        self.clock = clock
        # The agency's day the rows were drawn on: rows of earlier days carry their date.
        self.today: date | None = None
        self.items: list[FeedItem] = []
        self.feed = FeedFilter()
        self.unread = 0
        # Rows that arrived above the cursor and that the cursor has not been
        # up to yet: the cursor keeps its item, these wait above it.
        self.new_above = 0
        # The panel's size the rows were last drawn for.
        self._drawn_for: Size | None = None

    def compose(self) -> ComposeResult:
        widths = [width for _label, width in COLUMNS]
        yield Static(header([gettext(label) for label in LABELS], widths), id="feed-header")
        yield RowList(widths, id="feed-table")

    def on_resize(self, event: events.Resize) -> None:
        # Hidden under a thread, then shown again at the same size: the rows drawn still fit.
        if not event.size.width or event.size == self._drawn_for:
            return
        self._drawn_for = event.size
        self._render_rows(self.selected)

    def tick(self, now: datetime) -> None:
        """At midnight the rows of the day before take their date."""
        if self.today is not None and self.formatter.day_of(now) != self.today:
            self._render_rows(self.selected)

    def _widths(self, rows: list[tuple[Text, ...]]) -> list[int | None]:
        """The columns' widths for these rows, in this panel and terminal."""
        time = max([COLUMNS[0][1] or 0] + [row[0].cell_len for row in rows])
        client, thread = COLUMNS[1][1] or 0, COLUMNS[2][1] or 0
        if self.app.size.width >= WIDE_FROM:
            width = self.content_size.width
            client = max(client, min(CLIENT_CAP, int(width * CLIENT_SHARE)))
            thread = max(thread, min(THREAD_CAP, int(width * THREAD_SHARE)))
        return [time, client, thread, None]

    @property
    def table(self) -> RowList:
        return self.query_one("#feed-table", RowList)

    def on_mount(self) -> None:
        self.border_title = gettext("Incoming")
        self._update_title()

    def show(self, items: list[FeedItem], unread: int, feed: FeedFilter) -> None:
        """A fresh page (at start or after a filter change)."""
        keep = self.selected
        self.items = items[:FEED_PAGE]
        self.feed = feed
        self.unread = unread
        self.new_above = 0
        if self._drawn_for is None and not self.content_size.width:
            # Not laid out yet (the first read is shown before the first layout): the
            # first Resize draws the rows at the panel's width. Drawn now, at no width,
            # they were drawn once more on it (docs/benchmarks.md, dashboard round 22).
            self._update_title()
            return
        self._render_rows(keep)

    def add_new(self, items: list[FeedItem], unread: int) -> None:
        """Rows that arrived since the newest one shown (newest first).

        The cursor stays on the item it was on, so that h, n, r and Enter act
        on the thread the assistant chose; the rows that arrived above it are
        counted in the title ("3 new ↑") until the cursor goes up to them.
        """
        known = {item.id for item in self.items}
        fresh = [item for item in items if item.id not in known]
        self.unread = unread
        if not fresh:
            self._update_title()
            return
        keep = self.selected
        self.items = sorted(fresh + self.items, key=lambda item: item.id, reverse=True)
        self.items = self.items[:FEED_PAGE]
        index = self._index_of(keep)
        above = sum(1 for item in self.items[:index] if item.id not in known)
        self.new_above = min(index, self.new_above + above)
        self._render_rows(keep, shift=above)

    def mark_read(self, thread_id: int) -> None:
        """After "handled": the thread's rows lose their unread mark at once."""
        keep = self.selected
        self.items = [
            _handled(item) if item.thread_id == thread_id else item for item in self.items
        ]
        self._render_rows(keep)

    @property
    def newest_id(self) -> int:
        return self.items[0].id if self.items else 0

    @property
    def selected(self) -> FeedItem | None:
        table = self.table
        if not self.items or table.cursor_row < 0 or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def action_open(self) -> None:
        item = self.selected
        if item is not None:
            self.post_message(OpenThread(item.thread_id))

    def on_row_list_highlighted(self, event: RowList.Highlighted) -> None:
        event.stop()
        if event.index < self.new_above:  # up onto new rows: those passed are seen
            self.new_above = event.index
            self._update_title()
        self.read_ahead()

    def read_ahead(self) -> None:
        """The thread under the cursor read ahead of Enter, then those of the rows below
        and above it, where the cursor goes next."""
        item, index = self.selected, self.table.cursor_row
        if item is not None:
            ahead = [
                self.items[i].thread_id for i in (index + 1, index - 1) if 0 <= i < len(self.items)
            ]
            self.post_message(ThreadInView(item.thread_id, ahead))

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.action_open()

    def _index_of(self, item: FeedItem | None) -> int:
        """Where `item` is now; the top when it is gone (a new filter, off the page)."""
        if item is None:
            return 0
        return next((i for i, found in enumerate(self.items) if found.id == item.id), 0)

    def _render_rows(self, keep: FeedItem | None, shift: int = 0) -> None:
        """Draw `self.items` with the cursor on `keep`, the item it was on before."""
        index = self._index_of(keep)
        if index == 0:
            self.new_above = 0
        self.today = self.formatter.day_of(self.clock())
        rows = [self._cells(item) for item in self.items]
        widths = self._widths(rows)
        if widths != self.table.widths:
            self.table.widths = widths
            self.query_one("#feed-header", Static).update(
                header([gettext(label) for label in LABELS], widths)
            )
        self.table.set_rows(rows, cursor=index, shift=shift)
        self._update_title()

    def _cells(self, item: FeedItem) -> tuple[Text, ...]:
        style = _style(item)
        mark = "● " if item.unread else "  "
        what = Text(style=style)
        what.append_text(as_text(item.author or "system", "bold" if item.from_client else ""))
        if item.internal:
            what.append(" (note)", style="italic")
        if item.kind != "message":
            what.append(f" · {kind_words(item.kind)}", style="italic")
        if item.text:
            what.append(": ")
            what.append_text(as_text(first_line(item.text, 120)))
        thread = item.thread if not item.project else f"{item.thread} · {item.project}"
        # An event of an earlier day shows its day before its time ("22 nov.
        # 14:05"): the time column widens to it while such a row is on the page.
        at = item.occurred_at
        when = (
            self.formatter.time(at)
            if self.formatter.day_of(at) == self.today
            else self.formatter.day_and_time(at)
        )
        # Cut to the widest the columns get; each row is cut again to its column.
        return (
            Text(mark + when, style=style),
            as_text(first_line(item.client or "—", CLIENT_CAP), style),
            as_text(first_line(thread, THREAD_CAP), style),
            what,
        )

    def _update_title(self) -> None:
        parts = [gettext("{count} new ↑").format(count=self.new_above)] if self.new_above else []
        parts.append(gettext("{count} unread").format(count=self.unread))
        if self.feed.active:
            shown = [
                f"{name}: {value}"
                for name, value in (
                    (gettext("kind"), kind_words(self.feed.kind or "")),
                    (gettext("client"), self.feed.client),
                    (gettext("assignee"), self.feed.assignee),
                )
                if value
            ]
            if self.feed.search:
                shown.append(
                    gettext("search: {text!r}").format(text=first_line(self.feed.search, 30))
                )
            if self.feed.unread:
                shown.append(gettext("unread only"))
            if self.feed.from_client:
                shown.append(gettext("client messages only"))
            parts.append(gettext("filter {conditions}").format(conditions=", ".join(shown)))
        self.border_subtitle = " · ".join(parts)


def _style(item: FeedItem) -> str:
    if item.internal:
        return "italic dim"
    if item.from_client:
        return "bold" if item.unread else ""
    return "dim"


def _handled(item: FeedItem) -> FeedItem:
    return replace(item, triage="handled")
