"""Messages that cross screens: the app routes them."""

from __future__ import annotations

from textual.message import Message


class OpenThread(Message):
    """Show a thread (from the feed, a clock, a breach, the command palette)."""

    def __init__(self, thread_id: int, reply: bool = False) -> None:
        super().__init__()
        self.thread_id = thread_id
        # Open with the reply box ready.
        self.reply = reply


class ActionDone(Message):
    """An action on a thread was recorded (or refused: `error` says why)."""

    def __init__(self, thread_id: int, label: str, error: str | None = None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.label = label
        self.error = error


class ThreadInView(Message):
    """The cursor rests on a thread's row: its page may be read ahead of Enter."""

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id
