"""The fake Telegram server, driven by the real python-telegram-bot.

These tests pin down both sides: that the fake answers in the Bot API's shapes, and which
`telegram.error` each injected failure becomes, so that bot tests can rely on either.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from tests.fakes.telegram import Call, FakeTelegram, UploadedFile

TOKEN = "123:ABC"
ALICE = 501  # a user, and her private chat with the bot
TEAM = -4001  # a small group


class ManualClock:
    """The server's monotonic clock, moved by hand so rate windows need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _retry_after_as_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """What python-telegram-bot 23 will do; until then reading an int warns."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every test leaves no server thread behind (the fixture above stops first)."""
    yield
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("fake-telegram")]
    assert leftover == []


@contextlib.asynccontextmanager
async def bot_for(tg: FakeTelegram, token: str = TOKEN) -> AsyncIterator[Bot]:
    async with Bot(token, base_url=tg.base_url, base_file_url=tg.base_file_url) as bot:
        yield bot


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Run `app` inside the test's own loop, polling with short long-polls, and stop it."""
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        await app.start()
        try:
            yield app
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()


def application(tg: FakeTelegram) -> Application:  # type: ignore[type-arg]
    return ApplicationBuilder().token(TOKEN).base_url(tg.base_url).build()


# -- plain calls -------------------------------------------------------------------------------


async def test_get_me_names_the_bot_of_the_token(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123, True, "pmdesk_test_bot")
    assert tg.base_url == f"http://127.0.0.1:{tg.port}/bot"


