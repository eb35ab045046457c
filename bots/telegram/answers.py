"""Answering clients from Telegram: quick replies, and the buttons under an alert.

A reply (Telegram's "reply to message") to an alert about a thread is the
staff member's answer to the client on that thread (core.conversations.actions.reply):
the clock stops, and a delivery through the thread's channel is queued in
the same transaction. A receipt says so; for a Telegram group, the sender
edits it once the group has the message, or says why not.

The buttons, on an alert about a client's message: Take it (assign the
thread to me), No reply needed (close its clock), a canned reply in the
client's language (sent like a quick reply, once per alert), Open (a link).
Every button press is answered, if only to say that it no longer works.

Only the alert's recipient may act on it: a quick reply or a press by
anyone else (a forwarded alert, a shared chat) is refused.

Each reply and action taken here counts in pmdesk's own measure of account
management (`[time] telegram_reply_minutes`, `telegram_action_minutes`;
core.time.own), once: an update delivered twice is not counted again.

Telegram may deliver an update twice (a restart before the polling offset
was confirmed, a webhook call that timed out). Each action is recorded
under the update's identity (`core.conversations.actions.act`'s `key`): a quick reply as
"telegram:CHAT:MESSAGE", a press as its callback query id, a canned reply
as its alert (one per alert, across restarts). The second delivery finds
the action recorded and sends nothing: no second reply, no second receipt.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, Update
from telegram.ext import ContextTypes

from bots.telegram.billing_run import BillingRunButtons
from bots.telegram.chatio import ChatIO
from bots.telegram.commands import HINT
from bots.telegram.render import (
    ANSWER_LIMIT,
    Callback,
    html_text,
    keyboard,
    notification_html,
    parse_callback,
    receipt,
)
from bots.telegram.sender import CHANNEL
from core.base.kinds import Outcome
from core.conversations.actions import ActionRefused, assign, no_reply_needed, reply
from core.conversations.people import StaffView
from core.notify.drain import NotificationView, notification_for_message

log = logging.getLogger("pmdesk.bot")
Context = ContextTypes.DEFAULT_TYPE
GONE = "This button no longer works."
NOT_YOURS = "This alert was sent to someone else."


class Answers:
    def __init__(self, io: ChatIO, billing: BillingRunButtons | None = None) -> None:
        self.io = io
        # The billing run's Issue and Later (bots.telegram.billing_run).
        self.billing = billing

    # -- quick replies -----------------------------------------------------------

    async def quick_reply(self, update: Update, context: Context) -> None:
        staff, chat, message = await self.io.me(update), update.effective_chat, update.message
        assert chat is not None and message is not None and message.reply_to_message is not None
        replied = message.reply_to_message.message_id
        view = await self.io.read(notification_for_message, self.io.engine, chat.id, replied)
        if view is None or view.thread_id is None:
            await self.io.say(chat.id, HINT)
            return
        if view.recipient_id != staff.id:
            await self.io.say(chat.id, NOT_YOURS)
            return
        text = message.text or message.caption
        if not text:
            await self.io.say(chat.id, "Only text can go to the client from here.")
            return
        try:
            result = await self.io.write(
                reply,
                self.io.ingestor,
                view.thread_id,
                staff.id,
                text,
                clock=self.io.clock,
                key=f"telegram:{chat.id}:{message.message_id}",
            )
        except ActionRefused as refused:
            await self.io.say(chat.id, f"Not sent: {html_text(str(refused))}")
            return
        if result.status == "duplicate":
            log.info(
                "quick reply %s:%s delivered again: already recorded", chat.id, message.message_id
            )
            return
        assert result.event_id is not None
        await self.io.count(staff.id, view.thread_id, reply=True)
        await self._receipt(chat.id, result.event_id, view.channel, message.message_id)

    async def _receipt(
        self, chat_id: int, event_id: int, channel: str | None, reply_to: int
    ) -> None:
        """Say the reply is on its way; the sender edits this once Telegram delivered it."""
        self.io.wake()
        sent = await self.io.say(chat_id, receipt(channel), reply_to=reply_to)
        if sent is None or channel != CHANNEL:
            return  # other channels' connectors come later: nothing will report back
        settled = self.io.receipts.attach(event_id, chat_id, sent.message_id)
        if settled is not None:  # delivered (or not) while the receipt was on its way
            await self.io.edit(chat_id, sent.message_id, receipt(channel, *settled))

    # -- buttons ----------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        query, staff = update.callback_query, await self.io.me(update)
        assert query is not None
        answered = False
        try:
            answered = await self._press(query, staff)
        finally:
            if not answered:  # Telegram shows a spinner until a press is answered
                await query.answer("That did not work; try again from the dashboard.")

    async def _press(self, query: CallbackQuery, staff: StaffView) -> bool:
        """Do what the button says; True once the press is answered."""
        callback, message = parse_callback(query.data), query.message
        view = None
        if callback is not None and isinstance(message, Message):
            view = await self.io.read(
                notification_for_message, self.io.engine, message.chat.id, message.message_id
            )
        if (
            callback is not None
            and callback.action in ("issue", "later")
            and isinstance(message, Message)
            and view is not None
            and view.id == callback.notification_id
            and self.billing is not None
        ):
            if view.recipient_id != staff.id:
                await query.answer(NOT_YOURS)
                return True
            await self.billing.press(query, message, view, staff, callback)
            return True
        if (
            callback is None
            or not isinstance(message, Message)
            or view is None
            or view.id != callback.notification_id
            or view.thread_id is None
        ):
            await query.answer(GONE)
            return True
        if view.recipient_id != staff.id:
            await query.answer(NOT_YOURS)
            return True
        try:
            await self._act(query, message, view, staff, callback)
        except ActionRefused as refused:
            await query.answer(str(refused)[:ANSWER_LIMIT])
        return True

    async def _act(
        self,
        query: CallbackQuery,
        message: Message,
        view: NotificationView,
        staff: StaffView,
        callback: Callback,
    ) -> None:
        assert view.thread_id is not None
        name = html_text(staff.name)
        key = f"telegram-query:{query.id}"
        if callback.action == "take":
            taken = await self.io.write(
                assign, self.io.ingestor, view.thread_id, staff.id, staff.id, self.io.clock, key
            )
            if taken.status == "duplicate":
                _again(query)  # answered the first time
                return
            await self.io.count(staff.id, view.thread_id, reply=False)
            await query.answer("Assigned to you.")
            await self._restate(message, view, f"✓ Taken by {name}.", actions=True)
        elif callback.action == "noreply":
            if view.clock_outcome != Outcome.RUNNING.value:
                # Answered since, or a newer clock runs that this alert is not about.
                await query.answer("Nothing is waiting on this message any more.")
                return
            closed = await self.io.write(
                no_reply_needed, self.io.ingestor, view.thread_id, staff.id, "", self.io.clock, key
            )
            if closed.status == "duplicate":
                _again(query)
                return
            await self.io.count(staff.id, view.thread_id, reply=False)
            await query.answer("Closed: no reply needed.")
            await self._restate(message, view, f"✓ No reply needed ({name}).", actions=False)
        else:
            await self._canned(query, message, view, staff, callback.index)

    async def _canned(
        self,
        query: CallbackQuery,
        message: Message,
        view: NotificationView,
        staff: StaffView,
        index: int | None,
    ) -> None:
        canned = self.io.replies.for_language(view.client_language)
        if index is None or not 0 <= index < len(canned):
            await query.answer(GONE)
            return
        assert view.thread_id is not None
        result = await self.io.write(
            reply,
            self.io.ingestor,
            view.thread_id,
            staff.id,
            canned[index].text,
            clock=self.io.clock,
            key=f"canned:{view.id}",  # one canned reply per alert, however often pressed
        )
        if result.status == "duplicate":
            await query.answer("A reply was already sent from this message.")
            return
        await self.io.count(staff.id, view.thread_id, reply=True)
        await query.answer("Reply recorded.")
        status = f"✓ {html_text(staff.name)} replied: {html_text(canned[index].label)}"
        await self._restate(message, view, status, actions=False)
        assert result.event_id is not None
        await self._receipt(message.chat.id, result.event_id, view.channel, message.message_id)

    async def _restate(
        self, message: Message, view: NotificationView, status: str, actions: bool
    ) -> None:
        """Show on the alert what was done with it (rebuilt from the database, not re-read)."""
        await self.io.edit(
            message.chat.id,
            message.message_id,
            notification_html(view, status),
            reply_markup=keyboard(view, self.io.replies, actions=actions),
        )


def _again(query: CallbackQuery) -> None:
    log.info("button press %s delivered again: already recorded", query.id)
