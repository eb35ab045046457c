"""The audit trail: who changed what by hand, and why.

Every change a person makes (a client's policy, a promise, a dispute, a
reminder sent, a payment allocated or rejected) leaves one row here, written
by this module alone so that every row has the same shape: the instant, the
actor, the action, the entity and its id, and a JSON detail that keeps
non-ASCII names readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.base.kinds import Actor
from core.store.db import insert_many
from core.store.models.system import Audit, table

AUDIT = table(Audit)
# Dates and decimals in a detail are written as their text.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def audit_row(
    at: datetime,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: Mapping[str, Any],
) -> dict[str, Any]:
    """One audit row, ready for `write_audit`."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "detail": _JSON.encode(detail),
    }


def write_audit(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Store audit rows built by `audit_row`, in the caller's transaction."""
    insert_many(connection, AUDIT, rows)
