"""Staff: the agency's people, known by their emails across every source.

Telegram accounts are bound by invitation: `invite` gives a one-time code
(sent to the person by whoever invites them, then given to the bot as
`/start CODE`), and `redeem` binds the Telegram user who presents it. Only
the code's SHA-256 is stored. A Telegram account is bound to one staff
member at most, and a staff member to one account.

Removed staff are kept (their events, clocks and reports name them) but
inactive: they get no notifications and cannot redeem an invite.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, insert, select, update

from core.base.kinds import StaffRole
from core.conversations.staff import StaffView as StaffView  # what callers import from here
from core.conversations.staff import operator_in, staff_views
from core.store.db import write
from core.store.models.staff import Invite, Staff, StaffEmail
from core.store.models.system import table
from core.store.reader import EngineReader, Reader

STAFF, EMAILS, INVITES = table(Staff), table(StaffEmail), table(Invite)
INVITE_TTL = timedelta(hours=24)
# What Telegram's /start payload allows: up to 64 of these characters.
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# 24 random bytes: 32 characters of token_urlsafe, well within that.
_CODE_BYTES = 24

RefusalReason = Literal["unknown", "expired", "used", "inactive"]
_REFUSALS: dict[RefusalReason, str] = {
    "unknown": "this invite code is not known",
    "expired": "this invite code has expired: ask for a new one",
    "used": "this invite code was already used",
    "inactive": "this invite is for someone no longer on the team",
}


class UnknownStaff(LookupError):
    pass


class AmbiguousStaff(LookupError):
    """A name shared by several staff members: use the id or an email instead."""


class InviteRefused(ValueError):
    """An invite code that binds no one; `reason` says why, the message says it to the person."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(_REFUSALS[reason])
        self.reason: RefusalReason = reason


def add_staff(
    engine: Engine, name: str, role: StaffRole | str, emails: Sequence[str], now: datetime
) -> int:
    """Register a staff member; one already known by any of the emails is kept as is.

    Ingestion files people it has not met as specialists; registering the
    team first gives the assistant, PMs and managers their roles.
    """
    role = StaffRole(role).value  # ValueError names the bad role
    addresses = [email.strip().lower() for email in emails if email.strip()]
    with write(engine) as connection:
        if addresses:
            known = connection.execute(
                select(EMAILS.c.staff_id).where(EMAILS.c.email.in_(addresses))
            ).scalar()
            if known is not None:
                return int(known)
        staff_id: int = connection.execute(
            insert(STAFF).values(name=name, role=role, created_at=now).returning(STAFF.c.id)
        ).scalar_one()
        if addresses:
            connection.execute(
                insert(EMAILS), [{"email": email, "staff_id": staff_id} for email in addresses]
            )
    return staff_id


def list_staff(engine: Engine) -> list[StaffView]:
    """Everyone, removed people included (see `active`), by name."""
    return staff_views(EngineReader(engine))


def find_staff(engine: Engine, name_or_id: int | str) -> StaffView:
    """A staff member by id, email or name (any case), as people type them on the command line.

    Raises UnknownStaff (naming close matches) or AmbiguousStaff. When a
    name is shared, only active people count.
    """
    if isinstance(name_or_id, int) or name_or_id.strip().isdigit():
        return _one(engine, int(name_or_id))
    key = name_or_id.strip().casefold()
    team = list_staff(engine)
    matches = [person for person in team if person.name.casefold() == key or key in person.emails]
    if len(matches) > 1:
        matches = [person for person in matches if person.active] or matches
    if len(matches) == 1:
        return matches[0]
    if matches:
        who = ", ".join(
            f"{person.id} ({', '.join(person.emails) or person.role})" for person in matches
        )
        raise AmbiguousStaff(f"{len(matches)} staff members are called {name_or_id!r}: {who}")
    close = difflib.get_close_matches(key, [person.name.casefold() for person in team], n=3)
    names = [person.name for person in team if person.name.casefold() in close]
    hint = f" (did you mean {', '.join(dict.fromkeys(names))}?)" if names else ""
    raise UnknownStaff(f"no staff member {name_or_id!r}{hint}")


