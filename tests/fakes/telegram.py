"""A fake Telegram Bot API server for the tests: real HTTP on 127.0.0.1, standard library only.

The real python-telegram-bot talks to it exactly as it talks to Telegram, so the tests exercise
the library's own request encoding, error mapping and polling loop rather than a mock of them::

    with FakeTelegram(token="123:ABC") as tg:
        app = ApplicationBuilder().token("123:ABC").base_url(tg.base_url).build()
        ...
        tg.push_message(chat_id=42, from_user_id=42, text="hello")
        await tg.wait_for_async("sendMessage")

What the library makes of each failure the fake can produce (python-telegram-bot 22):

* `rate_limit_next` and `enforce_limits` answer 429 with ``parameters.retry_after``:
  `telegram.error.RetryAfter`.
* `fail_next(status=500)` and any status the library has no special case for: `NetworkError`;
  400 is `BadRequest`, 403 `Forbidden`, 409 `Conflict`, 401 and 404 `InvalidToken`.
* A wrong token in the URL answers 401: `InvalidToken`.
* An unknown method answers 404, which a named bot method reports as `InvalidToken` and
  `Bot.do_api_request` as `EndPointNotFound`.
* `go_down()` answers every call 502 Bad Gateway: `NetworkError`. `go_down(drop=True)` closes
  the connection without an answer instead, which httpx reports as a protocol error and the
  library as `NetworkError` too. A refused connection is not offered: the port must stay ours so
  that `come_up()` brings the same `base_url` back.
* `set_delay` longer than the client's read timeout: `TimedOut` (a `NetworkError`).

Numeric chats need no introduction: a bot may write to any numeric chat id, whose type is
guessed from the id (positive: private, below -10**12: supergroup, else group) unless a pushed
message said otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import math
import re
import select
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
Clock = Callable[[], float]
CallMatcher = str | Callable[["Call"], bool]

# How long a test waits for a call it expects. The bot answers in milliseconds;
# the margin is for a machine busy with other work, where a write can wait its
# turn for seconds. A wait ends as soon as the call is there.
WAIT = 10.0

# Telegram's documented limits, as https://core.telegram.org/bots/faq states them.
PER_CHAT_INTERVAL = 1.0
GROUP_WINDOW, GROUP_LIMIT = 60.0, 20
GLOBAL_WINDOW, GLOBAL_LIMIT = 1.0, 30
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

# Statuses recorded for calls that got no answer: the client hung up first (nginx's
# convention), or the server dropped the connection on purpose (`go_down(drop=True)`).
CLIENT_CLOSED = 499
DROPPED = 0

# python-telegram-bot sends a form in which strings go as they are and everything else as JSON,
# so "123" may be either; these parameters are strings whatever they look like.
STRING_PARAMETERS = frozenset(
    [
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "description",
        "emoji",
        "file_id",
        "inline_message_id",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
    ]
)

_LEADING_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class Call:
    """One request as the server saw it; `at` is when it arrived, on the server's clock."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    response: JSON = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK

    @property
    def result(self) -> Any:
        """The ``result`` the call was answered with (None when it failed)."""
        return self.response.get("result")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (a webhook certificate, a document...)."""

    filename: str | None
    content_type: str
    data: bytes


class ApiError(Exception):
    """A refusal in the Bot API's own shape: ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class _Outage(Exception):
    """Raised inside a long poll when the server goes down under it."""


Reply = tuple[int, JSON]  # status and body; CLIENT_CLOSED and DROPPED mean hang up


def bad_request(what: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {what}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too Many Requests: retry after {retry_after}",
        {"retry_after": retry_after},
    )


