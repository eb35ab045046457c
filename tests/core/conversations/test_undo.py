"""Undo within five seconds: a held reply, no reply needed, handled.

A dashboard reply is held in the outbox until its undo window is over, so
no drain (in this process or another) sends it early; withdrawing it takes
the event and its delivery row back in one transaction and replays the
thread's clock, and the audit records the undo.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.conversations.actions import UNDO_WINDOW, assign, no_reply_needed, reply, undo
from core.conversations.ingest import Ingestor, Unwithdrawable
from core.conversations.people import add_staff
from core.conversations.triage import mark_handled, unhandle
from core.notify.drain import due_deliveries, mark_delivered
from core.receivables.matching.decisions import MatchingError, accept, undo_accept
from core.receivables.matching.matcher import match_new_lines
from core.store.models.outbox import Delivery
from core.store.models.receivables import ClientIban
from core.store.models.system import Audit, table
from core.store.models.threads import Clock, Event
from tests.core.receivables.matching.test_matching import BANKS, paid, state
from tests.core.receivables.matching.test_matching import client as matching_client
from tests.core.receivables.matching.test_matching import invoice as matching_invoice
from tests.core.receivables.matching.test_matching import line as matching_line
from tests.support import START, MovableClock, make_event

CLOCKS, DELIVERIES, EVENTS, AUDIT = table(Clock), table(Delivery), table(Event), table(Audit)


def rows(engine: Engine, source: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(source))]


@pytest.fixture
def thread(engine: Engine, ingestor: Ingestor, clock: MovableClock) -> int:
    """A thread whose clock runs since the client wrote at START."""
    [message] = ingestor.ingest([make_event("m1", 0)])
    clock.advance(minutes=3)
    with engine.connect() as connection:
        found: int = connection.execute(
            select(EVENTS.c.thread_id).where(EVENTS.c.id == message.event_id)
        ).scalar_one()
    return found


@pytest.fixture
def ana(engine: Engine) -> int:
    return add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)


def test_a_held_reply_is_not_drained_before_its_instant(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    sent_at = clock()
    result = reply(ingestor, thread, ana, "On it.", clock=clock, hold=UNDO_WINDOW)

    just_before = sent_at + UNDO_WINDOW - timedelta(microseconds=1)
    assert due_deliveries(engine, sent_at) == []
    assert due_deliveries(engine, just_before) == []
    [due] = due_deliveries(engine, sent_at + UNDO_WINDOW)
    assert (due.event_id, due.text) == (result.event_id, "On it.")


def test_a_reply_not_held_is_due_at_once(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    result = reply(ingestor, thread, ana, "On it.", clock=clock)

    assert [d.event_id for d in due_deliveries(engine, clock())] == [result.event_id]


def test_withdrawing_a_reply_replays_the_clock_and_empties_the_outbox(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    before = rows(engine, CLOCKS)
    result = reply(ingestor, thread, ana, "On it.", clock=clock, hold=UNDO_WINDOW)
    assert [c["outcome"] for c in rows(engine, CLOCKS)] == ["met"]

    clock.advance(seconds=4)
    withdrawn = undo(ingestor, result.event_id or 0, ana)

    assert (withdrawn.kind, withdrawn.text) == ("message", "On it.")
    # The clock reads as before the reply: running, from the client's message.
    assert rows(engine, CLOCKS) == before
    assert before[0]["outcome"] == "running" and before[0]["started_at"] == START
    assert rows(engine, DELIVERIES) == []
    assert [e["id"] for e in rows(engine, EVENTS)] != [] and all(
        e["id"] != result.event_id for e in rows(engine, EVENTS)
    )
    assert due_deliveries(engine, clock() + timedelta(hours=1)) == []
    [audit] = rows(engine, AUDIT)
    assert (audit["actor"], audit["action"], audit["entity"], audit["entity_id"]) == (
        "Ana",
        "undo_message",
        "thread",
        thread,
    )
    assert json.loads(audit["detail"])["text"] == "On it."


def test_a_withdrawn_reply_can_be_undone_only_once(
    ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    result = reply(ingestor, thread, ana, "On it.", clock=clock, hold=UNDO_WINDOW)
    undo(ingestor, result.event_id or 0, ana)

    with pytest.raises(Unwithdrawable, match="undone already"):
        undo(ingestor, result.event_id or 0, ana)


def test_an_undo_after_five_seconds_is_refused_and_the_reply_still_goes(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    result = reply(ingestor, thread, ana, "On it.", clock=clock, hold=UNDO_WINDOW)
    clock.advance(seconds=5)

    with pytest.raises(Unwithdrawable, match="too late: undo works for 5 seconds"):
        undo(ingestor, result.event_id or 0, ana)

    assert [d.event_id for d in due_deliveries(engine, clock())] == [result.event_id]
    assert [c["outcome"] for c in rows(engine, CLOCKS)] == ["met"]
    assert rows(engine, AUDIT) == []


def test_a_reply_already_sent_is_never_withdrawn(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    # A reply written without a hold (the command line, Telegram) goes at
    # once: sent within the second, it cannot be taken back.
    result = reply(ingestor, thread, ana, "On it.", clock=clock)
    event_id = result.event_id or 0
    mark_delivered(engine, event_id, clock(), "comment-1")
    clock.advance(seconds=1)

    with pytest.raises(Unwithdrawable, match="on its way"):
        undo(ingestor, event_id, ana)

    assert [d["status"] for d in rows(engine, DELIVERIES)] == ["delivered"]
    assert [c["outcome"] for c in rows(engine, CLOCKS)] == ["met"]


def test_withdrawing_no_reply_needed_runs_the_clock_again(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    before = rows(engine, CLOCKS)
    result = no_reply_needed(ingestor, thread, ana, clock=clock)
    assert [c["outcome"] for c in rows(engine, CLOCKS)] == ["no_reply_needed"]

    clock.advance(seconds=2)
    undo(ingestor, result.event_id or 0, ana)

    assert rows(engine, CLOCKS) == before
    assert [a["action"] for a in rows(engine, AUDIT)] == ["undo_no_reply_needed"]


def test_a_client_message_is_never_withdrawn(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    [client_message] = [e["id"] for e in rows(engine, EVENTS)]

    with pytest.raises(Unwithdrawable, match="only a reply"):
        undo(ingestor, client_message, ana)

    assert len(rows(engine, EVENTS)) == 1


def test_an_assignment_is_not_withdrawn(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    result = assign(ingestor, thread, ana, ana, clock=clock)

    with pytest.raises(Unwithdrawable, match="only a reply"):
        undo(ingestor, result.event_id or 0, ana)

    assert len(rows(engine, EVENTS)) == 2


def test_undoing_handled_puts_each_event_s_triage_back(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    before = [(e["id"], e["triage"], e["triage_by"], e["triage_at"]) for e in rows(engine, EVENTS)]
    handled = mark_handled(engine, thread, ana, clock=clock)
    assert {e["triage"] for e in rows(engine, EVENTS)} == {"handled"}

    clock.advance(seconds=3)
    assert unhandle(engine, handled, "Ana", clock=clock) == 1

    after = [(e["id"], e["triage"], e["triage_by"], e["triage_at"]) for e in rows(engine, EVENTS)]
    assert after == before
    [audit] = rows(engine, AUDIT)
    assert (audit["action"], audit["entity_id"]) == ("undo_handled", thread)


def test_undoing_handled_after_five_seconds_is_refused(
    engine: Engine, ingestor: Ingestor, clock: MovableClock, thread: int, ana: int
) -> None:
    handled = mark_handled(engine, thread, ana, clock=clock)
    clock.advance(seconds=5)

    with pytest.raises(ValueError, match="too late"):
        unhandle(engine, handled, "Ana", clock=clock)

    assert {e["triage"] for e in rows(engine, EVENTS)} == {"handled"}
    assert rows(engine, AUDIT) == []


# -- a payment accepted in review -------------------------------------------------


def learned(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(table(ClientIban)))]


def accepted_line(engine: Engine, clock: MovableClock) -> tuple[int, int, str]:
    """A line from an unknown account that only a person can apply: (line, invoice, iban)."""
    now = clock()
    acme = matching_client(engine, "Acme", now)
    target = matching_invoice(engine, "INV-7", acme, 12000, now)
    iban = "FR7630006000011234567890189"
    paying = matching_line(engine, now, 12000, "virement", iban=iban)
    match_new_lines(engine, BANKS, now)
    assert state(engine, paying)[0] == "review"
    accept(engine, BANKS, paying, ["INV-7"], "Ana", now)
    assert paid(engine, target) == (12000, "paid", 12000)
    assert [row[0] for row in learned(engine)] == [iban]
    return paying, target, iban


def test_an_accept_undone_within_five_seconds_leaves_the_invoice_and_accounts_as_before(
    engine: Engine, clock: MovableClock
) -> None:
    paying, target, _iban = accepted_line(engine, clock)
    clock.advance(seconds=4)

    assert undo_accept(engine, BANKS, paying, "Ana", clock(), UNDO_WINDOW) == 12000

    assert paid(engine, target) == (0, "open", 0)
    assert state(engine, paying)[0] == "review"
    assert learned(engine) == []  # the account the match taught is forgotten
    actions = [a["action"] for a in rows(engine, AUDIT)]
    assert actions[-1] == "undo_accept" and "unallocate" in actions


def test_an_accept_undone_after_five_seconds_is_refused_and_stays(
    engine: Engine, clock: MovableClock
) -> None:
    paying, target, iban = accepted_line(engine, clock)
    clock.advance(seconds=5)

    with pytest.raises(MatchingError, match="too late: undo works for 5 seconds"):
        undo_accept(engine, BANKS, paying, "Ana", clock(), UNDO_WINDOW)

    assert paid(engine, target) == (12000, "paid", 12000)
    assert state(engine, paying)[0] == "matched"
    assert [row[0] for row in learned(engine)] == [iban]
