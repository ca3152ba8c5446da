"""Tables of the access lifecycle (requests, grants, decisions, KEHA, audit, outbox).

Declared on :data:`storage.models.Base.metadata` (naming convention included) and
created by migration ``0002``. The repositories in :mod:`storage.repositories` use
the tables through SQLAlchemy Core (no ORM identity map), so a re-read inside a
transaction always sees the database, which the compare-and-set logic relies on.

Every index below serves a lookup the service makes; the comment says which.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from storage.models import Base

__all__ = [
    "AUDIT",
    "AUDIT_HEAD",
    "BATCHES",
    "COUNTERS",
    "DECISIONS",
    "DIRECTORY_VERSIONS",
    "GRANTS",
    "GRANT_EVENTS",
    "IDEMPOTENCY",
    "KEHA_ROWS",
    "MATTERS",
    "OUTBOX",
    "PEOPLE",
    "REQUESTS",
    "JsonText",
    "UtcDateTime",
]

EMAIL = 320
ID = 64
CODE = 64


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: UTC naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonText(TypeDecorator[Any]):
    """A JSON document in a TEXT column (portable; sorted keys, UTF-8)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class RequestRow(Base):
    __tablename__ = "access_requests"
    __table_args__ = (
        Index("ix_access_requests_area_state", "area", "state"),  # approver/admin queues
        Index("ix_access_requests_municipality_state", "municipality", "state"),  # requester
        Index("ix_access_requests_worker_email_area", "worker_email", "area"),  # duplicates
        Index("ix_access_requests_grant_id", "grant_id"),  # open change/revoke of a grant
        Index("ix_access_requests_requester", "requester"),  # my requests
        Index("ix_access_requests_created_by", "created_by"),
        Index("ix_access_requests_state_updated_at", "state", "updated_at"),  # expiry
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    worker_name: Mapped[str] = mapped_column(String(200))
    worker_email: Mapped[str] = mapped_column(String(EMAIL))
    worker_job_title: Mapped[str] = mapped_column(String(200))
    municipality: Mapped[str] = mapped_column(String(CODE))
    area: Mapped[str] = mapped_column(String(CODE))
    service_areas: Mapped[Any] = mapped_column(JsonText)
    level: Mapped[str] = mapped_column(String(CODE))
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    justification: Mapped[str] = mapped_column(Text)
    confirmations: Mapped[Any] = mapped_column(JsonText)
    requester: Mapped[str] = mapped_column(String(EMAIL))
    created_by: Mapped[str] = mapped_column(String(EMAIL))
    grant_id: Mapped[str | None] = mapped_column(String(ID), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    urgent: Mapped[bool] = mapped_column(Boolean)
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # a revoke: the day the access ends (migration 0011)
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class RequestCounterRow(Base):
    """The last request number handed out per year ("2026-000123")."""

    __tablename__ = "request_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer)


class GrantRow(Base):
    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_worker_email_area", "worker_email", "area"),  # duplicates, my data
        Index("ix_grants_area_state", "area", "state"),
        Index("ix_grants_municipality_state", "municipality", "state"),  # agreement end
        Index("ix_grants_state_end_date", "state", "end_date"),  # grant end sweep
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    worker_name: Mapped[str] = mapped_column(String(200))
    worker_email: Mapped[str] = mapped_column(String(EMAIL))
    worker_job_title: Mapped[str] = mapped_column(String(200))
    municipality: Mapped[str] = mapped_column(String(CODE))
    area: Mapped[str] = mapped_column(String(CODE))
    service_areas: Mapped[Any] = mapped_column(JsonText)
    level: Mapped[str] = mapped_column(String(CODE))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    origin_request_id: Mapped[str] = mapped_column(
        String(ID), ForeignKey("access_requests.id"), index=True
    )
    requested_by: Mapped[str] = mapped_column(String(EMAIL))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # a revoke dated in the future set end_date: its reason and note (migration 0011)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    end_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class GrantEventRow(Base):
    __tablename__ = "grant_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(String(ID), ForeignKey("grants.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(ID))
    service_areas: Mapped[Any] = mapped_column(JsonText)
    level: Mapped[str] = mapped_column(String(CODE))
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        # At most one decision per request version: a second approver racing the first
        # cannot record a decision even if compare-and-set were bypassed.
        UniqueConstraint("request_id", "request_version"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        String(ID), ForeignKey("access_requests.id"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(EMAIL), index=True)  # my data
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)
    request_version: Mapped[int] = mapped_column(Integer)


class KehaBatchRow(Base):
    __tablename__ = "keha_batches"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    area: Mapped[str] = mapped_column(String(CODE), index=True)
    created_by: Mapped[str] = mapped_column(String(EMAIL))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_by: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True)