class FakeTelegram:
    """A Bot API server for one bot, with users to push updates and faults to inject.

    State is guarded by one condition variable: handler threads change it, long polls and
    `wait_for` sleep on it, and every change notifies it so that nobody waits longer than needed.
    Long-poll deadlines use the real monotonic clock; `clock` (injectable so that tests can move
    time by hand) stamps calls and measures the rate-limit windows.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "pmdesk_test_bot",
        bot_first_name: str = "pmdesk (test)",
        enforce_limits: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        self.token = token
        self.enforce_limits = enforce_limits
        self._clock = clock
        self._bot_user: JSON = {
            "id": int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[Call] = []
        self._updates: deque[JSON] = deque()
        self._update_ids = itertools.count(1)
        # Every update ever queued, by id: what `redeliver` sends again.
        self._history: dict[int, JSON] = {}
        self._callback_ids = itertools.count(4_000_000_001)
        self._open_callbacks: set[str] = set()
        self._users: dict[int, JSON] = {}
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        self._webhook: JSON = {"url": "", "has_custom_certificate": False}
        # Not part of getWebhookInfo, as on Telegram: only sent back with each update.
        self._webhook_secret: str | None = None
        self._commands: dict[str, list[JSON]] = {}
        self._poll_generation = 0
        self._faults: dict[str | None, deque[ApiError]] = {}
        self._delays: dict[str | None, float] = {}
        self._down: Literal["bad_gateway", "drop"] | None = None
        self._recent_sends: dict[int | str, deque[float]] = {}
        self._all_sends: deque[float] = deque()
        self._rate_limited = 0
        self._methods: dict[str, tuple[str, Callable[[JSON], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "logOut": self._true,
                "close": self._true,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "sendChatAction": self._true,
                "answerCallbackQuery": self._answer_callback_query,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getChat": self._get_chat,
                "getFile": self._get_file,
                "getUpdates": self._no_direct_call,  # answered by _get_updates: it may block
            }.items()
        }

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long shutdown() may wait for the loop
            name="fake-telegram-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Answer waiting long polls, close every connection and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        connection_threads = server.close_connections()
        server.server_close()
        thread.join(timeout=2)
        for connection_thread in connection_threads:
            connection_thread.join(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not running: use start() or `with`")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``: the library appends the token, then ``/method``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(token, base_file_url=...)``: where `add_file` contents are downloaded."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> JSON:
        return dict(self._bot_user)

    # -- what happened -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every answered request in the order they were answered, or only those to `method`."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """The Message objects that successful sendMessage calls returned, in order."""
        return [
            c.result
            for c in self.calls("sendMessage")
            if c.ok and (chat_id is None or c.result["chat"]["id"] == chat_id)
        ]

    def message(self, chat_id: int, message_id: int) -> JSON:
        """A message as it stands now, edits included."""
        with self._cond:
            return copy.deepcopy(self._find_message(chat_id, message_id))

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._cond:
            return len(self._updates)

    @property
    def rate_limited(self) -> int:
        """How many calls `enforce_limits` refused with 429 (injected 429s are not counted)."""
        with self._cond:
            return self._rate_limited

    def wait_for(self, what: CallMatcher, count: int = 1, timeout: float = WAIT) -> list[Call]:
        """Block until `count` calls match a method name or predicate; return the matches.

        For threads and synchronous tests only: inside a coroutine it would freeze the very
        event loop that has to make the calls, so it refuses; use `wait_for_async` there.
        """
        if _inside_event_loop():
            raise RuntimeError("wait_for would block the event loop; use await wait_for_async")
        matches = _matcher(what)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls if matches(c)]
                remaining = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what, count, len(found)))
                self._cond.wait(remaining)

    async def wait_for_async(
        self, what: CallMatcher, count: int = 1, timeout: float = WAIT
    ) -> list[Call]:
        """`wait_for` for coroutines: polls every 10 ms, leaving the loop free in between."""
        matches = _matcher(what)
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls() if matches(c)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(what, count, len(found)))
            await asyncio.sleep(0.01)

    def _timeout_message(self, what: CallMatcher, count: int, found: int) -> str:
        seen = ", ".join(f"{c.method}={c.status}" for c in self.calls()) or "none"
        return f"expected {count} call(s) matching {what!r}, got {found}; calls: {seen}"

    # -- users ---------------------------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        from_user_id: int,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        chat_type: ChatType | None = None,
        chat_title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
    ) -> JSON:
        """A user writes `text` in a chat; returns the Message the bot will receive.

        A leading ``/command`` gets its bot_command entity, as Telegram marks it.
        `reply_to_message_id` must name a message of that chat (usually one the bot sent).
        """
        with self._cond:
            user = self._user(from_user_id, first_name, username)
            chat = self._chat(chat_id, chat_type, chat_title, user)
            replied = None
            if reply_to_message_id is not None:
                replied = self._find_message(chat_id, reply_to_message_id, missing=LookupError)
            message = self._new_message(chat, user, text, replied)
            command = _LEADING_COMMAND.match(text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": command.end()}
                ]
            self._enqueue({"message": copy.deepcopy(message)})
            return copy.deepcopy(message)

    def push_command(
        self,
        chat_id: int,
        from_user_id: int,
        command: str,
        args: str = "",
        *,
        mention_bot: bool = False,
        **message: Any,
    ) -> JSON:
        """A user sends ``/command args`` (``/command@bot args`` with `mention_bot`)."""
        text = "/" + command.lstrip("/")
        if mention_bot:
            text += "@" + self._bot_user["username"]
        if args:
            text += " " + args
        return self.push_message(chat_id, from_user_id, text, **message)

    def push_callback(
        self,
        from_user_id: int,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str | None = None,
    ) -> JSON:
        """A user presses an inline button of a message; returns the CallbackQuery."""
        with self._cond:
            user = self._user(from_user_id, first_name, None)
            message = self._find_message(chat_id, message_id, missing=LookupError)
            query: JSON = {
                "id": str(next(self._callback_ids)),
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(chat_id) * 7 + 1),
                "data": data,
            }
            self._open_callbacks.add(query["id"])
            self._enqueue({"callback_query": copy.deepcopy(query)})
            return query

    def last_update_id(self) -> int:
        """The id of the update queued last."""
        with self._cond:
            return max(self._history)

    def redeliver(self, update_id: int) -> None:
        """Queue update `update_id` again, as it was: Telegram sends an update again when
        its offset was never confirmed (a bot that crashed before its next poll) or when a
        webhook call timed out. A poller confirming a later offset drops it again, so
        redeliver to a bot that starts polling afresh (offset 0), or to the webhook."""
        with self._cond:
            self._updates.append(copy.deepcopy(self._history[update_id]))
            self._cond.notify_all()

    @property
    def webhook_url(self) -> str:
        """The URL setWebhook registered ("" when none)."""
        with self._cond:
            return str(self._webhook["url"])

    def deliver_to_webhook(self, timeout: float = 5.0) -> list[int]:
        """Post each queued update to the webhook, as Telegram does; return the statuses.

        Each goes alone, with the ``X-Telegram-Bot-Api-Secret-Token`` header when setWebhook
        gave a secret_token; an update answered 2xx is confirmed (dropped from the queue),
        others stay queued, as Telegram retries them. Blocking: from a coroutine, call it
        through ``asyncio.to_thread``.
        """
        with self._cond:
            url, secret = str(self._webhook["url"]), self._webhook_secret
            updates = list(self._updates)
        if not url:
            raise RuntimeError("no webhook is set: call setWebhook first")
        statuses = []
        for update in updates:
            request = urllib.request.Request(
                url,
                data=json.dumps(update).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            if secret:
                request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status = int(response.status)
            except urllib.error.HTTPError as error:
                status = int(error.code)
            statuses.append(status)
            if 200 <= status < 300:
                with self._cond:
                    with contextlib.suppress(ValueError):
                        self._updates.remove(update)
                    self._cond.notify_all()
        return statuses

    def add_file(self, data: bytes, file_path: str | None = None) -> str:
        """Store a file for getFile and the file URL; returns its file_id."""
        with self._cond:
            file_id = f"file-{len(self._files) + 1}"
            self._files[file_id] = (file_path or f"documents/{file_id}.bin", data)
            return file_id

    # -- faults --------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        n: int = 1,
        status: int = 500,
        description: str | None = None,
    ) -> None:
        """Answer the next `n` calls to `method` (None: to any method) with an error status.

        None counts every call, the getUpdates of a polling Application included.
        """
        text = description or HTTPStatus(status).phrase
        self._add_faults(method, n, lambda: ApiError(status, text))

    def rate_limit_next(self, method: str | None, n: int = 1, retry_after: int = 1) -> None:
        """Answer the next `n` calls to `method` (None: any) 429 with ``retry_after``."""
        self._add_faults(method, n, lambda: too_many_requests(retry_after))

    def set_delay(self, method: str | None, seconds: float) -> None:
        """Answer `method` (None: every method) `seconds` late; 0 removes the delay."""
        with self._cond:
            key = self._canonical(method)
            if seconds > 0:
                self._delays[key] = seconds
            else:
                self._delays.pop(key, None)

    def go_down(self, drop: bool = False) -> None:
        """Every call fails: 502 Bad Gateway, or with `drop` a connection closed unanswered."""
        with self._cond:
            self._down = "drop" if drop else "bad_gateway"
            self._cond.notify_all()  # long polls in progress fail too

    def come_up(self) -> None:
        with self._cond:
            self._down = None

    @contextlib.contextmanager
    def outage(self, drop: bool = False) -> Iterator[None]:
        """`go_down` for the duration of a ``with`` block."""
        self.go_down(drop)
        try:
            yield
        finally:
            self.come_up()

    def _add_faults(self, method: str | None, n: int, fault: Callable[[], ApiError]) -> None:
        with self._cond:
            queue = self._faults.setdefault(self._canonical(method), deque())
            queue.extend(fault() for _ in range(n))

    def _canonical(self, method: str | None) -> str | None:
        """The Bot API's spelling of a method name, which the API itself reads case-blind."""
        if method is None:
            return None
        return self._methods.get(method.lower(), (method, None))[0]

    def _take_fault(self, method: str) -> ApiError | None:
        with self._cond:
            for key in (method, None):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
            return None

    def _outage_reply(self) -> Reply:
        if self._down == "drop":
            return DROPPED, {}
        return HTTPStatus.BAD_GATEWAY, ApiError(HTTPStatus.BAD_GATEWAY, "Bad Gateway").body()

    # -- serving -------------------------------------------------------------------------------

    def serve(
        self, token: str, method: str, params: JSON, client_gone: Callable[[], bool]
    ) -> Reply:
        """Answer one Bot API call and record it; called from the connection's thread."""
        arrived = self._clock()
        name = self._canonical(method) or method
        status, body = self._answer(token, name, params, client_gone)
        with self._cond:
            self._calls.append(Call(name, params, arrived, int(status), body))
            self._cond.notify_all()
        return status, body

    def serve_file(self, token: str, path: str) -> tuple[int, bytes] | None:
        """The bytes behind a file URL, or None when the server is down and drops."""
        if self._down is not None:
            status, body = self._outage_reply()
            return None if status == DROPPED else (status, json.dumps(body).encode())
        if token != self.token:
            return HTTPStatus.UNAUTHORIZED, b"Unauthorized"
        with self._cond:
            for file_path, data in self._files.values():
                if file_path == path:
                    return HTTPStatus.OK, data
        return HTTPStatus.NOT_FOUND, b"Not Found"

    def _answer(
        self, token: str, method: str, params: JSON, client_gone: Callable[[], bool]
    ) -> Reply:
        # The order mirrors the real thing: no server, no token check; no bot, no method.
        if self._down is not None:
            return self._outage_reply()
        if token != self.token:
            return HTTPStatus.UNAUTHORIZED, ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized").body()
        delay = self._delays.get(method, self._delays.get(None, 0.0))
        if delay and self._stopping.wait(delay):
            return HTTPStatus.BAD_GATEWAY, ApiError(HTTPStatus.BAD_GATEWAY, "Bad Gateway").body()
        if self._down is not None:  # went down while this call was being delayed
            return self._outage_reply()
        try:
            fault = self._take_fault(method)
            if fault is not None:
                raise fault
            entry = self._methods.get(method.lower())
            if entry is None:
                raise ApiError(HTTPStatus.NOT_FOUND, "Not Found: method not found")
            if method == "getUpdates":
                updates = self._get_updates(params, client_gone)
                if updates is None:
                    return CLIENT_CLOSED, {}
                return HTTPStatus.OK, {"ok": True, "result": updates}
            with self._cond:
                result = entry[1](params)
        except ApiError as error:
            return error.status, error.body()
        except _Outage:
            return self._outage_reply()
        return HTTPStatus.OK, {"ok": True, "result": result}

    # -- getUpdates ----------------------------------------------------------------------------

    def _get_updates(self, params: JSON, client_gone: Callable[[], bool]) -> list[JSON] | None:
        """Long polling: confirm by offset, answer at once if anything waits, else sleep.

        Returns None when the client hung up while waiting (the library cancels its poll on
        stop), so that a dead request does not hold a thread until its timeout.
        """
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = set(params.get("allowed_updates") or ())
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook["url"]:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            # A newer poll ends the older one, as on Telegram: only one consumer per bot.
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            self._confirm(offset)
            while True:
                ready = [u for u in self._updates if not allowed or _update_type(u) in allowed]
                if ready or self._stopping.is_set():
                    return copy.deepcopy(ready[:limit])
                if self._down is not None:
                    raise _Outage
                if generation != self._poll_generation:
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                # Wake on notify; the slice only bounds how late a hang-up is noticed.
                self._cond.wait(min(remaining, 0.1))
                if client_gone():
                    return None

    def _confirm(self, offset: int) -> None:
        """Forget updates the client has confirmed; a negative offset keeps the last -offset."""
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            return
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()

    def _enqueue(self, content: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), **content}
        self._history[update["update_id"]] = copy.deepcopy(update)
        self._updates.append(update)
        self._cond.notify_all()
        return update

    # -- chats, users and messages -------------------------------------------------------------

    def _user(self, user_id: int, first_name: str | None, username: str | None) -> JSON:
        user = self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        )
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        return dict(user)

    def _chat(
        self, chat_id: int, chat_type: ChatType | None, title: str | None, user: JSON | None
    ) -> JSON:
        chat = self._chats.get(chat_id)
        if chat is None or (chat_type is not None and chat["type"] != chat_type):
            kind = chat_type or _guess_chat_type(chat_id)
            chat = {"id": chat_id, "type": kind}
            if kind == "private":
                chat["first_name"] = (user or {}).get("first_name", f"User {chat_id}")
                if user and "username" in user:
                    chat["username"] = user["username"]
            else:
                chat["title"] = title or f"Chat {chat_id}"
            self._chats[chat_id] = chat
        elif title and chat["type"] != "private":
            chat["title"] = title
        return dict(chat)

    def _chat_param(self, params: JSON) -> JSON:
        """The chat a call names: any numeric id, or the @username of a known chat."""
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            return self._chat(chat_id, None, None, None)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username") == chat_id[1:]:
                    return dict(chat)
        if chat_id in (None, ""):
            raise bad_request("chat_id is empty")
        raise bad_request("chat not found")

    def _new_message(self, chat: JSON, sender: JSON, text: str, replied: JSON | None) -> JSON:
        # Message ids are counted per chat, shared by the bot and the people in it.
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        message: JSON = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        if replied is not None:
            # Telegram nests one level only: the replied message loses its own reply.
            message["reply_to_message"] = {
                k: copy.deepcopy(v) for k, v in replied.items() if k != "reply_to_message"
            }
        self._messages[(chat["id"], message_id)] = message
        return message

    def _find_message(
        self, chat_id: int, message_id: int, missing: type[Exception] | None = None
    ) -> JSON:
        message = self._messages.get((chat_id, message_id))
        if message is None:
            if missing is not None:
                raise missing(f"no message {message_id} in chat {chat_id}")
            raise bad_request("message not found")
        return message

    # -- Bot API methods (called with the lock held) -------------------------------------------

    def _true(self, params: JSON) -> bool:
        return True

    def _no_direct_call(self, params: JSON) -> None:
        raise AssertionError("getUpdates is answered by _get_updates")

    def _get_me(self, params: JSON) -> JSON:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: JSON) -> JSON:
        chat = self._chat_param(params)
        text = _checked_text(params)
        markup = _checked_markup(params)
        replied = self._replied(chat["id"], params)
        if self.enforce_limits:
            self._throttle(chat["id"])
        message = self._new_message(chat, self._bot_user, text, replied)
        if params.get("entities"):
            message["entities"] = params["entities"]
        if markup is not None:
            message["reply_markup"] = markup
        return copy.deepcopy(message)

    def _replied(self, chat_id: int, params: JSON) -> JSON | None:
        """The message a send answers: reply_parameters (what the library sends) or the old
        reply_to_message_id; a missing one is an error unless allow_sending_without_reply."""
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            if params.get("reply_to_message_id") is None:
                return None
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply"),
            }
        replied = self._messages.get((reply.get("chat_id", chat_id), int(reply["message_id"])))
        if replied is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return replied

    def _throttle(self, chat_id: int) -> None:
        """Refuse a send that breaks Telegram's limits; record it when it does not."""
        now = self._clock()
        recent = self._recent_sends.setdefault(chat_id, deque())
        while recent and recent[0] <= now - GROUP_WINDOW:
            recent.popleft()
        while self._all_sends and self._all_sends[0] <= now - GLOBAL_WINDOW:
            self._all_sends.popleft()
        waits = []
        if recent and now - recent[-1] < PER_CHAT_INTERVAL:
            waits.append(recent[-1] + PER_CHAT_INTERVAL - now)
        if chat_id < 0 and len(recent) >= GROUP_LIMIT:
            waits.append(recent[-GROUP_LIMIT] + GROUP_WINDOW - now)
        if len(self._all_sends) >= GLOBAL_LIMIT:
            waits.append(self._all_sends[-GLOBAL_LIMIT] + GLOBAL_WINDOW - now)
        if waits:
            self._rate_limited += 1
            raise too_many_requests(max(1, math.ceil(max(waits))))
        recent.append(now)
        self._all_sends.append(now)

    def _edited(self, params: JSON) -> JSON | None:
        """The bot's message an edit names, or None for an inline message (nothing stored)."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat_param(params)
        message = self._messages.get((chat["id"], int(params.get("message_id") or 0)))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        message = self._edited(params)
        text = _checked_text(params)
        # As on Telegram, an edit without reply_markup removes the inline keyboard.
        markup = _checked_markup(params)
        if message is None:
            return True
        if message["text"] == text and message.get("reply_markup") == markup:
            raise _not_modified()
        message["text"] = text
        _set_or_drop(message, "entities", params.get("entities"))
        return self._finish_edit(message, markup)

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        message = self._edited(params)
        markup = _checked_markup(params)
        if message is None:
            return True
        if message.get("reply_markup") == markup:
            raise _not_modified()
        return self._finish_edit(message, markup)

    def _finish_edit(self, message: JSON, markup: JSON | None) -> JSON:
        _set_or_drop(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        if self._messages.pop((chat["id"], int(params.get("message_id") or 0)), None) is None:
            raise bad_request("message to delete not found")
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        # Each query may be answered once; an unknown or answered one is "too old".
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callbacks.discard(query_id)
        return True

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        self._webhook = {
            "url": url,
            "has_custom_certificate": bool(url)
            and isinstance(params.get("certificate"), UploadedFile),
        }
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if url and params.get(key) is not None:
                self._webhook[key] = params[key]
        self._webhook_secret = str(secret) if url and secret else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self._webhook = {"url": "", "has_custom_certificate": False}
        self._webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        return {**self._webhook, "pending_update_count": len(self._updates)}

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("commands must be an array")
        for command in commands:
            if not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
        self._commands[_commands_key(params)] = [dict(c) for c in commands]
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(_commands_key(params), []))

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    def _get_chat(self, params: JSON) -> JSON:
        # ChatFullInfo: the library insists on the fields Telegram always sends.
        return {
            **self._chat_param(params),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_file(self, params: JSON) -> JSON:
        file_id = str(params.get("file_id", ""))
        if file_id not in self._files:
            raise bad_request("invalid file_id")
        path, data = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(data),
            "file_path": path,
        }


# -- helpers ---------------------------------------------------------------------------------


def _inside_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _matcher(what: CallMatcher) -> Callable[[Call], bool]:
    if isinstance(what, str):
        return lambda call: call.method == what
    return what


def _update_type(update: JSON) -> str:
    return next(key for key in update if key != "update_id")


def _guess_chat_type(chat_id: int) -> ChatType:
    if chat_id > 0:
        return "private"
    return "supergroup" if chat_id <= -1_000_000_000_000 else "group"


def _checked_text(params: JSON) -> str:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text


def _checked_markup(params: JSON) -> JSON | None:
    """The inline keyboard to echo in the Message; other keyboards are not part of it."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            size = len(data.encode()) if isinstance(data, str) else 0
            if data is not None and not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
    return copy.deepcopy(markup)


