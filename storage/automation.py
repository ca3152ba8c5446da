"""Storage of the scheduled jobs: sent reminders and job leases.

* ``automation_reminders``: one row per reminder ever created, keyed by the rule's
  reminder key (``access.automation``). The key is the primary key and is claimed
  with ``INSERT ... ON CONFLICT DO NOTHING`` in the transaction that writes the
  reminder's outbox rows, so even two processes racing create it exactly once
  (PostgreSQL makes the second insert wait for the first transaction, then skip).
* ``access_reviews`` / ``access_review_items``: the access reviews (``access.review``):
  one row per review and one per grant on it with its answer (Keep / Revoke).
* ``automation_jobs``: one row per scheduled job with its lease. A process takes the
  lease with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite runs a single
  process and serialises writers anyway), only when the job is due and no other
  process holds an unexpired lease; it gives the lease back with the next due time.

Created by migration ``0004``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Date, ForeignKey, Index, String, Table, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from access.review import Review, ReviewAnswer, ReviewItem, ReviewUnitOfWork
from storage.domain_tables import UtcDateTime
from storage.models import Base
from storage.repositories import SqlUnitOfWork

__all__ = [
    "JOBS",
    "REMINDERS",
    "JobLease",
    "SqlAutomationUnitOfWork",
    "SqlReminderLog",
    "automation_unit_of_work_factory",
]


class ReminderRow(Base):
    __tablename__ = "automation_reminders"
    __table_args__ = (Index("ix_automation_reminders_subject", "subject"),)  # keys_for

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # grant, request, batch, municipality
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReviewRow(Base):
    __tablename__ = "access_reviews"
    __table_args__ = (
        Index("ix_access_reviews_municipality_started_at", "municipality", "started_at"),
        Index("ix_access_reviews_area", "area"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_on: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ReviewItemRow(Base):
    __tablename__ = "access_review_items"

    review_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("access_reviews.id", ondelete="CASCADE"), primary_key=True
    )
    grant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str | None] = mapped_column(String(16), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class JobRow(Base):
    __tablename__ = "automation_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    leased_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # ok | failed


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


REMINDERS = _table(ReminderRow)
JOBS = _table(JobRow)
REVIEWS = _table(ReviewRow)
REVIEW_ITEMS = _table(ReviewItemRow)


class SqlReminderLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, key: str, kind: str, subject: str, at: datetime) -> bool:
        values = {"key": key, "kind": kind, "subject": subject, "created_at": at}
        statement: Any
        if self._session.bind is not None and self._session.bind.dialect.name == "sqlite":
            statement = sqlite.insert(REMINDERS).values(**values).on_conflict_do_nothing()
        else:
            statement = postgresql.insert(REMINDERS).values(**values).on_conflict_do_nothing()
        result = await self._session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)

    async def keys_for(self, subject: str) -> list[str]:
        rows = await self._session.execute(
            select(REMINDERS.c.key).where(REMINDERS.c.subject == subject).order_by(REMINDERS.c.key)
        )
        return [str(r[0]) for r in rows]


def _review(row: Any) -> Review:
    return Review(
        id=row.id,
        municipality=row.municipality,
        area=row.area,
        started_at=_utc(row.started_at),
        started_on=row.started_on,
        closed_at=_utc(row.closed_at) if row.closed_at is not None else None,
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _item(row: Any) -> ReviewItem:
    return ReviewItem(
        review_id=row.review_id,
        grant_id=row.grant_id,
        answer=ReviewAnswer(row.answer) if row.answer else None,
        answered_by=row.answered_by,
        answered_at=_utc(row.answered_at) if row.answered_at is not None else None,
    )


class SqlReviewStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, review: Review, grant_ids: Sequence[str]) -> None:
        await self._session.execute(
            insert(REVIEWS).values(
                id=review.id,
                municipality=review.municipality,
                area=review.area,
                started_at=review.started_at,
                started_on=review.started_on,
                closed_at=review.closed_at,
            )
        )
        if grant_ids:
            await self._session.execute(
                insert(REVIEW_ITEMS),
                [{"review_id": review.id, "grant_id": g} for g in grant_ids],
            )

    async def get(self, review_id: str) -> Review | None:
        row = (
            await self._session.execute(select(REVIEWS).where(REVIEWS.c.id == review_id))
        ).first()
        return None if row is None else _review(row)

    async def latest(self, municipality: str) -> Review | None:
        row = (
            await self._session.execute(
                select(REVIEWS)
                .where(REVIEWS.c.municipality == municipality)
                .order_by(REVIEWS.c.started_at.desc(), REVIEWS.c.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else _review(row)

    async def open_reviews(self) -> list[Review]:
        rows = await self._session.execute(
            select(REVIEWS).where(REVIEWS.c.closed_at.is_(None)).order_by(REVIEWS.c.started_at)
        )
        return [_review(r) for r in rows]

    async def for_area(self, area: str) -> list[Review]:
        rows = await self._session.execute(
            select(REVIEWS)
            .where(REVIEWS.c.area == area)
            .order_by(REVIEWS.c.started_at.desc(), REVIEWS.c.municipality)
        )
        return [_review(r) for r in rows]

    async def items(self, review_id: str) -> list[ReviewItem]:
        rows = await self._session.execute(
            select(REVIEW_ITEMS)
            .where(REVIEW_ITEMS.c.review_id == review_id)
            .order_by(REVIEW_ITEMS.c.grant_id)
        )
        return [_item(r) for r in rows]

    async def answer(self, item: ReviewItem) -> bool:
        result = await self._session.execute(
            update(REVIEW_ITEMS)
            .where(
                REVIEW_ITEMS.c.review_id == item.review_id,
                REVIEW_ITEMS.c.grant_id == item.grant_id,
                REVIEW_ITEMS.c.answer.is_(None),
            )
            .values(
                answer=item.answer.value if item.answer else None,
                answered_by=item.answered_by,
                answered_at=item.answered_at,
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def close(self, review_id: str, at: datetime) -> None:
        await self._session.execute(
            update(REVIEWS)
            .where(REVIEWS.c.id == review_id, REVIEWS.c.closed_at.is_(None))
            .values(closed_at=at)
        )


class SqlAutomationUnitOfWork(SqlUnitOfWork):
    """The domain unit of work plus the reminder log and the reviews, in the same
    transaction."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.reminders = SqlReminderLog(self.session)
        self.reviews = SqlReviewStore(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)


