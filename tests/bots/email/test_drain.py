"""The email drain against a real SMTP server on loopback: sent once, retried with
backoff, refused at once, unknown after a sender died mid-send, never twice."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bots.email.drain import drain_outbox
from bots.email.smtp import SendFailure, send_message
from core.config.settings import Settings
from core.mail.compose import queue_document_email
from core.mail.message import Mail
from core.mail.outbox import (
    BACKOFF,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    SENT,
    STALE_CLAIM,
    UNKNOWN,
    get_email,
    queue,
    retry,
)
from core.store.models.outbox import Notification
from core.store.models.system import table
from tests.bots.email.conftest import SENDER, email_settings
from tests.fakes.smtp import PASSWORD, USER, SmtpServer, free_port, smtp_server
from tests.support import MovableClock

NOTIFICATION = table(Notification)
# Implicit TLS is TLS from the start, which aiosmtpd does not count as such.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def _mail(to: str = "compta@acme.example", subject: str = "Hello") -> Mail:
    return Mail(to=(to,), subject=subject, body="Body text\n", language="en")


def _notices(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row.kind, row.text)
            for row in connection.execute(
                select(NOTIFICATION.c.kind, NOTIFICATION.c.text).order_by(NOTIFICATION.c.id)
            )
        ]


def test_an_invoice_arrives_with_its_pdf_intact_and_its_fixed_message_id(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, tmp_path: Path
) -> None:
    pdf = tmp_path / "F2026-00001.pdf"
    pdf.write_bytes(PDF)
    queued = queue_document_email(
        engine, settings, "F2026-00001", "compta@acme.example", pdf, "fr", clock(),
        client="Acme", amount="1 200,00 €", due_on="3 janvier 2027",
    )  # fmt: skip
    message_id = get_email(engine, queued.id).message_id

    summary = drain_outbox(engine, settings, clock)

    assert summary.sent == [queued.id]
    [received] = smtp.received
    assert received["Subject"] == "facture F2026-00001 de Studio Nord"
    assert received["Message-ID"] == message_id
    assert received["From"] == SENDER
    assert received["To"] == "compta@acme.example"
    assert received["Content-Language"] == "fr"
    assert received["Date"] is not None
    body = received.get_body(("plain",))
    assert body is not None
    assert "Veuillez trouver ci-joint notre facture F2026-00001" in body.get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "F2026-00001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF
    assert get_email(engine, queued.id).state == SENT


def test_english_text_for_an_english_client(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, tmp_path: Path
) -> None:
    pdf = tmp_path / "AV2026-00001.pdf"
    pdf.write_bytes(PDF)
    queue_document_email(
        engine, settings, "AV2026-00001", "ap@bigco.example", pdf, "en", clock(),
        kind="credit_note", amount="€50.00",
    )  # fmt: skip
    drain_outbox(engine, settings, clock)
    [received] = smtp.received
    assert received["Subject"] == "credit note AV2026-00001 from Studio Nord"
    body = received.get_body(("plain",))
    assert body is not None
    assert "Please find attached our credit note AV2026-00001 for €50.00." in body.get_content()


def test_the_same_key_is_queued_once_and_the_job_run_twice_sends_once(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock
) -> None:
    first = queue(engine, "invoice:F2026-00002", "invoice", _mail(), SENDER, clock())
    again = queue(engine, "invoice:F2026-00002", "invoice", _mail(), SENDER, clock())
    assert first.created and not again.created and again.id == first.id

    drain_outbox(engine, settings, clock)
    clock.advance(minutes=5)
    second = drain_outbox(engine, settings, clock)

    assert second.sent == []
    assert len(smtp.received) == 1


def test_starttls_with_login(engine: Engine, clock: MovableClock, tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="starttls", login=True) as server:
        settings = email_settings(
            server, security="starttls", user=USER, password=PASSWORD, host="127.0.0.1"
        )
        queued = queue(engine, "test:1", "test", _mail(), SENDER, clock())
        trusted = server.trust()
        summary = drain_outbox(
            engine, settings, clock, send=lambda m: send_message(settings.email, m, trusted)
        )
        assert summary.sent == [queued.id]
        assert len(server.received) == 1


def test_implicit_tls(engine: Engine, clock: MovableClock, tmp_path: Path) -> None:
    with smtp_server(tmp_path, security="tls", login=True) as server:
        settings = email_settings(server, security="tls", user=USER, password=PASSWORD)
        send_message(settings.email, _email(settings), server.trust())
        assert len(server.received) == 1


def _email(settings: Settings) -> EmailMessage:
    from core.mail.message import build_message

    return build_message(
        sender=SENDER, reply_to="", to=("a@acme.example",), cc=(), subject="s", body="b\n",
        html=None, attachments=(), message_id="<1@studio.example>",
        date=MovableClock()(), language="en",
    )  # fmt: skip


def test_a_refused_login_and_an_untrusted_certificate_fail_at_once(
    engine: Engine, clock: MovableClock, tmp_path: Path
) -> None:
    with smtp_server(tmp_path, security="starttls", login=True) as server:
        wrong = email_settings(server, security="starttls", user=USER, password="nope")
        with pytest.raises(SendFailure) as refused:
            send_message(wrong.email, _email(wrong), server.trust())
        assert not refused.value.temporary
        assert refused.value.reason.startswith("login refused: 535")

        right = email_settings(server, security="starttls", user=USER, password=PASSWORD)
        with pytest.raises(SendFailure) as untrusted:
            send_message(right.email, _email(right))
        assert not untrusted.value.temporary
        assert "TLS failed" in untrusted.value.reason
        assert server.received == []


def test_a_recipient_refused_with_550_fails_at_once_and_the_assistant_is_told(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, assistant: int
) -> None:
    smtp.handler.refuse.add("gone@acme.example")
    queued = queue(engine, "invoice:F1", "invoice", _mail("gone@acme.example"), SENDER, clock())

    summary = drain_outbox(engine, settings, clock)

    assert summary.failed == [queued.id]
    view = get_email(engine, queued.id)
    assert view.state == FAILED and view.attempts == 1
    assert view.last_error is not None and "550" in view.last_error
    [(kind, said)] = _notices(engine)
    assert kind == "email_failed" and "gone@acme.example" in said and "550" in said
    clock.advance(hours=1)
    assert drain_outbox(engine, settings, clock).sent == []
    assert smtp.received == []


def test_451_then_accepted_waits_its_backoff_then_goes_once(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, assistant: int
) -> None:
    smtp.handler.answers.append("451 4.3.0 try again later")
    queued = queue(engine, "invoice:F3", "invoice", _mail(), SENDER, clock())

    first = drain_outbox(engine, settings, clock)
    assert first.retrying == [queued.id]
    view = get_email(engine, queued.id)
    assert view.state == QUEUED and view.next_try_at == clock() + BACKOFF[0]
    assert view.last_error is not None and view.last_error.startswith("451")

    clock.advance(seconds=30)
    assert drain_outbox(engine, settings, clock).sent == []  # not due yet
    clock.advance(seconds=30)
    assert drain_outbox(engine, settings, clock).sent == [queued.id]
    assert len(smtp.received) == 1
    assert get_email(engine, queued.id).attempts == 2
    assert _notices(engine) == []


def test_a_server_down_is_retried_with_backoff_then_given_up_and_reported(
    engine: Engine, clock: MovableClock, assistant: int, tmp_path: Path
) -> None:
    settings = email_settings(None, host="127.0.0.1", port=free_port())
    queued = queue(engine, "invoice:F4", "invoice", _mail(), SENDER, clock())

    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        assert drain_outbox(engine, settings, clock).retrying == [queued.id]
        view = get_email(engine, queued.id)
        assert view.next_try_at is not None
        waits.append(view.next_try_at - clock())
        assert "cannot reach 127.0.0.1" in (view.last_error or "")
        clock.instant = view.next_try_at
    assert waits == list(BACKOFF)
    assert _notices(engine) == []

    assert drain_outbox(engine, settings, clock).failed == [queued.id]
    assert get_email(engine, queued.id).state == FAILED
    [(kind, said)] = _notices(engine)
    assert kind == "email_failed" and f"given up after {MAX_ATTEMPTS} tries" in said

    # The assistant resends it once the server is back.
    with smtp_server(tmp_path) as server:
        back = email_settings(server)
        retry(engine, queued.id, clock(), "cli")
        assert drain_outbox(engine, back, clock).sent == [queued.id]
        assert len(server.received) == 1


KILLED_MID_SEND = """
import os, signal, sys
from datetime import datetime
from bots.email.smtp import send_message
from core.config.settings import Settings
from core.mail.outbox import claim, outgoing_message
from core.store.db import open_database
from core.store.lease import default_holder

