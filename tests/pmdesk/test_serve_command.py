"""`pmdesk serve --host --port` as an operator runs it: a real process, a real port."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bots.http.signing import signed_headers
from tests.support import free_port, make_event

SECRET = "serve-secret-for-tests"


@contextmanager
def serve(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`pmdesk serve ARGS` until the block ends, then Ctrl-C; it must exit cleanly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_health(process: subprocess.Popen[str], port: int) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the intake never answered"
            time.sleep(0.1)


def test_serve_listens_on_the_port_given_and_stores_signed_events(env: dict[str, str]) -> None:
    port = free_port()
    env = {**env, "PMDESK_WEBHOOK_SECRET": SECRET}
    body = json.dumps(make_event("m1", 0)).encode()

    with serve("--host", "127.0.0.1", "--port", str(port), env=env) as process:
        health = wait_for_health(process, port)
        headers = {"Content-Type": "application/json"}
        headers |= signed_headers(SECRET, body, int(time.time()))
        posted = httpx.post(f"http://127.0.0.1:{port}/v1/events", content=body, headers=headers)

    errors = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, errors
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert posted.status_code == 200 and posted.json()["created"] == 1
    assert f"HTTP intake listening on http://127.0.0.1:{port}" in errors
    with sqlite3.connect(env["PMDESK_DB"]) as db:
        assert db.execute("SELECT external_id FROM event").fetchall() == [("m1",)]


def test_the_port_can_come_from_the_config_file(env: dict[str, str]) -> None:
    port = free_port()
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(config.read_text() + f'\n[http]\nhost = "127.0.0.1"\nport = {port}\n')

    with serve(env=env) as process:
        health = wait_for_health(process, port)

    assert health.status_code == 200
    assert process.returncode == 0


def test_an_option_overrides_the_config_file(env: dict[str, str]) -> None:
    configured, given = free_port(), free_port()
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(config.read_text() + f"\n[http]\nport = {configured}\n")

    with serve("--port", str(given), env=env) as process:
        health = wait_for_health(process, given)
        with socket.socket() as probe:
            configured_answers = probe.connect_ex(("127.0.0.1", configured)) == 0

    assert health.status_code == 200
    assert not configured_answers


def test_a_taken_port_is_named_and_the_rest_keeps_running(env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with serve("--port", str(port), env=env) as process:
            deadline = time.monotonic() + 15
            lease = None
            while lease is None or json.loads(lease[0]).get("intake") != "failed":
                assert process.poll() is None, "pmdesk serve stopped"
                assert time.monotonic() < deadline, "the failure was not reported"
                time.sleep(0.1)
                lease = _lease(env["PMDESK_DB"])

    errors = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, errors
    assert f"cannot listen on 127.0.0.1:{port}" in errors
    assert "Traceback" not in errors


def test_a_failure_in_serve_is_seen_by_another_process_as_failed_with_its_reason(
    env: dict[str, str],
) -> None:
    """What the dashboard reads of a `pmdesk serve` running beside it (not "stopped")."""
    from core.base.instants import utc_now
    from core.store.db import open_database
    from core.store.lease import services_seen
    from core.store.reader import EngineReader

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with serve("--port", str(port), env=env) as process:
            engine = open_database(env["PMDESK_DB"])
            deadline = time.monotonic() + 15
            while True:
                assert process.poll() is None, "pmdesk serve stopped"
                assert time.monotonic() < deadline, "the failure was not seen"
                seen = services_seen(EngineReader(engine), utc_now(), "the dashboard")
                if seen.states["intake"] == "failed" and seen.states["scheduler"] != "stopped":
                    break
                time.sleep(0.1)
            engine.dispose()

    assert seen.states["scheduler"] == "elsewhere"
    assert set(seen.failures) == {"intake"}
    assert f"cannot listen on 127.0.0.1:{port}" in seen.failures["intake"]
    assert "in use" in seen.failures["intake"]


def _lease(path: str) -> tuple[str] | None:
    try:
        with sqlite3.connect(path) as db:
            row = db.execute("SELECT services FROM lease").fetchone()
    except sqlite3.Error:
        return None  # not created yet
    return None if row is None else (str(row[0]),)


def test_a_port_out_of_range_is_a_usage_error(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk", "serve", "--port", "70000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "70000" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_event_answered_survives_a_kill(env: dict[str, str]) -> None:
    """A `pmdesk serve` killed outright (no shutdown, no last checkpoint) keeps every
    event it answered 200 for, in a database that checks whole."""
    port = free_port()
    env = {**env, "PMDESK_WEBHOOK_SECRET": SECRET}
    stored: list[str] = []
    with serve("--port", str(port), env=env) as process:
        wait_for_health(process, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            started = time.monotonic()
            while time.monotonic() - started < 2.5:
                name = f"k{len(stored)}"
                body = json.dumps(make_event(name, len(stored) / 10)).encode()
                headers = {"Content-Type": "application/json"}
                headers |= signed_headers(SECRET, body, int(time.time()))
                if client.post("/v1/events", content=body, headers=headers).status_code == 200:
                    stored.append(name)
        process.kill()
        process.wait()

    assert len(stored) > 50
    with sqlite3.connect(env["PMDESK_DB"]) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = {row[0] for row in db.execute("SELECT external_id FROM event")}
    assert kept == set(stored)
