"""The thread view: the conversation, its people and clocks, and what to do about it.

Shown inside the main screen, in place of its panels (MainScreen.open_thread),
rather than as a screen of its own: opening a thread is no screen switch,
so the stylesheet is not applied again and only the panels' area repaints.
"""

from __future__ import annotations

import os
import webbrowser
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from core.base.i18n import N_, gettext
from core.conversations.threads import ThreadDetail
from core.sla.views import ClockView
from tui.display.format import Formatter
from tui.display.text import clean, first_line
from tui.messages import ActionDone, ThreadAction, ThreadInView, TrackerVerb, TrackerWanted, Undo
from tui.panels.task_keys import task_bindings
from tui.sources.pages import RELATIVE_SECONDS, Pages, ThreadPage
from tui.widgets.conversation import Conversation

if TYPE_CHECKING:
    from tui.sources.backend import Backend


# How a reply reaches the client, by the thread's channel.
CHANNEL_WORDS = {
    "worksection": N_("Worksection comment"),
    "telegram": N_("Telegram message"),
    "webhook": N_("reply through the webhook"),
}


def reply_target(detail: ThreadDetail | None) -> str:
    """Who a reply goes to and how, named before it is sent: "to Emma Clarke · Telegram message".

    The recipient is the client who wrote last on the thread, else the client.
    """
    if detail is None:
        return gettext("Reply")
    writer = next(
        (e.author for e in reversed(detail.events) if e.author_role == "client" and e.author),
        None,
    )
    who = first_line(writer or detail.client or gettext("the client"), 40)
    how = CHANNEL_WORDS.get(detail.channel)
    how = gettext(how) if how else gettext("{channel} message").format(channel=detail.channel)
    return gettext("Reply to {who} · {how}").format(who=who, how=how)


# A draft's owner: the thread, and whether it is an internal note.
DraftKey = tuple[int, bool]


