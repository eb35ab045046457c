"""The intake's HTTP connections: a deadline for headers, and a cap on how many are open.

uvicorn times out idle keep-alive connections but not a request whose
headers trickle in: a sender writing one byte every few seconds holds a
connection, and its file descriptor, for as long as it likes, and a few
hundred of them exhaust the process's descriptors, after which no valid
request gets in. So each request's headers must be complete within
`read_seconds` of its first byte (of the connection, for the first one),
else the connection is closed; and when more than `max_connections` are
open, the one that has waited longest for its headers is closed to make
room (a new connection is turned away only when every open one is busy with
a request). The handlers give a body `read_seconds` too (bots.http.bodies); as
a backstop, for a body no handler reads (one answered 413, whose rest the
server reads and drops), the connection is closed if the request is not
complete within twice that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("pmdesk.intake")

_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 38\r\nconnection: close\r\n\r\nthe request's headers came too slowly\n"
)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the header deadline and the cap; see guarded_protocol()."""

    read_seconds = 10.0
    max_connections = 200

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # When this connection began waiting for a request's headers; None while serving one.
        self.waiting_since: float | None = None
        # When the request being read had its headers; None once it is complete.
        self._body_since: float | None = None
        # When the connection went idle after its last answer (None once more comes), and
        # the one timer that closes it after timeout_keep_alive idle (on_response_complete).
        self._idle_since: float | None = None
        self._idle_check: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._idle_check is not None:
            self._idle_check.cancel()
            self._idle_check = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """The deadlines are armed once what came is parsed, and only if a request is left
        incomplete: most requests come whole in one read, and need no timer at all."""
        self._idle_since = None
        super().data_received(data)
        if self._deadline is not None or self.transport.is_closing():
            return
        if self.waiting_since is not None:
            self._deadline = self.loop.call_at(
                self.waiting_since + self.read_seconds, self._too_slow
            )
        elif self._body_since is not None:
            self._deadline = self.loop.call_at(
                self._body_since + self.read_seconds * 2, self._body_too_slow
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.waiting_since is None:
            self.waiting_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._body_since = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """uvicorn's, but for how an idle connection is closed after timeout_keep_alive.

        uvicorn arms a timer after every answer and cancels it when the next
        request comes: on a busy keep-alive connection, a timer made, queued
        and cancelled for every request, about a twentieth of the event
        loop's work per request. Here one timer at a time per connection
        looks at when it last went idle, and is armed again for the rest of
        the time if the connection was busy meanwhile: it is closed as
        before, timeout_keep_alive after its last answer.
        """
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_check is None:
            self._idle_check = self.loop.call_at(
                self._idle_since + self.timeout_keep_alive, self._idle_over
            )

    def _idle_over(self) -> None:
        self._idle_check = None
        if self._idle_since is None or self.transport.is_closing():
            return  # busy again: the answer that ends it arms the next look
        due = self._idle_since + self.timeout_keep_alive
        if self.loop.time() < due:
            self._idle_check = self.loop.call_at(due, self._idle_over)
        else:
            self.timeout_keep_alive_handler()

    def _arm(self) -> None:
        self._disarm()
        self.waiting_since = self.loop.time()
        self._deadline = self.loop.call_at(self.waiting_since + self.read_seconds, self._too_slow)

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.warning("closed a connection whose request body came too slowly")
            self.transport.close()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.waiting_since = self._body_since = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.warning("closed a connection whose request headers came too slowly")
            self.transport.write(_TIMEOUT_ANSWER)
            self.transport.close()

    def _make_room(self) -> None:
        waiting = [
            connection
            for connection in self.connections
            if isinstance(connection, GuardedProtocol) and connection.waiting_since is not None
        ]
        oldest = min(waiting, key=lambda connection: connection.waiting_since or 0.0, default=None)
        log.warning("more than %d connections open: closing one", self.max_connections)
        victim = oldest if oldest is not None else self
        victim._disarm()
        victim.transport.abort()


def guarded_protocol(read_seconds: float, max_connections: int) -> type[GuardedProtocol]:
    """The protocol class to give uvicorn (`Config(http=...)`) with these limits."""
    return type(
        "GuardedHttp",
        (GuardedProtocol,),
        {"read_seconds": read_seconds, "max_connections": max_connections},
    )
