"""Staff commands in a private chat: `/queue`, `/mute`, and a hint for anything else."""

from __future__ import annotations

import re
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bots.telegram.chatio import ChatIO
from bots.telegram.render import html_text, queue_html
from core.conversations.people import StaffView, mute
from core.sla.views import ClockView, running_clocks

Context = ContextTypes.DEFAULT_TYPE
MUTE_LIMIT = timedelta(days=7)
_DURATION = re.compile(r"(\d{1,4})\s*(m|min|h|d)?", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
HINT = (
    "To answer a client, reply to my alert about their message. /queue lists your running clocks."
)


class Commands:
    def __init__(self, io: ChatIO) -> None:
        self.io = io

    async def queue(self, update: Update, context: Context) -> None:
        """My running clocks, most urgent first."""
        staff, chat = await self.io.me(update), update.effective_chat
        assert chat is not None
        clocks = await self.io.read(running_clocks, self.io.reader)
        mine = [clock for clock in clocks if is_mine(clock, staff)]
        await self.io.say(chat.id, queue_html(mine, self.io.clock(), self.io.zone))

    async def mute(self, update: Update, context: Context) -> None:
        """`/mute 1h` (30m, 2h, 1d...; `off` lifts it): alerts wait, then come in order."""
        staff, chat = await self.io.me(update), update.effective_chat
        assert chat is not None
        wanted = " ".join(context.args or ["1h"])
        if wanted.strip().lower() == "off":
            await self.io.write(mute, self.io.engine, staff.id, None)
            self.io.wake()
            await self.io.say(chat.id, "Alerts are on again.")
            return
        length = parse_duration(wanted)
        if length is None or not timedelta(0) < length <= MUTE_LIMIT:
            await self.io.say(chat.id, "Say how long: /mute 30m, /mute 1h, /mute 2h, or /mute off.")
            return
        until = self.io.clock() + length
        await self.io.write(mute, self.io.engine, staff.id, until)
        shown = until.astimezone(self.io.zone).strftime("%a %H:%M")
        await self.io.say(
            chat.id,
            f"Alerts held until {shown} ({html_text(self.io.zone.key)}); they come then, "
            "in order. /mute off to get them now.",
        )

    async def hint(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        await self.io.say(chat.id, HINT)


def parse_duration(text: str) -> timedelta | None:
    """ "30m", "1h", "2 h", "1d" (a bare number is minutes); None if it is none of those."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        return None
    unit = _UNITS[(found.group(2) or "m").lower()]
    return timedelta(**{unit: int(found.group(1))})


def is_mine(clock: ClockView, staff: StaffView) -> bool:
    """A clock on a thread assigned to `staff`; for an assistant, unassigned ones too
    (their alerts go to the assistant on duty).

    `ClockView.assignee` names one assignee (the first by name): on a thread
    with several, the others do not see it here.
    """
    if clock.assignee is None:
        return staff.role == "assistant"
    return clock.assignee == staff.name
