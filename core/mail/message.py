"""The email itself: stdlib `EmailMessage` with its text, files, Message-ID and Date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

PDF = "application/pdf"


class BadAddress(ValueError):
    pass


@dataclass(frozen=True)
class Attachment:
    """A file an email carries, as bytes: what is sent is what was queued."""

    filename: str
    content_type: str
    content: bytes

    @classmethod
    def from_path(cls, path: Path, content_type: str = PDF) -> Attachment:
        """The file at `path`; OSError (with the path) when it cannot be read."""
        return cls(path.name, content_type, path.read_bytes())


@dataclass(frozen=True)
class Mail:
    """What an email says, before it is queued."""

    to: tuple[str, ...]
    subject: str
    body: str
    language: str
    cc: tuple[str, ...] = ()
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


def checked_addresses(addresses: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The addresses, stripped; BadAddress names the first that is not one."""
    checked = []
    for value in addresses:
        value = value.strip()
        _, address = parseaddr(value)
        local, at, domain = address.rpartition("@")
        if (
            not at
            or not local
            or "." not in domain
            or any(c in address for c in " <>")
            or any(c in value for c in ",;")
        ):
            raise BadAddress(f"{value!r} is not an email address")
        checked.append(value)
    return tuple(checked)


def new_message_id(sender: str) -> str:
    """A Message-ID in the sender's domain (fixed when the email is queued)."""
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "pmdesk.invalid"
    return make_msgid(domain=domain)


def build_message(
    *,
    sender: str,
    reply_to: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    subject: str,
    body: str,
    html: str | None,
    attachments: tuple[Attachment, ...] | list[Attachment],
    message_id: str,
    date: datetime,
    language: str,
) -> EmailMessage:
    """The email as it goes out: plain text (and HTML when given), then the files."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    # Last: the content headers set before are moved to the parts as they are added.
    message["Content-Language"] = language
    return message