class KehaRowRow(Base):
    __tablename__ = "keha_rows"
    __table_args__ = (Index("ix_keha_rows_area_state", "area", "state"),)  # admin's list

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(ID), ForeignKey("keha_batches.id"), index=True)
    request_id: Mapped[str] = mapped_column(
        String(ID), ForeignKey("access_requests.id"), index=True
    )
    request_number: Mapped[str] = mapped_column(String(20))
    area: Mapped[str] = mapped_column(String(CODE))
    municipality: Mapped[str] = mapped_column(String(CODE))
    kind: Mapped[str] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    worker_name: Mapped[str] = mapped_column(String(200))
    worker_email: Mapped[str] = mapped_column(String(EMAIL))
    worker_job_title: Mapped[str] = mapped_column(String(200))
    service_areas: Mapped[Any] = mapped_column(JsonText)
    level: Mapped[str] = mapped_column(String(CODE))
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(ID), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True)
    confirm_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # migration 0003
    # migration 0013: a cancellation row names the sent row KEHA must not carry out
    cancels_row_id: Mapped[str | None] = mapped_column(String(ID), nullable=True)
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # migration 0011


class PersonRow(Base):
    """A person's pseudonymous id (migration 0003): the audit chain names people only
    by ``person_id``; retention sets ``email`` to NULL, the hashed audit stays intact.
    ``binding`` (migration 0005): the keyed commitment of this id to this e-mail, or
    retention's keyed tombstone (``access.audit.AuditKey.person_binding``)."""

    __tablename__ = "people"

    person_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    binding: Mapped[str | None] = mapped_column(String(64), nullable=True)


class DirectoryVersionRow(Base):
    """An imported directory (migration 0003); the newest version is in use."""

    __tablename__ = "directory_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(EMAIL))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[Any] = mapped_column(JsonText)


class AuditRow(Base):
    """Append-only, hash-chained (``access.audit``); ``seq`` is the row number."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(EMAIL), index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(ID), nullable=True, index=True)
    details: Mapped[Any] = mapped_column(JsonText)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain head: one row (id 1), locked FOR UPDATE by every append."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)  # 0: empty chain
    hash: Mapped[str] = mapped_column(String(64))
    # Migration 0005: the id of the audit key the chain is written with (None: not
    # yet keyed) and when the newest checkpoint row was appended.
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    checkpoint_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OutboxRow(Base):
    """Notifications to send, written in the transaction of the state change."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),  # dispatcher
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(ID), nullable=True, index=True)
    template: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(EMAIL), index=True)  # my data
    params: Mapped[Any] = mapped_column(JsonText)
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(  # pending | sent | failed
        String(16), default="pending", server_default="pending"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    actor: Mapped[str] = mapped_column(String(EMAIL))
    command: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)


class MisuseMatterRow(Base):
    """A misuse report kept as a matter until it is closed (migration 0013). ``note`` and
    ``closing_note`` are the only copies of the texts (the audit chain has ids and the
    outcome code); retention empties them with the grant's other records."""

    __tablename__ = "misuse_matters"
    __table_args__ = (Index("ix_misuse_matters_area_outcome", "area", "outcome"),)  # open list

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(ID), ForeignKey("grants.id"), index=True)
    area: Mapped[str] = mapped_column(String(CODE))
    municipality: Mapped[str] = mapped_column(String(CODE))
    version: Mapped[int] = mapped_column(Integer)
    reported_by: Mapped[str] = mapped_column(String(EMAIL))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: open
    closing_note: Mapped[str] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


REQUESTS = _table(RequestRow)
COUNTERS = _table(RequestCounterRow)
GRANTS = _table(GrantRow)
GRANT_EVENTS = _table(GrantEventRow)
DECISIONS = _table(DecisionRow)
BATCHES = _table(KehaBatchRow)
KEHA_ROWS = _table(KehaRowRow)
AUDIT = _table(AuditRow)
AUDIT_HEAD = _table(AuditHeadRow)
OUTBOX = _table(OutboxRow)
IDEMPOTENCY = _table(IdempotencyRow)
PEOPLE = _table(PersonRow)
DIRECTORY_VERSIONS = _table(DirectoryVersionRow)
MATTERS = _table(MisuseMatterRow)