def automation_unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[[], ReviewUnitOfWork]:
    """The ``uow_factory`` of :class:`access.automation.AutomationService` and
    :class:`access.review.ReviewService` (a review unit of work is an automation one)."""

    def make() -> ReviewUnitOfWork:
        return SqlAutomationUnitOfWork(session_factory)

    return make


@dataclass(frozen=True)
class JobLease:
    """Leases of scheduled jobs: at most one holder, and only when the job is due."""

    session_factory: async_sessionmaker[AsyncSession]
    owner: str  # this process, e.g. "host:pid:random"

    async def _begin(self, session: AsyncSession) -> None:
        if session.bind is not None and session.bind.dialect.name == "sqlite":
            await session.execute(text("BEGIN IMMEDIATE"))

    async def acquire(self, job: str, now: datetime, lease: timedelta) -> bool:
        """Take the lease of ``job`` if it is due at ``now`` and nobody holds it."""
        async with self.session_factory() as session:
            await self._begin(session)
            dialect = session.bind.dialect.name if session.bind is not None else ""
            seed = {"name": job, "next_run_at": None}
            if dialect == "sqlite":
                await session.execute(sqlite.insert(JOBS).values(**seed).on_conflict_do_nothing())
            else:
                await session.execute(
                    postgresql.insert(JOBS).values(**seed).on_conflict_do_nothing()
                )
            await session.commit()
            await self._begin(session)
            row = (
                await session.execute(
                    select(JOBS).where(JOBS.c.name == job).with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:  # another process holds the row right now
                await session.rollback()
                return False
            busy = row.lease_until is not None and row.lease_until > now and row.leased_by
            not_due = row.next_run_at is not None and row.next_run_at > now
            if busy or not_due:
                await session.rollback()
                return False
            await session.execute(
                update(JOBS)
                .where(JOBS.c.name == job)
                .values(leased_by=self.owner, lease_until=now + lease)
            )
            await session.commit()
            return True

    async def release(self, job: str, now: datetime, next_run_at: datetime, *, ok: bool) -> None:
        """Give the lease back; the job is next due at ``next_run_at``."""
        async with self.session_factory() as session:
            await self._begin(session)
            await session.execute(
                update(JOBS)
                .where(JOBS.c.name == job, JOBS.c.leased_by == self.owner)
                .values(
                    leased_by=None,
                    lease_until=None,
                    last_run_at=now,
                    next_run_at=next_run_at,
                    last_outcome="ok" if ok else "failed",
                )
            )
            await session.commit()

    async def state(self, job: str) -> dict[str, Any] | None:
        async with self.session_factory() as session:
            row = (await session.execute(select(JOBS).where(JOBS.c.name == job))).first()
            return None if row is None else dict(row._mapping)
