"""The authority's tools: pseudonymous people, imported directory versions, KEHA notes.

* ``people``: a random ``person_id`` per work e-mail. The audit chain names people only
  by this id, so retention can forget the e-mail (``email`` -> NULL) while every hashed
  audit row stays as it was and the chain still verifies.
* ``directory_versions``: directories imported with ``atmt-bot directory import``; the
  newest one is the directory in use (else the file ``ATMT_DIRECTORY``).
* ``keha_rows.confirm_note``: what KEHA did differently, recorded on confirmation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_people")),
        sa.UniqueConstraint("email", name=op.f("uq_people_email")),
    )
    op.create_table(
        "directory_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_directory_versions")),
    )
    with op.batch_alter_table("keha_rows") as batch:
        batch.add_column(sa.Column("confirm_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("keha_rows") as batch:
        batch.drop_column("confirm_note")
    op.drop_table("directory_versions")
    op.drop_table("people")
