"""Changes pmdesk makes in the tracker (deadlines, checklists, subtasks, owners, tags)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('trackeraction',
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('verb', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('result_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('echoed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('echo_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['thread.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('trackeraction', schema=None) as batch_op:
        batch_op.create_index('ix_trackeraction_task', ['task_id', 'verb'], unique=False)
        batch_op.create_index(batch_op.f('ix_trackeraction_thread_id'), ['thread_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trackeraction_result_id'), ['result_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trackeraction_echo_key'), ['echo_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trackeraction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trackeraction_echo_key'))
        batch_op.drop_index(batch_op.f('ix_trackeraction_result_id'))
        batch_op.drop_index(batch_op.f('ix_trackeraction_thread_id'))
        batch_op.drop_index('ix_trackeraction_task')
    op.drop_table('trackeraction')