async def test_send_message_answers_a_message_and_records_the_call(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Done", callback_data="done:7")]])
    async with bot_for(tg) as bot:
        first = await bot.send_message(ALICE, "123", reply_markup=keyboard)
        second = await bot.send_message(ALICE, "*again*", parse_mode="MarkdownV2")
        elsewhere = await bot.send_message(TEAM, "hello team")

    assert (first.message_id, second.message_id, elsewhere.message_id) == (1, 2, 1)
    assert first.text == "123" and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.is_bot
    assert first.reply_markup == keyboard
    assert elsewhere.chat.type == "group"
    call = tg.calls("sendMessage")[0]
    # The library posts a form; the fake decodes JSON-valued fields but keeps text a string.
    assert call.params["chat_id"] == ALICE and call.params["text"] == "123"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "done:7"
    assert tg.calls("sendMessage")[1].params["parse_mode"] == "MarkdownV2"
    assert [m["text"] for m in tg.sent_messages(ALICE)] == ["123", "*again*"]
    assert [m["text"] for m in tg.sent_messages()] == ["123", "*again*", "hello team"]


async def test_refusals_come_in_the_bot_apis_words(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(ALICE, "x" * 4097)
        with pytest.raises(BadRequest, match="replied not found"):
            await bot.send_message(ALICE, "re", reply_to_message_id=99)
        sent = await bot.send_message(ALICE, "same")
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("same", chat_id=ALICE, message_id=sent.message_id)
    assert [c.status for c in tg.calls("sendMessage")] == [400, 400, 200]


async def test_edits_change_the_stored_message(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    async with bot_for(tg) as bot:
        sent = await bot.send_message(ALICE, "v1", reply_markup=keyboard)
        edited = await bot.edit_message_text("v2", chat_id=ALICE, message_id=sent.message_id)
        assert not isinstance(edited, bool) and edited.edit_date is not None
        assert tg.message(ALICE, sent.message_id)["text"] == "v2"
        # As on Telegram, editing the text without reply_markup drops the keyboard.
        assert "reply_markup" not in tg.message(ALICE, sent.message_id)
        await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard)
    assert tg.message(ALICE, sent.message_id)["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Go",
        "callback_data": "go",
    }


async def test_webhook_commands_chat_and_files(tg: FakeTelegram) -> None:
    file_id = tg.add_file(b"\x00\xffreport", "documents/report.pdf")
    async with bot_for(tg) as bot:
        # A certificate makes the library post multipart/form-data.
        assert await bot.set_webhook("https://example.invalid/hook", certificate=b"\x00PEM\xff")
        info = await bot.get_webhook_info()
        assert (info.url, info.has_custom_certificate) == ("https://example.invalid/hook", True)
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()
        assert await bot.set_my_commands([("today", "What is due today")])
        assert [c.command for c in await bot.get_my_commands()] == ["today"]
        chat = await bot.get_chat(TEAM)
        document = await bot.get_file(file_id)
        content = await document.download_as_bytearray()
    certificate = tg.calls("setWebhook")[0].params["certificate"]
    assert isinstance(certificate, UploadedFile) and certificate.data == b"\x00PEM\xff"
    assert (chat.id, chat.type) == (TEAM, "group")
    assert bytes(content) == b"\x00\xffreport"


async def test_a_json_body_is_accepted_too(tg: FakeTelegram) -> None:
    url = f"{tg.base_url}{TOKEN}/sendMessage"
    async with httpx.AsyncClient() as client:
        answer = (await client.post(url, json={"chat_id": ALICE, "text": "hi"})).json()
        missing = await client.post(f"{tg.base_url}{TOKEN}/sendDice", json={})
    assert answer["ok"] is True and answer["result"]["text"] == "hi"
    assert missing.status_code == 404
    assert missing.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    assert tg.calls("sendDice")[0].status == 404


# -- failures and what the library makes of them ----------------------------------------------


async def test_a_429_is_retry_after(tg: FakeTelegram) -> None:
    tg.rate_limit_next("sendMessage", 1, retry_after=7)
    async with bot_for(tg) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(ALICE, "too soon")
        await bot.send_message(ALICE, "later")  # only the next one was refused
    assert caught.value.retry_after == timedelta(seconds=7)
    assert [c.status for c in tg.calls("sendMessage")] == [429, 200]
    assert tg.calls("sendMessage")[0].response["parameters"] == {"retry_after": 7}
    assert tg.rate_limited == 0  # injected, not provoked


async def test_a_500_is_a_network_error(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        tg.fail_next(None, 2)
        for _ in range(2):
            with pytest.raises(NetworkError, match="Internal Server Error"):
                await bot.send_message(ALICE, "x")
        tg.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked")
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(ALICE, "x")


async def test_an_outage_is_a_network_error_either_way(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        with tg.outage(), pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(ALICE, "x")
        with tg.outage(drop=True), pytest.raises(NetworkError, match="RemoteProtocolError"):
            await bot.send_message(ALICE, "x")
        sent = await bot.send_message(ALICE, "back")
    assert sent.text == "back"
    assert [c.status for c in tg.calls("sendMessage")] == [502, 0, 200]


async def test_a_wrong_token_is_invalid_token(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="rejected"):
        async with bot_for(tg, token="999:WRONG"):
            pass
    assert tg.calls("getMe")[0].status == 401


async def test_an_unknown_method_depends_on_how_it_is_called(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        with pytest.raises(EndPointNotFound), pytest.warns(PTBUserWarning):
            await bot.do_api_request("sendDice", api_kwargs={"chat_id": ALICE})
        # A named method gets the 404 as InvalidToken: the library cannot tell them apart.
        with pytest.raises(InvalidToken, match="method not found"):
            await bot.send_dice(ALICE)


async def test_a_slow_answer_times_out(tg: FakeTelegram) -> None:
    tg.set_delay("sendMessage", 0.3)
    async with bot_for(tg) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(ALICE, "x", read_timeout=0.05)
        started = time.monotonic()
        await bot.send_message(ALICE, "y")
        assert time.monotonic() - started >= 0.3


# -- long polling ------------------------------------------------------------------------------


async def test_get_updates_wakes_as_soon_as_an_update_arrives(tg: FakeTelegram) -> None:
    async with bot_for(tg) as bot:
        threading.Timer(0.1, tg.push_message, (ALICE, ALICE, "hi")).start()
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        assert time.monotonic() - started < 1
        assert [u.message.text for u in updates if u.message] == ["hi"]
        # Not confirmed yet: the same update again, then gone once the offset passes it.
        assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
        assert await bot.get_updates(offset=updates[0].update_id + 1) == ()
        started = time.monotonic()
        assert await bot.get_updates(timeout=timedelta(milliseconds=200)) == ()
        assert 0.2 <= time.monotonic() - started < 1


async def test_a_newer_poll_ends_the_older_one(tg: FakeTelegram) -> None:
    # Two bots: one Bot never polls twice at once (its getUpdates pool holds one connection).
    async with bot_for(tg) as first, bot_for(tg) as second:
        older = asyncio.create_task(first.get_updates(timeout=5))
        await asyncio.sleep(0.1)  # the older poll must be waiting before the newer comes
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await older


async def test_stop_wakes_a_long_poll_and_joins_every_thread() -> None:
    tg = FakeTelegram(token=TOKEN).start()
    async with bot_for(tg) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        tg.stop()
        with contextlib.suppress(NetworkError):
            assert await poll == ()
        assert time.monotonic() - started < 1
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-telegram")]


def test_wait_for_blocks_a_thread_until_the_calls_arrive(tg: FakeTelegram) -> None:
    def send_later() -> None:
        time.sleep(0.05)
        httpx.post(f"{tg.base_url}{TOKEN}/sendMessage", data={"chat_id": "7", "text": "hi"})

    threading.Thread(target=send_later).start()
    [call] = tg.wait_for("sendMessage", timeout=2)
    assert isinstance(call, Call) and call.params == {"chat_id": 7, "text": "hi"}
    with pytest.raises(TimeoutError, match="sendMessage=200"):
        tg.wait_for(lambda c: c.method == "getMe", timeout=0.05)


async def test_wait_for_refuses_to_block_the_event_loop(tg: FakeTelegram) -> None:
    with pytest.raises(RuntimeError, match="wait_for_async"):
        tg.wait_for("sendMessage")


# -- an Application polling the fake -----------------------------------------------------------


async def test_an_application_receives_messages_commands_and_callbacks(tg: FakeTelegram) -> None:
    seen: list[Update] = []

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        assert update.message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Done", callback_data="done")]])
        await update.message.reply_text("Noted", do_quote=True, reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        assert update.callback_query is not None
        await update.callback_query.answer("Marked done")
        await update.callback_query.edit_message_text("Done ✓")

    app = application(tg)
    app.add_handler(CommandHandler("today", remember))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    async with polling(app):
        pushed = tg.push_message(ALICE, ALICE, "The logo is late", first_name="Alice")
        [noted] = [c.result for c in await tg.wait_for_async("sendMessage")]
        tg.push_callback(ALICE, ALICE, noted["message_id"], "done")
        await tg.wait_for_async("editMessageText")
        tg.push_command(TEAM, ALICE, "today", "urgent", mention_bot=True, chat_title="Team")
        await tg.wait_for_async(lambda c: len(seen) == 3 and c.method == "getUpdates")

    message, button, command = seen
    assert message.message and message.message.text == "The logo is late"
    assert message.message.message_id == pushed["message_id"]
    assert message.message.from_user and message.message.from_user.first_name == "Alice"
    assert noted["reply_to_message"]["message_id"] == pushed["message_id"]  # reply_text quotes
    query = button.callback_query
    assert query and query.data == "done" and query.from_user.id == ALICE
    assert query.message and query.message.message_id == noted["message_id"]
    assert tg.calls("answerCallbackQuery")[0].params["text"] == "Marked done"
    assert tg.message(ALICE, noted["message_id"])["text"] == "Done ✓"
    assert command.message and command.message.chat.title == "Team"
    assert command.message.text == "/today@pmdesk_test_bot urgent"
    assert tg.pending_updates == 0  # the updater confirmed everything on its way out


async def test_a_reply_to_a_bot_message_carries_it(tg: FakeTelegram) -> None:
    replies: list[Update] = []

    async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        replies.append(update)

    app = application(tg)
    app.add_handler(MessageHandler(filters.REPLY, on_reply))
    async with polling(app):
        asked = await app.bot.send_message(TEAM, "Who takes the Bigco brief?")
        tg.push_message(TEAM, ALICE, "Me", reply_to_message_id=asked.message_id)
        await tg.wait_for_async(lambda c: bool(replies))

    message = replies[0].message
    assert message and message.reply_to_message
    assert message.reply_to_message.message_id == asked.message_id
    assert message.reply_to_message.from_user and message.reply_to_message.from_user.is_bot
    assert message.reply_to_message.text == "Who takes the Bigco brief?"


# -- Telegram's limits -------------------------------------------------------------------------


async def test_enforced_limits_refuse_a_second_message_within_a_second() -> None:
    clock = ManualClock()
    with FakeTelegram(token=TOKEN, enforce_limits=True, clock=clock) as tg:
        async with bot_for(tg) as bot:
            await bot.send_message(ALICE, "one")
            clock.advance(0.5)
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(ALICE, "two")
            assert caught.value.retry_after == timedelta(seconds=1)
            await bot.send_message(ALICE + 1, "another chat is fine")
            clock.advance(0.5)
            await bot.send_message(ALICE, "two, a second later")
        assert tg.rate_limited == 1


async def test_enforced_limits_cap_a_group_at_twenty_a_minute() -> None:
    clock = ManualClock()
    with FakeTelegram(token=TOKEN, enforce_limits=True, clock=clock) as tg:
        async with bot_for(tg) as bot:
            for n in range(20):
                await bot.send_message(TEAM, f"update {n}")
                clock.advance(1.5)
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(TEAM, "one too many")
            # 30 s in, the first of the twenty leaves the window at 60 s.
            assert caught.value.retry_after == timedelta(seconds=30)
        assert tg.rate_limited == 1


async def test_enforced_limits_cap_everything_at_thirty_a_second() -> None:
    clock = ManualClock()
    with FakeTelegram(token=TOKEN, enforce_limits=True, clock=clock) as tg:
        async with bot_for(tg) as bot:
            for chat in range(1, 31):
                await bot.send_message(chat, "broadcast")
            with pytest.raises(RetryAfter):
                await bot.send_message(31, "broadcast")
            clock.advance(1)
            await bot.send_message(31, "broadcast")
        assert tg.rate_limited == 1
