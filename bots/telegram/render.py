"""What the bot says: notifications as Telegram HTML, their buttons, replies as clients see them.

Everything that comes from outside (what clients wrote, thread titles, client
and staff names, error texts) is escaped (`html_text`, `html.escape` without
the quotes, which need no escaping outside a tag; with them in a link's
address) before it goes into a message sent with `parse_mode=HTML`: only the
tags written here are markup. A message is at most `MAX_TEXT` characters as Telegram counts them
(UTF-16 code units, tags included, which is the stricter reading): a longer
text is cut with "…" and, when the thread has a web address, a link to it.

Button data stays within Telegram's 64 bytes: "take:<notification id>",
"noreply:<id>", "canned:<id>:<index>".
"""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.base.i18n import duration
from core.base.kinds import NotificationKind
from core.base.text import clip
from core.notify.drain import NotificationView
from core.sla.views import ClockView

MAX_TEXT = 4096
# A thread title or client name longer than this is cut in a header.
HEADER_LIMIT = 200
CANNED_PER_MESSAGE = 3
FALLBACK_LANGUAGE = "en"
RESOURCES = "pmdesk.data"

_MARKS = {
    NotificationKind.CLIENT_MESSAGE.value: "💬",
    NotificationKind.CLOCK_WARNING.value: "⏳",
    NotificationKind.CLOCK_BREACH.value: "🔴",
    NotificationKind.CLOCK_ESCALATION.value: "🚨",
    NotificationKind.REPLY_FAILED.value: "⚠️",
    NotificationKind.RECEIVABLES_DIGEST.value: "🧾",
    NotificationKind.BILLING_RUN.value: "🧮",
}
# Any other kind (one added to the outbox before the bot knows it) shows with this.
_OTHER_MARK = "•"
# Where a reply on a thread goes, by the thread's channel, in the receipt's words.
_CHANNELS = {"telegram": "the client's Telegram group", "worksection": "Worksection"}

REFUSAL = "Sorry, this bot only talks to the agency's staff."
BAD_CODE = "Sorry, this invite code is not valid."
QUICK_REPLY_HINT = "<i>Reply to this message to answer the client.</i>"

Action = Literal["take", "noreply", "canned", "issue", "later"]
# Telegram shows at most 200 characters of a button's answer.
ANSWER_LIMIT = 190


def html_text(value: str) -> str:
    """Untrusted text for Telegram's HTML: <, > and & escaped (quotes need not be, outside tags)."""
    return escape(value, quote=False)


# -- notifications -------------------------------------------------------------


def notification_html(view: NotificationView, status: str | None = None) -> str:
    """The notification as Telegram HTML; `status` (HTML) is a line added after an action."""
    header, _, body = view.text.partition("\n")
    head = f"{_MARKS.get(view.kind, _OTHER_MARK)} <b>{html_text(clip(header, HEADER_LIMIT))}</b>\n"
    tail = f"\n\n{QUICK_REPLY_HINT}" if view.thread_id is not None else ""
    if status:
        tail += f"\n\n{status}"
    return fit(head, body, tail, usable_url(view.thread_url))


def fit(head: str, body: str, tail: str = "", url: str | None = None) -> str:
    """`head` + escaped `body` + `tail` within MAX_TEXT, the body cut with "…" if need be."""
    whole = head + html_text(body) + tail
    if utf16_len(whole) <= MAX_TEXT:
        return whole
    more = f' <a href="{escape(url, quote=True)}">Read it all</a>' if url else ""
    budget = MAX_TEXT - utf16_len(head + tail + more) - utf16_len("…")
    return head + _escaped_prefix(body, budget) + "…" + more + tail


def _escaped_prefix(text: str, budget: int) -> str:
    """The longest start of `text` whose escaped form fits `budget`, never half an entity."""
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = html_text(char)
        used += utf16_len(piece)
        if used > budget:
            break
        pieces.append(piece)
    return "".join(pieces)


def utf16_len(text: str) -> int:
    """A text's length as Telegram counts it: characters beyond U+FFFF count twice."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def usable_url(url: str | None) -> str | None:
    """`url` if Telegram will take it in a link or a button (http or https), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url


# -- buttons ---------------------------------------------------------------------


@dataclass(frozen=True)
class Canned:
    label: str
    text: str


