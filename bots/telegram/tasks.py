"""Changing a thread's Worksection task from Telegram: commands in reply to an alert.

A staff member replies to an alert about a thread with one of:

- `/deadline 12.12` or `/deadline +2` (business days): move the deadline;
- `/todo item` (several lines: several items): add checklist items;
- `/sub title @owner +3` (the owner and the deadline optional; further lines
  are the subtask's checklist): create a subtask;
- `/owner name` (`/owner -` to unassign): change the owner in Worksection;
- `/done`, `/reopen`: close or reopen the task;
- `/tag +x -y`: add and remove tags.

Each is recorded through core.tracker.actions as that staff member on the
alert's thread (an event of the thread, and a delivery for Worksection in
the same transaction), under the update's identity: an update delivered
twice is recorded once, and counted once in pmdesk's own measure
(`[time] telegram_action_minutes`). The bot answers "queued" or the refusal's
message.
A refusal by Worksection later is told to the author by the delivery, as a
notification to their private chat with the bot: this same chat.

Only the alert's recipient may act on it; a command that does not reply to
an alert is answered with how to use it (`/help` lists them all).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import ContextTypes

from bots.telegram.answers import NOT_YOURS
from bots.telegram.chatio import ChatIO
from bots.telegram.render import html_text
from core.base.i18n import N_, gettext
from core.notify.drain import notification_for_message
from core.tracker.actions import Recorded, Tracker, TrackerRefused, tag_changes
from core.tracker.delivery import describe

if TYPE_CHECKING:
    from core.config.settings import Settings

log = logging.getLogger("pmdesk.bot")
Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
# An action: (tracker, thread, staff, the text after the command, the update's key).
Action = Callable[[Tracker, int, int, str, str], Recorded]

# The commands on a task, with how to use each (the `/help` list and the hints).
USAGE = {
    "deadline": N_("/deadline 12.12 or /deadline +2 (business days): move the task's deadline"),
    "todo": N_("/todo item (one item a line): add checklist items to the task"),
    "sub": N_("/sub title @owner +3 (owner and deadline optional; more lines: its checklist)"),
    "owner": N_("/owner name (/owner - for nobody): change the task's owner in Worksection"),
    "done": N_("/done: close the task"),
    "reopen": N_("/reopen: reopen the task"),
    "tag": N_("/tag +urgent -waiting: add and remove the task's tags"),
}
IN_REPLY = N_("Send it in reply to my alert about the thread whose task it changes.")
HELP_HEAD = N_(
    "Reply to an alert to answer the client; its buttons take the thread or close its clock."
)
HELP_OTHERS = N_(
    "/queue: my running clocks · /mute 1h: hold alerts (/mute off) · /stop: unlink this account"
)
_COMMAND = re.compile(r"^/\w+(?:@\w+)?[ \t]*")
_DEADLINE = re.compile(r"^(?:\+\s*\d+|\d{1,2}[./]\d{1,2}(?:[./]\d{4})?|\d{4}-\d{2}-\d{2})$")


def help_text() -> str:
    """What `/help` says: every command, the task's with how to use them (HTML)."""
    lines = [gettext(HELP_HEAD), gettext(HELP_OTHERS), "", gettext("In reply to an alert:")]
    lines += [html_text(gettext(usage)) for usage in USAGE.values()]
    return "\n".join(lines)


class TaskCommands:
    """The commands on a task; `settings` says whether Worksection is configured."""

    def __init__(self, io: ChatIO, tracker: Tracker, settings: Settings) -> None:
        self.io = io
        self.tracker = tracker
        self.settings = settings

    def handlers(self) -> dict[str, Callback]:
        """Each command's callback, by command name."""
        actions: dict[str, Action] = {
            "deadline": _deadline,
            "todo": _todo,
            "sub": _sub,
            "owner": _owner,
            "done": lambda tracker, thread, staff, _rest, key: tracker.close(thread, staff, key),
            "reopen": lambda tracker, thread, staff, _rest, key: tracker.reopen(thread, staff, key),
            "tag": _tag,
        }
        return {name: self._command(name, action) for name, action in actions.items()}

    async def help(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        await self.io.me(update)
        await self.io.say(chat.id, help_text())

    def _command(self, name: str, action: Action) -> Callback:
        async def run(update: Update, context: Context) -> None:
            await self._run(update, name, action)

        return run

    async def _run(self, update: Update, name: str, action: Action) -> None:
        staff, chat, message = await self.io.me(update), update.effective_chat, update.message
        assert chat is not None and message is not None
        usage = html_text(gettext(USAGE[name]))
        replied = message.reply_to_message
        view = None
        if replied is not None:
            view = await self.io.read(
                notification_for_message, self.io.engine, chat.id, replied.message_id
            )
        if view is None or view.thread_id is None:
            await self.io.say(chat.id, f"{usage}\n{html_text(gettext(IN_REPLY))}")
            return
        if view.recipient_id != staff.id:
            await self.io.say(chat.id, NOT_YOURS)
            return
        rest = _COMMAND.sub("", message.text or "", count=1)
        if self.settings.worksection is None:
            refusal = gettext("Worksection is not configured (the [worksection] table)")
            await self.io.say(chat.id, html_text(refusal), reply_to=message.message_id)
            return
        thread_id, key = view.thread_id, f"telegram:{chat.id}:{message.message_id}"

        def record() -> Recorded:
            return action(self.tracker, thread_id, staff.id, rest, key)

        try:
            recorded = await self.io.write(record)
        except TrackerRefused as refused:
            text = gettext("Not queued: {reason}").format(reason=str(refused))
            await self.io.say(chat.id, f"{html_text(text)}\n{usage}", reply_to=message.message_id)
            return
        if recorded.status == "duplicate":
            log.info(
                "/%s %s:%s delivered again: already recorded", name, chat.id, message.message_id
            )
            return
        self.io.wake()
        await self.io.count(staff.id, thread_id, reply=False)
        said = gettext("✓ Queued for Worksection task {task}: {what}").format(
            task=recorded.target.task_id, what=describe(recorded.verb, recorded.params)
        )
        await self.io.say(chat.id, html_text(said), reply_to=message.message_id)


def _deadline(tracker: Tracker, thread: int, staff: int, rest: str, key: str) -> Recorded:
    if not rest.strip():
        raise TrackerRefused(gettext("say when: a date (12.12) or +N business days"))
    return tracker.deadline(thread, staff, rest.strip(), key=key)


def _todo(tracker: Tracker, thread: int, staff: int, rest: str, key: str) -> Recorded:
    return tracker.todo(thread, staff, rest.splitlines(), key=key)


def _sub(tracker: Tracker, thread: int, staff: int, rest: str, key: str) -> Recorded:
    first, *more = rest.splitlines() or [""]
    words, owner, deadline = [], None, None
    for word in first.split():
        if word.startswith("@") and len(word) > 1:
            owner = word[1:]
        else:
            words.append(word)
    if len(words) > 1 and _DEADLINE.match(words[-1]):
        deadline = words.pop()
    return tracker.subtask(
        thread, staff, " ".join(words), owner=owner, deadline=deadline, todo=more, key=key
    )


def _owner(tracker: Tracker, thread: int, staff: int, rest: str, key: str) -> Recorded:
    who = " ".join(rest.split()).removeprefix("@")
    if not who:
        raise TrackerRefused(gettext("name the new owner, or write - for nobody"))
    return tracker.owner(thread, staff, None if who == "-" else who, key=key)


def _tag(tracker: Tracker, thread: int, staff: int, rest: str, key: str) -> Recorded:
    return tracker.tags(thread, staff, *tag_changes(rest.split()), key=key)
