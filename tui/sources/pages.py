"""A thread as the thread view draws it, built off the UI thread and kept a little while.

Reading a thread and formatting its events (Babel, humanize, Rich text for
each event) run in a worker, so the UI thread only lays the page out. The
dashboard also reads ahead: the thread under the cursor is read while the
assistant looks at its row, so Enter usually finds its page ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from tui.display.text import as_text, kind_words

if TYPE_CHECKING:
    # The thread's reading and wrapping load in the worker that first reads a
    # page, not at start-up (docs/benchmarks.md, dashboard round 9).
    from core.conversations.threads import ThreadDetail, ThreadEvent
    from core.store.reader import Reader
    from tui.display.format import Formatter
    from tui.widgets.conversation import Wrapped

# The bar before each line of an event, and its colour, by who speaks:
# clients, staff in public, and internal notes the client never sees.
BARS = {
    "client": ("▌ ", "bold yellow"),
    "staff": ("▌ ", "green"),
    "internal": ("┊ ", "magenta"),
}
DELIVERY_MARKS = {"pending": "⧗ pending", "delivered": "✓ delivered", "failed": "✗ failed"}
# A page read ahead is shown only while its relative times ("3 minutes ago")
# still hold; past this age it is read again.
FRESH_SECONDS = 30.0
# The page on screen is read again once the dashboard's clock has moved this
# far past the instant its relative times were written for.
RELATIVE_SECONDS = 10.0
KEPT = 8  # pages kept, the most recently read


@dataclass(frozen=True)
class ThreadPage:
    thread_id: int
    detail: ThreadDetail | None  # None: no such thread
    info: Text
    conversation: Text
    wrapped: Wrapped | None = None  # the conversation wrapped for the width it was read for
    read_at: float = field(default_factory=time.monotonic)
    # The dashboard's instant its relative times ("3 minutes ago") were written for.
    now: datetime | None = None


def read_page(
    reader: Reader, thread_id: int, formatter: Formatter, now: datetime, width: int
) -> ThreadPage:
    """Read a thread, format it and wrap it for `width`: the worker's work, not the UI thread's."""
    from core.conversations.threads import thread_detail
    from tui.widgets.conversation import wrap

    detail = thread_detail(reader, thread_id)
    if detail is None:
        return ThreadPage(thread_id, None, Text(f"No thread {thread_id}."), Text())
    conversation = Text()
    agos = formatter.ago_each([event.occurred_at for event in detail.events], now)
    for index, (event, ago) in enumerate(zip(detail.events, agos, strict=True)):
        if index:
            conversation.append("\n\n")
        conversation.append_text(_event(event, formatter, ago))
    wrapped = wrap(conversation, width) if width > 0 else None
    return ThreadPage(thread_id, detail, _info(detail), conversation, wrapped, now=now)


class Pages:
    """The pages read lately, and the threads wanted next.

    One worker reads at a time: when the cursor runs down a list, only the
    thread it stops on is read, not every row it crossed, then the rows next
    to it, where the cursor most likely goes next (a page read after Enter
    takes several times what showing one read ahead does). Any change to the
    data forgets every page (a new generation); a read that began before the
    change is not kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[int, ThreadPage] = {}
        self._wanted: list[int] = []
        self._reading = False
        # The thread the worker is reading, and the generation it belongs to.
        self._current: tuple[int, int] | None = None
        self._generation = 0
        # The conversation's width, to wrap pages for it (the thread screen tells it).
        self.width = 0

    def get(self, thread_id: int) -> ThreadPage | None:
        page = self._pages.get(thread_id)
        if page is None or time.monotonic() - page.read_at > FRESH_SECONDS:
            return None
        return page

    def want(self, thread_id: int, ahead: Sequence[int] | None = None) -> bool:
        """Ask for `thread_id` next, then the threads `ahead` (None: those asked for
        before), those not read lately; True when no worker is reading (start one).

        What is being read for the current data is not asked for again: Enter
        on a row whose read is under way waits for that read, not a second one,
        and the rows next to it are still read after it.
        """
        with self._lock:
            after = self._wanted if ahead is None else ahead
            self._wanted = [
                wanted
                for wanted in dict.fromkeys((thread_id, *after))
                if self.get(wanted) is None and self._current != (wanted, self._generation)
            ]
            if self._reading or not self._wanted:
                return False
            self._reading = True
            return True

    def next_wanted(self) -> tuple[int, int] | None:
        """For the worker: the thread to read and the generation it belongs to, or None: stop."""
        with self._lock:
            if not self._wanted:
                self._reading = False
                self._current = None
                return None
            self._current = (self._wanted.pop(0), self._generation)
            return self._current

    def keep(self, page: ThreadPage, generation: int) -> bool:
        """Keep a page read in `generation`; False if the data changed since."""
        if generation != self._generation:
            return False
        self._pages.pop(page.thread_id, None)
        self._pages[page.thread_id] = page
        while len(self._pages) > KEPT:
            del self._pages[next(iter(self._pages))]
        return True

    def forget(self, thread_id: int | None = None) -> None:
        """After a change: one thread's page, or (None) every page."""
        if thread_id is not None:
            self._pages.pop(thread_id, None)
        else:
            self._pages.clear()
        with self._lock:
            self._generation += 1


def _info(detail: ThreadDetail) -> Text:
    text = Text()
    text.append_text(as_text(detail.title, "bold"))
    where = " / ".join(part for part in (detail.client, detail.project) if part)
    text.append("\n")
    text.append_text(as_text(where or "no client", "dim"))
    text.append(f"  · {detail.kind} via {detail.channel}", style="dim")
    facts = [
        ("status", detail.status or "—"),
        ("deadline", detail.deadline or "—"),
        ("assignee", ", ".join(detail.assignees) or "nobody"),
        ("watchers", ", ".join(detail.watchers) or "—"),
    ]
    for label, value in facts:
        text.append(f"\n{label}: ", style="dim")
        text.append_text(as_text(value))
    if detail.url:
        text.append("\ntask: ", style="dim")
        text.append_text(as_text(detail.url, "underline"))
    return text


def _event(event: ThreadEvent, formatter: Formatter, ago: str) -> Text:
    """An event under a header line, behind a bar coloured by who wrote it; `ago`: how
    long ago it was, in words."""
    body = Text()
    body.append(formatter.datetime(event.occurred_at), style="dim")
    body.append(f" ({ago})", style="dim italic")
    body.append("  ")
    body.append_text(as_text(event.author or "system", "bold"))
    label = _label(event)
    if label:
        body.append(f"  {label}", style="italic")
    if event.delivery:
        mark = DELIVERY_MARKS.get(event.delivery, event.delivery)
        body.append(f"  {mark}", style="red" if event.delivery == "failed" else "dim")
        if event.delivery_error:
            body.append_text(as_text(f" ({event.delivery_error})", "red"))
    if event.text:
        body.append("\n")
        body.append_text(as_text(event.text, "italic dim" if event.internal else ""))
    bar, colour = BARS[_voice(event)]
    text = Text()
    for index, line in enumerate(body.split("\n")):
        if index:
            text.append("\n")
        text.append(bar, style=colour)
        text.append_text(line)
    return text


def _label(event: ThreadEvent) -> str:
    if event.internal:
        return "internal note"
    if event.kind == "message":
        return ""
    if event.value:
        return f"{kind_words(event.kind)}: {event.value}"
    return kind_words(event.kind)


def _voice(event: ThreadEvent) -> str:
    if event.internal:
        return "internal"
    return "client" if event.author_role == "client" else "staff"