engine = open_database(sys.argv[1])
settings = Settings(email={"host": "127.0.0.1", "port": int(sys.argv[2]), "security": "none",
                           "sender": "billing@studio.example"})
now = datetime.fromisoformat(sys.argv[3])
assert claim(engine, int(sys.argv[4]), now, default_holder()) == "claimed"
email_id = int(sys.argv[4])
send_message(settings.email, outgoing_message(engine, email_id, "billing@studio.example", ""))
os.kill(os.getpid(), signal.SIGKILL)  # dies before recording that it was sent
"""


def test_a_sender_killed_between_send_and_mark_leaves_it_unknown_never_resent(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, assistant: int
) -> None:
    queued = queue(engine, "reminder:9", "reminder", _mail(), SENDER, clock())
    assert engine.url.database
    child = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SEND, engine.url.database, str(smtp.port),
         clock().isoformat(), str(queued.id)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(smtp.received) == 1
    assert get_email(engine, queued.id).state == "sending"

    summary = drain_outbox(engine, settings, clock)

    assert summary.unknown == [queued.id] and summary.sent == []
    assert get_email(engine, queued.id).state == UNKNOWN
    [(kind, said)] = _notices(engine)
    assert kind == "email_unknown" and "pmdesk email mark-sent" in said
    clock.advance(days=1)
    drain_outbox(engine, settings, clock)
    assert len(smtp.received) == 1  # never resent by itself


def test_a_claim_of_another_host_is_unknown_only_once_stale(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock
) -> None:
    queued = queue(engine, "invoice:F5", "invoice", _mail(), SENDER, clock())
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outgoing_email SET state = 'sending', claimed_by = 'elsewhere:1:ab', "
                "claimed_at = :at WHERE id = :id"
            ),
            {"at": clock().replace(tzinfo=None).isoformat(sep=" "), "id": queued.id},
        )
    clock.advance(minutes=5)
    assert drain_outbox(engine, settings, clock).unknown == []  # maybe still sending
    clock.instant += STALE_CLAIM - timedelta(minutes=5)
    assert drain_outbox(engine, settings, clock).unknown == [queued.id]
    assert smtp.received == []


def test_a_connection_lost_after_the_message_was_handed_over_is_unknown(
    engine: Engine, settings: Settings, smtp: SmtpServer, clock: MovableClock, assistant: int
) -> None:
    smtp.handler.hang_up = True
    queued = queue(engine, "invoice:F6", "invoice", _mail(), SENDER, clock())

    summary = drain_outbox(engine, settings, clock)

    assert summary.unknown == [queued.id] and summary.retrying == []
    view = get_email(engine, queued.id)
    assert view.state == UNKNOWN
    assert "before the server confirmed the message" in (view.last_error or "")
    [(kind, _)] = _notices(engine)
    assert kind == "email_unknown"
    clock.advance(hours=2)
    drain_outbox(engine, settings, clock)
    assert len(smtp.received) == 1

    retry(engine, queued.id, clock(), "cli")  # the assistant checked: it did not arrive
    assert drain_outbox(engine, settings, clock).sent == [queued.id]
    assert [message["Message-ID"] for message in smtp.received] == [view.message_id] * 2
