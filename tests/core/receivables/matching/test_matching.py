"""Matching credits to invoices: each rule, auto against review, allocations, undo."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import count

import pytest
from sqlalchemy import Engine, text

from core.config.banks import BanksConfig
from core.receivables.invoices import creditor_reference
from core.receivables.matching.decisions import MatchingError, accept, reject, restore, unallocate
from core.receivables.matching.matcher import match_new_lines
from core.receivables.matching.rules import Delays, number_keys
from core.store.db import insert_many, write
from core.store.models.receivables import BankTransaction, Invoice
from core.store.models.system import table
from core.store.models.threads import Client
from tests.support import MovableClock

BANKS = BanksConfig()
_ids = count(1)


def client(engine: Engine, name: str, now: datetime) -> int:
    with write(engine) as connection:
        insert_many(connection, table(Client), [{"name": name, "created_at": now}])
        return int(connection.execute(text("SELECT max(id) FROM client")).scalar_one())


def invoice(engine: Engine, number: str, client_id: int, cents: int, now: datetime,
            due: date = date(2026, 11, 1), reference: str | None = None) -> int:  # fmt: skip
    row = {
        "number": number, "client_id": client_id, "issued_on": date(2026, 5, 1), "due_on": due,
        "currency": "EUR", "total_cents": cents, "paid_cents": 0, "state": "open",
        "created_at": now, "updated_at": now, "creditor_reference": reference,
    }  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, table(Invoice), [row])
        return int(connection.execute(text("SELECT max(id) FROM invoice")).scalar_one())


def line(engine: Engine, now: datetime, cents: int, text_: str = "", payer: str = "",
         iban: str | None = None, reference: str | None = None,
         booked: date = date(2026, 11, 20)) -> int:  # fmt: skip
    row = {
        "dedupe_key": f"k{next(_ids)}", "account_iban": "", "booking_date": booked,
        "value_date": None, "amount_cents": cents, "currency": "EUR", "counterparty_name": payer,
        "counterparty_iban": iban, "counterparty_account_raw": None, "end_to_end_id": None,
        "bank_reference": None, "structured_reference": reference, "text": text_,
        "file_hash": "h", "file_name": "f", "position": 1, "imported_at": now,
        "match_state": "new", "matched_by": None, "matched_at": None,
    }  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, table(BankTransaction), [row])
        return int(connection.execute(text("SELECT max(id) FROM banktransaction")).scalar_one())


def state(engine: Engine, line_id: int) -> tuple[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT match_state, matched_by FROM banktransaction WHERE id = :id"),
            {"id": line_id},
        ).one()
    return row[0], row[1]


def paid(engine: Engine, invoice_id: int) -> tuple[int, str, int]:
    """paid_cents, state, and the sum of the invoice's live allocations."""
    with engine.connect() as connection:
        cents, status = connection.execute(
            text("SELECT paid_cents, state FROM invoice WHERE id = :id"), {"id": invoice_id}
        ).one()
        total = connection.execute(
            text("SELECT coalesce(sum(cents), 0) FROM allocation "
                 "WHERE invoice_id = :id AND reversed_at IS NULL"), {"id": invoice_id}
        ).scalar_one()  # fmt: skip
    return cents, status, total


def test_number_keys_tolerate_spacing_zeros_and_confusable_letters() -> None:
    assert number_keys("INV-2026-00042") & number_keys("inv 2026 42")
    assert number_keys("INV-2026-00042") & number_keys("INV2026OOO42")
    assert number_keys("INV-2026-00042") & number_keys("lNV-2026-00042")
    assert not number_keys("INV-2026-00042") & number_keys("INV-2026-00043")


