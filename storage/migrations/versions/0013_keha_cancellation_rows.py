"""KEHA cancellation rows: an approved request stopped after its row was sent.

``keha_rows.cancels_row_id``: on a cancellation row, the sent row (an opening or a
change) that KEHA must not carry out, or undo if it already has. Empty on every other
row. Request and row states are plain text, so the new states (``stopping``,
``stopped``; row ``cancelled``) need no change of the schema.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("keha_rows") as batch:
        batch.add_column(sa.Column("cancels_row_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("keha_rows") as batch:
        batch.drop_column("cancels_row_id")
