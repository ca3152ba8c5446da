"""Access lifecycle: requests, grants, decisions, KEHA hand-off, audit chain, outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64  # access.audit.GENESIS_HASH (migrations do not import the app)


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("worker_name", sa.String(length=200), nullable=False),
        sa.Column("worker_email", sa.String(length=320), nullable=False),
        sa.Column("worker_job_title", sa.String(length=200), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("service_areas", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("confirmations", sa.Text(), nullable=False),
        sa.Column("requester", sa.String(length=320), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=32), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
        sa.UniqueConstraint("number", name=op.f("uq_access_requests_number")),
    )
    op.create_index(
        "ix_access_requests_area_state", "access_requests", ["area", "state"], unique=False
    )
    op.create_index(
        "ix_access_requests_created_by", "access_requests", ["created_by"], unique=False
    )
    op.create_index("ix_access_requests_grant_id", "access_requests", ["grant_id"], unique=False)
    op.create_index(
        "ix_access_requests_municipality_state",
        "access_requests",
        ["municipality", "state"],
        unique=False,
    )
    op.create_index("ix_access_requests_requester", "access_requests", ["requester"], unique=False)
    op.create_index(
        "ix_access_requests_state_updated_at",
        "access_requests",
        ["state", "updated_at"],
        unique=False,
    )
    op.create_index(
        "ix_access_requests_worker_email_area",
        "access_requests",
        ["worker_email", "area"],
        unique=False,
    )
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "keha_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keha_batches")),
    )
    op.create_index(op.f("ix_keha_batches_area"), "keha_batches", ["area"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_outbox_recipient"), "outbox", ["recipient"], unique=False)
    op.create_index(op.f("ix_outbox_request_id"), "outbox", ["request_id"], unique=False)
    op.create_index(
        "ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "request_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_request_counters")),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("request_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
            name=op.f("fk_decisions_request_id_access_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint(
            "request_id", "request_version", name=op.f("uq_decisions_request_id_request_version")
        ),
    )
    op.create_index(op.f("ix_decisions_actor"), "decisions", ["actor"], unique=False)
    op.create_index(op.f("ix_decisions_request_id"), "decisions", ["request_id"], unique=False)
    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("worker_name", sa.String(length=200), nullable=False),
        sa.Column("worker_email", sa.String(length=320), nullable=False),
        sa.Column("worker_job_title", sa.String(length=200), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("service_areas", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin_request_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["origin_request_id"],
            ["access_requests.id"],
            name=op.f("fk_grants_origin_request_id_access_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    op.create_index("ix_grants_area_state", "grants", ["area", "state"], unique=False)
    op.create_index(
        "ix_grants_municipality_state", "grants", ["municipality", "state"], unique=False
    )
    op.create_index(
        op.f("ix_grants_origin_request_id"), "grants", ["origin_request_id"], unique=False
    )
    op.create_index("ix_grants_state_end_date", "grants", ["state", "end_date"], unique=False)
    op.create_index("ix_grants_worker_email_area", "grants", ["worker_email", "area"], unique=False)
    op.create_table(
        "keha_rows",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("request_number", sa.String(length=20), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("municipality", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("worker_name", sa.String(length=200), nullable=False),
        sa.Column("worker_email", sa.String(length=320), nullable=False),
        sa.Column("worker_job_title", sa.String(length=200), nullable=False),
        sa.Column("service_areas", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=320), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=32), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["keha_batches.id"], name=op.f("fk_keha_rows_batch_id_keha_batches")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["access_requests.id"],
            name=op.f("fk_keha_rows_request_id_access_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keha_rows")),
    )
    op.create_index("ix_keha_rows_area_state", "keha_rows", ["area", "state"], unique=False)
    op.create_index(op.f("ix_keha_rows_batch_id"), "keha_rows", ["batch_id"], unique=False)
    op.create_index(op.f("ix_keha_rows_request_id"), "keha_rows", ["request_id"], unique=False)
    op.create_table(
        "grant_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("service_areas", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=64), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_grant_events_grant_id_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_events")),
    )
    op.create_index(op.f("ix_grant_events_grant_id"), "grant_events", ["grant_id"], unique=False)

    audit_chain_head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("seq", sa.Integer()),
        sa.column("hash", sa.String()),
    )
    op.bulk_insert(audit_chain_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_index(op.f("ix_grant_events_grant_id"), table_name="grant_events")
    op.drop_table("grant_events")
    op.drop_index(op.f("ix_keha_rows_request_id"), table_name="keha_rows")
    op.drop_index(op.f("ix_keha_rows_batch_id"), table_name="keha_rows")
    op.drop_index("ix_keha_rows_area_state", table_name="keha_rows")
    op.drop_table("keha_rows")
    op.drop_index("ix_grants_worker_email_area", table_name="grants")
    op.drop_index("ix_grants_state_end_date", table_name="grants")
    op.drop_index(op.f("ix_grants_origin_request_id"), table_name="grants")
    op.drop_index("ix_grants_municipality_state", table_name="grants")
    op.drop_index("ix_grants_area_state", table_name="grants")
    op.drop_table("grants")
    op.drop_index(op.f("ix_decisions_request_id"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_actor"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("request_counters")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_index(op.f("ix_outbox_request_id"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_recipient"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_keha_batches_area"), table_name="keha_batches")
    op.drop_table("keha_batches")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_audit_log_request_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("audit_chain_head")
    op.drop_index("ix_access_requests_worker_email_area", table_name="access_requests")
    op.drop_index("ix_access_requests_state_updated_at", table_name="access_requests")
    op.drop_index("ix_access_requests_requester", table_name="access_requests")
    op.drop_index("ix_access_requests_municipality_state", table_name="access_requests")
    op.drop_index("ix_access_requests_grant_id", table_name="access_requests")
    op.drop_index("ix_access_requests_created_by", table_name="access_requests")
    op.drop_index("ix_access_requests_area_state", table_name="access_requests")
    op.drop_table("access_requests")
