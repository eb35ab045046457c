"""Clients' Telegram groups: `/link CLIENT`, then every message there is an event.

Once a staff member has linked a group to a client (core.conversations.chats.link_chat),
its messages go through the Ingestor (core.conversations.chats.chat_event): a client's
message opens a clock, a bound staff member's message answers it. Groups
nobody linked are ignored (logged at debug level).

Only managers and assistants link a group, or link it again to another
client; anyone else's `/link` is refused in the group. An unknown name is
answered privately to whoever tried (the closest clients' names must not
be read in a client's group); the group only hears that it did not work.

The bot only sees a
group's ordinary messages with its privacy mode off (BotFather's
/setprivacy) or as an administrator of the group.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import ContextTypes

from bots.telegram.chatio import ChatIO
from bots.telegram.render import html_text
from core.base.kinds import StaffRole
from core.conversations.chats import chat_event, client_for_chat, link_chat
from core.conversations.clients import UnknownClient

log = logging.getLogger("pmdesk.bot")
Context = ContextTypes.DEFAULT_TYPE
# Who may link a group to a client, or link it again to another.
LINKERS = frozenset({StaffRole.MANAGER.value, StaffRole.ASSISTANT.value})
NOT_A_LINKER = "Only a manager or an assistant can link this group to a client."
NO_SUCH_CLIENT = "No client by that name: I wrote to you privately with the closest ones."
_ATTACHMENTS = ("photo", "document", "video", "voice", "audio", "sticker", "location", "contact")


class Groups:
    def __init__(self, io: ChatIO) -> None:
        self.io = io

    async def link(self, update: Update, context: Context) -> None:
        """`/link CLIENT` in a group, by a staff member: the group is that client's."""
        staff, chat = await self.io.me(update), update.effective_chat
        assert chat is not None
        if staff.role not in LINKERS:
            log.info("refused /link in chat %s by staff member %s: not a linker", chat.id, staff.id)
            await self.io.say(chat.id, NOT_A_LINKER)
            return
        name = " ".join(context.args or []).strip()
        if not name:
            await self.io.say(chat.id, "Say which client this group is: /link CLIENT NAME")
            return
        try:
            linked = await self.io.write(
                link_chat,
                self.io.engine,
                chat.id,
                name,
                staff.id,
                self.io.clock(),
                chat.title or "",
            )
        except UnknownClient as error:
            # Names the closest clients: for the staff member's eyes, not the group's.
            assert staff.telegram_id is not None
            await self.io.say(staff.telegram_id, html_text(str(error)))
            await self.io.say(chat.id, NO_SUCH_CLIENT)
            return
        log.info(
            "chat %s linked to client %s by staff member %s", chat.id, linked.client_id, staff.id
        )
        await self.io.say(
            chat.id,
            f"This group is now {html_text(linked.name)}'s: their messages here start "
            "response clocks, and the team's answers stop them.",
        )

    async def link_elsewhere(self, update: Update, context: Context) -> None:
        """`/link` in a private chat: say where it belongs."""
        chat = update.effective_chat
        assert chat is not None
        await self.io.say(chat.id, "Add me to the client's group and send /link CLIENT there.")

    async def message(self, update: Update, context: Context) -> None:
        """A message in a group: an event if the group is a client's, else nothing."""
        chat, message = update.effective_chat, update.message
        if chat is None or message is None or message.from_user is None:
            return
        linked = await self.io.read(client_for_chat, self.io.engine, chat.id)
        if linked is None:
            log.debug("ignored a message in chat %s, which is linked to no client", chat.id)
            return
        author = message.from_user
        event = chat_event(
            chat.id,
            message.message_id,
            message.date,
            linked.name,
            author.id,
            author.full_name,
            describe(message),
            title=chat.title,
            staff=await self.io.staff(author.id),
        )
        await self.io.write(self.io.ingestor.ingest_one, event)
        self.io.wake()  # a client's message may have queued alerts


def describe(message: Message) -> str:
    """A message's text, or what it was when it has none (a photo, a sticker...)."""
    text = message.text or message.caption
    if text:
        return text
    kind = next((name for name in _ATTACHMENTS if getattr(message, name, None)), "message")
    return f"({kind} without text)"
