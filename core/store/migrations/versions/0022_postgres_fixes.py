"""Telegram user ids in 64 bits on PostgreSQL (they pass 2**31)

SQLite's INTEGER holds 64 bits already: nothing to change there, and no
table to rebuild.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column(
            'staff', 'telegram_id', type_=sa.BigInteger(), existing_type=sa.Integer(),
            existing_nullable=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column(
            'staff', 'telegram_id', type_=sa.Integer(), existing_type=sa.BigInteger(),
            existing_nullable=True,
        )
