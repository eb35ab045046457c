"""The monthly billing run's preview on Telegram: its Issue and Later buttons.

The services queue the preview (core.billing.monthly.queue_month_preview)
as a notification to each active assistant; the sender shows it with two
buttons (bots.telegram.render.keyboard). Issue issues the month
(core.billing.monthly.confirm_month) when pressed by the assistant the
preview was sent to, and says how many invoices were issued; a second
press, by them or by another assistant, or in another process, issues
nothing again and says it was done already. Later leaves the buttons for
another time (or `pmdesk billing run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import CallbackQuery, Message
from telegram.error import TelegramError

from bots.telegram.chatio import ChatIO
from bots.telegram.render import ANSWER_LIMIT, Callback, html_text, notification_html
from core.billing.monthly import confirm_month
from core.config.settings import Settings
from core.conversations.people import StaffView
from core.notify.drain import NotificationView

log = logging.getLogger("pmdesk.bot")
LATER = "Later: press Issue when ready, or run pmdesk billing run."


class BillingRunButtons:
    def __init__(self, io: ChatIO, settings: Settings) -> None:
        self.io = io
        self.settings = settings

    async def press(
        self,
        query: CallbackQuery,
        message: Message,
        view: NotificationView,
        staff: StaffView,
        callback: Callback,
    ) -> None:
        if callback.action == "later":
            await query.answer(LATER)
            return
        # Not through the Ingestor: on a thread of its own, the bot's other writes go on.
        answer = await asyncio.to_thread(
            confirm_month, self.io.engine, self.settings, view.id, staff.id, clock=self.io.clock
        )
        # A long run (its PDFs) may outlast the time Telegram gives to answer a press:
        # the message below still says what was done.
        with contextlib.suppress(TelegramError):
            await query.answer(answer.text[:ANSWER_LIMIT])
        if answer.status in ("issued", "done"):
            log.info("billing run confirmed by staff %s: %s", staff.id, answer.text)
            await self.io.edit(
                message.chat.id,
                message.message_id,
                notification_html(view, f"✓ {html_text(answer.text)}"),
            )
