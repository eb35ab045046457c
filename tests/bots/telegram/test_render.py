"""What the bot writes: escaped, within Telegram's limits, buttons that fit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from html import unescape

from bots.telegram.render import (
    MAX_TEXT,
    Callback,
    Canned,
    CannedReplies,
    callback_data,
    keyboard,
    notification_html,
    parse_callback,
    receipt,
    signed_reply,
    usable_url,
    utf16_len,
)
from core.notify.drain import NotificationView

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def view(text: str, **changes: object) -> NotificationView:
    base = NotificationView(
        id=7,
        kind="client_message",
        status="pending",
        text=text,
        attempts=0,
        error=None,
        next_attempt_at=None,
        created_at=AT,
        recipient_id=1,
        recipient_name="Ana",
        recipient_role="assistant",
        telegram_id=501,
        thread_id=3,
        thread_title="Task",
        thread_url="https://tracker.example/T1",
        channel="webhook",
        client_name="Acme",
        client_language="fr",
        clock_id=1,
        clock_outcome="running",
        clock_due_at=AT,
        event_id=9,
        invoice_id=None,
        chat_id=None,
        message_id=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_untrusted_text_is_escaped_and_the_header_bold() -> None:
    html = notification_html(view("<i>Acme</i> & co · T\nClaire: <b>urgent</b> & <a href=x>"))

    header, body = html.split("\n", 1)
    assert header == "💬 <b>&lt;i&gt;Acme&lt;/i&gt; &amp; co · T</b>"
    assert body.startswith("Claire: &lt;b&gt;urgent&lt;/b&gt; &amp; &lt;a href=x&gt;")


def test_a_long_text_is_cut_with_an_ellipsis_and_a_link_never_inside_an_entity() -> None:
    text = "Acme · T\n" + "<b>&é" * 1250  # 5,000 characters, three times as long escaped

    html = notification_html(view(text))

    assert utf16_len(html) <= MAX_TEXT
    assert MAX_TEXT - utf16_len(html) < len("&lt;")  # as much as fits
    body = html.split("\n", 1)[1]
    cut, rest = body.split("…", 1)
    assert rest.startswith(' <a href="https://tracker.example/T1">Read it all</a>')
    assert "<" not in cut and unescape(cut) in "<b>&é" * 1250  # whole entities only


def test_without_a_usable_url_the_cut_has_no_link() -> None:
    html = notification_html(view("T\n" + "x" * 5000, thread_url="javascript:alert(1)"))

    assert "<a " not in html and "…" in html and utf16_len(html) <= MAX_TEXT


def test_characters_beyond_the_basic_plane_count_twice() -> None:
    assert utf16_len("é😀") == 3
    html = notification_html(view("T\n" + "😀" * 3000))

    assert utf16_len(html) <= MAX_TEXT < len(html) * 2


def test_buttons_of_a_client_message_in_the_clients_language() -> None:
    replies = CannedReplies.load()

    markup = keyboard(view("T\nhi", client_language="fr"), replies)

    assert markup is not None
    rows = [
        [(button.text, button.callback_data, button.url) for button in row]
        for row in markup.inline_keyboard
    ]
    assert rows[0] == [("Take it", "take:7", None), ("No reply needed", "noreply:7", None)]
    assert [label for label, _, _ in rows[1]] == [item.label for item in replies.by_language["fr"]][
        :3
    ]
    assert rows[2] == [("Open", None, "https://tracker.example/T1")]
    for row in markup.inline_keyboard:
        for button in row:
            assert button.callback_data is None or len(str(button.callback_data).encode()) <= 64


def test_alerts_get_only_the_open_button_and_done_with_ones_lose_their_actions() -> None:
    replies = CannedReplies.load()

    for markup in (
        keyboard(view("T\nlate", kind="clock_breach"), replies),
        keyboard(view("T\nhi"), replies, actions=False),
    ):
        assert markup is not None
        assert [[button.text for button in row] for row in markup.inline_keyboard] == [["Open"]]
    assert keyboard(view("T\nhi", kind="clock_breach", thread_url=None), replies) is None


def test_canned_replies_fall_back_to_english() -> None:
    replies = CannedReplies({"en": [Canned("Hi", "Hello")], "fr": [Canned("Salut", "Bonjour")]})

    assert replies.for_language("fr-CA")[0].text == "Bonjour"
    assert replies.for_language("de")[0].text == "Hello"
    assert replies.for_language(None)[0].text == "Hello"
    shipped = CannedReplies.load()
    assert {"fr", "en"} <= set(shipped.by_language)
    assert all(2 <= len(items) <= 3 for items in shipped.by_language.values())


def test_callback_data_round_trips_and_strangers_data_is_refused() -> None:
    assert parse_callback(callback_data("take", 12)) == Callback("take", 12)
    assert parse_callback(callback_data("canned", 2**62, 2)) == Callback("canned", 2**62, 2)
    assert len(callback_data("canned", 2**62, 2).encode()) <= 64
    for data in (None, "", "take", "take:x", "drop:1", "canned:1", "noreply:1:2"):
        assert parse_callback(data) is None


def test_urls_for_buttons_and_links() -> None:
    assert usable_url("https://tracker.example/T1") == "https://tracker.example/T1"
    for url in (None, "", "tracker.example/T1", "javascript:alert(1)", "https://"):
        assert usable_url(url) is None


def test_a_reply_in_the_group_is_signed_and_receipts_escape_errors() -> None:
    assert signed_reply("C'est réparé.", "Ana", "Atelier") == "C'est réparé.\n\n— Ana, Atelier"
    assert receipt("telegram") == "✓ Reply recorded, sending via the client's Telegram group…"
    assert receipt("telegram", "failed", "Bad <Request>") == (
        "✗ Reply not delivered to the client's Telegram group: Bad &lt;Request&gt;"
    )
    assert "cannot send through webhook" in receipt("webhook")
