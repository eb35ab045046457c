"""An index of the events that stop a running clock, by thread and instant

A late reply that stops a clock reads on to the thread's next reply; through
the index of all its events it passed over every client message between.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOP_EVENTS = (
    "kind = 'no_reply_needed' OR (kind = 'message' AND author_role = 'staff' AND NOT internal)"
)


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(
            'ix_event_stops',
            ['thread_id', 'occurred_at'],
            unique=False,
            sqlite_where=sa.text(STOP_EVENTS),
            postgresql_where=sa.text(STOP_EVENTS),
        )


def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_stops')