def remove_staff(engine: Engine, name_or_id: int | str) -> StaffView:
    """Take someone off the team: inactive, and their Telegram account unbound.

    Their history stays. Removing someone already removed changes nothing.
    """
    person = find_staff(engine, name_or_id)
    with write(engine) as connection:
        connection.execute(
            update(STAFF).where(STAFF.c.id == person.id).values(active=False, telegram_id=None)
        )
    return _one(engine, person.id)


def edit_staff(
    engine: Engine,
    name_or_id: int | str,
    *,
    name: str | None = None,
    role: StaffRole | str | None = None,
    add_emails: Sequence[str] = (),
    remove_emails: Sequence[str] = (),
    active: bool | None = None,
) -> StaffView:
    """Change what is known of a staff member; what is not given stays as it is.

    Taking someone off the team (`active=False`) unbinds their Telegram
    account, as `remove_staff` does; bringing them back (`active=True`)
    leaves it unbound until they redeem a new invite. An email that is
    someone else's, or the removal of one they do not have, is refused with
    ValueError, and then nothing changes.
    """
    person = find_staff(engine, name_or_id)
    values: dict[str, Any] = {}
    if name is not None:
        if not name.strip():
            raise ValueError("a name cannot be empty")
        values["name"] = name.strip()
    if role is not None:
        values["role"] = StaffRole(role).value  # ValueError names the bad role
    if active is not None:
        values["active"] = active
        if not active:
            values["telegram_id"] = None
    added = [email.strip().lower() for email in add_emails if email.strip()]
    removed = [email.strip().lower() for email in remove_emails if email.strip()]
    for email in added:
        if "@" not in email:
            raise ValueError(f"{email!r} is not an email address")
    missing = [email for email in removed if email not in person.emails]
    if missing:
        raise ValueError(f"{person.name} has no email {', '.join(missing)}")
    with write(engine) as connection:
        if added:
            owners = connection.execute(
                select(EMAILS.c.email, STAFF.c.name)
                .join(STAFF, STAFF.c.id == EMAILS.c.staff_id)
                .where(EMAILS.c.email.in_(added), EMAILS.c.staff_id != person.id)
            ).all()
            if owners:
                taken = ", ".join(f"{email} is {owner}'s" for email, owner in owners)
                raise ValueError(f"{taken}: remove it there first")
            new = [email for email in dict.fromkeys(added) if email not in person.emails]
            if new:
                connection.execute(
                    insert(EMAILS), [{"email": email, "staff_id": person.id} for email in new]
                )
        if removed:
            connection.execute(
                EMAILS.delete().where(EMAILS.c.staff_id == person.id, EMAILS.c.email.in_(removed))
            )
        if values:
            connection.execute(update(STAFF).where(STAFF.c.id == person.id).values(**values))
    return _one(engine, person.id)


def mute(engine: Engine, staff_id: int, until: datetime | None) -> None:
    """Hold someone's notifications until `until` (None lifts the mute); see core.notify."""
    with write(engine) as connection:
        changed = connection.execute(
            update(STAFF).where(STAFF.c.id == staff_id).values(muted_until=until)
        ).rowcount
    if not changed:
        raise UnknownStaff(f"no staff member {staff_id}")


# -- Telegram accounts ---------------------------------------------------------


def invite(engine: Engine, staff_id: int, now: datetime, ttl: timedelta = INVITE_TTL) -> str:
    """A one-time code that binds its bearer's Telegram account to `staff_id`, for `ttl`.

    The code is shown once and never stored: only its hash is. It is made
    of [A-Za-z0-9_-] and short enough for a t.me/<bot>?start=<code> link.
    """
    if ttl <= timedelta(0):
        raise ValueError("an invite must stay valid for some time")
    person = _one(engine, staff_id)
    if not person.active:
        raise ValueError(f"{person.name} is no longer on the team: cannot invite them")
    code = secrets.token_urlsafe(_CODE_BYTES)
    with write(engine) as connection:
        connection.execute(
            insert(INVITES).values(
                code_hash=_hash(code), staff_id=staff_id, created_at=now, expires_at=now + ttl
            )
        )
    return code


