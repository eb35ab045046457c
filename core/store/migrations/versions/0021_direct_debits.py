"""Direct debits: one row per collection of an invoice, and mandates' sequence state

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('debit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('invoice_number', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mandate_reference', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mandate_signed_on', sa.Date(), nullable=False),
    sa.Column('iban', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('bic', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('collect_on', sa.Date(), nullable=False),
    sa.Column('sequence', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('end_to_end_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('exported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('collected_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('return_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('end_to_end_id')
    )
    with op.batch_alter_table('debit', schema=None) as batch_op:
        batch_op.create_index('ix_debit_state_collect', ['state', 'collect_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_debit_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_debit_mandate_reference'), ['mandate_reference'], unique=False)

    op.create_table('mandatestate',
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_sequence', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('last_collect_on', sa.Date(), nullable=True),
    sa.Column('first_again', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('reference')
    )


def downgrade() -> None:
    op.drop_table('mandatestate')
    with op.batch_alter_table('debit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_debit_mandate_reference'))
        batch_op.drop_index(batch_op.f('ix_debit_invoice_id'))
        batch_op.drop_index('ix_debit_state_collect')

    op.drop_table('debit')
