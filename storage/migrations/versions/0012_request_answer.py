"""A returned request keeps the requester's answer to the approver's question.

``access_requests.answer``: the answer given when a returned request was resubmitted
(NULL before the first answer, and again once the approver asks a new question).
Retention empties it with the other free texts. The downgrade drops the column.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests") as batch:
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_requests") as batch:
        batch.drop_column("answer")
