"""The email outbox: queued once, claimed before sending, never sent twice.

The states (core.store.models.mail.OutgoingEmail): a row is `queued`;
the sender `claim`s it (state `sending`, committed) before giving it to
the SMTP server, then records `mark_sent`, `mark_temporary` (a 4xx answer,
a server down or slow: tried again after a backoff, given up after
`MAX_ATTEMPTS`) or `mark_refused` (a 5xx answer: failed at once). A failure
is told to the assistant on duty (a notification, as core.notify does).

A row left `sending` by a sender that stopped (its process is gone, or its
claim is older than `STALE_CLAIM`) may or may not have reached the server:
`sweep_unknown` makes it `unknown` and tells the assistant, who resends it
(`retry`) or records that it went (`mark_sent_by_hand`). It is never sent
again by itself.

A reminder's email marks the reminder sent in the transaction that marks
the email sent; a reminder cancelled or marked sent by hand meanwhile
stops its email before it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.base.kinds import Actor
from core.mail.message import Attachment, Mail, build_message, checked_addresses, new_message_id
from core.notify.rules import queue_assistant_notice
from core.store.audit import audit_row, write_audit
from core.store.db import write
from core.store.lease import holds, is_dead
from core.store.models.mail import EmailAttachment, OutgoingEmail
from core.store.models.receivables import Reminder
from core.store.models.system import table

if TYPE_CHECKING:
    from email.message import EmailMessage

EMAIL, ATTACHMENT, REMINDER = table(OutgoingEmail), table(EmailAttachment), table(Reminder)
QUEUED, SENDING, SENT, FAILED, UNKNOWN = "queued", "sending", "sent", "failed", "unknown"
STATES = (QUEUED, SENDING, SENT, FAILED, UNKNOWN)
# Waits after the 1st, 2nd... temporary failure; the last one repeats.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
)
MAX_ATTEMPTS = 6
# A claim this old was never finished: its sender stopped. SMTP timeouts are at most
# five minutes per exchange, so a living sender is long done.
STALE_CLAIM = timedelta(minutes=30)
# Notification kinds (not core.base.kinds.NotificationKind: alerts of their own).
EMAIL_FAILED, EMAIL_UNKNOWN = "email_failed", "email_unknown"


class UnknownEmail(LookupError):
    pass


@dataclass(frozen=True)
class Queued:
    id: int
    # False: the same key was queued before; nothing was added.
    created: bool
    state: str


@dataclass(frozen=True)
class EmailView:
    id: int
    key: str
    kind: str
    to: str
    cc: str
    subject: str
    language: str
    message_id: str
    state: str
    attempts: int
    next_try_at: datetime | None
    last_error: str | None
    reminder_id: int | None
    created_at: datetime
    sent_at: datetime | None
    attachments: tuple[str, ...]


Claim = Literal["claimed", "taken", "lost"]


# -- queueing -------------------------------------------------------------------


def queue_on(
    connection: Connection,
    key: str,
    kind: str,
    mail: Mail,
    sender: str,
    now: datetime,
    *,
    reminder_id: int | None = None,
) -> Queued:
    """Queue `mail` under `key` in the caller's transaction, unless the key is queued
    already (then nothing changes: the same thing never goes twice).

    BadAddress when an address is not one; nothing is written then.
    """
    existing = connection.execute(
        select(EMAIL.c.id, EMAIL.c.state).where(EMAIL.c.key == key)
    ).first()
    if existing is not None:
        return Queued(existing.id, False, existing.state)
    to = checked_addresses(mail.to)
    if not to:
        raise ValueError("an email needs at least one recipient")
    cc = checked_addresses(mail.cc)
    email_id = connection.execute(
        EMAIL.insert()
        .values(
            key=key,
            kind=kind,
            to_address=", ".join(to),
            cc_address=", ".join(cc),
            subject=mail.subject,
            body=mail.body,
            html=mail.html,
            language=mail.language,
            message_id=new_message_id(sender),
            reminder_id=reminder_id,
            state=QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(EMAIL.c.id)
    ).scalar_one()
    for position, attachment in enumerate(mail.attachments):
        connection.execute(
            ATTACHMENT.insert().values(
                email_id=email_id,
                position=position,
                filename=attachment.filename,
                content_type=attachment.content_type,
                content=attachment.content,
            )
        )
    return Queued(email_id, True, QUEUED)


def queue(
    engine: Engine,
    key: str,
    kind: str,
    mail: Mail,
    sender: str,
    now: datetime,
    *,
    reminder_id: int | None = None,
    actor: Actor = "system",
) -> Queued:
    """`queue_on` in a transaction of its own, audited."""
    try:
        with write(engine) as connection:
            queued = queue_on(connection, key, kind, mail, sender, now, reminder_id=reminder_id)
            if queued.created:
                detail = {"key": key, "to": ", ".join(mail.to)}
                write_audit(
                    connection, [audit_row(now, actor, "email_queued", "email", queued.id, detail)]
                )
            return queued
    except IntegrityError:
        # Another writer queued the same key at the same moment: theirs stands.
        with engine.connect() as connection:
            row = connection.execute(
                select(EMAIL.c.id, EMAIL.c.state).where(EMAIL.c.key == key)
            ).one()
        return Queued(row.id, False, row.state)


# -- reading --------------------------------------------------------------------


def list_outbox(engine: Engine, states: tuple[str, ...] | None = None) -> list[EmailView]:
    """Emails, newest first; only those in `states` when given."""
    query = select(EMAIL).order_by(EMAIL.c.id.desc())
    if states:
        query = query.where(EMAIL.c.state.in_(states))
    with engine.connect() as connection:
        rows = list(connection.execute(query))
        names: dict[int, list[str]] = {}
        ids = [row.id for row in rows]
        if ids:
            for email_id, filename in connection.execute(
                select(ATTACHMENT.c.email_id, ATTACHMENT.c.filename)
                .where(ATTACHMENT.c.email_id.in_(ids))
                .order_by(ATTACHMENT.c.email_id, ATTACHMENT.c.position)
            ):
                names.setdefault(email_id, []).append(filename)
    return [_view(row, tuple(names.get(row.id, ()))) for row in rows]


def get_email(engine: Engine, email_id: int) -> EmailView:
    with engine.connect() as connection:
        row = connection.execute(select(EMAIL).where(EMAIL.c.id == email_id)).first()
        if row is None:
            raise UnknownEmail(f"no email #{email_id}")
        names = connection.execute(
            select(ATTACHMENT.c.filename)
            .where(ATTACHMENT.c.email_id == email_id)
            .order_by(ATTACHMENT.c.position)
        ).scalars()
        return _view(row, tuple(names))


def _view(row: Any, attachments: tuple[str, ...]) -> EmailView:
    return EmailView(
        id=row.id,
        key=row.key,
        kind=row.kind,
        to=row.to_address,
        cc=row.cc_address,
        subject=row.subject,
        language=row.language,
        message_id=row.message_id,
        state=row.state,
        attempts=row.attempts,
        next_try_at=row.next_try_at,
        last_error=row.last_error,
        reminder_id=row.reminder_id,
        created_at=row.created_at,
        sent_at=row.sent_at,
        attachments=attachments,
    )


def due_emails(engine: Engine, now: datetime, limit: int = 50) -> list[int]:
    """Queued emails to send now, oldest first (those waiting for a retry left out)."""
    query = (
        select(EMAIL.c.id)
        .where(
            EMAIL.c.state == QUEUED,
            or_(EMAIL.c.next_try_at.is_(None), EMAIL.c.next_try_at <= now),
        )
        .order_by(EMAIL.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def outgoing_message(engine: Engine, email_id: int, sender: str, reply_to: str) -> EmailMessage:
    """The email #`email_id` as it goes out, files included."""
    with engine.connect() as connection:
        row = connection.execute(select(EMAIL).where(EMAIL.c.id == email_id)).first()
        if row is None:
            raise UnknownEmail(f"no email #{email_id}")
        files = [
            Attachment(item.filename, item.content_type, bytes(item.content))
            for item in connection.execute(
                select(ATTACHMENT)
                .where(ATTACHMENT.c.email_id == email_id)
                .order_by(ATTACHMENT.c.position)
            )
        ]
    return build_message(
        sender=sender,
        reply_to=reply_to,
        to=_split(row.to_address),
        cc=_split(row.cc_address),
        subject=row.subject,
        body=row.body,
        html=row.html,
        attachments=files,
        message_id=row.message_id,
        date=row.created_at,
        language=row.language,
    )


