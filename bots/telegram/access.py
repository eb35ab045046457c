"""Who may talk to the bot: staff bound by an invite; everyone else is refused, once.

The gate runs before every other handler. It lets through a bound staff
member, and `/start CODE` in a private chat (an invite being redeemed); in a
group it lets every ordinary message through (a linked client group's
messages are events, see bots.telegram.groups) but no command. Anyone else gets one
polite refusal in a private chat (queued, bounded and sent after every
staff message: bots.telegram.refusals), a refusal on any button they press, silence
in a group, and nothing else. Each refusal is logged, with the Telegram ids
and never what was written.

In polling mode strangers' private messages are sorted out before the
library even parses them (`sort_out`, on the raw updates Telegram returns):
each is refused as the gate would and handed on as a bare update id, which
the gate drops. Parsing a thousand messages takes the library a good part
of a second, during which a staff member's message waiting behind them
would wait too.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Chat, Message, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bots.telegram.chatio import ChatIO
from bots.telegram.pacing import BACKGROUND
from bots.telegram.render import BAD_CODE, REFUSAL, html_text
from core.conversations.people import InviteRefused, redeem, unbind

log = logging.getLogger("pmdesk.bot")
Context = ContextTypes.DEFAULT_TYPE

WELCOME = (
    "Welcome, {name}! You will get pmdesk alerts here.\n\n"
    "Reply to an alert to answer the client; the buttons under it take the thread, "
    "close it without a reply, or send a ready-made answer.\n"
    "/queue lists your running clocks, /mute 1h holds alerts for an hour, "
    "/stop unlinks this Telegram account."
)


class Access:
    def __init__(self, io: ChatIO) -> None:
        self.io = io
        io.refusals.attach(lambda chat_id: io.say(chat_id, REFUSAL, priority=BACKGROUND))

    async def gate(self, update: Update, context: Context) -> None:
        """Let staff through, and an invite code; refuse everyone else."""
        user, chat, message = update.effective_user, update.effective_chat, update.message
        if user is None or chat is None or user.is_bot:
            raise ApplicationHandlerStop
        command = message is not None and _is_command(message)
        if chat.type != ChatType.PRIVATE and update.callback_query is None and not command:
            return  # a group's conversation: taken if the group is linked
        if message is not None and _is_invite(message, chat):
            return
        if await self.io.may_be_staff(user.id) and await self.io.staff(user.id) is not None:
            return
        await self._refuse(update, user.id, chat)
        raise ApplicationHandlerStop

    def sort_out(self, updates: list[Any]) -> list[Any]:
        """Raw updates from getUpdates, with strangers' private messages refused and
        replaced by their bare `update_id` (see the module). Anything not surely a
        stranger's (a group, a button, an invite, the staff's accounts not read lately)
        goes on to the gate as it came."""
        kept: list[Any] = []
        for update in updates:
            message = update.get("message") if isinstance(update, dict) else None
            sender = message.get("from") if isinstance(message, dict) else None
            chat = message.get("chat") if isinstance(message, dict) else None
            if (
                isinstance(sender, dict)
                and isinstance(chat, dict)
                and chat.get("type") == ChatType.PRIVATE
                and isinstance(sender.get("id"), int)
                and not sender.get("is_bot")
                and not _invite_text(str(message.get("text") or ""))  # type: ignore[union-attr]
                and self.io.surely_a_stranger(sender["id"])
            ):
                self._log_refusal("a message", sender["id"], chat.get("id"))
                self.io.refusals.refuse(sender["id"])
                kept.append({"update_id": update["update_id"]})
            else:
                kept.append(update)
        return kept

    async def _refuse(self, update: Update, user_id: int, chat: Chat) -> None:
        what = "a button" if update.callback_query else "a message"
        self._log_refusal(what, user_id, chat.id)
        if update.callback_query is not None:
            await update.callback_query.answer(REFUSAL)
        elif chat.type == ChatType.PRIVATE:
            self.io.refusals.refuse(user_id)  # in a private chat, the chat is the user's
        # In a group (a client's, maybe) a refusal would only be noise: silence.

    def _log_refusal(self, what: str, user_id: int, chat_id: object) -> None:
        log.info("refused %s from Telegram user %s in chat %s: not staff", what, user_id, chat_id)

    async def start(self, update: Update, context: Context) -> None:
        """`/start CODE`: bind this account to whoever the invite was for."""
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        if not context.args:
            staff = await self.io.me(update)
            await self.io.say(chat.id, f"You are set up as {html_text(staff.name)}.")
            return
        try:
            staff = await self.io.write(
                redeem, self.io.engine, context.args[0], user.id, self.io.clock()
            )
        except InviteRefused as refused:
            log.info("refused an invite code from Telegram user %s: %s", user.id, refused.reason)
            await self.io.say(chat.id, BAD_CODE)
            return
        log.info("Telegram user %s is now bound to staff member %s", user.id, staff.id)
        self.io.refusals.forget(user.id)
        self.io.staff_changed()
        await self.io.say(chat.id, html_text(WELCOME.format(name=staff.name)))

    async def stop(self, update: Update, context: Context) -> None:
        """`/stop`: forget this Telegram account."""
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        staff = await self.io.write(unbind, self.io.engine, user.id)
        self.io.staff_changed()
        log.info("Telegram user %s unbound itself", user.id)
        name = html_text(staff.name) if staff else "anyone"
        await self.io.say(
            chat.id,
            f"Done: this Telegram account is no longer linked to {name}. "
            "You will get no more alerts here.",
        )


def _is_command(message: Message) -> bool:
    return bool(message.text and message.text.startswith("/"))


def _is_invite(message: Message, chat: Chat) -> bool:
    """`/start CODE` in a private chat: how someone not bound yet gets in."""
    return chat.type == ChatType.PRIVATE and _invite_text(message.text or "")


def _invite_text(text: str) -> bool:
    parts = text.split()
    command = parts[0].split("@")[0] if parts else ""
    return len(parts) == 2 and command == "/start"
