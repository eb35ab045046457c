"""What goes in the emails: reminders, invoices and credit notes, the go-live test;
and the client's billing address.

Texts of invoices and credit notes come from data/mail/<language>/ (first
line the subject, "Subject: ..." or "Objet : ..."), as the reminders' own
texts (data/reminders/) start with theirs.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from core.base.kinds import Actor
from core.base.templates import template_environment
from core.config.settings import Settings
from core.mail.message import PDF, Attachment, Mail
from core.mail.outbox import EMAIL, Queued, queue
from core.notify.rules import queue_assistant_notice
from core.receivables.dunning import local_today
from core.store.db import write
from core.store.models.receivables import Reminder
from core.store.models.system import table
from core.store.models.threads import Client, Contact

REMINDER, CLIENT, CONTACT = table(Reminder), table(Client), table(Contact)
_SUBJECT = re.compile(r"^\s*(subject|objet)\s*:\s*(?P<subject>.+?)\s*$", re.IGNORECASE)


class NoAddress(LookupError):
    """No billing address is known for a client."""


class NotConfigured(RuntimeError):
    """[email] has no host or no sender: nothing can be sent."""


def require_configured(settings: Settings) -> None:
    """NotConfigured, saying what is missing, unless [email] can send."""
    if not settings.email.host:
        raise NotConfigured("no SMTP server: set [email].host (and sender) in the configuration")
    if not settings.email.sender:
        raise NotConfigured("no sender address: set [email].sender in the configuration")


# The billing email of the client's contracts: a running one first, then the
# newest terms (a change of address takes effect from its version's day).
_CONTRACT_EMAIL = text(
    "SELECT v.billing_email FROM contractversion v"
    " JOIN contract c ON c.id = v.contract_id JOIN client k ON k.id = c.client_id"
    " WHERE k.name = :client AND v.billing_email <> ''"
    " ORDER BY CASE WHEN c.end_on IS NULL THEN 0 ELSE 1 END, v.effective_from DESC, v.id DESC"
    " LIMIT 1"
)


def billing_address(
    engine: Engine, settings: Settings, client: str, explicit: str | None = None
) -> str:
    """Where a client's invoices and reminders go.

    In order: `explicit` (the caller's), the billing email of the client's
    contract (the running one's newest terms first), the client's report
    address (`[reports.clients."<client>"].email`), then the client's only
    contact with an email. NoAddress otherwise, or when several contacts
    make it a guess.
    """
    if explicit and explicit.strip():
        return explicit.strip()
    with engine.connect() as connection:
        contract = connection.execute(_CONTRACT_EMAIL, {"client": client}).scalar()
    if contract:
        return str(contract)
    report = settings.reports.clients.get(client)
    if report is not None and report.email:
        return report.email
    query = (
        select(CONTACT.c.email)
        .join(CLIENT, CLIENT.c.id == CONTACT.c.client_id)
        .where(CLIENT.c.name == client, CONTACT.c.email.is_not(None), CONTACT.c.email != "")
        .distinct()
    )
    with engine.connect() as connection:
        found = sorted(connection.execute(query).scalars())
    if len(found) == 1:
        return str(found[0])
    if found:
        raise NoAddress(
            f"{client} has several contacts ({', '.join(found)}): give the address "
            f'(--to) or set [reports.clients."{client}"].email'
        )
    raise NoAddress(
        f"no email address known for {client}: give one (--to) "
        f'or set [reports.clients."{client}"].email'
    )


def split_subject(text: str, fallback: str) -> tuple[str, str]:
    """(subject, body) of a text whose first line may be "Subject: ..." / "Objet : ..."."""
    first, _, rest = text.partition("\n")
    found = _SUBJECT.match(first)
    if found is None:
        return fallback, text
    return found.group("subject"), rest.lstrip("\n")


# -- reminders ------------------------------------------------------------------


def queue_reminder_email(
    engine: Engine,
    settings: Settings,
    reminder_id: int,
    now: datetime,
    actor: Actor,
    to: str | None = None,
) -> Queued:
    """Queue a reminder draft's email to the client's billing address (approval).

    The reminder is marked sent when its email is. LookupError for an
    unknown reminder, ValueError for one that is not a draft, NoAddress.
    """
    with engine.connect() as connection:
        row = connection.execute(
            select(REMINDER.c.status, REMINDER.c.text, REMINDER.c.language, CLIENT.c.name)
            .join(CLIENT, CLIENT.c.id == REMINDER.c.client_id)
            .where(REMINDER.c.id == reminder_id)
        ).first()
    if row is None:
        raise LookupError(f"no reminder #{reminder_id}")
    if row.status != "draft":
        raise ValueError(f"reminder #{reminder_id} is already {row.status}")
    address = billing_address(engine, settings, row.name, to)
    subject, body = split_subject(row.text, f"{settings.agency}: {row.name}")
    mail = Mail(to=(address,), subject=subject, body=body, language=row.language)
    return queue(
        engine,
        f"reminder:{reminder_id}",
        "reminder",
        mail,
        settings.email.sender,
        now,
        reminder_id=reminder_id,
        actor=actor,
    )


def queue_todays_reminders(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """With `[email].auto_send_reminders`: queue every reminder drafted today not queued
    yet; the ids of the emails queued. A client with no known address keeps its draft
    (sent by hand) and the assistant is told once."""
    if not settings.email.auto_send_reminders:
        return []
    today = local_today(settings, now)
    queued_reminders = select(EMAIL.c.reminder_id).where(EMAIL.c.reminder_id.is_not(None))
    with engine.connect() as connection:
        drafts = list(
            connection.execute(
                select(REMINDER.c.id, CLIENT.c.name)
                .join(CLIENT, CLIENT.c.id == REMINDER.c.client_id)
                .where(
                    REMINDER.c.status == "draft",
                    REMINDER.c.run_on == today,
                    REMINDER.c.id.not_in(queued_reminders),
                )
                .order_by(REMINDER.c.id)
            )
        )
    ids = []
    for reminder_id, client in drafts:
        try:
            queued = queue_reminder_email(engine, settings, reminder_id, now, "system")
        except (NoAddress, ValueError) as error:
            with write(engine) as connection:
                queue_assistant_notice(
                    connection,
                    "reminder_not_emailed",
                    f"reminder_not_emailed:{reminder_id}",
                    f"Reminder #{reminder_id} to {client} was not emailed: {error}",
                    now,
                )
            continue
        if queued.created:
            ids.append(queued.id)
    return ids


# -- invoices and credit notes --------------------------------------------------


def queue_document_email(
    engine: Engine,
    settings: Settings,
    number: str,
    to: str | tuple[str, ...],
    pdf_path: Path,
    language: str,
    now: datetime,
    *,
    kind: str = "invoice",
    client: str = "",
    amount: str = "",
    due_on: str = "",
    cc: tuple[str, ...] = (),
    actor: Actor = "system",
) -> Queued:
    """Queue an issued invoice's (or credit note's, `kind` "credit_note") email, its PDF
    attached, the text from data/mail/<language>/<kind>.txt.j2. Once per number.

    OSError when the PDF cannot be read; BadAddress; nothing is queued then.
    """
    values = {
        "agency": settings.agency,
        "client": client,
        "number": number,
        "amount": amount,
        "due_on": due_on,
    }
    used, text = render_mail(kind, language, settings.default_language, values)
    subject, body = split_subject(text, f"{settings.agency}: {number}")
    mail = Mail(
        to=(to,) if isinstance(to, str) else tuple(to),
        cc=cc,
        subject=subject,
        body=body,
        language=used,
        attachments=(Attachment.from_path(pdf_path, PDF),),
    )
    return queue(engine, f"{kind}:{number}", kind, mail, settings.email.sender, now, actor=actor)


def queue_test_email(engine: Engine, settings: Settings, to: str, now: datetime) -> Queued:
    """The go-live check: one short message to `to`, in the default language."""
    used, text = render_mail(
        "test",
        settings.default_language,
        "en",
        {"agency": settings.agency, "host": settings.email.host or ""},
    )
    subject, body = split_subject(text, f"{settings.agency}: test")
    mail = Mail(to=(to,), subject=subject, body=body, language=used)
    key = f"test:{now.isoformat()}:{os.urandom(3).hex()}"
    return queue(engine, key, "test", mail, settings.email.sender, now, actor="cli")


def render_mail(kind: str, language: str, default: str, values: dict[str, Any]) -> tuple[str, str]:
    """(language used, text) of data/mail/<language>/<kind>.txt.j2, falling back to the
    default language then English."""
    import jinja2

    environment = template_environment("mail")
    for candidate in dict.fromkeys((language, default, "en")):
        try:
            template = environment.get_template(f"{candidate}/{kind}.txt.j2")
        except jinja2.TemplateNotFound:
            continue
        return candidate, str(template.render(**values))
    raise LookupError(f"no email template {kind!r} in any language")
