"""Reading a request's body with limits: how much, and how fast.

Every route of the intake reads its body here. A body is refused as soon as
it grows past its limit (a chunked body declares no length, and a declared
one may lie), and a sender that trickles its body (one byte every few
seconds, to hold a connection and its descriptor for ever) is cut off once
BODY_SECONDS have passed since the request's headers came.
"""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive

MAX_BODY = 1024 * 1024
BODY_SECONDS = 10.0


class BodyRefused(Exception):
    """A body not read to its end: `status` 413 (too large) or 408 (too slow).

    Answer it with `headers`: a slow sender's connection is closed with the
    answer; after a 413 the server reads what is left of the body and drops
    it (bots.http.connections bounds how long that may take), so that the sender,
    still sending, can read the answer.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.headers = {"Connection": "close"} if status == 408 else {}


def too_large(limit: int = MAX_BODY) -> BodyRefused:
    return BodyRefused(
        413, f"the body is over {limit} bytes ({limit / 1024 / 1024:g} MiB): send less at once"
    )


async def read_body(
    request: Request, limit: int = MAX_BODY, seconds: float = BODY_SECONDS
) -> bytes:
    """The body, or BodyRefused past `limit` bytes or `seconds` of reading."""
    return await receive_body(
        request.receive, request.headers.get("content-length", ""), limit, seconds
    )


async def receive_body(
    receive: Receive, declared: str, limit: int = MAX_BODY, seconds: float = BODY_SECONDS
) -> bytes:
    """The body of an ASGI request, given its `receive` and its Content-Length header ("" if
    none), as read_body does; ClientDisconnect if the sender hangs up first."""
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    message: Message | None = None
    if _arrived(receive):
        # The whole body is in: nothing to wait for, so no timer to arm and cancel.
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            return _whole(message.get("body", b""), limit)
    try:
        async with asyncio.timeout(seconds):
            if message is None:
                message = await receive()
            first: bytes = message.get("body", b"")
            if not message.get("more_body", False) and message["type"] == "http.request":
                # The whole body in one message: the common case, no copy.
                return _whole(first, limit)
            body = bytearray()
            while True:
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                if len(body) + len(chunk) > limit:
                    raise too_large(limit)
                body += chunk
                if not message.get("more_body", False):
                    return bytes(body)
                message = await receive()
    except TimeoutError:
        raise BodyRefused(
            408, f"the body did not arrive within {seconds:g} s: send it at once"
        ) from None


def _whole(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise too_large(limit)
    return body


def _arrived(receive: Receive) -> bool:
    """Whether the request has fully arrived, so that `receive` returns at once.

    Under uvicorn (its httptools protocol, as `pmdesk serve` runs it),
    `receive` is a method of the request's cycle, whose event is set and
    `more_body` false once the body's last byte is in: then `receive` does
    not wait. Any other server, or another version's cycle, answers False,
    and the body is read under its deadline as ever.
    """
    cycle = getattr(receive, "__self__", None)
    event = getattr(cycle, "message_event", None)
    return (
        isinstance(event, asyncio.Event)
        and event.is_set()
        and getattr(cycle, "more_body", True) is False
    )
