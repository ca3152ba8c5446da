"""Download links used once.

``download_links_used``: the ids of redeemed download links until they expire
(``storage.download_links``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "download_links_used",
        sa.Column("link_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_download_links_used")),
    )
    op.create_index(
        "ix_download_links_used_expires_at", "download_links_used", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_download_links_used_expires_at", table_name="download_links_used")
    op.drop_table("download_links_used")