def _not_modified() -> ApiError:
    return bad_request(
        "message is not modified: specified new message content and reply markup are "
        "exactly the same as a current content and reply markup of the message"
    )


def _set_or_drop(message: JSON, key: str, value: Any) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


def _commands_key(params: JSON) -> str:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)


def decode_field(name: str, value: str) -> Any:
    """A form value as the Bot API reads it: JSON unless the parameter is a string."""
    if name in STRING_PARAMETERS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # "@channel", a bare word...


def parse_params(content_type: str, body: bytes, query: str) -> JSON:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    params: JSON = {k: decode_field(k, v) for k, v in parse_qsl(query, keep_blank_values=True)}
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("the JSON body must be an object")
        params.update(decoded)
    elif kind == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
        params.update((k, decode_field(k, v)) for k, v in pairs)
    elif kind == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    return params


def _parse_multipart(content_type: str, body: bytes) -> JSON:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    document = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: JSON = {}
    for part in document.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is None and part.get_content_type() == "text/plain":
            params[name] = decode_field(name, data.decode())
        else:
            params[name] = UploadedFile(filename, part.get_content_type(), data)
    return params


# -- HTTP ------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Keeps its connections and their threads so that stop() can close and join them."""

    daemon_threads = True

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._process,
            args=(request, client_address),
            name="fake-telegram-connection",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
        thread.start()

    def _process(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.pop(request, None)

    def close_connections(self) -> list[threading.Thread]:
        """Shut every open socket (a keep-alive read returns at once) and list the threads."""
        with self._lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in connections]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up is routine here; anything else is a bug in the fake, so show it.
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of Telegram
    disable_nagle_algorithm = True  # else headers and body, written apart, wait 40 ms on ACKs
    server: _Server

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read calls(), not an access log on stderr

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        path = unquote(url.path)
        fake = self.server.fake
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot") :].partition("/")
            self._send_file(fake.serve_file(token, file_path))
            return
        if not path.startswith("/bot") or "/" not in path[len("/bot") :]:
            self._send_json(
                HTTPStatus.NOT_FOUND, ApiError(HTTPStatus.NOT_FOUND, "Not Found").body()
            )
            return
        token, _, method = path[len("/bot") :].partition("/")
        try:
            params = parse_params(self.headers.get("Content-Type", ""), body, url.query)
        except ValueError as error:
            self._send_json(HTTPStatus.BAD_REQUEST, bad_request(f"can't parse: {error}").body())
            return
        status, answer = fake.serve(token, method, params, self._client_gone)
        if status in (CLIENT_CLOSED, DROPPED):
            self.close_connection = True  # hang up unanswered
            return
        self._send_json(status, answer)

    def _client_gone(self) -> bool:
        """True when the client closed the connection (readable, yet nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send_json(self, status: int, body: JSON) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send_file(self, reply: tuple[int, bytes] | None) -> None:
        if reply is None:
            self.close_connection = True
            return
        self._send(reply[0], reply[1], "application/octet-stream")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client left; nobody to tell