def _split(addresses: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in addresses.split(",") if part.strip())


# -- sending --------------------------------------------------------------------


def claim(
    engine: Engine, email_id: int, now: datetime, claimant: str, holder: str | None = None
) -> Claim:
    """Take a queued email for sending, committed before anything is sent.

    "claimed": this sender sends it now; "taken": it is not queued any more
    (another sender has it, or it was settled; a reminder cancelled or
    marked sent by hand fails its email here, unsent); "lost": `holder` no
    longer holds the services lease (fencing, as core.notify.drain.may_send).
    """
    with write(engine) as connection:
        if holder is not None and not holds(connection, holder, now):
            return "lost"
        row = connection.execute(
            select(EMAIL.c.state, EMAIL.c.reminder_id).where(EMAIL.c.id == email_id)
        ).first()
        if row is None or row.state != QUEUED:
            return "taken"
        if row.reminder_id is not None:
            status = connection.execute(
                select(REMINDER.c.status).where(REMINDER.c.id == row.reminder_id)
            ).scalar()
            if status != "draft":
                _set(
                    connection,
                    email_id,
                    now,
                    state=FAILED,
                    last_error=f"not sent: the reminder was {status} meanwhile",
                )
                return "taken"
        taken = connection.execute(
            update(EMAIL)
            .where(EMAIL.c.id == email_id, EMAIL.c.state == QUEUED)
            .values(
                state=SENDING,
                attempts=EMAIL.c.attempts + 1,
                claimed_by=claimant,
                claimed_at=now,
                updated_at=now,
            )
        ).rowcount
    return "claimed" if taken == 1 else "taken"


