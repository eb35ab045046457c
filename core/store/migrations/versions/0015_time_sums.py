"""Time logged summed per month and project, and per month and person, with their rule

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 02:30:00.000000

The tables start empty and without a rule: core.time.sums builds them the
first time a report or a sync finds them missing (they count only once
built under the report's rule).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('timesumperson',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_email', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('am_minutes', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('timesumperson', schema=None) as batch_op:
        batch_op.create_index('ix_timesumperson_month', ['month', 'user_email'], unique=False)

    op.create_table('timesumproject',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('project_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('am_minutes', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('timesumproject', schema=None) as batch_op:
        batch_op.create_index('ix_timesumproject_month', ['month', 'project_id'], unique=False)

    op.create_table('timesumrule',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('built_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('timesumrule')
    with op.batch_alter_table('timesumproject', schema=None) as batch_op:
        batch_op.drop_index('ix_timesumproject_month')

    op.drop_table('timesumproject')
    with op.batch_alter_table('timesumperson', schema=None) as batch_op:
        batch_op.drop_index('ix_timesumperson_month')

    op.drop_table('timesumperson')
