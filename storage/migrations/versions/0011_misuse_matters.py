"""Misuse reports are matters with a record.

* ``misuse_matters``: one row per report of suspected misuse (who, when, which grant,
  what was seen) until an approver closes it with an outcome (unfounded, access
  revoked, other measures) and a note. While a matter is open, retention holds every
  record of its grant. Reports made before this revision exist only as audit rows and
  notifications and are not turned into matters.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "misuse_matters",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.String(length=320), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("closing_note", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.String(length=320), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_misuse_matters_grant_id_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_misuse_matters")),
    )
    op.create_index("ix_misuse_matters_grant_id", "misuse_matters", ["grant_id"], unique=False)
    op.create_index(
        "ix_misuse_matters_area_outcome", "misuse_matters", ["area", "outcome"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_misuse_matters_area_outcome", table_name="misuse_matters")
    op.drop_index("ix_misuse_matters_grant_id", table_name="misuse_matters")
    op.drop_table("misuse_matters")
