"""Faults of the services' holder: paused past its lease, and killed then restarted.

Real `pmdesk serve` processes on a real port and database, with the Telegram
bot talking to the fake Bot API server (tests.fakes.telegram) of this
test process. Each test prints what it checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from core.base.instants import utc_now
from core.conversations.ingest import Ingestor
from core.sla.policies import PolicyBook
from core.store.db import open_database
from core.store.models.outbox import Notification
from core.store.models.system import table
from tests.bots.support import ANA, TOKEN, client_message, team
from tests.conftest import round_the_clock_settings
from tests.fakes.telegram import FakeTelegram
from tests.support import free_port

pytestmark = pytest.mark.faults

LEASE_SECONDS = 3
# What a supervisor restarting a crashed `pmdesk serve` may take to have the intake back.
RESTART_LIMIT = 3.0


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, fake: FakeTelegram) -> dict[str, str]:
    """A `pmdesk serve` environment: a fresh database with staff bound to the fake's chats."""
    config = tmp_path / "pmdesk.toml"
    config.write_text('[policies.default]\ncalendar = "24/7"\n')
    database = tmp_path / "pmdesk.db"
    engine = open_database(str(database))
    team(engine, utc_now())
    engine.dispose()
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PMDESK_")}
    return {
        **clean,
        "PMDESK_DB": str(database),
        "PMDESK_CONFIG": str(config),
        "PMDESK_WEBHOOK_SECRET": "fault-suite-secret",
        "PMDESK_TELEGRAM_TOKEN": TOKEN,
        "PMDESK_TELEGRAM_API_URL": fake.base_url,
        "PMDESK_HTTP__PORT": str(free_port()),
    }


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`pmdesk serve`, its log in `log`; stopped (SIGCONT, then Ctrl-C) when the block ends."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pmdesk", "serve"], env=env, stdout=sink, stderr=sink
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def eventually(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code < 500
    except httpx.TransportError:
        return False


def said(log: Path, words: str) -> bool:
    return words in log.read_text(errors="replace")


def sent_rows(engine: Engine) -> int:
    rows = table(Notification)
    with engine.connect() as connection:
        query = select(func.count()).select_from(rows).where(rows.c.status == "sent")
        return int(connection.execute(query).scalar_one())


def test_a_paused_holder_sends_nothing_after_the_takeover_and_frees_the_port(
    tmp_path: Path, env: dict[str, str], fake: FakeTelegram
) -> None:
    env = {**env, "PMDESK_LEASE_SECONDS": str(LEASE_SECONDS)}
    port = int(env["PMDESK_HTTP__PORT"])
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    engine = open_database(env["PMDESK_DB"])
    feed = Ingestor(engine, PolicyBook(round_the_clock_settings()))

    with serve(env, first_log) as first:
        eventually(lambda: healthy(port), 20, "the first holder's intake")
        # Two alerts for Ana: Telegram's one message a second per chat keeps the
        # second in the first holder's hands for a second after the first went out.
        now = utc_now()
        feed.ingest([client_message("m1", now, task="T1"), client_message("m2", now, task="T2")])
        # Paused once the first alert is sent and recorded (a pause between Telegram's
        # answer and the record is the one case no sender can close: see bots.telegram.sender).
        eventually(lambda: sent_rows(engine) == 1, 10, "the first alert recorded")
        first.send_signal(signal.SIGSTOP)  # paused, the second alert in hand
        paused_at = time.monotonic()
        with serve(env, second_log) as second:
            eventually(lambda: len(fake.sent_messages(ANA)) >= 2, 30, "the takeover's alert")
            took_over_after = time.monotonic() - paused_at
            assert not said(second_log, "HTTP intake listening")  # the paused one has the port
            first.send_signal(signal.SIGCONT)
            eventually(lambda: said(first_log, "services lease"), 10, "the first finding it lost")
            eventually(lambda: said(second_log, "HTTP intake listening"), 10, "the port taken")
            rebound_after = time.monotonic() - paused_at
            assert healthy(port)
            assert second.poll() is None and first.poll() is None
    engine.dispose()

    texts = [m["text"] for m in fake.sent_messages(ANA)]
    assert len(texts) == 2 and len(set(texts)) == 2  # each alert once
    assert "Task T1" in texts[0] and "Task T2" in texts[1]
    assert "Traceback" not in first_log.read_text() + second_log.read_text()
    print(
        f"checked: holder paused (SIGSTOP) with an alert in hand; another process took over "
        f"after {took_over_after:.1f} s (lease {LEASE_SECONDS} s) and sent it; the resumed "
        f"holder sent nothing ({len(texts)} alerts, each once), found its lease gone, freed "
        f"the port, and the new holder listened on it {rebound_after:.1f} s after the pause"
    )


def test_a_crashed_holder_restarted_has_the_intake_back_within_3_s(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = int(env["PMDESK_HTTP__PORT"])
    started = time.monotonic()
    with serve(env, tmp_path / "first.log") as first:
        eventually(lambda: healthy(port), 20, "the intake")
        cold_start = time.monotonic() - started
        first.kill()  # kill -9: no lease given back
        first.wait()
        crashed_at = time.monotonic()
        # A supervisor (systemd's Restart=, a container's restart policy) starts it again.
        with serve(env, tmp_path / "second.log"):
            eventually(lambda: healthy(port), 60, "the restarted intake")
            back_after = time.monotonic() - crashed_at

    print(
        f"checked: `pmdesk serve` killed with SIGKILL while holding its 30 s lease and "
        f"restarted at once answered /healthz again after {back_after:.2f} s (limit "
        f"{RESTART_LIMIT} s); a cold start on this machine took {cold_start:.2f} s"
    )
    # The dead holder's lease costs the restart nothing: no wait for it to lapse
    # (it lasts 30 s). The 3 s include the interpreter's start and imports (about
    # 1.5 s of CPU), which a loaded machine stretches: where even a cold start
    # takes longer, the restart is held to twice the cold start's time instead
    # (the load varies between the two starts), still far below the lease's 30 s.
    assert back_after < max(RESTART_LIMIT, 2 * cold_start)
