"""order-independent ingestion: each thread's newest event and clock on its row; raw text apart

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('thread', sa.Column('last_event_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('thread', sa.Column('clock_id', sa.Integer(), nullable=True))
    # Unknown for threads stored before: the next event with a title sets it.
    op.add_column('thread', sa.Column('title_event', sa.Integer(), nullable=True))
    op.add_column('thread', sa.Column('url_event', sa.Integer(), nullable=True))
    op.execute(
        'UPDATE thread SET last_event_at = '
        '(SELECT max(event.occurred_at) FROM event WHERE event.thread_id = thread.id)'
    )
    # The newest clock by start; clocks started at the same instant go by their
    # opening message's order (occurred_at, source, then shorter ids first).
    op.execute(
        'UPDATE thread SET clock_id = ('
        'SELECT clock.id FROM clock JOIN event AS opener ON opener.id = clock.opened_by '
        'WHERE clock.thread_id = thread.id '
        'ORDER BY clock.started_at DESC, opener.occurred_at DESC, opener.source DESC, '
        'length(opener.external_id) DESC, opener.external_id DESC LIMIT 1)'
    )
    op.create_table('event_raw',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.execute('INSERT INTO event_raw (event_id, raw) SELECT id, raw FROM event')
    _drop_column('event', 'raw')


def downgrade() -> None:
    op.add_column('event', sa.Column('raw', sa.Text(), nullable=False, server_default=''))
    op.execute(
        'UPDATE event SET raw = '
        "coalesce((SELECT event_raw.raw FROM event_raw WHERE event_raw.event_id = event.id), '')"
    )
    op.drop_table('event_raw')
    _drop_column('thread', 'url_event')
    _drop_column('thread', 'title_event')
    _drop_column('thread', 'clock_id')
    _drop_column('thread', 'last_event_at')


def _drop_column(table: str, name: str) -> None:
    # SQLite drops a plain column in place (3.35 and later): a batch rebuild
    # would drop and recreate a table other tables' foreign keys point to.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} DROP COLUMN {name}')
    else:
        op.drop_column(table, name)
