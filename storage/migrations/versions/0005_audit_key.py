"""The keyed audit chain.

* ``audit_chain_head.key_id``: the id of the audit key (``ATMT_AUDIT_KEY``) the chain is
  written with; NULL until the first keyed append. A chain that already has rows then
  gets an ``audit.keyed`` row that seals them (see ``access.audit``).
* ``audit_chain_head.checkpoint_at``: when the newest ``audit.checkpoint`` row was
  appended (the daily checkpoint job looks here, not through the whole log).
* ``people.binding``: the keyed commitment of a person id to its e-mail, or the keyed
  tombstone retention leaves; rows made before this revision are bound by the first
  keyed append.

No key is needed to migrate: nothing here computes a hash.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_chain_head") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("binding", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("binding")
    with op.batch_alter_table("audit_chain_head") as batch:
        batch.drop_column("checkpoint_at")
        batch.drop_column("key_id")
