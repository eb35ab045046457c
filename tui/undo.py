"""The five-second undo: the last action taken on the dashboard that can still be taken back.

One at a time: a new undoable action replaces the last. The app fills the
slot and undoes (an Undo message asks it to); the main screen reads it to
know whether `u` undoes or toggles unread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

# As core.conversations.actions.UNDO_WINDOW, which the core checks again (its module, with
# SQLAlchemy, is not loaded on the UI thread).
UNDO_SECONDS = 5


@dataclass(frozen=True)
class Undoable:
    """An action just taken: what to say, and how to take it back (as a staff member)."""

    what: str  # "Reply", "No reply needed", "Handled": said in the toasts
    thread_id: int
    until: datetime  # undo is refused from this instant on
    run: Callable[[int], object]


class UndoSlot:
    def __init__(self) -> None:
        self.last: Undoable | None = None

    def keep(self, what: str, thread_id: int, at: datetime, run: Callable[[int], object]) -> None:
        self.last = Undoable(what, thread_id, at + timedelta(seconds=UNDO_SECONDS), run)

    def live(self, now: datetime) -> bool:
        return self.last is not None and now < self.last.until