def ranked(engine: Engine, line_id: int) -> list[tuple[str, list[str]]]:
    """The review queue of a line: (invoice ids, reasons), best first."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT invoice_ids, reasons FROM matchcandidate WHERE transaction_id = :id "
                 "ORDER BY rank"), {"id": line_id}
        ).all()  # fmt: skip
    return [(row[0], json.loads(row[1])) for row in rows]


def test_the_stored_creditor_reference_is_the_one_a_payer_quotes(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    # Renumbered after its reference was sent: the stored RF still names it.
    renumbered = invoice(engine, "INV-1", acme, 9000, now, reference=creditor_reference("OLD-77"))
    unstored = invoice(engine, "INV-2", acme, 8000, now)  # no stored RF: built the same way
    kept = line(engine, now, 9000, "Paiement", reference=creditor_reference("OLD-77"))
    built = line(engine, now, 8000, "Paiement", reference=creditor_reference("INV-2"))
    wrong_check = "RF00" + creditor_reference("INV-2")[4:]
    bad = line(engine, now, 8000, "Paiement", reference=wrong_check)

    match_new_lines(engine, BANKS, now)

    assert state(engine, kept) == ("matched", "rule:reference")
    assert state(engine, built) == ("matched", "rule:reference")
    assert (paid(engine, renumbered)[0], paid(engine, unstored)[0]) == (9000, 8000)
    assert state(engine, bad)[0] != "matched"  # wrong check digits name nothing


def test_exact_reference_and_amount_apply_on_their_own(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    dupont = client(engine, "Dupont Consulting SARL", now)
    target = invoice(engine, "INV-2026-00042", dupont, 120000, now)
    invoice(engine, "INV-2026-00043", dupont, 120000, now)
    by_rf = invoice(engine, "INV-2026-00044", dupont, 5000, now)
    first = line(engine, now, 120000, "Payment inv 2026 42 thanks")
    line(engine, now, 5000, reference=creditor_reference("INV-2026-00044"))

    summary = match_new_lines(engine, BANKS, now)

    assert (summary.auto, summary.review) == (2, 0)
    assert state(engine, first) == ("matched", "rule:reference")
    assert paid(engine, target) == (120000, "paid", 120000)
    assert paid(engine, by_rf) == (5000, "paid", 5000)


def test_a_typo_in_the_number_matches_only_with_a_unique_winner(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    target = invoice(engine, "INV-2026-00042", acme, 30000, now)
    invoice(engine, "INV-2026-00041", acme, 99000, now)
    typo = line(engine, now, 30000, "INV-2026-00024")  # swapped digits, amount decides
    vague = line(engine, now, 12345, "INV-2026-00040")  # one edit from both: no winner

    match_new_lines(engine, BANKS, now)

    assert state(engine, typo) == ("matched", "rule:typo")
    assert paid(engine, target)[0] == 30000
    assert state(engine, vague)[0] == "review"


def test_known_iban_and_subset_sum_pay_several_invoices_oldest_first(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    old = invoice(engine, "A-1", acme, 10000, now, due=date(2026, 9, 1))
    mid = invoice(engine, "A-2", acme, 20000, now, due=date(2026, 10, 1))
    new = invoice(engine, "A-3", acme, 45000, now, due=date(2026, 11, 1))
    banks = BanksConfig(client_ibans={"Acme": ["FR1420041010050500013M02606"]})
    paying = line(engine, now, 55000, "monthly", iban="FR1420041010050500013M02606")

    match_new_lines(engine, banks, now)

    assert state(engine, paying) == ("matched", "rule:payer+amount")
    assert [paid(engine, i)[0] for i in (old, mid, new)] == [10000, 0, 45000]


def test_name_match_needs_a_unique_winner(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    martin = client(engine, "Martin et Fils SARL", now)
    client(engine, "Durand Design", now)
    client(engine, "Durand Designs", now)
    target = invoice(engine, "M-7", martin, 25000, now)
    invoice(engine, "D-1", 2, 25000, now)
    invoice(engine, "D-2", 3, 25000, now)
    named = line(engine, now, 25000, payer="MARTIN ET FILS")
    twins = line(engine, now, 25000, payer="Durand Design")

    match_new_lines(engine, BANKS, now)

    assert state(engine, named) == ("matched", "rule:payer+amount")
    assert paid(engine, target)[0] == 25000
    assert state(engine, twins)[0] == "review"


def test_partial_overpayment_and_fees(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    partial = invoice(engine, "P-100", acme, 100000, now)
    over = invoice(engine, "P-101", acme, 10000, now)
    fees = invoice(engine, "P-102", acme, 50000, now)
    big_fee = invoice(engine, "P-103", acme, 50000, now)
    iban = "FR1420041010050500013M02606"
    banks = BanksConfig(client_ibans={"Acme": [iban]})
    part = line(engine, now, 40000, "P-100", iban=iban)
    extra = line(engine, now, 12500, "P-101", iban=iban)
    short = line(engine, now, 49700, "P-102")  # 3.00 kept by a bank: within 1 % and 5 EUR
    too_short = line(engine, now, 49000, "P-103")  # 10.00 short: a partial, unconfirmed payer

    match_new_lines(engine, banks, now)

    assert paid(engine, partial) == (40000, "open", 40000)
    assert paid(engine, over) == (10000, "paid", 10000)
    assert paid(engine, fees) == (50000, "paid", 50000)
    assert state(engine, too_short)[0] == "review" and paid(engine, big_fee)[0] == 0
    with engine.connect() as connection:
        kinds = connection.execute(
            text("SELECT transaction_id, kind, cents FROM allocation ORDER BY id")
        ).all()
    assert (extra, "credit", 2500) in kinds
    assert (short, "fee", 300) in kinds
    assert state(engine, part)[1] == "rule:reference+payer"


def test_amount_alone_goes_to_review_ranked_and_can_be_accepted(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    first = invoice(engine, "X-1", client(engine, "One", now), 7700, now, due=date(2026, 11, 15))
    invoice(engine, "X-2", client(engine, "Two", now), 7700, now, due=date(2025, 1, 1))
    lonely = line(engine, now, 7700, "thanks")
    nothing = line(engine, now, 123, "")

    summary = match_new_lines(engine, BANKS, now)

    assert (summary.auto, summary.review, summary.unmatched) == (0, 1, 1)
    with engine.connect() as connection:
        ranked = connection.execute(
            text("SELECT invoice_ids, reasons FROM matchcandidate WHERE transaction_id = :id "
                 "ORDER BY rank"), {"id": lonely}
        ).all()  # fmt: skip
    assert ranked[0][0] == str(first)
    assert "amount equals the balance" in json.loads(ranked[0][1])
    accept(engine, BANKS, lonely, [], "ana", now)
    assert state(engine, lonely) == ("matched", "ana")
    assert paid(engine, first) == (7700, "paid", 7700)
    assert state(engine, nothing)[0] == "unmatched"
    reject(engine, nothing, "ana", now)
    assert state(engine, nothing)[0] == "rejected"


def test_undo_restores_paid_cents_and_audits_both_ways(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    target = invoice(engine, "INV-9", acme, 20000, now)
    paying = line(engine, now, 20000, "INV-9")
    match_new_lines(engine, BANKS, now)
    assert paid(engine, target) == (20000, "paid", 20000)

    given_back = unallocate(engine, BANKS, paying, "ana", now)

    assert given_back == 20000
    assert paid(engine, target) == (0, "open", 0)
    assert state(engine, paying)[0] == "review"  # back in the queue, not re-applied
    with engine.connect() as connection:
        actions = connection.execute(
            text("SELECT action, actor, entity_id FROM audit ORDER BY id")
        ).all()
    assert actions == [("allocate", "rule:reference", target), ("unallocate", "ana", target)]
    with pytest.raises(MatchingError, match="no allocation"):
        unallocate(engine, BANKS, paying, "ana", now)
    accept(engine, BANKS, paying, ["INV-9"], "ana", now)
    assert paid(engine, target) == (20000, "paid", 20000)


def test_another_clients_number_from_a_known_payer_is_read_as_a_typo(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    other = client(engine, "Zenith", now)
    own = invoice(engine, "INV-2026-00042", acme, 30000, now)
    theirs = invoice(engine, "INV-2026-00043", other, 30000, now)
    banks = BanksConfig(client_ibans={"Acme": ["FR1420041010050500013M02606"]})
    paying = line(engine, now, 30000, "INV-2026-00043", iban="FR1420041010050500013M02606")

    match_new_lines(engine, banks, now)

    assert state(engine, paying) == ("matched", "rule:typo")
    assert (paid(engine, own)[0], paid(engine, theirs)[0]) == (30000, 0)


def test_a_confirmed_match_teaches_the_payers_iban(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    invoice(engine, "INV-1", acme, 10000, now)
    later = invoice(engine, "INV-2", acme, 25000, now, due=date(2026, 12, 1))
    iban = "FR1420041010050500013M02606"
    line(engine, now, 10000, "INV-1", iban=iban)
    match_new_lines(engine, BANKS, now)
    unnamed = line(engine, now, 25000, "virement", iban=iban)

    match_new_lines(engine, BANKS, now)

    assert state(engine, unnamed) == ("matched", "rule:payer+amount")
    assert paid(engine, later)[0] == 25000


def test_a_payers_name_ranks_alike_clients_without_a_unique_winner(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    other = invoice(engine, "R-1", client(engine, "Zenith Conseil Brest", now), 50000, now)
    alike = invoice(engine, "R-2", client(engine, "Lefevre Agro Pau", now), 50000, now)
    named = invoice(engine, "R-3", client(engine, "Lefebvre Agro Pau SA", now), 50000, now)
    paying = line(engine, now, 50000, "VIR SEPA", payer="LEFEBVRE AGRO PAU")

    match_new_lines(engine, BANKS, now)

    assert state(engine, paying)[0] == "review"  # two alike names: no winner, not applied
    queue = ranked(engine, paying)
    assert [ids for ids, _why in queue] == [str(named), str(alike), str(other)]
    assert "payer 'LEFEBVRE AGRO PAU' is like Lefebvre Agro Pau SA (name 100%)" in queue[0][1]


def test_a_clients_usual_delay_ranks_its_invoices_of_the_same_amount(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    late = client(engine, "Late Payer", now)
    iban = "FR1420041010050500013M02606"
    banks = BanksConfig(client_ibans={"Late Payer": [iban]})
    # Three earlier invoices, each paid about 50 days after its due date.
    for month in (6, 7, 8):
        invoice(engine, f"H-{month}", late, 1000 + month, now, due=date(2026, month, 1))
        line(engine, now, 1000 + month, f"H-{month}", iban=iban, booked=date(2026, month + 1, 20))
    match_new_lines(engine, banks, now)
    september = invoice(engine, "M-9", late, 30000, now, due=date(2026, 10, 1))
    invoice(engine, "M-10", late, 30000, now, due=date(2026, 11, 1))
    paying = line(engine, now, 30000, "monthly", iban=iban)  # 20 November

    match_new_lines(engine, banks, now)

    # Due 1 October, 50 days before: this client's habit, not the nearest due date.
    assert state(engine, paying)[0] == "review"
    assert ranked(engine, paying)[0][0] == str(september)


def test_usual_delay_is_the_clients_then_everyones_then_none() -> None:
    delays = Delays()
    assert delays.usual(1) == 0
    for days in (40, 50, 60):
        delays.add(1, days)
    assert delays.usual(1) == 50
    assert delays.usual(2) == 0  # too few payments of anyone's to speak of a habit
    for _ in range(Delays.HOUSE_MINIMUM):
        delays.add(3, 5)
    assert (delays.usual(1), delays.usual(2)) == (50, 5)


def test_a_near_number_with_the_exact_amount_outranks_a_named_invoice_it_does_not_pay(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    named = invoice(engine, "INV-2026-15215", client(engine, "Faure Optique", now), 233897, now)
    meant = invoice(engine, "INV-2026-15265", client(engine, "Lefebvre Agro", now), 37527, now)
    paying = line(engine, now, 37527, "Facture INV-2026-15215", payer="Someone Else")

    match_new_lines(engine, BANKS, now)

    assert state(engine, paying)[0] == "review"  # the text names another invoice: a person decides
    queue = ranked(engine, paying)
    assert [ids for ids, _why in queue[:2]] == [str(meant), str(named)]
    assert "amount equals the balance" in queue[0][1]


def test_one_exact_invoice_outranks_a_sum_of_several_less_fees(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    acme = client(engine, "Acme", now)
    single = invoice(engine, "S-1", acme, 10000, now, due=date(2026, 9, 1))
    first = invoice(engine, "S-2", acme, 6000, now, due=date(2026, 11, 15))
    second = invoice(engine, "S-3", acme, 4003, now, due=date(2026, 11, 15))
    iban = "FR1420041010050500013M02606"
    paying = line(engine, now, 10000, "virement", iban=iban)

    match_new_lines(engine, BanksConfig(client_ibans={"Acme": [iban]}), now)

    # S-2 + S-3 less 0.03 of fees is due nearer the payment, but one exact
    # balance is the simpler explanation.
    assert state(engine, paying)[0] == "review"
    assert [ids for ids, _why in ranked(engine, paying)[:2]] == [
        str(single),
        f"{first},{second}",
    ]


def test_a_rejected_line_comes_back_for_review_and_the_return_is_audited(
    engine: Engine, clock: MovableClock
) -> None:
    now = clock()
    target = invoice(engine, "X-1", client(engine, "One", now), 7700, now)
    invoice(engine, "X-2", client(engine, "Two", now), 7700, now, due=date(2025, 1, 1))
    doubtful = line(engine, now, 7700, "thanks")
    match_new_lines(engine, BANKS, now)
    reject(engine, doubtful, "ana", now)

    restore(engine, BANKS, doubtful, "pat", now)

    assert state(engine, doubtful) == ("review", None)
    assert ranked(engine, doubtful)[0][0] == str(target)
    with engine.connect() as connection:
        actions = connection.execute(
            text("SELECT action, actor, entity_id, detail FROM audit ORDER BY id")
        ).all()
    assert [tuple(row[:3]) for row in actions] == [
        ("reject", "ana", doubtful),
        ("restore", "pat", doubtful),
    ]
    assert json.loads(actions[-1][3]) == {"was": "rejected", "now": "review"}
    # Only a rejected line comes back this way: a matched one is undone instead.
    accept(engine, BANKS, doubtful, ["X-1"], "pat", now)
    assert paid(engine, target)[0] == 7700
    with pytest.raises(MatchingError, match="not rejected"):
        restore(engine, BANKS, doubtful, "pat", now)
    assert paid(engine, target)[0] == 7700


def test_a_credit_with_no_candidate_waits_in_the_review_queue(
    engine: Engine, clock: MovableClock
) -> None:
    from core.receivables.aging import review_count, review_queue
    from core.receivables.matching.views import list_matches
    from core.store.reader import EngineReader

    now = clock()
    acme = client(engine, "Acme", now)
    open_invoice = invoice(engine, "INV-1", acme, 5000, now)
    nothing = line(engine, now, 123, "gift", "Stranger")

    summary = match_new_lines(engine, BANKS, now)

    assert summary.unmatched == 1
    reader = EngineReader(engine)
    [waiting] = review_queue(reader)
    assert (waiting.id, waiting.payer, waiting.candidates) == (nothing, "Stranger", ())
    assert review_count(reader) == 1
    [view] = list_matches(engine, review_only=True)
    assert (view.line, view.by, view.invoices) == (nothing, "no candidate", [])
    assert [view.line for view in list_matches(engine)] == [nothing]
    # The person names any open invoice it pays, or rejects it: either way it leaves the queue.
    accept(engine, BANKS, nothing, ["INV-1"], "ana", now)
    assert paid(engine, open_invoice)[0] == 123
    assert review_queue(reader) == []
    unallocate(engine, BANKS, nothing, "ana", now)
    assert [line.id for line in review_queue(reader)] == [nothing]
    reject(engine, nothing, "ana", now)
    assert review_count(reader) == 0
