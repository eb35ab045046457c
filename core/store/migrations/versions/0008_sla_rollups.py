"""SLA rollups: stopped clocks summed per local day and month, built from the clocks there are

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:10:00.000000

The rows are those core.sla.rollups keeps (see there and the SlaRollup
model): the backfill below builds them from every stopped clock in the
configured time zone. It is written out here rather than imported, since a
migration must keep doing what it did whatever the code becomes;
tests/core/sla/test_rollups.py holds the two equal.
"""

import sys
from array import array
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.base.paths import configured

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rollup = op.create_table('slarollup',
    sa.Column('span', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('start', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('dimension', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('member', sa.Integer(), nullable=False),
    sa.Column('met', sa.Integer(), nullable=False),
    sa.Column('breached', sa.Integer(), nullable=False),
    sa.Column('no_reply_needed', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('business', sa.LargeBinary(), nullable=False),
    sa.Column('wall', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('span', 'start', 'dimension', 'member')
    )
    zones = op.create_table('slarollupzone',
    sa.Column('zone', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('zone')
    )
    name = configured("timezone", "Europe/Paris")
    op.bulk_insert(zones, [{"zone": name}])
    rows = _backfill(op.get_bind(), ZoneInfo(name))
    for start in range(0, len(rows), 5000):
        op.bulk_insert(rollup, rows[start : start + 5000])


def downgrade() -> None:
    op.drop_table('slarollupzone')
    op.drop_table('slarollup')


def _backfill(connection: sa.Connection, zone: ZoneInfo) -> list[dict[str, object]]:
    counts: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    business: dict[tuple[str, str, str, int], list[int]] = defaultdict(list)
    wall: dict[tuple[str, str, str, int], list[int]] = defaultdict(list)
    outcomes = {"met": 0, "breached": 1, "no_reply_needed": 2}
    days: dict[str, str] = {}  # a stop's UTC hour and quarter to its local day
    result = connection.execute(sa.text(
        "SELECT c.stopped_at, c.outcome, c.business_seconds, c.wall_seconds,"
        "       c.stopped_by_staff, t.client_id"
        "  FROM clock c JOIN thread t ON t.id = c.thread_id"
        " WHERE c.outcome IN ('met', 'breached', 'no_reply_needed')"
    ))
    for stopped_at, outcome, business_seconds, wall_seconds, staff, client in result:
        moment = _utc(stopped_at)
        quarter = moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)
        hour = quarter.isoformat()
        day = days.get(hour)
        if day is None:
            day = days[hour] = quarter.astimezone(zone).date().isoformat()
        index = outcomes[outcome]
        for span, start in (("day", day), ("month", day[:8] + "01")):
            for dimension, member in (("all", 0), ("staff", staff or 0), ("client", client or 0)):
                key = (span, start, dimension, member)
                counts[key][index] += 1
                if index < 2:
                    business[key].append(_tenths(business_seconds))
                    wall[key].append(_tenths(wall_seconds))
    return [
        {
            "span": key[0], "start": key[1], "dimension": key[2], "member": key[3],
            "met": met, "breached": breached, "no_reply_needed": no_reply,
            "answered": met + breached,
            "business": _encoded(business.get(key, [])),
            "wall": _encoded(wall.get(key, [])),
        }
        for key, (met, breached, no_reply) in counts.items()
    ]  # fmt: skip


def _tenths(seconds: float | None) -> int:
    # 32 bits: a time beyond about 6.8 years counts as that long.
    return min(max(round((seconds or 0.0) * 10), 0), 2**31 - 1)


def _utc(value: str | datetime) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encoded(values: list[int]) -> bytes:
    packed = array("i", sorted(values))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()
