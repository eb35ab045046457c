"""invoices: creditor references, dunning levels, reminders, promises and disputes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('creditor_reference', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('next_step_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('reminded_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('fee_cents', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('dunning_paid_cents', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('paused_until', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoice_creditor_reference'), ['creditor_reference'], unique=False)
    # The defaults only filled the existing rows; the models give the values from now on.
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.alter_column('fee_cents', server_default=None)
        batch_op.alter_column('dunning_paid_cents', server_default=None)
    op.execute('UPDATE invoice SET dunning_paid_cents = paid_cents')

    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('run_on', sa.Date(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('status_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id', 'run_on')
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_run_on'), ['run_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminder_status'), ['status'], unique=False)

    op.create_table('dunningstep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('run_on', sa.Date(), nullable=False),
    sa.Column('reminder_id', sa.Integer(), nullable=True),
    sa.Column('balance_cents', sa.Integer(), nullable=False),
    sa.Column('fee_cents', sa.Integer(), nullable=False),
    sa.Column('interest_cents', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'level')
    )
    with op.batch_alter_table('dunningstep', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dunningstep_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dunningstep_reminder_id'), ['reminder_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dunningstep', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dunningstep_reminder_id'))
        batch_op.drop_index(batch_op.f('ix_dunningstep_invoice_id'))
    op.drop_table('dunningstep')
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_status'))
        batch_op.drop_index(batch_op.f('ix_reminder_run_on'))
    op.drop_table('reminder')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_creditor_reference'))
        batch_op.drop_column('paused_until')
        batch_op.drop_column('dunning_paid_cents')
        batch_op.drop_column('fee_cents')
        batch_op.drop_column('reminded_on')
        batch_op.drop_column('next_step_on')
        batch_op.drop_column('creditor_reference')
