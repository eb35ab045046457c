"""Slow senders (slowloris) against the intake as `pmdesk serve` runs it, under the lease.

Deadlines are set short in the configuration (`http.read_timeout_seconds`),
so that the tests wait a fraction of a second where production waits ten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bots.services.lograte import RepeatLimit
from bots.services.runner import intake_config, run_services
from core.base.instants import utc_now
from core.config.settings import HttpConfig, Settings
from tests.bots.http.test_intake import QuietServer, answers, body_of, signed, stored
from tests.bots.support import until
from tests.conftest import round_the_clock_settings
from tests.support import free_port, make_event

READ_SECONDS = 0.5


@contextlib.asynccontextmanager
async def services(settings: Settings, engine: Engine, **http: object) -> AsyncIterator[int]:
    port = free_port()
    limits = HttpConfig(port=port, read_timeout_seconds=READ_SECONDS, **http)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_services(
            settings.model_copy(update={"http": limits}), stop, engine=engine, holder="here"
        )
    )
    await until(lambda: answers(port), what="the intake listening")
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


def closed_by_server(sock: socket.socket, within: float) -> tuple[bool, bytes]:
    """Read until the server closes the connection or `within` seconds pass."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received
    return True, received


async def post_valid(port: int, name: str) -> httpx.Response:
    body = body_of(make_event(name, 0, task=name))
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.post(
            f"http://127.0.0.1:{port}/v1/events",
            content=body,
            headers=signed(body, utc_now().timestamp()),
        )


@pytest.fixture
def intake_settings() -> Settings:
    return round_the_clock_settings().model_copy(
        update={"webhook_secret": "a shared secret for the tests"}
    )


async def test_headers_that_trickle_in_are_cut_off_and_a_valid_post_gets_through(
    intake_settings: Settings, engine: Engine
) -> None:
    async with services(intake_settings, engine) as port:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        valid = await post_valid(port, "during")
        closed, answer = await asyncio.to_thread(closed_by_server, slow, READ_SECONDS * 6)
        waited = time.monotonic() - began
        slow.close()

    assert valid.status_code == 200
    assert closed and answer.startswith(b"HTTP/1.1 408")
    assert waited < READ_SECONDS * 4
    assert stored(engine) == ["during"]


async def test_a_body_that_trickles_in_is_answered_408(
    intake_settings: Settings, engine: Engine
) -> None:
    async with services(intake_settings, engine) as port:
        body = body_of(make_event("slow", 0))
        headers = signed(body, utc_now().timestamp())
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        slow = socket.create_connection(("127.0.0.1", port))
        start = f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        slow.sendall(f"{start}{head}\r\n".encode() + body[:10])
        closed, answer = await asyncio.to_thread(closed_by_server, slow, READ_SECONDS * 6)
        slow.close()

    assert closed and answer.startswith(b"HTTP/1.1 408")
    assert b"too_slow" in answer
    assert stored(engine) == []


async def test_past_the_connection_cap_the_slowest_make_room_for_a_valid_post(
    intake_settings: Settings, engine: Engine
) -> None:
    cap = 20
    async with services(intake_settings, engine, max_connections=cap) as port:
        held = []
        for _ in range(cap * 3):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /v1/events HTTP/1.1\r\n")
            held.append(sock)
        valid = await post_valid(port, "through")
        await asyncio.sleep(0.1)
        still_open = 0
        for sock in held:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except ConnectionResetError:
                pass
            sock.close()

    assert valid.status_code == 200
    assert still_open < cap
    assert stored(engine) == ["through"]


def test_a_line_repeated_without_end_is_logged_once_per_period_with_a_count() -> None:
    now = [0.0]
    logger = logging.getLogger("pmdesk.test.repeats")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger.addHandler(Keep())
    logger.addFilter(RepeatLimit(every=10.0, clock=lambda: now[0]))
    logger.propagate = False
    for _ in range(100_000):
        logger.error("socket.accept() out of system resource")
        now[0] += 0.0001  # 100,000 lines in 10 s
    logger.error("another line")
    now[0] += 0.1
    logger.error("socket.accept() out of system resource")

    assert records == [
        "socket.accept() out of system resource",
        "another line",
        "socket.accept() out of system resource (99999 more like it held back)",
    ]


async def test_the_rest_of_a_refused_body_cannot_be_trickled_for_ever(
    intake_settings: Settings, engine: Engine
) -> None:
    async with services(intake_settings, engine) as port:
        body = b"x" * 10
        head = "".join(
            f"{name}: {value}\r\n" for name, value in signed(body, utc_now().timestamp()).items()
        )
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(
            f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n{head}\r\n".encode()
        )
        began = time.monotonic()
        closed, answer = await asyncio.to_thread(closed_by_server, slow, READ_SECONDS * 8)
        waited = time.monotonic() - began
        slow.close()

    assert answer.startswith(b"HTTP/1.1 413")
    assert closed and waited < READ_SECONDS * 5


async def test_a_keep_alive_connection_is_closed_once_idle_past_its_timeout_not_before() -> None:
    """Closed `timeout_keep_alive` after its last answer, however long it was busy before."""

    async def app(scope: dict[str, object], receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = intake_config(app, round_the_clock_settings())
    config.lifespan = "off"
    config.timeout_keep_alive = 0.4  # type: ignore[assignment]
    server = QuietServer(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    try:
        await until(lambda: server.started or task.done(), what="the server started")
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        answered = []
        # Busy for three times the timeout, never idle for as long as it.
        for _ in range(6):
            writer.write(b"GET / HTTP/1.1\r\nHost: here\r\n\r\n")
            answered.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2))
            last = loop.time()
            await asyncio.sleep(0.2)
        rest = await asyncio.wait_for(reader.read(), 5)  # b"" once the server closes
        idle = loop.time() - last
        writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()

    assert [head.split(b"\r\n")[0] for head in answered] == [b"HTTP/1.1 204 No Content"] * 6
    assert rest == b""
    assert 0.35 <= idle < 2.0
