"""Messages that cross screens: the app routes them.

Screens and panels never call the app's methods: they post one of these,
and the app handles each in one place (tui/app.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Literal

from textual.message import Message

if TYPE_CHECKING:
    from core.receivables.aging import OverdueInvoice


class OpenThread(Message):
    """Show a thread (from the feed, a clock, a breach, the command palette)."""

    def __init__(self, thread_id: int, reply: bool = False) -> None:
        super().__init__()
        self.thread_id = thread_id
        # Open with the reply box ready.
        self.reply = reply


# What can be done on a thread from a screen.
ThreadVerb = Literal["handled", "no_reply", "reply", "assign", "watch"]


class ThreadAction(Message):
    """Act on a thread as the operator; the app answers with ActionDone.

    `text` and `internal`: a reply's body and whether it is an internal
    note. `current`: who is assigned or watching now (for the pickers).
    """

    def __init__(
        self,
        thread_id: int,
        verb: ThreadVerb,
        *,
        text: str = "",
        internal: bool = False,
        current: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.verb = verb
        self.text = text
        self.internal = internal
        self.current = current


class Undo(Message):
    """Take back the last action, if its five seconds are not over (`u`)."""


class ActionDone(Message):
    """An action on a thread was recorded (or refused: `error` says why).

    `restored`: the text of a reply or note taken back by an undo, which
    comes back as the thread's draft.
    """

    def __init__(
        self,
        thread_id: int,
        label: str,
        error: str | None = None,
        restored: tuple[bool, str] | None = None,
    ) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.label = label
        self.error = error
        # (internal, text) of a reply or note withdrawn.
        self.restored = restored


class ThreadInView(Message):
    """The cursor rests on a thread's row: its page may be read ahead of Enter,
    then those of the threads `ahead` (the rows next to it; None: the thread
    view asks, and what the cursor's rows asked for stays asked)."""

    def __init__(self, thread_id: int, ahead: Sequence[int] | None = None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.ahead = None if ahead is None else tuple(ahead)


InvoiceVerb = Literal["promise", "dispute", "sent", "email"]


class InvoiceAction(Message):
    """Record a promise (`day`), a dispute (`reason`), today's reminder sent, or email it,
    as the operator."""

    def __init__(
        self,
        invoice: OverdueInvoice,
        verb: InvoiceVerb,
        *,
        day: date | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__()
        self.invoice = invoice
        self.verb = verb
        self.day = day
        self.reason = reason


class OpenReview(Message):
    """Show the statement lines awaiting review."""


class GoTo(Message):
    """Go to a client (filter the feed), a thread (open it) or an invoice (show it)."""

    def __init__(self, kind: str, value: str) -> None:
        super().__init__()
        self.kind = kind
        self.value = value


class DataChanged(Message):
    """The main screen saw a commit: pages read ahead may be stale; `clocks`: any clock moved."""

    def __init__(self, clocks: bool) -> None:
        super().__init__()
        self.clocks = clocks


class FirstData(Message):
    """The main screen holds its first data."""


# A change to a thread's Worksection task (tui/screens/tracker.py).
TrackerVerb = Literal["deadline", "todo", "subtask", "owner", "close", "reopen", "tags"]


class TrackerWanted(Message):
    """Ask for a change to the thread's Worksection task (`deadline`: the current one, shown)."""

    def __init__(self, thread_id: int, verb: TrackerVerb, deadline: str | None = None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.verb = verb
        self.deadline = deadline


class TrackerDone(Message):
    """A change to a task was queued for Worksection (`text` says it) or refused (`error`).

    `asked`: False when the question was never opened (the thread has no task).
    """

    def __init__(
        self,
        thread_id: int,
        verb: str,
        error: str | None = None,
        *,
        text: str = "",
        asked: bool = True,
    ) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.verb = verb
        self.error = error
        self.text = text
        self.asked = asked
