"""Binding Telegram accounts to staff: one-time invites, unbinding, removal."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from core.conversations.people import (
    InviteRefused,
    add_staff,
    invite,
    list_staff,
    redeem,
    remove_staff,
    staff_by_telegram,
    unbind,
)
from core.store.models.staff import Invite
from core.store.models.system import table
from core.store.reader import Reader
from tests.support import START

SAM_TELEGRAM = 5_123_456_789  # beyond 32 bits, as many Telegram ids are


@pytest.fixture
def sam(engine: Engine) -> int:
    return add_staff(engine, "Sam", "specialist", ["sam@agency.example"], START)


def refusal(engine: Engine, code: str, telegram_id: int, minutes: float = 1) -> str:
    with pytest.raises(InviteRefused) as refused:
        redeem(engine, code, telegram_id, START + timedelta(minutes=minutes))
    return refused.value.reason


def test_an_invite_binds_the_account_that_redeems_it(
    engine: Engine, sam: int, reader: Reader
) -> None:
    code = invite(engine, sam, START)

    bound = redeem(engine, code, SAM_TELEGRAM, START + timedelta(hours=1))

    assert (bound.id, bound.telegram_id, bound.active) == (sam, SAM_TELEGRAM, True)
    found = staff_by_telegram(reader, SAM_TELEGRAM)
    assert found is not None and found.id == sam
    assert staff_by_telegram(reader, 42) is None


def test_the_code_fits_telegram_s_start_payload_and_only_its_hash_is_kept(
    engine: Engine, sam: int
) -> None:
    code = invite(engine, sam, START)

    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)
    with engine.connect() as connection:
        [stored] = connection.execute(select(table(Invite))).all()
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in str(tuple(stored))
    assert stored.expires_at == START + timedelta(hours=24)


def test_an_invite_is_used_once(engine: Engine, sam: int) -> None:
    code = invite(engine, sam, START)
    redeem(engine, code, SAM_TELEGRAM, START)

    assert refusal(engine, code, SAM_TELEGRAM) == "used"
    assert refusal(engine, code, 777) == "used"


def test_an_invite_expires(engine: Engine, sam: int) -> None:
    code = invite(engine, sam, START, ttl=timedelta(minutes=10))

    assert refusal(engine, code, SAM_TELEGRAM, minutes=10) == "expired"
    assert refusal(engine, invite(engine, sam, START), 1, minutes=24 * 60) == "expired"


def test_a_wrong_code_is_unknown(engine: Engine, sam: int) -> None:
    code = invite(engine, sam, START)

    assert refusal(engine, code[:-1] + ("A" if code[-1] != "A" else "B"), 1) == "unknown"
    assert refusal(engine, "", 1) == "unknown"
    assert refusal(engine, "x" * 65, 1) == "unknown"
    assert refusal(engine, "not a code!", 1) == "unknown"
    with pytest.raises(InviteRefused, match="not known"):
        redeem(engine, "nope", 1, START)


def test_an_invite_for_someone_removed_since_is_refused(engine: Engine, sam: int) -> None:
    code = invite(engine, sam, START)
    remove_staff(engine, sam)

    assert refusal(engine, code, SAM_TELEGRAM) == "inactive"
    with pytest.raises(ValueError, match="no longer on the team"):
        invite(engine, sam, START)


def test_an_account_bound_elsewhere_moves(engine: Engine, sam: int, reader: Reader) -> None:
    ana = add_staff(engine, "Ana", "assistant", ["ana@agency.example"], START)
    redeem(engine, invite(engine, sam, START), SAM_TELEGRAM, START)

    # The same phone now belongs to Ana (Sam handed it over).
    redeem(engine, invite(engine, ana, START), SAM_TELEGRAM, START)

    found = staff_by_telegram(reader, SAM_TELEGRAM)
    assert found is not None and found.id == ana
    by_id = {person.id: person.telegram_id for person in list_staff(engine)}
    assert by_id == {sam: None, ana: SAM_TELEGRAM}


def test_a_new_account_replaces_the_old_one(engine: Engine, sam: int, reader: Reader) -> None:
    redeem(engine, invite(engine, sam, START), SAM_TELEGRAM, START)

    redeem(engine, invite(engine, sam, START), 99, START)

    assert staff_by_telegram(reader, SAM_TELEGRAM) is None
    found = staff_by_telegram(reader, 99)
    assert found is not None and found.id == sam


def test_unbind_forgets_the_account(engine: Engine, sam: int, reader: Reader) -> None:
    redeem(engine, invite(engine, sam, START), SAM_TELEGRAM, START)

    gone = unbind(engine, SAM_TELEGRAM)

    assert gone is not None and (gone.id, gone.telegram_id) == (sam, None)
    assert staff_by_telegram(reader, SAM_TELEGRAM) is None
    assert unbind(engine, SAM_TELEGRAM) is None


def test_removed_staff_lose_their_account_and_are_not_found_by_it(
    engine: Engine, sam: int, reader: Reader
) -> None:
    redeem(engine, invite(engine, sam, START), SAM_TELEGRAM, START)

    removed = remove_staff(engine, "sam")

    assert (removed.id, removed.active, removed.telegram_id) == (sam, False, None)
    assert staff_by_telegram(reader, SAM_TELEGRAM) is None
    assert remove_staff(engine, sam).active is False  # again: nothing changes
