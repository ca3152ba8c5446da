"""The dispatcher's side of the ``outbox`` table: claim, finish, dead letters, retry.

:class:`OutboxQueue` implements :class:`access.ports.NotificationQueue`.

States of a row (``status``):

* ``pending`` -- waiting until ``next_attempt_at``;
* ``sending`` -- claimed by a dispatcher; ``next_attempt_at`` is the end of its lease.
  A dispatcher that dies mid-send leaves the row ``sending``: once the lease ends any
  dispatcher claims it again;
* ``sent`` -- delivered (``sent_at``); never claimed again;
* ``skipped`` -- not sent because the recipient is the actor, who saw the answer in
  the chat (``sent_at`` set, ``last_error`` says why);
* ``failed`` -- the dead letter after the last attempt; ``atmt-bot outbox retry``
  puts it back to ``pending``.

:meth:`OutboxQueue.claim` is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)``; on
PostgreSQL the sub-select takes ``FOR UPDATE SKIP LOCKED`` so that several bot
processes never claim the same row; on SQLite the single statement is atomic (the
database has one writer at a time). ``attempts`` grows on every claim, so a crash
counts as an attempt too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from access.ports import OutboxItem
from storage.db import single_statement_engine
from storage.domain_tables import OUTBOX

__all__ = ["DEAD", "OutboxQueue"]

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
SKIPPED = "skipped"
DEAD = "failed"
ERROR_MAX = 500


def _item(row: Any) -> OutboxItem:
    m = row._mapping
    params = m["params"]
    return OutboxItem(
        id=m["id"],
        request_id=m["request_id"],
        template=m["template"],
        audience=m["audience"],
        recipient=m["recipient"],
        params=dict(params) if isinstance(params, dict) else {},
        idempotency_key=m["idempotency_key"],
        attempts=int(m["attempts"] or 0),
        status=m["status"],
        created_at=m["created_at"],
        next_attempt_at=m["next_attempt_at"],
        sent_at=m["sent_at"],
        last_error=m["last_error"],
    )


class OutboxQueue:
    """:class:`access.ports.NotificationQueue` on the ``outbox`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Every call below is one statement: on PostgreSQL it runs without BEGIN and
        # COMMIT around it (two round trips fewer per notification step).
        self._single = single_statement_engine(engine)

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Take up to ``limit`` due rows (pending, or sending with an ended lease)."""
        due = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.status.in_((PENDING, SENDING)),
                or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= now),
            )
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.created_at, OUTBOX.c.id)
            .limit(limit)
        )
        if self._engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(status=SENDING, next_attempt_at=now + lease, attempts=OUTBOX.c.attempts + 1)
            .returning(*OUTBOX.c)
        )
        async with self._single.begin() as conn:
            rows = (await conn.execute(statement)).all()
        return sorted((_item(r) for r in rows), key=lambda i: (i.created_at, i.id))

    async def _finish(self, item_id: str, **values: Any) -> bool:
        statement = (
            update(OUTBOX)
            .where(and_(OUTBOX.c.id == item_id, OUTBOX.c.status == SENDING))
            .values(**values)
            .returning(OUTBOX.c.id)
        )
        async with self._single.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def mark_sent(self, item_id: str, now: datetime) -> bool:
        return await self._finish(item_id, status=SENT, sent_at=now, last_error=None)

    async def mark_skipped(self, item_id: str, now: datetime, why: str) -> bool:
        return await self._finish(item_id, status=SKIPPED, sent_at=now, last_error=why)

    async def reschedule(self, item_id: str, at: datetime, error: str) -> bool:
        return await self._finish(
            item_id, status=PENDING, next_attempt_at=at, last_error=error[:ERROR_MAX]
        )

    async def mark_dead(self, item_id: str, error: str) -> bool:
        return await self._finish(
            item_id, status=DEAD, next_attempt_at=None, last_error=error[:ERROR_MAX]
        )

    # ------------------------------------------------------------- admin

    async def dead(self, *, limit: int = 500) -> list[OutboxItem]:
        """Dead letters, oldest first."""
        statement = (
            select(OUTBOX)
            .where(OUTBOX.c.status == DEAD)
            .order_by(OUTBOX.c.created_at, OUTBOX.c.id)
            .limit(limit)
        )
        async with self._single.connect() as conn:
            return [_item(r) for r in (await conn.execute(statement)).all()]

    async def retry(self, item_id: str, now: datetime) -> bool:
        """Put a dead letter back in the queue (attempts start again)."""
        statement = (
            update(OUTBOX)
            .where(and_(OUTBOX.c.id == item_id, OUTBOX.c.status == DEAD))
            .values(status=PENDING, attempts=0, next_attempt_at=now)
            .returning(OUTBOX.c.id)
        )
        async with self._single.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def get(self, item_id: str) -> OutboxItem | None:
        async with self._single.connect() as conn:
            row = (await conn.execute(select(OUTBOX).where(OUTBOX.c.id == item_id))).first()
        return None if row is None else _item(row)

    async def counts(self) -> dict[str, int]:
        """Rows per status (for tests and the admin)."""
        statement = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
        async with self._single.connect() as conn:
            return {str(s): int(n) for s, n in (await conn.execute(statement)).all()}