class ThreadView(Vertical):
    """One thread, in place of the main screen's panels; its keys apply while it has the focus."""

    class Back(Message):
        """Escape with no box open: the main screen shows its panels again."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="thread.back", tooltip=N_("Go back")),
        Binding("r", "reply", "Reply", id="thread.reply", tooltip=N_("Reply to the client")),
        Binding(
            "i",
            "note",
            "Internal note",
            id="thread.note",
            tooltip=N_("Write an internal note the client never sees"),
        ),
        Binding(
            "a", "assign", "Assign", id="thread.assign", tooltip=N_("Assign the thread to someone")
        ),
        Binding("w", "watch", "Watchers", id="thread.watch", tooltip=N_("Add or remove a watcher")),
        Binding(
            "n",
            "no_reply",
            "No reply needed",
            id="thread.no_reply",
            tooltip=N_("Say this thread needs no reply"),
        ),
        Binding(
            "h", "handled", "Handled", id="thread.handled", tooltip=N_("Mark this thread handled")
        ),
        Binding(
            "o",
            "open_task",
            "Open task",
            id="thread.open_task",
            tooltip=N_("Open the task in the browser"),
        ),
        Binding(
            "u",
            "undo",
            "Undo",
            show=False,
            id="thread.undo",
            tooltip=N_("Undo the last reply, no reply needed or handled, within 5 seconds"),
        ),
        # The thread's Worksection task (tui/screens/tracker.py).
        *task_bindings("thread"),
        Binding("ctrl+s", "send", "Send", id="thread.send", tooltip=N_("Send the reply or note")),
        Binding(
            "ctrl+r",
            "discard",
            "Discard draft",
            id="thread.discard",
            tooltip=N_("Discard the draft"),
        ),
    ]

    def __init__(
        self,
        backend: Backend,
        formatter: Formatter,
        pages: Pages,
        thread_id: int,
        reply: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        # The pages the app reads: one read ahead shows at once, else it is asked for.
        self.pages = pages
        self.formatter = formatter
        self.thread_id = thread_id
        self.detail: ThreadDetail | None = None
        self._page_now: datetime | None = None  # the instant the page on screen was written for
        self._reply_on_load = reply
        self._internal = False
        # Drafts by (thread, internal): a note typed for one thread never
        # shows in another's box, and a reply is not the note. Kept until
        # sent or discarded.
        self.drafts: dict[DraftKey, str] = {}
        # What the box holds is the draft of this key (None: the box is unused).
        self._draft_key: DraftKey | None = None
        # Sent and not yet confirmed: put back as the draft if the sending fails.
        self._sending: dict[DraftKey, str] = {}
        # Held, not queried: a page may arrive before the nested widgets are mounted.
        self._info = Static("Loading…", id="thread-info")
        self._clock = Static("", id="thread-clock")
        self._clock_lines = 0
        self._conversation = Conversation(id="conversation")

    def compose(self) -> ComposeResult:
        with Horizontal(id="thread-top"):
            yield self._info
            yield self._clock
        yield self._conversation
        with Vertical(id="reply-box"):
            yield Static("", id="reply-label")
            yield TextArea(id="reply-text")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._show_current()
        if self.display:
            self.focus_conversation()

    def show_thread(self, thread_id: int, reply: bool = False) -> None:
        """Show a thread in this same view: its page if read ahead, else as soon as it is read.

        The main screen keeps one thread view and reuses it: building the
        widgets and their styles for every thread opened cost most of the
        time between Enter and the conversation on screen.
        """
        self.keep_draft()
        self._draft_key = None
        if self.is_mounted:
            self._area.load_text("")
        self.thread_id = thread_id
        self._reply_on_load = reply
        if self.is_mounted:  # else on_mount shows it
            self._show_current()

    def _show_current(self) -> None:
        self._box_shown(False)
        self.detail = None  # a thread opened afresh opens on its newest event
        page = self.pages.get(self.thread_id)
        if page is not None:
            self.show_page(page)
            return
        self.post_message(ThreadInView(self.thread_id))
        self._info.update(gettext("Loading…"))
        self._clock.update("")
        self._clock_lines = 0
        self._conversation.show(Text())

    def show_page(self, page: ThreadPage) -> None:
        """A page read for this view's thread (the app hands over every page it reads)."""
        if page.thread_id != self.thread_id:
            return  # a thread the assistant has already left
        # The same thread read again (its relative times moved, or it
        # changed): the reader stays where they were scrolled to.
        again = self.detail is not None and self.detail.id == page.thread_id
        at_end = self._conversation.at_end if again else True
        self.detail = page.detail
        self._page_now = page.now
        self._info.update(page.info)
        self._tick()
        self._conversation.show(page.conversation, wrapped=page.wrapped, at_end=at_end)
        if self._conversation.wrap_width:  # else the page's width stands
            self.pages.width = self._conversation.wrap_width
        if self._reply_on_load and page.detail is not None:
            self._reply_on_load = False
            self.action_reply()

    def on_action_done(self, message: ActionDone) -> None:
        if message.restored is not None:  # an undone reply or note: its text is the draft again
            internal, text = message.restored
            self._restore(message.thread_id, internal, text)
        if message.label in ("reply", "note"):
            sent = self._sending.pop((message.thread_id, message.label == "note"), None)
            if message.error is not None and sent is not None:
                self._restore(message.thread_id, message.label == "note", sent)
        message.stop()  # handed over by the main screen: not back up to it
        if message.thread_id == self.thread_id and self.display:
            # The app forgot the page it had: it reads it again.
            self.post_message(ThreadInView(self.thread_id))

    def focus_conversation(self) -> None:
        """The keys go to the thread: to its box if open, else to the conversation."""
        if self.query_one("#reply-box").display:
            self._area.focus()
        else:
            self._conversation.focus()

    def _tick(self) -> None:
        if self.detail is None or not self.display:
            return
        now = self.backend.clock()
        if (
            self._page_now is not None
            and (now - self._page_now).total_seconds() >= RELATIVE_SECONDS
        ):
            # "2 minutes ago" has become "3 minutes ago": read the page for now.
            self._page_now = None
            self.pages.forget(self.thread_id)
            self.post_message(ThreadInView(self.thread_id))
        text = self._clocks(self.detail.clocks, now)
        # The countdown changes every second, its number of lines seldom: lay
        # the screen out again only then.
        lines = text.plain.count("\n")
        self._clock.update(text, layout=lines != self._clock_lines)
        self._clock_lines = lines

    def _clocks(self, clocks: list[ClockView], now: datetime) -> Text:
        text = Text()
        running = next((clock for clock in clocks if clock.outcome == "running"), None)
        if running is not None:
            state = running.state(now)
            style = {"safe": "green", "warning": "yellow", "breached": "bold red"}.get(
                state, "bold red"
            )
            left = self.formatter.duration(running.seconds_left(now))
            text.append(f"{left}  {gettext(state)}\n", style=style)
            due = gettext("due {when}").format(when=self.formatter.until(running.due_at, now))
            text.append(f"{due}\n", style="dim")
        else:
            text.append(gettext("no clock running") + "\n", style="dim")
        for clock in clocks[-6:]:
            took = (
                self.formatter.duration(clock.business_seconds)
                if clock.business_seconds is not None
                else "—"
            )
            started = self.formatter.time(clock.started_at)
            outcome = clock.outcome.replace("_", " ")
            text.append(f"{started} {gettext(clock.kind):<5} {outcome} {took}\n", style="dim")
        return text

    # -- actions -------------------------------------------------------------------

    # While the box is open the letters type: the key bar shows what applies then.
    WRITING = frozenset({"back", "send", "discard"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        writing = self.is_mounted and bool(self.query_one("#reply-box").display)
        if action in ("send", "discard"):
            return writing
        return action in self.WRITING or not writing

    def _box_shown(self, shown: bool) -> None:
        box = self.query_one("#reply-box")
        # Closed with the keys in it: they go to the conversation, not out of the view.
        typing = box.has_focus_within
        box.display = shown
        if typing and not shown:
            self._conversation.focus()
        self.refresh_bindings()

    @property
    def writing(self) -> bool:
        """Whether a reply or a note is being written (its box is open)."""
        return self.is_mounted and bool(self.query_one("#reply-box").display)

    @property
    def _area(self) -> TextArea:
        return self.query_one("#reply-text", TextArea)

    def keep_draft(self) -> None:
        """The box's text saved as the draft of the thread and kind it was typed for."""
        if self._draft_key is None or not self.is_mounted:
            return
        text = self._area.text
        if text.strip():
            self.drafts[self._draft_key] = text
        else:
            self.drafts.pop(self._draft_key, None)

    def _restore(self, thread_id: int, internal: bool, text: str) -> None:
        """A draft whose sending failed comes back, before anything typed since."""
        key = (thread_id, internal)
        if self._draft_key == key:
            self.keep_draft()
        later = self.drafts.get(key, "")
        self.drafts[key] = f"{text}\n\n{later}" if later.strip() else text
        if self._draft_key == key:
            self._area.load_text(self.drafts[key])

    def action_back(self) -> None:
        if self.query_one("#reply-box").display:
            self.keep_draft()
            self._box_shown(False)
            return
        self.post_message(self.Back())

    def action_reply(self, internal: bool = False) -> None:
        self.keep_draft()
        self._internal = internal
        self._draft_key = (self.thread_id, internal)
        # load_text also forgets the box's undo history: no ctrl+z into another draft.
        self._area.load_text(self.drafts.get(self._draft_key, ""))
        label = gettext("Internal note, not sent") if internal else reply_target(self.detail)
        self.query_one("#reply-label", Static).update(
            gettext("{label} · ctrl+s sends, escape keeps the draft, ctrl+r discards it").format(
                label=label
            )
        )
        self._box_shown(True)
        self._area.focus()
        self._area.move_cursor(self._area.document.end)

    def action_note(self) -> None:
        self.action_reply(internal=True)

    def action_send(self) -> None:
        if not self.query_one("#reply-box").display or self._draft_key is None:
            return
        body = self._area.text
        if not body.strip():
            self.notify(gettext("Nothing to send."), severity="warning")
            return
        thread_id, internal = self._draft_key
        self._sending[self._draft_key] = body
        self.drafts.pop(self._draft_key, None)
        self.post_message(ThreadAction(thread_id, "reply", text=body, internal=internal))
        self._area.load_text("")
        self._box_shown(False)

    def action_discard(self) -> None:
        if self._draft_key is not None:
            self.drafts.pop(self._draft_key, None)
        self._area.load_text("")
        self._box_shown(False)

    def action_assign(self) -> None:
        current = self.detail.assignee_ids if self.detail else ()
        self.post_message(ThreadAction(self.thread_id, "assign", current=current))

    def action_watch(self) -> None:
        current = self.detail.watcher_ids if self.detail else ()
        self.post_message(ThreadAction(self.thread_id, "watch", current=current))

    def action_no_reply(self) -> None:
        self.post_message(ThreadAction(self.thread_id, "no_reply"))

    def action_undo(self) -> None:
        self.post_message(Undo())

    def action_handled(self) -> None:
        self.post_message(ThreadAction(self.thread_id, "handled"))

    def action_tracker(self, verb: TrackerVerb) -> None:
        """A change to the thread's Worksection task: the app asks for it (or says why not)."""
        deadline = self.detail.deadline if self.detail is not None else None
        self.post_message(TrackerWanted(self.thread_id, verb, deadline))

    def action_open_task(self) -> None:
        if self.detail is None or not self.detail.url:
            self.notify(gettext("This thread has no task link."), severity="warning")
            return
        url = clean(self.detail.url)
        # Over SSH a browser would open on the server, if anywhere: the link is
        # shown (and put on the clipboard, where the terminal allows) instead.
        remote = bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))
        if not remote and webbrowser.open(url, new=2):
            return
        self.app.copy_to_clipboard(url)
        why = (
            gettext("This is an SSH session")
            if remote
            else gettext("No browser could be opened here")
        )
        self.notify(
            gettext(
                "{why}: copy the task's link (on the clipboard too, where the terminal allows)."
            ).format(why=why)
            + f"\n{url}",
            title=gettext("Open task"),
            timeout=20,
            markup=False,
        )