def mark_sent(engine: Engine, email_id: int, now: datetime, note: str | None = None) -> None:
    """The server took the email (`note`: recipients it refused, if some were)."""
    with write(engine) as connection:
        _settle_sent(connection, email_id, now, note, "system")
        if note:
            _tell(connection, email_id, EMAIL_FAILED, now, f"sent, but {note}")


def mark_temporary(engine: Engine, email_id: int, now: datetime, error: str) -> str:
    """The server could not take it now: queued again after a backoff, or `failed` once
    `MAX_ATTEMPTS` are spent (the assistant is told). Returns the new state."""
    with write(engine) as connection:
        attempts = connection.execute(
            select(EMAIL.c.attempts).where(EMAIL.c.id == email_id)
        ).scalar_one()
        if attempts >= MAX_ATTEMPTS:
            _set(connection, email_id, now, state=FAILED, last_error=error, next_try_at=None)
            _tell(
                connection, email_id, EMAIL_FAILED, now, f"given up after {attempts} tries: {error}"
            )
            return FAILED
        wait = BACKOFF[min(attempts, len(BACKOFF)) - 1] if attempts else BACKOFF[0]
        _set(connection, email_id, now, state=QUEUED, last_error=error, next_try_at=now + wait)
        return QUEUED


def mark_refused(engine: Engine, email_id: int, now: datetime, error: str) -> None:
    """The server refused it for good (5xx): failed at once, and the assistant is told."""
    with write(engine) as connection:
        _set(connection, email_id, now, state=FAILED, last_error=error, next_try_at=None)
        _tell(connection, email_id, EMAIL_FAILED, now, f"refused: {error}")


def mark_unknown(engine: Engine, email_id: int, now: datetime, error: str) -> None:
    """The connection broke after the message was handed over: it may have gone.
    `unknown`, never resent by itself; the assistant is told."""
    with write(engine) as connection:
        _set(connection, email_id, now, state=UNKNOWN, last_error=error, next_try_at=None)
        _tell(connection, email_id, EMAIL_UNKNOWN, now, f"may or may not have gone out: {error}")


