"""`pmdesk email` and `pmdesk invoices reminders send` as the assistant runs them: a real
process, a real SMTP server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.store.db import open_database
from core.store.models.receivables import Reminder
from core.store.models.system import table
from core.store.models.threads import Client
from tests.fakes.smtp import SmtpServer, free_port, smtp_server

SENDER = "billing@studio.example"


def pmdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def _configure(env: dict[str, str], port: int, extra: str = "") -> dict[str, str]:
    config = Path(env["PMDESK_CONFIG"])
    config.write_text(
        'agency = "Studio Nord"\n'
        + config.read_text()
        + f'[email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        + f'sender = "{SENDER}"\ntimeout_seconds = 5\n'
        + extra
    )
    return env


def test_the_go_live_test_sends_one_message_and_the_outbox_shows_it(
    env: dict[str, str], smtp: SmtpServer
) -> None:
    _configure(env, smtp.port)
    sent = pmdesk("email", "test", "me@studio.example", env=env)
    assert sent.returncode == 0, sent.stderr
    assert f"sent to me@studio.example through 127.0.0.1:{smtp.port} (none)" in sent.stdout
    [received] = smtp.received
    assert received["To"] == "me@studio.example"
    # In the default language (French unless configured).
    assert received["Subject"] == "Studio Nord : message de test"

    listed = json.loads(pmdesk("email", "outbox", "--json", env=env).stdout)
    assert [(row["kind"], row["state"], row["attempts"]) for row in listed] == [("test", "sent", 1)]
    table = pmdesk("email", "outbox", env=env).stdout
    assert "1 email" in table and "Studio Nord : message de test" in table


def test_a_server_down_fails_the_test_clearly_then_retry_and_mark_sent(
    env: dict[str, str],
) -> None:
    port = free_port()
    _configure(env, port)
    failed = pmdesk("email", "test", "me@studio.example", env=env)
    assert failed.returncode == 1
    assert f"not sent through 127.0.0.1:{port} (none): cannot reach 127.0.0.1:{port}" in (
        failed.stderr
    )
    [row] = json.loads(pmdesk("email", "outbox", "--json", env=env).stdout)
    assert row["state"] == "queued" and row["next_try_at"] is not None

    refused = pmdesk("email", "retry", str(row["id"]), env=env)
    assert refused.returncode == 2
    assert "only a failed or unknown one is retried" in refused.stderr
    marked = pmdesk("email", "mark-sent", str(row["id"]), env=env)
    assert marked.returncode == 0, marked.stderr
    [row] = json.loads(pmdesk("email", "outbox", "--json", env=env).stdout)
    assert row["state"] == "sent"
    unknown = pmdesk("email", "mark-sent", "99", env=env)
    assert unknown.returncode == 2 and "no email #99" in unknown.stderr


def test_without_a_server_configured_nothing_is_queued(env: dict[str, str]) -> None:
    failed = pmdesk("email", "test", "me@studio.example", env=env)
    assert failed.returncode == 2
    assert "no SMTP server: set [email].host" in failed.stderr
    assert json.loads(pmdesk("email", "outbox", "--json", env=env).stdout) == []


def _draft(env: dict[str, str], client: str) -> int:
    engine = open_database(env["PMDESK_DB"])
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            client_id = connection.execute(
                table(Client).insert().values(name=client, language="en", created_at=now)
            ).inserted_primary_key[0]
            return int(
                connection.execute(
                    table(Reminder)
                    .insert()
                    .values(
                        client_id=client_id,
                        run_on=date(2026, 12, 1),
                        language="en",
                        text="Subject: reminder — invoice awaiting payment\n\nHello,\n",
                        status="draft",
                        created_at=now,
                    )
                ).inserted_primary_key[0]
            )
    finally:
        engine.dispose()


def test_a_reminder_is_sent_by_email_once_approved(env: dict[str, str], smtp: SmtpServer) -> None:
    _configure(env, smtp.port, '[reports.clients."Acme"]\nemail = "ap@acme.example"\n')
    nobody = _draft(env, "Nobody")
    acme = _draft(env, "Acme")

    refused = pmdesk("invoices", "reminders", "send", str(nobody), env=env)
    assert refused.returncode == 2
    assert "no email address known for Nobody" in refused.stderr

    queued = pmdesk("invoices", "reminders", "send", str(acme), env=env)
    assert queued.returncode == 0, queued.stderr
    assert f"reminder #{acme}: queued as email #1" in queued.stdout
    again = pmdesk("invoices", "reminders", "send", str(acme), env=env)
    assert "already queued as email #1 (queued)" in again.stdout

    listed = json.loads(pmdesk("invoices", "reminders", "--json", env=env).stdout)
    assert {draft["client"] for draft in listed["reminders"]} == {"Acme", "Nobody"}
    [row] = json.loads(pmdesk("email", "outbox", "--json", env=env).stdout)
    assert row["to"] == "ap@acme.example"
    assert row["subject"] == "reminder — invoice awaiting payment"
    assert row["reminder_id"] == acme
