"""Handing one email to the agency's SMTP server (stdlib smtplib).

`send_message` connects as `[email]` says (STARTTLS on the submission port,
implicit TLS, or none), logs in when a user is set, and sends. Every
failure is a `SendFailure` that says whether trying again later may help:
a 4xx answer, a refused or dropped connection, a timeout are temporary; a
5xx answer (a refused sender or recipient, a refused login), a server that
offers no STARTTLS or a certificate that does not verify are not (they
will not heal by waiting, and the assistant is told at once).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from core.config.billing import EmailConfig


class SendFailure(Exception):
    """Not sent. `temporary`: trying later may help. `doubtful`: the connection broke
    after the whole message was handed over and before the server answered: it may
    have gone (never retried by itself)."""

    def __init__(self, reason: str, temporary: bool, doubtful: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary and not doubtful
        self.doubtful = doubtful


def send_message(
    config: EmailConfig, message: EmailMessage, context: ssl.SSLContext | None = None
) -> dict[str, tuple[int, bytes]]:
    """Send `message`; the recipients the server refused while taking it for the others
    (empty when it took all). SendFailure when it was not taken at all.

    `context`: the TLS settings (the system's trusted authorities by default).
    """
    if not config.host:
        raise SendFailure("no SMTP server configured ([email].host)", temporary=False)
    tls = context or ssl.create_default_context()
    handed = confirmed = False
    try:
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_seconds, context=tls
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        try:
            client.ehlo()
            if config.security == "starttls":
                client.starttls(context=tls)
                client.ehlo()
            if config.user:
                client.login(config.user, config.password or "")
            refused = _envelope(client, message)
            handed = True
            code, answer = client.data(
                message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
            )
            if code != 250:
                raise smtplib.SMTPDataError(code, answer)
            confirmed = True
        finally:
            if not confirmed:
                client.close()
        # Taken: whatever QUIT answers changes nothing.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()
        return refused
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        said = "; ".join(
            f"{address}: {code} {_text(answer)}"
            for address, (code, answer) in error.recipients.items()
        )
        raise SendFailure(
            f"recipients refused: {said}", all(400 <= c < 500 for c in codes)
        ) from None
    except smtplib.SMTPAuthenticationError as error:
        raise SendFailure(
            f"login refused: {error.smtp_code} {_text(error.smtp_error)}",
            400 <= error.smtp_code < 500,
        ) from None
    except smtplib.SMTPNotSupportedError as error:
        raise SendFailure(f"the server does not offer it: {error}", temporary=False) from None
    except smtplib.SMTPResponseException as error:
        raise SendFailure(
            f"{error.smtp_code} {_text(error.smtp_error)}", 400 <= error.smtp_code < 500
        ) from None
    except ssl.SSLError as error:
        raise SendFailure(f"TLS failed: {error}", temporary=False) from None
    except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as error:
        if not handed:
            raise _unreachable(config, error) from None
        raise SendFailure(
            f"the connection broke before the server confirmed the message: {error}",
            temporary=False,
            doubtful=True,
        ) from None
    except smtplib.SMTPException as error:
        raise SendFailure(str(error), temporary=False) from None


def _unreachable(config: EmailConfig, error: Exception) -> SendFailure:
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendFailure(f"the server closed the connection: {error}", temporary=True)
    if isinstance(error, TimeoutError):
        return SendFailure(
            f"no answer from {config.host}:{config.port} within {config.timeout_seconds:g} s",
            temporary=True,
        )
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return SendFailure(f"cannot reach {config.host}:{config.port}: {reason}", temporary=True)


def _envelope(client: smtplib.SMTP, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """MAIL FROM and RCPT TO for every To and Cc; the recipients refused (when some are).

    SMTPSenderRefused, or SMTPRecipientsRefused when every recipient is.
    """
    sender = parseaddr(str(message["From"]))[1]
    recipients = [
        address
        for _, address in getaddresses(
            [str(value) for value in message.get_all("To", []) + message.get_all("Cc", [])]
        )
        if address
    ]
    code, answer = client.mail(sender)
    if code != 250:
        client.rset()
        raise smtplib.SMTPSenderRefused(code, answer, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for address in recipients:
        code, answer = client.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, answer)
    if len(refused) == len(recipients):
        client.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    return refused


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
