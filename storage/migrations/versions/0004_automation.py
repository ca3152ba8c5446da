"""Lifecycle automation: sent reminders and scheduled-job leases.

* ``automation_reminders``: one row per reminder ever created; the reminder key is the
  primary key, so each reminder is created exactly once, also by two processes.
* ``access_reviews`` / ``access_review_items``: access reviews and their answers.
* ``automation_jobs``: one row per scheduled job: its lease (holder, until when) and
  when it is next due.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_reminders",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_automation_reminders")),
    )
    op.create_index(
        "ix_automation_reminders_subject", "automation_reminders", ["subject"], unique=False
    )
    op.create_table(
        "automation_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_automation_jobs")),
    )
    op.create_table(
        "access_reviews",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_reviews")),
    )
    op.create_index(
        "ix_access_reviews_municipality_started_at",
        "access_reviews",
        ["municipality", "started_at"],
        unique=False,
    )
    op.create_index("ix_access_reviews_area", "access_reviews", ["area"], unique=False)
    op.create_table(
        "access_review_items",
        sa.Column("review_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_by", sa.String(length=320), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["access_reviews.id"],
            name=op.f("fk_access_review_items_review_id_access_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", "grant_id", name=op.f("pk_access_review_items")),
    )


def downgrade() -> None:
    op.drop_table("access_review_items")
    op.drop_index("ix_access_reviews_area", table_name="access_reviews")
    op.drop_index("ix_access_reviews_municipality_started_at", table_name="access_reviews")
    op.drop_table("access_reviews")
    op.drop_table("automation_jobs")
    op.drop_index("ix_automation_reminders_subject", table_name="automation_reminders")
    op.drop_table("automation_reminders")
