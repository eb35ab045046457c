"""The Incoming panel: the live feed of what arrived, newest first."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from core.feed import FEED_PAGE, FeedFilter, FeedItem

from .format import Formatter
from .messages import OpenThread, ThreadInView
from .rows import RowList, header
from .text import as_text, first_line

# Time, client and thread are fixed; the rest of the width goes to who wrote
# what (and the kind, when it is not a message), so the text stays in view.
COLUMNS = (("time", 7), ("client", 13), ("thread", 20), ("what", None))


class IncomingPanel(Vertical):
    """Newest first; client messages stand out, unread ones carry a dot."""

    BINDINGS = [
        Binding("enter", "open", "Open thread", id="feed.open"),
    ]

    def __init__(self, formatter: Formatter, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.formatter = formatter
        self.items: list[FeedItem] = []
        self.feed = FeedFilter()
        self.unread = 0

    def compose(self) -> ComposeResult:
        labels, widths = zip(*COLUMNS, strict=True)
        yield Static(header(labels, widths), id="feed-header")
        yield RowList(widths, id="feed-table")

    @property
    def table(self) -> RowList:
        return self.query_one("#feed-table", RowList)

    def on_mount(self) -> None:
        self.border_title = "Incoming"
        self._update_title()

    def show(self, items: list[FeedItem], unread: int, feed: FeedFilter) -> None:
        """A fresh page (at start or after a filter change)."""
        self.items = items[:FEED_PAGE]
        self.feed = feed
        self.unread = unread
        self._render_rows()

    def add_new(self, items: list[FeedItem], unread: int) -> None:
        """Rows that arrived since the newest one shown (newest first)."""
        known = {item.id for item in self.items}
        fresh = [item for item in items if item.id not in known]
        self.unread = unread
        if fresh:
            self.items = sorted(fresh + self.items, key=lambda item: item.id, reverse=True)
            self.items = self.items[:FEED_PAGE]
            self._render_rows()
        else:
            self._update_title()

    def mark_read(self, thread_id: int) -> None:
        """After "handled": the thread's rows lose their unread mark at once."""
        self.items = [
            _handled(item) if item.thread_id == thread_id else item for item in self.items
        ]
        self._render_rows()

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
        item = self.selected
        if item is not None:
            self.post_message(ThreadInView(item.thread_id))

    def on_row_list_selected(self, event: RowList.Selected) -> None:
        event.stop()
        self.action_open()

    def _render_rows(self) -> None:
        keep = self.selected.id if self.selected else None
        index = next((i for i, item in enumerate(self.items) if item.id == keep), 0)
        self.table.set_rows([self._cells(item) for item in self.items], cursor=index)
        self._update_title()

    def _cells(self, item: FeedItem) -> tuple[Text, ...]:
        style = _style(item)
        mark = "● " if item.unread else "  "
        what = Text(style=style)
        what.append_text(as_text(item.author or "system", "bold" if item.from_client else ""))
        if item.internal:
            what.append(" (note)", style="italic")
        if item.kind != "message":
            what.append(f" · {item.kind.replace('_', ' ')}", style="italic")
        if item.text:
            what.append(": ")
            what.append_text(as_text(first_line(item.text, 120)))
        thread = item.thread if not item.project else f"{item.thread} · {item.project}"
        return (
            Text(mark + self.formatter.time(item.occurred_at), style=style),
            as_text(first_line(item.client or "—", 13), style),
            as_text(first_line(thread, 20), style),
            what,
        )

    def _update_title(self) -> None:
        parts = [f"{self.unread} unread"]
        if self.feed.active:
            shown = ", ".join(
                f"{name}: {value}"
                for name, value in (
                    ("kind", self.feed.kind),
                    ("client", self.feed.client),
                    ("assignee", self.feed.assignee),
                )
                if value
            )
            parts.append(f"filter {shown}")
        self.border_subtitle = " · ".join(parts)


def _style(item: FeedItem) -> str:
    if item.internal:
        return "italic dim"
    if item.from_client:
        return "bold" if item.unread else ""
    return "dim"


def _handled(item: FeedItem) -> FeedItem:
    return replace(item, triage="handled")
