"""What the fault-injection suite shares: `pmdesk serve` as a process, senders, a replay.

The suite runs the real command on a real SQLite file, breaks something
(the process, the write lock, the disk, the input) and then checks what an
operator would: every event acknowledged with 2xx is stored, the clocks are
what a replay of the stored events gives, and the service answers again.
Each test reports what it checked through `say`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bots.http.signing import signed_headers
from core.config.settings import Settings
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.db import open_database
from tests.support import free_port

SECRET = "a shared secret for the fault suite"
ROOT = Path(__file__).resolve().parents[2]
CONFIG = '[policies.default]\ncalendar = "24/7"\n'


class Serve:
    """`pmdesk serve` on `db`, on a free port of 127.0.0.1, with extra config and environment."""

    def __init__(self, db: Path | str, folder: Path, config: str = "", **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        path = folder / "pmdesk.toml"
        path.write_text(config + "\n" + CONFIG)  # top-level keys first
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")
        }
        self.env.update(
            PMDESK_DB=str(db), PMDESK_CONFIG=str(path), PMDESK_WEBHOOK_SECRET=SECRET, **env
        )
        self.log = folder / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, healthy: bool = True) -> Serve:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pmdesk", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                answer = httpx.get(self.base + "/healthz", timeout=2)
                if answer.status_code == 200 or not healthy:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "pmdesk serve did not answer within 30 s"
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no handler runs, no transaction is finished, nothing is flushed."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def signed(body: bytes, content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type, **signed_headers(SECRET, body, int(time.time()))}


def post_events(
    http: httpx.Client, events: list[dict[str, Any]], timeout: float = 30
) -> httpx.Response:
    body = json.dumps(events).encode()
    return http.post("/v1/events", content=body, headers=signed(body), timeout=timeout)


def stored_ids(db: Path | str) -> set[str]:
    with sqlite3.connect(str(db)) as connection:
        return {row[0] for row in connection.execute("SELECT external_id FROM event")}


def integrity(db: Path | str) -> str:
    with sqlite3.connect(str(db)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


_CLOCKS = """
    SELECT r.source, r.external_id, c.kind, c.started_at, c.due_at, c.outcome, c.stopped_at
    FROM clock c JOIN threadref r ON r.thread_id = c.thread_id AND r.source != 'pmdesk'
    ORDER BY r.source, r.external_id, c.started_at
"""


def clocks(db: Path | str) -> list[tuple[Any, ...]]:
    """Every clock, by its thread's source and external id (ids differ between databases)."""
    with sqlite3.connect(str(db)) as connection:
        return list(connection.execute(_CLOCKS))


def replayed_clocks(db: Path | str) -> list[tuple[Any, ...]]:
    """The clocks a fresh database gets from the events stored in `db`, in the order stored."""
    with sqlite3.connect(str(db)) as connection:
        raws = [row[0] for row in connection.execute("SELECT raw FROM event_raw ORDER BY event_id")]
    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / "replay.db"
        engine = open_database(str(fresh))
        settings = Settings(policies={"default": {"calendar": "24/7"}})
        Ingestor(engine, PolicyBook(settings)).ingest(raws)
        engine.dispose()
        return clocks(fresh)
