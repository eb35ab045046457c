"""`POST /v1/worksection`: Worksection's webhooks, stored first, processed after.

Worksection posts a JSON array of items (the shape of `get_events`) and
wants `{"status": "OK"}` with HTTP 200 within 5 seconds; after 10 errors it
disables the webhook. Its only protection is HTTP Basic auth. So:

- the credentials are compared in constant time; wrong or missing ones
  get 401 with `WWW-Authenticate`, and nothing is stored (Worksection
  counts that as an error, as it should: the webhook is misconfigured);
- the items are stored in the inbox (`bots.worksection.store`), one row each,
  committed together (with those of other requests arriving meanwhile:
  see `InboxWriter`), and the answer goes at once; the
  connector (bots.worksection.poller) maps and ingests them afterwards, woken by
  `wake`;
- a body over bots.http.bodies.MAX_BODY is refused with 413 (and one that
  trickles in slower than BODY_SECONDS with 408), storing nothing: no
  Worksection delivery comes near it;
- a body that is not JSON (or JSON that is neither an object nor an
  array, or that breaks core.base.jsontext's limits: nesting, numbers) is
  stored whole as a failed inbox row and still answered with
  200: a 4xx would only count towards the 10 errors that disable the
  webhook, losing every later change, while Worksection would not send
  anything better on a retry; the row keeps what came for a person to see
  (`failed` in the inbox, with the reason).
- if the database cannot take the items, the answer is 503: Worksection
  counts an error, and polling the event log fetches the change anyway.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from bots.http.bodies import BodyRefused, read_body
from bots.worksection.items import dumps
from bots.worksection.store import store_inbox_groups
from core.base import jsontext
from core.base.instants import Now, utc_now
from core.config.settings import Settings

log = logging.getLogger("pmdesk.worksection")

PATH = "/v1/worksection"
OK = {"status": "OK"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="pmdesk", charset="UTF-8"'}


def worksection_router(
    settings: Settings,
    engine: Engine,
    *,
    clock: Now = utc_now,
    wake: Callable[[], None] | None = None,
) -> APIRouter:
    """The router to mount on the HTTP intake (see the module's docstring)."""
    config = settings.worksection
    user = (config.webhook_user or "") if config else ""
    password = (config.webhook_password or "") if config else ""
    router = APIRouter()
    writer = InboxWriter(engine, clock)

    @router.post(PATH)
    async def receive(request: Request) -> Response:
        if not _authorised(request.headers.get("authorization"), user, password):
            return JSONResponse(
                {"status": "error", "message": "unauthorised"}, status_code=401, headers=_CHALLENGE
            )
        try:
            body = await read_body(request, seconds=settings.http.read_timeout_seconds)
        except BodyRefused as refused:
            answer = {"status": "error", "message": refused.detail}
            return JSONResponse(answer, refused.status, headers=refused.headers)
        bodies, error = split_body(body)
        try:
            await writer.store(bodies, error)
        except Exception:
            log.exception("a Worksection webhook could not be stored")
            return JSONResponse({"status": "error", "message": "storage unavailable"}, 503)
        if error is not None:
            log.warning("a Worksection webhook was kept as failed: %s", error)
        elif wake is not None:
            wake()
        return JSONResponse(OK)

    return router


class InboxWriter:
    """Stores deliveries in the inbox, many requests to a commit.

    A request waits until its items are committed (nothing is answered
    before it is stored), but while one commit runs, the requests that
    arrive meanwhile queue up and share the next: one thread hop and one
    commit per batch instead of per request, which is what keeps answers
    fast under a burst.
    """

    def __init__(self, engine: Engine, clock: Now) -> None:
        self._engine = engine
        self._clock = clock
        self._waiting: list[tuple[list[str], str | None, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def store(self, bodies: list[str], error: str | None) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((bodies, error, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            groups = [(bodies, error) for bodies, error, _ in batch]
            try:
                await run_in_threadpool(store_inbox_groups, self._engine, groups, self._clock())
            except Exception as problem:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(problem)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)


def split_body(body: bytes) -> tuple[list[str], str | None]:
    """The inbox rows a request body gives, and the error if it is unusable.

    An array gives one row per element, an object one row; anything else
    one row holding the body as it came, with the reason it is refused.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as problem:
        # Kept escaped: every byte stays readable in a text column.
        raw = body.decode("utf-8", errors="backslashreplace")
        return [raw], f"not UTF-8 text (byte {problem.start})"
    try:
        data: Any = jsontext.loads(text)
    except jsontext.JsonRefused as problem:
        return [text], problem.reason
    if isinstance(data, dict):
        return [dumps(data)], None
    if isinstance(data, list):
        if not data:
            return [], None  # Worksection's "Test" button may send nothing to store
        return [dumps(item) for item in data], None
    return [text], "neither a JSON object nor an array"


def _authorised(header: str | None, user: str, password: str) -> bool:
    """HTTP Basic credentials equal to the configured ones, compared in constant time."""
    if not user or not password or not header:
        return False
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, colon, given_password = given.partition(b":")
    # Both compared every time, so the answer's timing says nothing of which was wrong.
    same_user = hmac.compare_digest(given_user, user.encode("utf-8"))
    same_password = hmac.compare_digest(given_password, password.encode("utf-8"))
    return bool(colon) and same_user and same_password
