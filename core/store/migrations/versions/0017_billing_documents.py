"""Issued invoices and credit notes, their lines, and their gapless counters

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An issued document never changes: the database refuses it (as the models' own
# creation does, core/store/models/billing.py).
IMMUTABLE_TRIGGERS = tuple(
    f"CREATE TRIGGER {name}_{verb} BEFORE {verb.upper()} ON {name} "
    f"BEGIN SELECT RAISE(ABORT, 'an issued billing document never changes'); END"
    for name in ("billingdocument", "billingline")
    for verb in ("update", "delete")
)
POSTGRES_IMMUTABLE = (
    "CREATE OR REPLACE FUNCTION billing_never_changes() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'an issued billing document never changes'; END $$",
    *(
        f"CREATE TRIGGER {name}_never_changes BEFORE UPDATE OR DELETE ON {name} "
        "FOR EACH ROW EXECUTE FUNCTION billing_never_changes()"
        for name in ("billingdocument", "billingline")
    ),
)


def upgrade() -> None:
    op.create_table('billingcounter',
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.Column('last_issued_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('series', 'year')
    )
    op.create_table('billingdocument',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('service_start', sa.Date(), nullable=False),
    sa.Column('service_end', sa.Date(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payment_method', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('net_cents', sa.Integer(), nullable=False),
    sa.Column('vat_cents', sa.Integer(), nullable=False),
    sa.Column('gross_cents', sa.Integer(), nullable=False),
    sa.Column('buyer_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('buyer', sa.Text(), nullable=False),
    sa.Column('billing_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mandate', sa.Text(), nullable=True),
    sa.Column('debit_on', sa.Date(), nullable=True),
    sa.Column('creditor_reference', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('corrects', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('issued_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['corrects_id'], ['billingdocument.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number'),
    sa.UniqueConstraint('contract_id', 'period_start', name='uq_billingdocument_billing_key'),
    sa.UniqueConstraint('series', 'year', 'sequence', name='uq_billingdocument_sequence')
    )
    with op.batch_alter_table('billingdocument', schema=None) as batch_op:
        batch_op.create_index('ix_billingdocument_issued', ['issued_on', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billingdocument_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billingdocument_corrects_id'), ['corrects_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billingdocument_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('billingline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('quantity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('vat_rate', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('service_start', sa.Date(), nullable=False),
    sa.Column('service_end', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('credits_position', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['billingdocument.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'position', name='uq_billingline_position')
    )
    if op.get_bind().dialect.name == 'sqlite':
        for statement in IMMUTABLE_TRIGGERS:
            op.execute(statement)
    elif op.get_bind().dialect.name == 'postgresql':
        for statement in POSTGRES_IMMUTABLE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('billingdocument', 'billingline'):
            for verb in ('update', 'delete'):
                op.execute(f'DROP TRIGGER IF EXISTS {name}_{verb}')
    elif op.get_bind().dialect.name == 'postgresql':
        for name in ('billingdocument', 'billingline'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}_never_changes ON {name}')
        op.execute('DROP FUNCTION IF EXISTS billing_never_changes()')
    op.drop_table('billingline')
    with op.batch_alter_table('billingdocument', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billingdocument_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_billingdocument_corrects_id'))
        batch_op.drop_index(batch_op.f('ix_billingdocument_client_id'))
        batch_op.drop_index('ix_billingdocument_issued')

    op.drop_table('billingdocument')
    op.drop_table('billingcounter')
