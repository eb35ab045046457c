"""Web links: one-time links that open the dashboard in a browser as a staff member.

Made like the Telegram invites (core.conversations.people.invite): a random
code shown once, of which only the SHA-256 is stored, valid until it
expires, used up by the first opening. Whoever opens it gets a dashboard
session as that staff member, so everything done there is recorded in their
name. A link can be revoked before it is used; a person removed from the
team can no longer open theirs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, Row, insert, select, update

from core.conversations.people import StaffView, find_staff, list_staff
from core.store.db import write
from core.store.models.staff import Staff, WebLink
from core.store.models.system import table

LINKS, STAFF = table(WebLink), table(Staff)
LINK_TTL = timedelta(hours=24)
# 32 random bytes: 43 characters of token_urlsafe.
_CODE_BYTES = 32
_CODE = re.compile(r"[A-Za-z0-9_-]{20,100}")
# How many characters of a link's hash name it when listing and revoking.
HANDLE_LENGTH = 10

RefusalReason = Literal["unknown", "expired", "used", "revoked", "inactive"]
_REFUSALS: dict[RefusalReason, str] = {
    "unknown": "this link is not known",
    "expired": "this link has expired: ask for a new one",
    "used": "this link was already used: ask for a new one",
    "revoked": "this link was revoked",
    "inactive": "this link is for someone no longer on the team",
}


class LinkRefused(ValueError):
    """A web link that opens nothing; `reason` says why, the message says it to the person."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(_REFUSALS[reason])
        self.reason: RefusalReason = reason


@dataclass(frozen=True)
class LinkView:
    """A link as `pmdesk staff web-link --list` shows it: never its code."""

    handle: str
    staff_id: int
    staff: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.used_at is not None:
            return "used"
        return "expired" if now >= self.expires_at else "valid"


def make_link(engine: Engine, staff_id: int, now: datetime, ttl: timedelta = LINK_TTL) -> str:
    """A one-time code that opens a dashboard session as `staff_id`, valid for `ttl`.

    The code is returned once and never stored: only its hash is.
    """
    if ttl <= timedelta(0):
        raise ValueError("a web link must stay valid for some time")
    person = find_staff(engine, staff_id)
    if not person.active:
        raise ValueError(f"{person.name} is no longer on the team: no web link for them")
    if not person.emails and any(
        other.active and other.id != person.id and other.name.casefold() == person.name.casefold()
        for other in list_staff(engine)
    ):
        # The browser's dashboard names its person by email, else by name.
        raise ValueError(
            f"{person.name} shares their name with someone else: give them an email first "
            "(pmdesk staff edit --add-email)"
        )
    code = secrets.token_urlsafe(_CODE_BYTES)
    with write(engine) as connection:
        connection.execute(
            insert(LINKS).values(
                code_hash=link_hash(code), staff_id=staff_id, created_at=now, expires_at=now + ttl
            )
        )
    return code


def open_link(engine: Engine, code: str, now: datetime) -> StaffView:
    """The staff member `code` was made for; the link is used up by this call.

    Raises LinkRefused: unknown, used, revoked, expired (at `expires_at`
    and after) or inactive (the person was removed since). Two openings at
    once: one wins, the other is told the link was used.
    """
    code_hash = _code_hash(code)
    with write(engine) as connection:
        found = connection.execute(_LOOKUP.where(LINKS.c.code_hash == code_hash)).first()
        _refuse(found, now)
        assert found is not None
        used = connection.execute(
            update(LINKS)
            .where(
                LINKS.c.code_hash == code_hash,
                LINKS.c.used_at.is_(None),
                LINKS.c.revoked_at.is_(None),
            )
            .values(used_at=now)
        ).rowcount
        if not used:  # another opening won between our read and write
            raise LinkRefused("used")
    return find_staff(engine, found.staff_id)


def check_link(engine: Engine, code: str, now: datetime) -> None:
    """Raise LinkRefused as `open_link` would, without using the link up."""
    code_hash = _code_hash(code)
    with engine.connect() as connection:
        _refuse(connection.execute(_LOOKUP.where(LINKS.c.code_hash == code_hash)).first(), now)


_LOOKUP = select(
    LINKS.c.staff_id, LINKS.c.expires_at, LINKS.c.used_at, LINKS.c.revoked_at, STAFF.c.active
).join(STAFF, STAFF.c.id == LINKS.c.staff_id)


def _code_hash(code: str) -> str:
    """The hash a well-formed code is kept under; LinkRefused for any other text."""
    code = code.strip()
    if not _CODE.fullmatch(code):
        raise LinkRefused("unknown")
    return link_hash(code)


def _refuse(found: Row[Any, Any, Any, Any, Any] | None, now: datetime) -> None:
    if found is None:
        raise LinkRefused("unknown")
    if found.revoked_at is not None:
        raise LinkRefused("revoked")
    if found.used_at is not None:
        raise LinkRefused("used")
    if now >= found.expires_at:
        raise LinkRefused("expired")
    if not found.active:
        raise LinkRefused("inactive")


def list_links(engine: Engine, staff_id: int | None = None) -> list[LinkView]:
    """Every link made, newest first; only `staff_id`'s with it."""
    query = (
        select(LINKS, STAFF.c.name)
        .join(STAFF, STAFF.c.id == LINKS.c.staff_id)
        .order_by(LINKS.c.created_at.desc(), LINKS.c.code_hash)
    )
    if staff_id is not None:
        query = query.where(LINKS.c.staff_id == staff_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        LinkView(
            handle=row.code_hash[:HANDLE_LENGTH],
            staff_id=row.staff_id,
            staff=row.name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


def revoke_links(engine: Engine, staff_id: int, now: datetime, handle: str | None = None) -> int:
    """Revoke `staff_id`'s links not yet used nor expired (only the one `handle` names with it).

    Returns how many were revoked. A session already opened with a link
    goes on: stop `pmdesk web` to end it.
    """
    where = [
        LINKS.c.staff_id == staff_id,
        LINKS.c.used_at.is_(None),
        LINKS.c.revoked_at.is_(None),
        LINKS.c.expires_at > now,
    ]
    if handle is not None:
        where.append(LINKS.c.code_hash.startswith(handle.strip().lower(), autoescape=True))
    with write(engine) as connection:
        return int(connection.execute(update(LINKS).where(*where).values(revoked_at=now)).rowcount)


def link_hash(code: str) -> str:
    """What the table keeps of a code."""
    return hashlib.sha256(code.encode()).hexdigest()
