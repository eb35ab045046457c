"""The audit trail: who changed what by hand, and when (the `audit` table)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from .models import Audit, table

AUDIT = table(Audit)


def record(
    connection: Connection,
    now: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any],
) -> None:
    """One audit row, written in the caller's transaction (with the change it records)."""
    connection.execute(
        insert(AUDIT).values(
            at=now,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )
