"""The email outbox's rules without a server: addresses, reminders, states by hand."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from core.config.settings import Settings
from core.conversations.people import add_staff
from core.mail.compose import (
    NoAddress,
    billing_address,
    queue_reminder_email,
    queue_todays_reminders,
    split_subject,
)
from core.mail.message import BadAddress, Mail
from core.mail.outbox import (
    FAILED,
    SENDING,
    SENT,
    claim,
    get_email,
    list_outbox,
    mark_sent,
    mark_sent_by_hand,
    queue,
    retry,
)
from core.receivables.dunning import mark_reminder
from core.store.models.outbox import Notification
from core.store.models.receivables import Reminder
from core.store.models.system import Audit, table
from core.store.models.threads import Client, Contact
from tests.support import MovableClock

CLIENT, CONTACT, REMINDER = table(Client), table(Contact), table(Reminder)
AUDIT, NOTIFICATION = table(Audit), table(Notification)
SENDER = "billing@studio.example"
FRENCH = (
    "Objet : rappel — facture en attente de règlement\n\nBonjour,\n\nSauf erreur de notre part…\n"
)


def _settings(**email: object) -> Settings:
    return Settings(
        agency="Studio Nord",
        policies={"default": {"calendar": "24/7"}},
        email={"host": "127.0.0.1", "sender": SENDER, **email},
        reports={"clients": {"Bigco": {"email": "ap@bigco.example"}}},
    )


def _client(engine: Engine, name: str, clock: MovableClock, *emails: str) -> int:
    with engine.begin() as connection:
        client_id = connection.execute(
            CLIENT.insert().values(name=name, language="fr", created_at=clock())
        ).inserted_primary_key[0]
        for email in emails:
            connection.execute(
                CONTACT.insert().values(client_id=client_id, key=email, name=email, email=email)
            )
    return int(client_id)


def _reminder(engine: Engine, client_id: int, clock: MovableClock, run_on: date) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                REMINDER.insert().values(
                    client_id=client_id,
                    run_on=run_on,
                    language="fr",
                    text=FRENCH,
                    status="draft",
                    created_at=clock(),
                )
            ).inserted_primary_key[0]
        )


def test_the_address_given_wins_then_the_reports_one_then_the_only_contact(
    engine: Engine, clock: MovableClock
) -> None:
    settings = _settings()
    _client(engine, "Acme", clock, "compta@acme.example")
    _client(engine, "Bigco", clock, "someone@bigco.example")
    _client(engine, "Twoco", clock, "a@two.example", "b@two.example")
    _client(engine, "Nobody", clock)

    assert billing_address(engine, settings, "Acme", " given@acme.example ") == "given@acme.example"
    assert billing_address(engine, settings, "Bigco") == "ap@bigco.example"
    assert billing_address(engine, settings, "Acme") == "compta@acme.example"
    with pytest.raises(NoAddress, match="several contacts"):
        billing_address(engine, settings, "Twoco")
    with pytest.raises(NoAddress, match="no email address known for Nobody"):
        billing_address(engine, settings, "Nobody")


def test_subjects_are_read_from_the_first_line_in_either_language() -> None:
    assert split_subject("Subject: hello\n\nBody\n", "x") == ("hello", "Body\n")
    assert split_subject("Objet : bonjour\nCorps\n", "x") == ("bonjour", "Corps\n")
    assert split_subject("No subject line\n", "fallback") == ("fallback", "No subject line\n")


def test_a_bad_address_is_refused_and_nothing_is_queued(
    engine: Engine, clock: MovableClock
) -> None:
    for bad in ("not-an-address", "a@b", "two@a.example, three@b.example"):
        mail = Mail(to=(bad,), subject="s", body="b", language="en")
        with pytest.raises(BadAddress):
            queue(engine, f"test:{bad}", "test", mail, SENDER, clock())
    assert list_outbox(engine) == []


def test_a_reminder_email_marks_its_reminder_sent_when_it_is_sent(
    engine: Engine, clock: MovableClock
) -> None:
    settings = _settings()
    reminder = _reminder(engine, _client(engine, "Acme", clock, "compta@acme.example"), clock,
                         clock().date())  # fmt: skip
    queued = queue_reminder_email(engine, settings, reminder, clock(), "cli")
    again = queue_reminder_email(engine, settings, reminder, clock(), "cli")
    assert queued.created and not again.created

    view = get_email(engine, queued.id)
    assert view.subject == "rappel — facture en attente de règlement"
    assert view.to == "compta@acme.example" and view.language == "fr"
    assert claim(engine, queued.id, clock(), "me:1:aa") == "claimed"
    assert get_email(engine, queued.id).state == SENDING
    mark_sent(engine, queued.id, clock())

    with engine.connect() as connection:
        status = connection.execute(
            select(REMINDER.c.status).where(REMINDER.c.id == reminder)
        ).scalar()
        actions = list(connection.execute(select(AUDIT.c.action)).scalars())
    assert status == "sent"
    assert actions == ["email_queued", "reminder_sent"]
    with pytest.raises(ValueError, match="already sent"):
        queue_reminder_email(engine, settings, reminder + 0, clock(), "cli", "x@acme.example")


def test_a_reminder_cancelled_while_queued_does_not_go(engine: Engine, clock: MovableClock) -> None:
    settings = _settings()
    reminder = _reminder(engine, _client(engine, "Acme", clock, "compta@acme.example"), clock,
                         clock().date())  # fmt: skip
    queued = queue_reminder_email(engine, settings, reminder, clock(), "cli")
    mark_reminder(engine, reminder, "cancelled", "cli", clock())

    assert claim(engine, queued.id, clock(), "me:1:aa") == "taken"
    view = get_email(engine, queued.id)
    assert view.state == FAILED and view.attempts == 0
    assert view.last_error == "not sent: the reminder was cancelled meanwhile"


def test_auto_send_queues_todays_drafts_once_and_tells_of_those_with_no_address(
    engine: Engine, clock: MovableClock
) -> None:
    add_staff(engine, "Ana", "assistant", ["ana@studio.example"], clock())
    today = clock().date()
    acme = _reminder(engine, _client(engine, "Acme", clock, "compta@acme.example"), clock, today)
    _reminder(engine, _client(engine, "Nobody", clock), clock, today)
    older = _client(engine, "Oldco", clock, "old@old.example")
    _reminder(engine, older, clock, date(2026, 11, 1))

    assert queue_todays_reminders(engine, _settings(), clock()) == []  # not asked for
    queued = queue_todays_reminders(engine, _settings(auto_send_reminders=True), clock())
    again = queue_todays_reminders(engine, _settings(auto_send_reminders=True), clock())

    assert again == []
    [email] = [get_email(engine, email_id) for email_id in queued]
    assert email.reminder_id == acme
    with engine.connect() as connection:
        notices = list(connection.execute(select(NOTIFICATION.c.text)).scalars())
    assert notices == [
        "Reminder #2 to Nobody was not emailed: no email address known for Nobody: give one "
        '(--to) or set [reports.clients."Nobody"].email'
    ]


def test_retry_and_mark_sent_by_hand(engine: Engine, clock: MovableClock) -> None:
    mail = Mail(to=("a@acme.example",), subject="s", body="b", language="en")
    queued = queue(engine, "invoice:F9", "invoice", mail, SENDER, clock())
    with pytest.raises(ValueError, match="is queued: only a failed or unknown one"):
        retry(engine, queued.id, clock(), "cli")
    mark_sent_by_hand(engine, queued.id, clock(), "cli")
    assert get_email(engine, queued.id).state == SENT
    with pytest.raises(ValueError, match="is sent: nothing to mark"):
        mark_sent_by_hand(engine, queued.id, clock(), "cli")
