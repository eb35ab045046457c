"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

`SmtpServer` runs aiosmtpd's Controller on a free port. Options: STARTTLS or
implicit TLS with a self-signed certificate made for the test (openssl),
a required login, recipients refused with 550, and answers to DATA given in
order before it accepts ("451 ..." then accepted).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "billing@agency.example", "s3cret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Handler:
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    # Answers to DATA, one per message, before the server accepts.
    answers: list[str] = field(default_factory=list)
    # Keep the next message, then hang up without answering (a connection lost mid-send).
    hang_up: bool = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answers:
            return self.answers.pop(0)
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.hang_up:
            self.hang_up = False
            server.transport.close()
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = (
        isinstance(data, LoginPassword)
        and data.login.decode() == USER
        and data.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: Handler
    cert: Path | None = None

    @property
    def received(self) -> list[EmailMessage]:
        return self.handler.received

    def trust(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate."""
        assert self.cert is not None
        return ssl.create_default_context(cafile=str(self.cert))


@contextmanager
def smtp_server(
    folder: Path, *, security: str = "none", login: bool = False
) -> Iterator[SmtpServer]:
    """A running server; `security` none, starttls or tls."""
    handler = Handler()
    cert = key = None
    options: dict[str, Any] = {}
    if security != "none":
        cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options["ssl_context"] = context
    if login:
        options.update(authenticator=_authenticator, auth_required=True)
    # Implicit TLS is TLS from the start: aiosmtpd only counts STARTTLS as such.
    options["auth_require_tls"] = security == "starttls"
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler, cert)
    finally:
        controller.stop()
