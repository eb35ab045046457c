"""Matching credits to invoices: each rule, auto against review, allocations, undo."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import count

import pytest
from sqlalchemy import Engine, text

from core.db import insert_many, write
from core.matching import (
    MatchingError,
    accept,
    creditor_reference_for,
    match_new_lines,
    number_keys,
    reject,
    unallocate,
)
from core.models import BankTransaction, Client, Invoice, table
from core.statements.settings import BanksConfig
from tests.support import MovableClock

BANKS = BanksConfig()
_ids = count(1)


def client(engine: Engine, name: str, now: datetime) -> int:
    with write(engine) as connection:
        insert_many(connection, table(Client), [{"name": name, "created_at": now}])
        return int(connection.execute(text("SELECT max(id) FROM client")).scalar_one())


def invoice(engine: Engine, number: str, client_id: int, cents: int, now: datetime,
            due: date = date(2026, 11, 1)) -> int:  # fmt: skip
    row = {
        "number": number, "client_id": client_id, "issued_on": date(2026, 10, 1), "due_on": due,
        "currency": "EUR", "total_cents": cents, "paid_cents": 0, "state": "open",
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    with write(engine) as connection:
        insert_many(connection, table(Invoice), [row])
        return int(connection.execute(text("SELECT max(id) FROM invoice")).scalar_one())


def line(engine: Engine, now: datetime, cents: int, text_: str = "", payer: str = "",
         iban: str | None = None, reference: str | None = None) -> int:  # fmt: skip
    row = {
        "dedupe_key": f"k{next(_ids)}", "account_iban": "", "booking_date": date(2026, 11, 20),
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


def test_creditor_reference_is_valid_iso_11649() -> None:
    from stdnum import iso11649

    assert iso11649.is_valid(creditor_reference_for("INV-2026-00042"))


def test_exact_reference_and_amount_apply_on_their_own(engine: Engine, clock: MovableClock) -> None:
    now = clock()
    dupont = client(engine, "Dupont Consulting SARL", now)
    target = invoice(engine, "INV-2026-00042", dupont, 120000, now)
    invoice(engine, "INV-2026-00043", dupont, 120000, now)
    by_rf = invoice(engine, "INV-2026-00044", dupont, 5000, now)
    first = line(engine, now, 120000, "Payment inv 2026 42 thanks")
    line(engine, now, 5000, reference=creditor_reference_for("INV-2026-00044"))

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
