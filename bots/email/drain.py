"""The email outbox's drain: run by the services in a worker thread every minute.

One turn: emails left `sending` by a stopped sender become `unknown`
(never resent by themselves), with `[email].auto_send_reminders` today's
reminder drafts are queued, then each due email is claimed (committed),
handed to the server and its outcome recorded (core.mail.outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import Engine

from bots.email.smtp import SendFailure, send_message
from core.base.instants import Now
from core.config.settings import Settings
from core.mail.compose import queue_todays_reminders
from core.mail.outbox import (
    claim,
    due_emails,
    mark_refused,
    mark_sent,
    mark_temporary,
    mark_unknown,
    outgoing_message,
    sweep_unknown,
)
from core.store.lease import default_holder

log = logging.getLogger("pmdesk.email")

Sender = Callable[[EmailMessage], dict[str, tuple[int, bytes]]]


@dataclass
class DrainSummary:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    queued_reminders: list[int] = field(default_factory=list)
    # The services lease was lost mid-turn: nothing more was sent.
    lost: bool = False


def drain_outbox(
    engine: Engine,
    settings: Settings,
    clock: Now,
    *,
    send: Sender | None = None,
    holder: str | None = None,
    claimant: str | None = None,
    limit: int = 50,
) -> DrainSummary:
    """One turn of the drain; see the module. `send`: the SMTP hand-over (the configured
    server's by default); `holder`: the services lease's holder, checked at every claim."""
    deliver = send or (lambda message: send_message(settings.email, message))
    claimant = claimant or holder or default_holder()
    summary = DrainSummary()
    summary.unknown = sweep_unknown(engine, clock(), claimant)
    for email_id in summary.unknown:
        log.error("email #%d may or may not have gone out: marked unknown", email_id)
    summary.queued_reminders = queue_todays_reminders(engine, settings, clock())
    for email_id in due_emails(engine, clock(), limit):
        verdict = claim(engine, email_id, clock(), claimant, holder)
        if verdict == "lost":
            log.error("the services lease is lost: sending no more email")
            summary.lost = True
            break
        if verdict == "taken":
            continue
        outcome, _ = _send_claimed(engine, settings, clock, email_id, deliver)
        {
            "sent": summary.sent,
            "retrying": summary.retrying,
            "failed": summary.failed,
            "unknown": summary.unknown,
        }[outcome].append(email_id)
    return summary


def send_now(
    engine: Engine, settings: Settings, clock: Now, email_id: int, *, send: Sender | None = None
) -> tuple[str, str]:
    """Send one queued email at once (the go-live test): (outcome, the server's reason).

    The outcome is sent, retrying, failed or unknown, recorded as the drain records it.
    """
    deliver = send or (lambda message: send_message(settings.email, message))
    if claim(engine, email_id, clock(), default_holder()) != "claimed":
        return "failed", "it is not queued any more"
    return _send_claimed(engine, settings, clock, email_id, deliver)


def _send_claimed(
    engine: Engine, settings: Settings, clock: Now, email_id: int, deliver: Sender
) -> tuple[str, str]:
    """Hand a claimed email to the server and record the outcome."""
    message = outgoing_message(engine, email_id, settings.email.sender, settings.email.reply_to)
    try:
        refused = deliver(message)
    except SendFailure as failure:
        if failure.doubtful:
            mark_unknown(engine, email_id, clock(), failure.reason)
            log.error("email #%d may or may not have gone out: %s", email_id, failure.reason)
            return "unknown", failure.reason
        if failure.temporary:
            state = mark_temporary(engine, email_id, clock(), failure.reason)
            log.warning("email #%d not sent (%s): %s", email_id, state, failure.reason)
            return ("retrying" if state == "queued" else "failed"), failure.reason
        mark_refused(engine, email_id, clock(), failure.reason)
        log.error("email #%d refused: %s", email_id, failure.reason)
        return "failed", failure.reason
    note = None
    if refused:
        note = "refused for " + ", ".join(
            f"{address} ({code})" for address, (code, _) in refused.items()
        )
    mark_sent(engine, email_id, clock(), note)
    return "sent", note or ""
