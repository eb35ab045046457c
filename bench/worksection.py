"""Benchmark: `POST /v1/worksection` answered under load, served by uvicorn on loopback.

A server process runs the intake's app (bots.http.intake.create_app, falling
back to a bare FastAPI app) with the Worksection router, on a fresh SQLite
database; this process posts realistic webhook bodies (a few items each,
with Basic auth) at a fixed rate, open loop, and prints the answer times.
The target: p99 under 200 ms at 100 payloads/s. At the end it checks that
every item reached the inbox.

    .venv/bin/python bench/worksection.py [--rate 100] [--seconds 20] [--items 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import machine

USER, PASSWORD = "worksection", "bench-password"


def settings(database: str) -> Any:
    from core.config.settings import Settings, WorksectionConfig

    return Settings(
        db=database,
        worksection=WorksectionConfig(
            base_url="http://127.0.0.1:9",
            api_key="unused",
            webhook_user=USER,
            webhook_password=PASSWORD,
        ),
    )


def serve(database: str, sock: socket.socket) -> None:
    """The server process: the app on `sock` until terminated."""
    import uvicorn

    from bots.worksection.webhook import worksection_router
    from core.store.db import open_database

    config = settings(database)
    engine = open_database(database)
    router = worksection_router(config, engine)
    try:
        from bots.http.intake import Health, create_app

        app = create_app(config, engine, health=Health(), routers=[router])
    except ImportError:
        from fastapi import FastAPI

        app = FastAPI()
        app.include_router(router)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    asyncio.run(server.serve(sockets=[sock]))


def payload(number: int, items: int) -> bytes:
    """A webhook body as Worksection posts it: comments and a task change."""
    body = []
    for index in range(items):
        comment = 100_000 + number * items + index
        body.append(
            {
                "action": "post",
                "object": {
                    "type": "comment",
                    "id": comment,
                    "page": f"/project/77/{4000 + number % 300}/#com{comment}",
                },
                "date_added": "2026-11-23 10:15",
                "user_from": {
                    "id": "311",
                    "email": "claire@acme.example",
                    "name": "Claire Client",
                },
                "new": {"text": f"Could you check the banner on the home page? ({number}/{index})"},
            }
        )
    body[-1] = {
        "action": "update",
        "object": {"type": "task", "id": 4000 + number % 300, "page": "/project/77/4000/"},
        "date_added": "2026-11-23 10:15",
        "user_from": {"id": "5", "email": "sam@agency.example", "name": "Sam Staff"},
        "new": {"date_end": "2026-12-01"},
        "old": {"date_end": "2026-11-28"},
    }
    return json.dumps(body).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand.

    The load must cost the machine little next to the server it measures:
    an HTTP client library spends more CPU per request than the webhook
    does, and on a small machine it became the bottleneck.
    """

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        return int(status_line.split()[1]), answer


async def load(port: int, rate: float, seconds: float, items: int) -> list[float]:
    count = int(rate * seconds)
    timings: list[float] = []
    failures = 0
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(Connection(port, "/v1/worksection"))

    async def one(number: int) -> None:
        nonlocal failures
        body = payload(number, items)
        connection = await idle.get()
        started = time.perf_counter()
        try:
            status, answer = await connection.post(body)
        finally:
            idle.put_nowait(connection)
        timings.append(time.perf_counter() - started)
        if status != 200 or json.loads(answer) != {"status": "OK"}:
            failures += 1

    # Warm up the connections and the server's first requests, untimed.
    await asyncio.gather(*(one(-1 - n) for n in range(20)))
    timings.clear()
    start = time.perf_counter()
    tasks = []
    for number in range(count):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(number)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    print(f"sent {count} payloads of {items} items in {elapsed:.1f} s ({count / elapsed:.0f}/s)")
    if failures:
        print(f"FAILED answers: {failures}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="payloads per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--items", type=int, default=3, help="items per payload")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        database = str(Path(directory) / "bench.db")
        from core.store.db import open_database

        open_database(database).dispose()  # the schema, before the server starts
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        port = sock.getsockname()[1]
        context = multiprocessing.get_context("fork")
        server = context.Process(target=serve, args=(database, sock), daemon=True)
        server.start()
        try:
            _wait_for(port)
            timings = asyncio.run(load(port, args.rate, args.seconds, args.items))
        finally:
            server.terminate()
            server.join(10)
        report(sorted(timings))
        stored = _stored(database)
        expected = (len(timings) + 20) * args.items
        print(f"inbox rows: {stored} (expected {expected}){'' if stored == expected else ' LOST'}")


def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def _stored(database: str) -> int:
    import sqlite3

    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM worksectioninbox").fetchone()
    return int(count)


def report(timings: list[float]) -> None:
    def at(share: float) -> float:
        return timings[min(len(timings) - 1, int(share * len(timings)))] * 1000

    print(
        f"answer time (ms): p50 {at(0.50):.1f}  p95 {at(0.95):.1f}  p99 {at(0.99):.1f}  "
        f"max {timings[-1] * 1000:.1f}  mean {statistics.fmean(timings) * 1000:.1f}"
    )
    print(f"target p99 < 200 ms: {'met' if at(0.99) < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