def sweep_unknown(engine: Engine, now: datetime, claimant: str) -> list[int]:
    """Emails left `sending` by a sender that stopped become `unknown`; their ids.

    A claim is abandoned when its process is gone (this host) or when it is
    older than `STALE_CLAIM`; `claimant`'s own claims are never swept.
    """
    with write(engine) as connection:
        rows = list(
            connection.execute(
                select(EMAIL.c.id, EMAIL.c.claimed_by, EMAIL.c.claimed_at).where(
                    EMAIL.c.state == SENDING
                )
            )
        )
        swept = []
        for row in rows:
            if row.claimed_by == claimant:
                continue
            stale = row.claimed_at is None or _aware(row.claimed_at) <= now - STALE_CLAIM
            if not (stale or is_dead(row.claimed_by or "")):
                continue
            _set(
                connection,
                row.id,
                now,
                state=UNKNOWN,
                last_error="the sender stopped after handing it to the server and before "
                "hearing the answer: it may have gone; resend or mark it sent",
            )
            _tell(
                connection,
                row.id,
                EMAIL_UNKNOWN,
                now,
                "may or may not have gone out (the sender stopped mid-send): "
                "check, then `pmdesk email retry` or `pmdesk email mark-sent`",
            )
            swept.append(row.id)
    return swept


# -- by hand --------------------------------------------------------------------


def retry(engine: Engine, email_id: int, now: datetime, actor: Actor) -> None:
    """Queue a failed or unknown email again, to go out at once (the assistant's choice)."""
    with write(engine) as connection:
        state = _state(connection, email_id)
        if state not in (FAILED, UNKNOWN):
            raise ValueError(
                f"email #{email_id} is {state}: only a failed or unknown one is retried"
            )
        _set(connection, email_id, now, state=QUEUED, next_try_at=None, attempts=0)
        write_audit(connection, [audit_row(now, actor, "email_retry", "email", email_id, {})])


def mark_sent_by_hand(engine: Engine, email_id: int, now: datetime, actor: Actor) -> None:
    """Record that an unknown, failed or queued email went out after all (or by other means)."""
    with write(engine) as connection:
        state = _state(connection, email_id)
        if state not in (QUEUED, FAILED, UNKNOWN):
            raise ValueError(f"email #{email_id} is {state}: nothing to mark")
        _settle_sent(connection, email_id, now, None, actor)
        write_audit(connection, [audit_row(now, actor, "email_marked_sent", "email", email_id, {})])


# -- shared ---------------------------------------------------------------------


def _state(connection: Connection, email_id: int) -> str:
    state = connection.execute(select(EMAIL.c.state).where(EMAIL.c.id == email_id)).scalar()
    if state is None:
        raise UnknownEmail(f"no email #{email_id}")
    return str(state)


def _settle_sent(
    connection: Connection, email_id: int, now: datetime, note: str | None, actor: Actor
) -> None:
    _set(connection, email_id, now, state=SENT, sent_at=now, next_try_at=None, last_error=note)
    reminder_id = connection.execute(
        select(EMAIL.c.reminder_id).where(EMAIL.c.id == email_id)
    ).scalar()
    if reminder_id is None:
        return
    marked = connection.execute(
        update(REMINDER)
        .where(REMINDER.c.id == reminder_id, REMINDER.c.status == "draft")
        .values(status="sent", status_at=now)
    ).rowcount
    if marked:
        detail = {"email": email_id}
        write_audit(
            connection, [audit_row(now, actor, "reminder_sent", "reminder", reminder_id, detail)]
        )


def _set(connection: Connection, email_id: int, now: datetime, **values: Any) -> None:
    connection.execute(update(EMAIL).where(EMAIL.c.id == email_id).values(updated_at=now, **values))


def _tell(connection: Connection, email_id: int, kind: str, now: datetime, what: str) -> None:
    row = connection.execute(
        select(EMAIL.c.subject, EMAIL.c.to_address, EMAIL.c.attempts).where(EMAIL.c.id == email_id)
    ).one()
    body = f"Email #{email_id} to {row.to_address} ({row.subject}) {what}"
    queue_assistant_notice(connection, kind, f"{kind}:{email_id}:{row.attempts}", body, now)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
