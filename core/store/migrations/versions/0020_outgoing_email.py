"""The email outbox: emails to send through the agency's SMTP server, and their files

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outgoing_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('to_address', sa.Text(), nullable=False),
    sa.Column('cc_address', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reminder_id', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_try_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_outgoing_email_key')
    )
    with op.batch_alter_table('outgoing_email', schema=None) as batch_op:
        batch_op.create_index('ix_outgoing_email_state_next', ['state', 'next_try_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outgoing_email_reminder_id'), ['reminder_id'], unique=False)

    op.create_table('email_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['email_id'], ['outgoing_email.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email_id', 'position')
    )
    with op.batch_alter_table('email_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_attachment_email_id'), ['email_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('email_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_attachment_email_id'))

    op.drop_table('email_attachment')
    with op.batch_alter_table('outgoing_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outgoing_email_reminder_id'))
        batch_op.drop_index('ix_outgoing_email_state_next')

    op.drop_table('outgoing_email')