class CannedReplies:
    """The canned replies of `data/replies.toml`, by language."""

    def __init__(self, by_language: dict[str, list[Canned]]) -> None:
        self.by_language = by_language

    @classmethod
    def load(cls) -> CannedReplies:
        resource = importlib.resources.files(RESOURCES) / "replies.toml"
        data: dict[str, Any] = tomllib.loads(resource.read_text(encoding="utf-8"))
        return cls(
            {
                language: [Canned(str(item["label"]), str(item["text"])) for item in items]
                for language, items in data.items()
            }
        )

    def for_language(self, language: str | None) -> list[Canned]:
        """The client's language ("fr", or "fr-CA" read as "fr"), else English."""
        key = (language or "").strip().lower()
        for candidate in (key, key.split("-")[0].split("_")[0], FALLBACK_LANGUAGE):
            if candidate in self.by_language:
                return self.by_language[candidate][:CANNED_PER_MESSAGE]
        return []


@dataclass(frozen=True)
class Callback:
    action: Action
    notification_id: int
    index: int | None = None


def callback_data(action: Action, notification_id: int, index: int | None = None) -> str:
    data = f"{action}:{notification_id}" + ("" if index is None else f":{index}")
    assert len(data.encode()) <= 64  # Telegram's limit; ids are far from it
    return data


def parse_callback(data: str | None) -> Callback | None:
    """The button pressed, or None for data this bot never made."""
    parts = (data or "").split(":")
    try:
        if parts[0] in ("take", "noreply", "issue", "later") and len(parts) == 2:
            return Callback(parts[0], int(parts[1]))  # type: ignore[arg-type]
        if parts[0] == "canned" and len(parts) == 3:
            return Callback("canned", int(parts[1]), int(parts[2]))
    except ValueError:
        pass
    return None


def keyboard(
    view: NotificationView, replies: CannedReplies, actions: bool = True
) -> InlineKeyboardMarkup | None:
    """Buttons under a notification: for a client's message Take it, No reply needed, the
    canned replies in the client's language (unless `actions` is False: done with), and Open."""
    rows: list[list[InlineKeyboardButton]] = []
    if actions and view.kind == NotificationKind.CLIENT_MESSAGE.value:
        rows.append(
            [
                InlineKeyboardButton("Take it", callback_data=callback_data("take", view.id)),
                InlineKeyboardButton(
                    "No reply needed", callback_data=callback_data("noreply", view.id)
                ),
            ]
        )
        canned = replies.for_language(view.client_language)
        if canned:
            rows.append(
                [
                    InlineKeyboardButton(
                        item.label, callback_data=callback_data("canned", view.id, index)
                    )
                    for index, item in enumerate(canned)
                ]
            )
    if actions and view.kind == NotificationKind.BILLING_RUN.value:
        rows.append(
            [
                InlineKeyboardButton("Issue", callback_data=callback_data("issue", view.id)),
                InlineKeyboardButton("Later", callback_data=callback_data("later", view.id)),
            ]
        )
    url = usable_url(view.thread_url)
    if url is not None:
        rows.append([InlineKeyboardButton("Open", url=url)])
    return InlineKeyboardMarkup(rows) if rows else None


# -- replies, receipts and lists --------------------------------------------------


def signed_reply(text: str, author: str | None, agency: str) -> str:
    """A reply as posted in the client's group (plain text: nothing in it is markup)."""
    signature = ", ".join(part for part in (author, agency) if part)
    return f"{text}\n\n— {signature}" if signature else text


def receipt(channel: str | None, outcome: str | None = None, error: str | None = None) -> str:
    """What a staff member is told of their reply: on its way, delivered, or not."""
    if channel not in _CHANNELS:
        return (
            f"✓ Reply recorded on the thread. pmdesk cannot send through "
            f"{html_text(channel or 'its channel')}: the client will not see it there."
        )
    where = html_text(_CHANNELS[channel])
    if outcome == "delivered":
        return f"✓ Reply delivered to {where}."
    if outcome == "failed":
        return f"✗ Reply not delivered to {where}: {html_text(error or 'unknown error')}"
    return f"✓ Reply recorded, sending via {where}…"


def queue_html(clocks: Sequence[ClockView], now: datetime, zone: ZoneInfo, limit: int = 20) -> str:
    """A staff member's running clocks, most urgent first, at most `limit` of them."""
    if not clocks:
        return "No running clocks: nobody is waiting for you."
    lines = [f"<b>{len(clocks)} running clock{'s' if len(clocks) != 1 else ''}</b>"]
    for clock in clocks[:limit]:
        left = clock.seconds_left(now)
        due = clock.due_at.astimezone(zone).strftime("%H:%M")
        title = html_text(clip(clock.thread, 80))
        url = usable_url(clock.url)
        if url:
            title = f'<a href="{escape(url, quote=True)}">{title}</a>'
        client = html_text(clip(clock.client or "", 60))
        lines.append(f"{duration(left)} (due {due}) · {client} · {title}")
    if len(clocks) > limit:
        lines.append(f"… and {len(clocks) - limit} more")
    return "\n".join(lines)
