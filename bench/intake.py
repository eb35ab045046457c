"""Benchmark: the HTTP intake (`POST /v1/events`) of `pmdesk serve`, over loopback, beside its peer.

Starts `pmdesk serve` in another process on a fresh temporary database,
then, as a source would, signs and posts events over several concurrent
keep-alive connections. Then the same client does the same to the peer: the
least a server can do for the same request, a plain ASGI app under the same
uvicorn (same HTTP protocol, same asyncio loop) in a process of its own,
which checks the same signature and commits each request's events, one
transaction per request, into a SQLite table keyed by (source, id) as the
events table is, in the same journal mode (WAL). Its commits are not synced
by default (`synchronous = NORMAL`): the fastest such a peer can be, whose
figures hang on the CPU alone; `--peer-sync FULL` gives it pmdesk's
durability, a sync per commit, whose cost then follows the disk's load.
Each figure of pmdesk is printed with the peer's from the same run, and the
ratio. The client is a minimal HTTP/1.1 client on asyncio
streams (standard library): httpx's async pool costs more CPU per request
than the server does, and on a machine of two cores the client would be
measured rather than the server.

1. sustained rate: one event per request, then batches of `--batch` events
   per request, each for `--seconds`, as fast as the server answers;
   target >= 1,000 signed events/s;
2. latency at a fixed rate: one event per request at `--rate` events/s
   (500 by default), each request sent on its schedule whether or not the
   previous ones were answered, latency counted from the scheduled instant
   (so a server falling behind shows in the figures); target p99 < 20 ms;
3. against the peer: one event per request at least half the peer's rate.

`--runs N` measures pmdesk and the peer alternately N times, and prints the
medians.

    .venv/bin/python bench/intake.py [--seconds 10] [--connections 64] [--rate 500] [--runs 1]
        [--stamps now|hour-old]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from figures import machine, percentile
from generate import events

from bots.http.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    check_signature,
    check_timestamp,
    signed_headers,
)

SECRET = "benchmark-secret"
THREADS = 2_000
SERVERS = ("pmdesk", "peer")


@dataclass
class Figures:
    """One server's figures in one run."""

    one: float  # events/s, one event per request
    batched: float  # events/s, `--batch` events per request
    p50: float  # seconds, at the fixed rate
    p99: float
    worst: float
    failed: int  # requests not answered 200, over every phase
    cpu: float  # seconds of the server's CPU per event, one event per request


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=SERVERS, help="measure one server only")
    parser.add_argument(
        "--peer-sync",
        choices=("FULL", "NORMAL"),
        default="NORMAL",
        help="the peer's synchronous setting: NORMAL (no sync per commit) or FULL (as pmdesk)",
    )
    parser.add_argument(
        "--stamps",
        choices=("now", "hour-old"),
        default="now",
        help="when the events occurred: as they are sent (a live source), or over the last hour",
    )
    parser.add_argument("--peer", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        run_peer(Path(args.peer), args.port, args.peer_sync)
        return
    print(f"machine: {machine()}", flush=True)
    print(f"peer: plain ASGI under uvicorn, SQLite synchronous = {args.peer_sync}", flush=True)
    print(f"events stamped: {args.stamps}", flush=True)
    names = [args.only] if args.only else list(SERVERS)
    runs: dict[str, list[Figures]] = {name: [] for name in names}
    for number in range(1, args.runs + 1):
        for name in names:
            with (
                tempfile.TemporaryDirectory() as directory,
                Server(name, Path(directory), args.peer_sync) as server,
            ):
                print(f"run {number}, {name}:", flush=True)
                runs[name].append(asyncio.run(run(server, args)))
        if len(names) == 2:
            compare(runs["pmdesk"][-1], runs["peer"][-1], f"run {number}")
    if args.runs > 1:
        medians = {name: median_figures(figures) for name, figures in runs.items()}
        for name, figures in medians.items():
            print(
                f"median of {args.runs} runs, {name}: one event/request {figures.one:,.0f} "
                f"events/s, {args.batch}/request {figures.batched:,.0f} events/s, at "
                f"{args.rate:.0f}/s p50 {figures.p50 * 1000:.1f} ms p99 "
                f"{figures.p99 * 1000:.1f} ms; server CPU {figures.cpu * 1e6:.0f} us/event"
            )
        if len(names) == 2:
            compare(medians["pmdesk"], medians["peer"], f"medians of {args.runs} runs")
    if "pmdesk" in runs:
        ours = median_figures(runs["pmdesk"])
        print(f"  target p99 < 20 ms: {'met' if ours.p99 < 0.02 else 'NOT MET'}")


def median_figures(runs: list[Figures]) -> Figures:
    return Figures(
        *(statistics.median(getattr(run, name) for run in runs) for name in Figures.__annotations__)
    )


def compare(ours: Figures, peer: Figures, what: str) -> None:
    ratio = ours.one / peer.one
    print(
        f"{what}, pmdesk / peer: one event/request {ours.one:,.0f} / {peer.one:,.0f} events/s "
        f"= {ratio:.2f}; batched {ours.batched:,.0f} / {peer.batched:,.0f} = "
        f"{ours.batched / peer.batched:.2f}; p50 {ours.p50 * 1000:.1f} / {peer.p50 * 1000:.1f} ms;"
        f" p99 {ours.p99 * 1000:.1f} / {peer.p99 * 1000:.1f} ms; server CPU per event"
        f" {ours.cpu * 1e6:.0f} / {peer.cpu * 1e6:.0f} us"
    )
    print(
        f"  target one event/request >= 0.50 of the peer's: {'met' if ratio >= 0.5 else 'NOT MET'}"
    )


async def run(server: Server, args: argparse.Namespace) -> Figures:
    feed = event_stream(args.stamps)
    host, port = server.base.removeprefix("http://").split(":")
    rates: dict[int, float] = {}
    cpu: dict[int, float] = {}
    failed = 0
    async with Pool(host, int(port), args.connections) as client:
        await sustained(client, feed, args.connections, 1, 1.0)  # warm-up: connections, caches
        for batch in (1, args.batch):
            before = server.cpu_seconds()
            count, elapsed, statuses = await sustained(
                client, feed, args.connections, batch, args.seconds
            )
            cpu[batch] = (server.cpu_seconds() - before) / max(count, 1)
            rates[batch] = rate = count / elapsed
            failed += sum(number for status, number in statuses.items() if status != 200)
            print(
                f"  sustained, {batch} event(s)/request, {args.connections} connections: "
                f"{count} events in {elapsed:.1f} s -> {rate:,.0f} events/s "
                f"({rate / batch:,.0f} requests/s), server CPU {cpu[batch] * 1e6:.0f} us/event;"
                f" statuses {statuses}",
                flush=True,
            )
            if batch == 1 and server.name == "pmdesk":
                print(f"  target >= 1,000 signed events/s: {'met' if rate >= 1000 else 'NOT MET'}")
    # Enough connections that a request due never waits for one while the server keeps up.
    async with Pool(host, int(port), 64) as client:
        latencies, late = await fixed_rate(client, feed, args.rate, args.seconds)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(
        f"  fixed rate {args.rate:.0f} events/s (1 event/request) for {args.seconds:.0f} s: "
        f"{len(latencies)} requests, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; {late} not answered 200",
        flush=True,
    )
    return Figures(rates[1], rates[args.batch], p50, p99, max(latencies), failed + late, cpu[1])


def event_stream(stamps: str = "now") -> Iterator[dict[str, Any]]:
    """Events on THREADS threads (never ending).

    `stamps`: "now", each event occurred when it is sent, as a live source
    sends them; "hour-old", the events of the last hour in their order,
    whose clocks open up to an hour in the past and so fall due, and are
    alerted on by the server's scheduler, during the run (the peer has no
    clocks): the stream of the earlier rounds.
    """
    round_ = 0
    while True:
        start = datetime.now(UTC) - timedelta(hours=1)
        for event in events(200_000, THREADS, start, timedelta(hours=1), seed=round_):
            event["id"] = f"r{round_}-{event['id']}"
            if stamps == "now":
                event["occurred_at"] = datetime.now(UTC).isoformat()
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


class Server:
    """`pmdesk serve`, or the peer, on a fresh database and a free port, for a `with` block."""

    def __init__(self, name: str, folder: Path, peer_sync: str = "NORMAL") -> None:
        self.name, self.folder, self.peer_sync = name, folder, peer_sync
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far, user and system (Linux; 0 elsewhere)."""
        assert self.process is not None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def command(self, port: int) -> list[str]:
        if self.name == "peer":
            database = str(self.folder / "peer.db")
            peer = ["--peer", database, "--port", str(port), "--peer-sync", self.peer_sync]
            return [sys.executable, __file__, *peer]
        return [sys.executable, "-m", "pmdesk", "serve", "--port", str(port)]

    def __enter__(self) -> Server:
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
            self.command(port),
            env=env,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.base = base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} stopped at start")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not answer within 30 s")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# The peer: what any server must do for the same request, and no more.

PEER_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (source, external_id)
)
"""


def peer_app(database: Path, sync: str = "NORMAL") -> Any:
    """A plain ASGI app: POST /v1/events signed, one commit per request; GET /healthz."""
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {sync}")
    connection.execute("PRAGMA busy_timeout = 10000")
    connection.execute(PEER_SCHEMA)
    insert = (
        "INSERT INTO events (source, external_id, body) VALUES (?, ?, ?) "
        "ON CONFLICT (source, external_id) DO NOTHING"
    )

    async def answer(send: Any, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            await answer(send, 200, {"status": "ok"})
            return
        if scope["path"] != "/v1/events" or scope["method"] != "POST":
            await answer(send, 404, {"error": "not_found"})
            return
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        timestamp = headers.get(TIMESTAMP_HEADER.lower(), b"").decode("latin-1")
        signature = headers.get(SIGNATURE_HEADER.lower(), b"").decode("latin-1")
        try:
            check_timestamp(timestamp, time.time())
            check_signature(SECRET, timestamp, body, signature)
        except SignatureError as error:
            await answer(send, 401, {"error": "bad_signature", "detail": str(error)})
            return
        if headers.get("content-type", b"").startswith(b"application/x-ndjson"):
            lines = [line for line in body.split(b"\n") if line.strip()]
        else:
            lines = [body]
        rows = []
        for line in lines:
            event = json.loads(line)
            rows.append((event["source"], str(event["id"]), line.decode()))
        connection.execute("BEGIN IMMEDIATE")
        created = 0
        for row in rows:
            created += connection.execute(insert, row).rowcount
        connection.execute("COMMIT")
        await answer(send, 200, {"created": created, "duplicate": len(rows) - created})

    return app


def run_peer(database: Path, port: int, sync: str) -> None:
    import uvicorn

    uvicorn.run(
        peer_app(database, sync),
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
