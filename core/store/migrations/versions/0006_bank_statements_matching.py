"""bank statements, transactions, allocations and the review queue

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('banktransaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_iban', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('booking_date', sa.Date(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('counterparty_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('counterparty_iban', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('counterparty_account_raw', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('end_to_end_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('bank_reference', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('structured_reference', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('file_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('match_state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('matched_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('matched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('banktransaction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_banktransaction_counterparty_iban'), ['counterparty_iban'], unique=False)
        batch_op.create_index(batch_op.f('ix_banktransaction_file_hash'), ['file_hash'], unique=False)
        batch_op.create_index('ix_banktransaction_state', ['match_state', 'id'], unique=False)

    op.create_table('clientiban',
    sa.Column('iban', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('learned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.PrimaryKeyConstraint('iban')
    )
    with op.batch_alter_table('clientiban', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clientiban_client_id'), ['client_id'], unique=False)

    op.create_table('allocation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('cents', sa.Integer(), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reversed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('reversed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['banktransaction.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocation_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocation_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('matchcandidate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('invoice_ids', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['banktransaction.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('transaction_id', 'rank')
    )


def downgrade() -> None:
    op.drop_table('matchcandidate')
    with op.batch_alter_table('allocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocation_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_allocation_invoice_id'))

    op.drop_table('allocation')
    with op.batch_alter_table('clientiban', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clientiban_client_id'))

    op.drop_table('clientiban')
    with op.batch_alter_table('banktransaction', schema=None) as batch_op:
        batch_op.drop_index('ix_banktransaction_state')
        batch_op.drop_index(batch_op.f('ix_banktransaction_file_hash'))
        batch_op.drop_index(batch_op.f('ix_banktransaction_counterparty_iban'))

    op.drop_table('banktransaction')