def redeem(engine: Engine, code: str, telegram_id: int, now: datetime) -> StaffView:
    """Bind `telegram_id` to the staff member `code` was made for; the code is then used up.

    A Telegram account bound to someone else moves (it is unbound there).
    Raises InviteRefused: unknown, used, expired (at `expires_at` and
    after) or inactive (the person was removed since).
    """
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise InviteRefused("unknown")
    code_hash = _hash(code)
    with write(engine) as connection:
        found = connection.execute(
            select(INVITES.c.staff_id, INVITES.c.expires_at, INVITES.c.used_at, STAFF.c.active)
            .join(STAFF, STAFF.c.id == INVITES.c.staff_id)
            .where(INVITES.c.code_hash == code_hash)
        ).first()
        if found is None:
            raise InviteRefused("unknown")
        if found.used_at is not None:
            raise InviteRefused("used")
        if now >= found.expires_at:
            raise InviteRefused("expired")
        if not found.active:
            raise InviteRefused("inactive")
        used = connection.execute(
            update(INVITES)
            .where(INVITES.c.code_hash == code_hash, INVITES.c.used_at.is_(None))
            .values(used_at=now, used_by_telegram_id=telegram_id)
        ).rowcount
        if not used:  # another process redeemed it between our read and write
            raise InviteRefused("used")
        connection.execute(
            update(STAFF)
            .where(STAFF.c.telegram_id == telegram_id, STAFF.c.id != found.staff_id)
            .values(telegram_id=None)
        )
        connection.execute(
            update(STAFF).where(STAFF.c.id == found.staff_id).values(telegram_id=telegram_id)
        )
    return _one(engine, found.staff_id)


def unbind(engine: Engine, telegram_id: int) -> StaffView | None:
    """Forget a Telegram account (the person wrote /stop); whom it was bound to, if anyone."""
    with write(engine) as connection:
        staff_id = connection.execute(
            select(STAFF.c.id).where(STAFF.c.telegram_id == telegram_id)
        ).scalar()
        if staff_id is None:
            return None
        connection.execute(update(STAFF).where(STAFF.c.id == staff_id).values(telegram_id=None))
    return _one(engine, staff_id)


def staff_by_telegram(reader: Reader, telegram_id: int) -> StaffView | None:
    """The active staff member a Telegram account is bound to, if any.

    `reader`: `core.store.connect.reader_for(...)`, or `EngineReader(engine)`.
    """
    found = staff_views(
        reader,
        "WHERE telegram_id = :telegram_id AND active = :active",
        {"telegram_id": telegram_id, "active": True},
    )
    return found[0] if found else None


def bound_telegram_ids(reader: Reader) -> frozenset[int]:
    """The Telegram accounts bound to active staff members (one indexed read)."""
    rows = reader.rows(
        "SELECT telegram_id FROM staff WHERE telegram_id IS NOT NULL AND active = :active",
        {"active": True},
    )
    return frozenset(int(telegram_id) for (telegram_id,) in rows)


def operator(engine: Engine, wanted: str | None = None) -> StaffView | None:
    """The staff member the dashboard acts as (core.conversations.staff.operator_in)."""
    return operator_in(EngineReader(engine), wanted)


# -- reading -------------------------------------------------------------------


def _one(engine: Engine, staff_id: int) -> StaffView:
    found = staff_views(EngineReader(engine), "WHERE id = :id", {"id": staff_id})
    if not found:
        raise UnknownStaff(f"no staff member {staff_id}")
    return found[0]


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
