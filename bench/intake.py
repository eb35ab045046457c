"""Benchmark: the HTTP intake (`POST /v1/events`) of `pmdesk serve`, over loopback.

Starts `pmdesk serve` in another process on a fresh temporary database,
then, as a source would, signs and posts events over several concurrent
keep-alive connections. The client is a minimal HTTP/1.1 client on asyncio
streams (standard library): httpx's async pool costs more CPU per request
than the server does, and on a machine of two cores the client would be
measured rather than the server.

1. sustained rate: one event per request, then batches of `--batch` events
   per request, each for `--seconds`, as fast as the server answers;
   target >= 1,000 signed events/s;
2. latency at a fixed rate: one event per request at `--rate` events/s
   (500 by default), each request sent on its schedule whether or not the
   previous ones were answered, latency counted from the scheduled instant
   (so a server falling behind shows in the figures); target p99 < 100 ms.

    .venv/bin/python bench/intake.py [--seconds 10] [--connections 64] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from figures import machine, percentile
from generate import events

from bots.http.signing import signed_headers

SECRET = "benchmark-secret"
THREADS = 2_000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory, serve(Path(directory)) as base:
        asyncio.run(run(base, args))


async def run(base: str, args: argparse.Namespace) -> None:
    feed = event_stream()
    host, port = base.removeprefix("http://").split(":")
    async with Pool(host, int(port), args.connections) as client:
        await sustained(client, feed, args.connections, 1, 1.0)  # warm-up: connections, caches
        for batch in (1, args.batch):
            count, elapsed, statuses = await sustained(
                client, feed, args.connections, batch, args.seconds
            )
            rate = count / elapsed
            print(
                f"sustained, {batch} event(s)/request, {args.connections} connections: "
                f"{count} events in {elapsed:.1f} s -> {rate:,.0f} events/s "
                f"({rate / batch:,.0f} requests/s); statuses {statuses}"
            )
            if batch == 1:
                print(f"  target >= 1,000 signed events/s: {'met' if rate >= 1000 else 'NOT MET'}")
    # Enough connections that a request due never waits for one while the server keeps up.
    async with Pool(host, int(port), 64) as client:
        latencies, late = await fixed_rate(client, feed, args.rate, args.seconds)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"fixed rate {args.rate:.0f} events/s (1 event/request) for {args.seconds:.0f} s: "
        f"{len(latencies)} requests, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; {late} not answered 200"
    )
    print(f"  target p99 < 100 ms: {'met' if p99 < 0.1 else 'NOT MET'}")


def event_stream() -> Iterator[dict[str, Any]]:
    """Recent events on THREADS threads, as a live source sends them (never ending)."""
    round_ = 0
    while True:
        start = datetime.now(UTC) - timedelta(hours=1)
        for event in events(200_000, THREADS, start, timedelta(hours=1), seed=round_):
            event["id"] = f"r{round_}-{event['id']}"
            yield event
        round_ += 1


class Pool:
    """Keep-alive connections to the server, each used by one request at a time."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self.idle = asyncio.Queue()

    async def __aenter__(self) -> Pool:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        reader, writer = await self.idle.get()
        try:
            lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self.idle.put_nowait((reader, writer))
        return status


async def post(client: Pool, body: bytes, content_type: str) -> int:
    headers = {"Content-Type": content_type, **signed_headers(SECRET, body, int(time.time()))}
    return await client.post("/v1/events", body, headers)


def encode(batch: list[dict[str, Any]]) -> tuple[bytes, str]:
    if len(batch) == 1:
        return json.dumps(batch[0]).encode(), "application/json"
    return "\n".join(json.dumps(e) for e in batch).encode(), "application/x-ndjson"


async def sustained(
    client: Pool,
    feed: Iterator[dict[str, Any]],
    connections: int,
    batch: int,
    seconds: float,
) -> tuple[int, float, dict[int, int]]:
    """As many requests as `connections` workers get answered in `seconds`."""
    statuses: dict[int, int] = {}
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            body, kind = encode([next(feed) for _ in range(batch)])
            status = await post(client, body, kind)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                sent += batch

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return sent, time.perf_counter() - started, statuses


async def fixed_rate(
    client: Pool, feed: Iterator[dict[str, Any]], rate: float, seconds: float
) -> tuple[list[float], int]:
    """One request every 1/rate s, each timed from when it was due."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failed = 0
    start = time.perf_counter() + 0.1

    async def one(index: int) -> None:
        nonlocal failed
        due = start + index / rate
        body, kind = encode([next(feed)])
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        status = await post(client, body, kind)
        latencies.append(time.perf_counter() - due)
        if status != 200:
            failed += 1

    await asyncio.gather(*(one(index) for index in range(total)))
    return latencies, failed


class serve:
    """`pmdesk serve` on a fresh database and a free port, for a `with` block."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = self.folder / "pmdesk.toml"
        config.write_text('[policies.default]\ncalendar = "24/7"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMDESK_")}
        env.update(
            PMDESK_DB=str(self.folder / "pmdesk.db"),
            PMDESK_CONFIG=str(config),
            PMDESK_WEBHOOK_SECRET=SECRET,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pmdesk", "serve", "--port", str(port)],
            env=env,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise SystemExit("pmdesk serve stopped at start")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("pmdesk serve did not answer within 30 s")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


if __name__ == "__main__":
    main()
