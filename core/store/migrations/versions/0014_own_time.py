"""pmdesk's own measure of account management, and its days logged back to Worksection

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 02:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWN_ROWS = "comment = 'account management (pmdesk)'"


def upgrade() -> None:
    op.create_table('owntime',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('screen_seconds', sa.Integer(), nullable=False),
    sa.Column('telegram_seconds', sa.Integer(), nullable=False),
    sa.Column('telegram_actions', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['thread.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('staff_id', 'thread_id', 'day')
    )
    with op.batch_alter_table('owntime', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_owntime_day'), ['day'], unique=False)
    op.create_table('owncost',
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cost_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['thread.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id', 'day', 'staff_id')
    )
    with op.batch_alter_table('owncost', schema=None) as batch_op:
        batch_op.create_index('ix_owncost_status_next', ['status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('timerow', schema=None) as batch_op:
        batch_op.create_index(
            'ix_timerow_own',
            ['day'],
            unique=False,
            sqlite_where=sa.text(OWN_ROWS),
            postgresql_where=sa.text(OWN_ROWS),
        )


def downgrade() -> None:
    with op.batch_alter_table('timerow', schema=None) as batch_op:
        batch_op.drop_index('ix_timerow_own')
    with op.batch_alter_table('owncost', schema=None) as batch_op:
        batch_op.drop_index('ix_owncost_status_next')
    op.drop_table('owncost')
    with op.batch_alter_table('owntime', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_owntime_day'))
    op.drop_table('owntime')
