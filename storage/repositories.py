"""Repositories implementing :mod:`access.ports` on SQLAlchemy 2 (async, Core).

:class:`SqlUnitOfWork` is one ``AsyncSession`` transaction. The service never commits
by itself; it calls :meth:`SqlUnitOfWork.commit`, which first chains the queued audit
rows, then commits everything at once.

Concurrency
-----------
* Compare-and-set: ``UPDATE ... WHERE id = :id AND version = :expected``; a rowcount
  of 0 means another transaction won (PostgreSQL re-checks the WHERE clause on the
  row version the winner committed, so exactly one of many racers updates).
* Audit chain: every append locks the single chain-head row (``SELECT ... FOR
  UPDATE``) at commit time, after all other row locks of the transaction were taken,
  so the chain stays linear and the lock order is the same everywhere (no deadlock
  through the head).
* SQLite has one writer: the unit of work starts with ``BEGIN IMMEDIATE`` so the
  whole command (reads included) runs under the write lock; ``lock()`` is a no-op.
  On PostgreSQL ``lock()`` takes ``pg_advisory_xact_lock`` on the subject key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    Row,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.audit import (
    CHECKPOINT_ACTION,
    DEVELOPMENT_KEY,
    GENESIS_HASH,
    PERSON_PREFIX,
    AuditKey,
    AuditKeyMismatch,
    ChainHead,
    PersonBinding,
    PersonBindingError,
    binding_problem,
    chain_entry,
    emails_in,
    keyed_marker,
    pseudonymised,
)
from access.model import (
    AccessRequest,
    Audience,
    AuditDraft,
    AuditEntry,
    Decision,
    DecisionOutcome,
    Grant,
    GrantEvent,
    GrantEventKind,
    GrantState,
    IdempotencyRecord,
    KehaBatch,
    KehaRow,
    KehaRowState,
    MatterOutcome,
    MisuseMatter,
    Notification,
    RequestKind,
    RequestState,
    RevokeReason,
    Worker,
)
from access.ports import GrantQuery, KehaRowQuery, RequestQuery, UnitOfWork, UnitOfWorkFactory
from storage.audit_keys import audit_key_of
from storage.domain_tables import (
    AUDIT,
    AUDIT_HEAD,
    BATCHES,
    COUNTERS,
    DECISIONS,
    GRANT_EVENTS,
    GRANTS,
    IDEMPOTENCY,
    KEHA_ROWS,
    MATTERS,
    OUTBOX,
    PEOPLE,
    REQUESTS,
)

__all__ = [
    "SqlAuditLog",
    "SqlDecisionRepository",
    "SqlGrantRepository",
    "SqlIdempotencyStore",
    "SqlKehaRepository",
    "SqlMatterRepository",
    "SqlOutbox",
    "SqlPeople",
    "SqlRequestRepository",
    "SqlUnitOfWork",
    "advisory_key",
    "unit_of_work_factory",
]


def advisory_key(key: str) -> int:
    """A stable signed 64-bit number for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


def _rowcount(result: Any) -> int:
    count = getattr(result, "rowcount", -1)
    return int(count)


# ----------------------------------------------------------------------------- requests


def _request_values(r: AccessRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "number": r.number,
        "kind": r.kind.value,
        "state": r.state.value,
        "version": r.version,
        "worker_name": r.worker.name,
        "worker_email": r.worker.email,
        "worker_job_title": r.worker.job_title,
        "municipality": r.municipality,
        "area": r.area,
        "service_areas": list(r.service_areas),
        "level": r.level,
        "start_date": r.start,
        "end_date": r.end,
        "justification": r.justification,
        "confirmations": sorted(r.confirmations),
        "requester": r.requester,
        "created_by": r.created_by,
        "grant_id": r.grant_id,
        "revoke_reason": r.revoke_reason.value if r.revoke_reason else None,
        "urgent": r.urgent,
        "question": r.question,
        "effective_date": r.effective,
        "answer": r.answer,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def _scope(m: Any) -> dict[str, Any]:
    """Who and what a request or grant row covers (the columns both tables share)."""
    return {
        "worker": Worker(
            m["worker_name"], m["worker_email"], m["worker_job_title"], m["municipality"]
        ),
        "municipality": m["municipality"],
        "area": m["area"],
        "service_areas": tuple(m["service_areas"]),
        "level": m["level"],
        "start": m["start_date"],
        "end": m["end_date"],
    }


def _request(row: Row[Any]) -> AccessRequest:
    m = row._mapping
    return AccessRequest(
        id=m["id"],
        number=m["number"],
        kind=RequestKind(m["kind"]),
        state=RequestState(m["state"]),
        version=m["version"],
        **_scope(m),
        justification=m["justification"],
        confirmations=frozenset(m["confirmations"]),
        requester=m["requester"],
        created_by=m["created_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        grant_id=m["grant_id"],
        revoke_reason=RevokeReason(m["revoke_reason"]) if m["revoke_reason"] else None,
        urgent=bool(m["urgent"]),
        question=m["question"],
        effective=m["effective_date"],
        answer=m["answer"],
    )


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _compare_and_set(
        self, table: Table, values: dict[str, Any], expected_version: int
    ) -> bool:
        """Write the row ``values["id"]`` only if it still has ``expected_version``."""
        changes = dict(values)
        row_id = changes.pop("id")
        result = await self._session.execute(
            update(table)
            .where(table.c.id == row_id, table.c.version == expected_version)
            .values(**changes)
        )
        return _rowcount(result) == 1

    async def _rows(self, statement: Select[Any]) -> Sequence[Row[Any]]:
        rows: Sequence[Row[Any]] = (await self._session.execute(statement)).all()
        return rows


class SqlRequestRepository(_Repo):
    async def get(self, request_id: str) -> AccessRequest | None:
        rows = await self._rows(select(REQUESTS).where(REQUESTS.c.id == request_id))
        return _request(rows[0]) if rows else None

    async def add(self, request: AccessRequest) -> None:
        await self._session.execute(insert(REQUESTS).values(**_request_values(request)))

    async def update(self, request: AccessRequest, *, expected_version: int) -> bool:
        return await self._compare_and_set(REQUESTS, _request_values(request), expected_version)

    async def find(self, query: RequestQuery) -> list[AccessRequest]:
        c = REQUESTS.c
        conditions: list[Any] = []
        if query.ids is not None:
            conditions.append(c.id.in_(list(query.ids)))
        if query.municipalities is not None:
            conditions.append(c.municipality.in_(list(query.municipalities)))
        if query.areas is not None:
            conditions.append(c.area.in_(list(query.areas)))
        if query.states is not None:
            conditions.append(c.state.in_([s.value for s in query.states]))
        if query.kinds is not None:
            conditions.append(c.kind.in_([k.value for k in query.kinds]))
        if query.worker_email is not None:
            conditions.append(c.worker_email == query.worker_email)
        if query.requester is not None:
            conditions.append(or_(c.requester == query.requester, c.created_by == query.requester))
        if query.grant_id is not None:
            conditions.append(c.grant_id == query.grant_id)
        if query.updated_before is not None:
            conditions.append(c.updated_at < query.updated_before)
        statement = (
            select(REQUESTS)
            .where(and_(True, *conditions))
            .order_by(c.created_at.desc(), c.number.desc())
        )
        if query.limit is not None:
            statement = statement.limit(query.limit)
        return [_request(r) for r in await self._rows(statement)]

    async def next_number(self, year: int) -> int:
        dialect = self._session.bind.dialect.name if self._session.bind else "sqlite"
        if dialect == "postgresql":
            pg = postgresql.insert(COUNTERS).values(year=year, value=1)
            statement: Any = pg.on_conflict_do_update(
                index_elements=[COUNTERS.c.year], set_={"value": COUNTERS.c.value + 1}
            ).returning(COUNTERS.c.value)
        else:
            lite = sqlite.insert(COUNTERS).values(year=year, value=1)
            statement = lite.on_conflict_do_update(
                index_elements=[COUNTERS.c.year], set_={"value": COUNTERS.c.value + 1}
            ).returning(COUNTERS.c.value)
        bind = self._session.bind
        if dialect == "postgresql" and isinstance(bind, AsyncEngine):
            # Its own short transaction: the counter row is locked for one round trip,
            # not until this command commits -- otherwise every submission of every
            # process waits in line behind the one holding the row. The
            # price: a command that fails after this leaves its number unused.
            # Waiting for this second connection cannot deadlock the pool: fewer
            # turns run at once than the pool has connections (bot.config,
            # max_concurrent_turns < storage.db.POOL_CAPACITY), and nothing else
            # holds one connection while waiting for another.
            async with bind.connect() as conn:
                # One statement in autocommit: no BEGIN/COMMIT round trips either.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                value = (await conn.execute(statement)).scalar_one()
            return int(value)
        # SQLite has one writer at a time anyway: in the command's transaction.
        value = (await self._session.execute(statement)).scalar_one()
        return int(value)


# ------------------------------------------------------------------------------- grants


def _grant_values(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id,
        "worker_name": g.worker.name,
        "worker_email": g.worker.email,
        "worker_job_title": g.worker.job_title,
        "municipality": g.municipality,
        "area": g.area,
        "service_areas": list(g.service_areas),
        "level": g.level,
        "start_date": g.start,
        "end_date": g.end,
        "state": g.state.value,
        "version": g.version,
        "origin_request_id": g.origin_request_id,
        "requested_by": g.requested_by,
        "created_at": g.created_at,
        "updated_at": g.updated_at,
        "end_reason": g.end_reason.value if g.end_reason else None,
        "end_note": g.end_note or None,
    }


def _event(row: Row[Any]) -> GrantEvent:
    m = row._mapping
    return GrantEvent(
        at=m["at"],
        event=GrantEventKind(m["event"]),
        request_id=m["request_id"],
        service_areas=tuple(m["service_areas"]),
        level=m["level"],
        end=m["end_date"],
    )


def _grant(row: Row[Any], history: Sequence[GrantEvent]) -> Grant:
    m = row._mapping
    return Grant(
        id=m["id"],
        **_scope(m),
        state=GrantState(m["state"]),
        version=m["version"],
        origin_request_id=m["origin_request_id"],
        requested_by=m["requested_by"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        history=tuple(history),
        end_reason=RevokeReason(m["end_reason"]) if m["end_reason"] else None,
        end_note=m["end_note"] or "",
    )


class SqlGrantRepository(_Repo):
    async def _history(self, grant_ids: Sequence[str]) -> dict[str, list[GrantEvent]]:
        out: dict[str, list[GrantEvent]] = {g: [] for g in grant_ids}
        if not grant_ids:
            return out
        rows = await self._rows(
            select(GRANT_EVENTS)
            .where(GRANT_EVENTS.c.grant_id.in_(list(grant_ids)))
            .order_by(GRANT_EVENTS.c.id)
        )
        for row in rows:
            out[row._mapping["grant_id"]].append(_event(row))
        return out

    async def get(self, grant_id: str) -> Grant | None:
        rows = await self._rows(select(GRANTS).where(GRANTS.c.id == grant_id))
        if not rows:
            return None
        return _grant(rows[0], (await self._history([grant_id]))[grant_id])

    async def add(self, grant: Grant) -> None:
        await self._session.execute(insert(GRANTS).values(**_grant_values(grant)))
        for event in grant.history:
            await self.add_event(grant.id, event)

    async def update(self, grant: Grant, *, expected_version: int) -> bool:
        return await self._compare_and_set(GRANTS, _grant_values(grant), expected_version)

    async def add_event(self, grant_id: str, event: GrantEvent) -> None:
        await self._session.execute(
            insert(GRANT_EVENTS).values(
                grant_id=grant_id,
                at=event.at,
                event=event.event.value,
                request_id=event.request_id,
                service_areas=list(event.service_areas),
                level=event.level,
                end_date=event.end,
            )
        )

    async def find(self, query: GrantQuery) -> list[Grant]:
        c = GRANTS.c
        conditions: list[Any] = []
        if query.ids is not None:
            conditions.append(c.id.in_(list(query.ids)))
        if query.municipalities is not None:
            conditions.append(c.municipality.in_(list(query.municipalities)))
        if query.areas is not None:
            conditions.append(c.area.in_(list(query.areas)))
        if query.states is not None:
            conditions.append(c.state.in_([s.value for s in query.states]))
        if query.worker_email is not None:
            conditions.append(c.worker_email == query.worker_email)
        if query.end_before is not None:
            conditions.append(c.end_date < query.end_before)
        statement = select(GRANTS).where(and_(True, *conditions)).order_by(c.created_at, c.id)
        if query.limit is not None:
            statement = statement.limit(query.limit)
        rows = await self._rows(statement)
        history = await self._history([r._mapping["id"] for r in rows])
        return [_grant(r, history[r._mapping["id"]]) for r in rows]


# ---------------------------------------------------------------------------- decisions


def _decision(row: Row[Any]) -> Decision:
    m = row._mapping
    return Decision(
        id=m["id"],
        request_id=m["request_id"],
        outcome=DecisionOutcome(m["outcome"]),
        actor=m["actor"],
        at=m["at"],
        text=m["text"],
        request_version=m["request_version"],
    )


class SqlDecisionRepository(_Repo):
    async def add(self, decision: Decision) -> None:
        await self._session.execute(
            insert(DECISIONS).values(
                id=decision.id,
                request_id=decision.request_id,
                outcome=decision.outcome.value,
                actor=decision.actor,
                at=decision.at,
                text=decision.text,
                request_version=decision.request_version,
            )
        )

    async def for_request(self, request_id: str) -> list[Decision]:
        rows = await self._rows(
            select(DECISIONS)
            .where(DECISIONS.c.request_id == request_id)
            .order_by(DECISIONS.c.request_version, DECISIONS.c.at)
        )
        return [_decision(r) for r in rows]

    async def by_actor(self, actor: str) -> list[Decision]:
        rows = await self._rows(
            select(DECISIONS).where(DECISIONS.c.actor == actor).order_by(DECISIONS.c.at)
        )
        return [_decision(r) for r in rows]


# --------------------------------------------------------------------------------- KEHA


def _keha_values(r: KehaRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "batch_id": r.batch_id,
        "request_id": r.request_id,
        "request_number": r.request_number,
        "area": r.area,
        "municipality": r.municipality,
        "kind": r.kind.value,
        "urgent": r.urgent,
        "state": r.state.value,
        "version": r.version,
        "worker_name": r.worker.name,
        "worker_email": r.worker.email,
        "worker_job_title": r.worker.job_title,
        "service_areas": list(r.service_areas),
        "level": r.level,
        "start_date": r.start,
        "end_date": r.end,
        "grant_id": r.grant_id,
        "created_at": r.created_at,
        "approved_by": r.approved_by,
        "approved_at": r.approved_at,
        "revoke_reason": r.revoke_reason.value if r.revoke_reason else None,
        "effective_date": r.effective,
        "sent_at": r.sent_at,
        "confirmed_at": r.confirmed_at,
        "confirmed_by": r.confirmed_by,
        "confirm_note": r.confirm_note,
        "cancels_row_id": r.cancels_row_id,
    }


def _keha_row(row: Row[Any]) -> KehaRow:
    m = row._mapping
    return KehaRow(
        id=m["id"],
        batch_id=m["batch_id"],
        request_id=m["request_id"],
        request_number=m["request_number"],
        area=m["area"],
        municipality=m["municipality"],
        kind=RequestKind(m["kind"]),
        urgent=bool(m["urgent"]),
        state=KehaRowState(m["state"]),
        version=m["version"],
        worker=Worker(
            m["worker_name"], m["worker_email"], m["worker_job_title"], m["municipality"]
        ),
        service_areas=tuple(m["service_areas"]),
        level=m["level"],
        start=m["start_date"],
        end=m["end_date"],
        grant_id=m["grant_id"],
        created_at=m["created_at"],
        approved_by=m["approved_by"],
        approved_at=m["approved_at"],
        revoke_reason=RevokeReason(m["revoke_reason"]) if m["revoke_reason"] else None,
        effective=m["effective_date"],
        sent_at=m["sent_at"],
        confirmed_at=m["confirmed_at"],
        confirmed_by=m["confirmed_by"],
        confirm_note=m["confirm_note"],
        cancels_row_id=m["cancels_row_id"],
    )


class SqlKehaRepository(_Repo):
    async def add_batch(self, batch: KehaBatch) -> None:
        await self._session.execute(
            insert(BATCHES).values(
                id=batch.id,
                area=batch.area,
                created_by=batch.created_by,
                created_at=batch.created_at,
                sent_at=batch.sent_at,
                sent_by=batch.sent_by,
            )
        )
        for row in batch.rows:
            await self._session.execute(insert(KEHA_ROWS).values(**_keha_values(row)))

    async def get_batch(self, batch_id: str) -> KehaBatch | None:
        rows = await self._rows(select(BATCHES).where(BATCHES.c.id == batch_id))
        if not rows:
            return None
        m = rows[0]._mapping
        keha = await self._rows(
            select(KEHA_ROWS)
            .where(KEHA_ROWS.c.batch_id == batch_id)
            .order_by(KEHA_ROWS.c.urgent.desc(), KEHA_ROWS.c.request_number)
        )
        return KehaBatch(
            id=m["id"],
            area=m["area"],
            created_by=m["created_by"],
            created_at=m["created_at"],
            sent_at=m["sent_at"],
            sent_by=m["sent_by"],
            rows=tuple(_keha_row(r) for r in keha),
        )

    async def update_batch(self, batch: KehaBatch) -> None:
        await self._session.execute(
            update(BATCHES)
            .where(BATCHES.c.id == batch.id)
            .values(sent_at=batch.sent_at, sent_by=batch.sent_by)
        )

    async def get_row(self, row_id: str) -> KehaRow | None:
        rows = await self._rows(select(KEHA_ROWS).where(KEHA_ROWS.c.id == row_id))
        return _keha_row(rows[0]) if rows else None

    async def update_row(self, row: KehaRow, *, expected_version: int) -> bool:
        return await self._compare_and_set(KEHA_ROWS, _keha_values(row), expected_version)

    async def add_row(self, row: KehaRow) -> None:
        await self._session.execute(insert(KEHA_ROWS).values(**_keha_values(row)))

    async def remove_row(self, row: KehaRow) -> bool:
        result = await self._session.execute(
            delete(KEHA_ROWS).where(
                KEHA_ROWS.c.id == row.id,
                KEHA_ROWS.c.version == row.version,
                KEHA_ROWS.c.state == KehaRowState.QUEUED.value,
            )
        )
        return _rowcount(result) == 1

    async def find_rows(self, query: KehaRowQuery) -> list[KehaRow]:
        c = KEHA_ROWS.c
        conditions: list[Any] = []
        if query.batch_id is not None:
            conditions.append(c.batch_id == query.batch_id)
        if query.request_id is not None:
            conditions.append(c.request_id == query.request_id)
        if query.areas is not None:
            conditions.append(c.area.in_(list(query.areas)))
        if query.states is not None:
            conditions.append(c.state.in_([s.value for s in query.states]))
        rows = await self._rows(
            select(KEHA_ROWS)
            .where(and_(True, *conditions))
            .order_by(c.created_at, c.urgent.desc(), c.request_number)
        )
        return [_keha_row(r) for r in rows]


# -------------------------------------------------------------------------------- audit


def _audit(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        seq=m["seq"],
        at=m["at"],
        actor=m["actor"],
        action=m["action"],
        request_id=m["request_id"],
        details=m["details"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


class SqlPeople(_Repo):
    """``people``: person_id (random) <-> work e-mail; see :data:`access.audit.PERSON_PREFIX`.

    Every row carries a keyed binding of its id to its e-mail (``access.audit``), made
    when the row is made. A row that does not match its binding was altered in the
    database (e.g. two e-mails swapped): it is never used to name anyone
    (:class:`access.audit.PersonBindingError`), and ``emails_of`` leaves it out, so an
    export cannot credit one person with another's decision.
    """

    @property
    def key(self) -> AuditKey:
        return audit_key_of(self._session)

    async def refs_for(self, emails: Sequence[str]) -> dict[str, str]:
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        if not wanted:
            return {}
        found = await self._known(wanted)
        missing = [e for e in wanted if e not in found]
        if missing:
            bind = self._session.bind
            dialect = bind.dialect.name if bind is not None else "sqlite"
            insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
            now = datetime.now(UTC)
            key = self.key
            rows = []
            for email in missing:
                person_id = uuid.uuid4().hex
                rows.append(
                    {
                        "person_id": person_id,
                        "email": email,
                        "created_at": now,
                        "binding": key.person_binding(person_id, email),
                    }
                )
            # One statement, rows in sorted order: two transactions adding the same
            # new people wait for each other, they do not deadlock.
            added = await self._session.execute(
                insert_into(PEOPLE)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(PEOPLE.c.email, PEOPLE.c.person_id)
            )
            found.update({row.email: row.person_id for row in added})
            raced = [e for e in missing if e not in found]
            if raced:  # added by a concurrent transaction meanwhile
                found.update(await self._known(raced))
        return {email: PERSON_PREFIX + found[email] for email in wanted}

    async def _known(self, emails: Sequence[str]) -> dict[str, str]:
        rows = await self._rows(
            select(PEOPLE.c.email, PEOPLE.c.person_id, PEOPLE.c.binding).where(
                PEOPLE.c.email.in_(list(emails))
            )
        )
        chain = _ChainKey(self)
        for r in rows:
            refusal = await chain.refusal(PersonBinding(r.person_id, r.email, r.binding))
            if refusal is not None:
                raise refusal
        return {r.email: r.person_id for r in rows}

    async def chain_key_id(self) -> str | None:
        """The id of the key the chain is written with (None: not keyed yet)."""
        rows = await self._rows(select(AUDIT_HEAD.c.key_id).where(AUDIT_HEAD.c.id == 1))
        return str(rows[0].key_id) if rows and rows[0].key_id else None

    async def ref_of(self, email: str) -> str | None:
        found = await self._known([email.strip().lower()])
        return PERSON_PREFIX + found[email.strip().lower()] if found else None

    async def emails_of(self, refs: Sequence[str]) -> dict[str, str]:
        """person reference -> e-mail, for people not forgotten whose row matches its
        binding (an altered row is left out rather than credited to someone)."""
        ids = {r[len(PERSON_PREFIX) :]: r for r in refs if r.startswith(PERSON_PREFIX)}
        if not ids:
            return {}
        rows = await self._rows(
            select(PEOPLE.c.person_id, PEOPLE.c.email, PEOPLE.c.binding).where(
                PEOPLE.c.person_id.in_(list(ids)), PEOPLE.c.email.is_not(None)
            )
        )
        chain = _ChainKey(self)
        return {
            ids[r.person_id]: r.email
            for r in rows
            if await chain.refusal(PersonBinding(r.person_id, r.email, r.binding)) is None
        }

    async def bindings(self) -> list[PersonBinding]:
        """Every row as stored, for ``audit verify``."""
        rows = await self._rows(
            select(PEOPLE.c.person_id, PEOPLE.c.email, PEOPLE.c.binding).order_by(
                PEOPLE.c.person_id
            )
        )
        return [PersonBinding(r.person_id, r.email, r.binding) for r in rows]

    async def bind_all(self, previous: AuditKey | None = None) -> int:
        """Bind the rows made before the audit key (forgotten ones get the tombstone)
        and, when the chain moves on from the public development key (``previous``),
        the rows bound with it; rows that match neither are left for verify to name.
        The first keyed append calls it under the chain-head lock."""
        rows = await self._rows(select(PEOPLE.c.person_id, PEOPLE.c.email, PEOPLE.c.binding))
        key = self.key
        bound = 0
        for r in rows:
            person = PersonBinding(r.person_id, r.email, r.binding)
            if r.binding is not None and (
                previous is None
                or binding_problem(person, previous) is not None
                or binding_problem(person, key) is None
            ):
                continue
            binding = (
                key.forgotten_binding(r.person_id)
                if r.email is None
                else key.person_binding(r.person_id, r.email)
            )
            await self._session.execute(
                update(PEOPLE).where(PEOPLE.c.person_id == r.person_id).values(binding=binding)
            )
            bound += 1
        return bound


class _ChainKey:
    """Whether a ``people`` row may be believed, given the key of this process and
    the key the chain is written with (read once, only when a row does not match)."""

    _UNREAD = "?"

    def __init__(self, people: SqlPeople) -> None:
        self._people = people
        self._chain: str | None = self._UNREAD

    async def refusal(self, person: PersonBinding) -> Exception | None:
        key = self._people.key
        problem = binding_problem(person, key)
        if problem is None:
            return None
        if self._chain == self._UNREAD:
            self._chain = await self._people.chain_key_id()
        chain = self._chain
        if chain is None and person.binding is None:
            return None  # made before the audit key; the first keyed append binds it
        if (
            chain == DEVELOPMENT_KEY.key_id
            and not key.development
            and binding_problem(person, DEVELOPMENT_KEY) is None
        ):
            return None  # bound in a trial run; the next append binds it with the key
        if chain is not None and chain not in (key.key_id, DEVELOPMENT_KEY.key_id):
            return AuditKeyMismatch(
                f"the audit chain is written with key {chain}, this process has key "
                f"{key.key_id}: check ATMT_AUDIT_KEY"
            )
        return PersonBindingError(problem)


class SqlAuditLog(_Repo):
    def __init__(self, session: AsyncSession, people: SqlPeople | None = None) -> None:
        super().__init__(session)
        self._pending: list[AuditDraft] = []
        self._people = people or SqlPeople(session)

    async def append(self, draft: AuditDraft) -> None:
        self._pending.append(draft)

    @property
    def key(self) -> AuditKey:
        return audit_key_of(self._session)

    async def flush(self) -> None:
        """Chain and insert the queued rows under the chain-head lock."""
        if not self._pending:
            return
        # People by pseudonymous id only (never an e-mail in a hashed row); the ids are
        # made before the chain head is locked, so the head lock stays short.
        emails: set[str] = set()
        for draft in self._pending:
            emails |= emails_in(draft)
        refs = await self._people.refs_for(sorted(emails))
        drafts = [pseudonymised(draft, refs) for draft in self._pending]
        key = self.key
        head_row = await self._lock_head()
        # A chain written with the public development key (a trial run) moves on to a
        # real key like one from before the key; any other change of key is refused.
        from_development = head_row.key_id == DEVELOPMENT_KEY.key_id and not key.development
        if head_row.key_id not in (None, key.key_id) and not from_development:
            raise AuditKeyMismatch(
                f"the audit chain is written with key {head_row.key_id}, this process has "
                f"key {key.key_id}: check ATMT_AUDIT_KEY"
            )
        head = ChainHead(head_row.seq, head_row.hash) if head_row.seq else None
        if head_row.key_id != key.key_id:
            # The first append with this key: people get their bindings, and rows
            # written before it (if any) are sealed by an audit.keyed row.
            await self._people.bind_all(DEVELOPMENT_KEY if from_development else None)
            if head is not None:
                drafts.insert(0, keyed_marker(head, key, drafts[0].at, head_row.key_id))
        rows: list[dict[str, Any]] = []
        checkpoint_at: datetime | None = None
        for draft in drafts:
            entry = chain_entry(head, draft, key)
            rows.append(
                {
                    "seq": entry.seq,
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "request_id": entry.request_id,
                    "details": dict(entry.details),
                    "prev_hash": entry.prev_hash,
                    "hash": entry.hash,
                }
            )
            if entry.action == CHECKPOINT_ACTION:
                checkpoint_at = entry.at
            head = ChainHead(entry.seq, entry.hash)
        assert head is not None
        values: dict[str, Any] = {"seq": head.seq, "hash": head.hash, "key_id": key.key_id}
        if checkpoint_at is not None:
            values["checkpoint_at"] = checkpoint_at
        move_head = update(AUDIT_HEAD).where(AUDIT_HEAD.c.id == 1).values(**values)
        bind = self._session.bind
        if bind is not None and bind.dialect.name == "postgresql":
            # Rows and the new head in one statement: the head stays locked one round
            # trip less (every command of every process waits for it).
            await self._session.execute(move_head.add_cte(insert(AUDIT).values(rows).cte()))
        else:
            await self._session.execute(insert(AUDIT).values(rows))
            await self._session.execute(move_head)
        self._pending = []

    async def _lock_head(self) -> Row[Any]:
        """Lock the chain head (created by migration 0002; re-created if a tool emptied
        the table: then seq 1 already existing makes the append fail loudly)."""
        statement = (
            select(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.hash, AUDIT_HEAD.c.key_id)
            .where(AUDIT_HEAD.c.id == 1)
            .with_for_update()
        )
        rows = await self._rows(statement)
        if not rows:
            bind = self._session.bind
            dialect = bind.dialect.name if bind is not None else "sqlite"
            seed = {"id": 1, "seq": 0, "hash": GENESIS_HASH}
            if dialect == "postgresql":
                await self._session.execute(
                    postgresql.insert(AUDIT_HEAD).values(**seed).on_conflict_do_nothing()
                )
            else:
                await self._session.execute(
                    sqlite.insert(AUDIT_HEAD).values(**seed).on_conflict_do_nothing()
                )
            rows = await self._rows(statement)
        return rows[0]

    async def entries(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        statement = select(AUDIT).where(AUDIT.c.seq > after_seq).order_by(AUDIT.c.seq)
        if limit is not None:
            statement = statement.limit(limit)
        return [_audit(r) for r in await self._rows(statement)]

    async def for_request(self, request_id: str) -> list[AuditEntry]:
        rows = await self._rows(
            select(AUDIT).where(AUDIT.c.request_id == request_id).order_by(AUDIT.c.seq)
        )
        return [_audit(r) for r in rows]

    async def head(self) -> ChainHead | None:
        """The stored head with this log's key (so ``verify_chain(entries, head=head)``
        verifies under it) and the id of the key the chain was written with."""
        rows = await self._rows(
            select(AUDIT_HEAD.c.seq, AUDIT_HEAD.c.hash, AUDIT_HEAD.c.key_id).where(
                AUDIT_HEAD.c.id == 1
            )
        )
        if not rows or not rows[0].seq:
            return None
        return ChainHead(rows[0].seq, rows[0].hash, key=self.key, key_id=rows[0].key_id)

    async def last_checkpoint_at(self) -> datetime | None:
        rows = await self._rows(select(AUDIT_HEAD.c.checkpoint_at).where(AUDIT_HEAD.c.id == 1))
        return rows[0].checkpoint_at if rows else None

    async def count(self) -> int:
        return int(
            (await self._session.execute(select(func.count()).select_from(AUDIT))).scalar_one()
        )


# ------------------------------------------------------------------------------- outbox


def _notification(row: Row[Any]) -> Notification:
    m = row._mapping
    return Notification(
        id=m["id"],
        request_id=m["request_id"],
        template=m["template"],
        audience=Audience(m["audience"]),
        recipient=m["recipient"],
        params=m["params"],
        idempotency_key=m["idempotency_key"],
        created_at=m["created_at"],
    )


class SqlOutbox(_Repo):
    """Rows are queued by :meth:`add` and inserted together by :meth:`flush` (the unit
    of work calls it at commit): one statement for a command's notifications instead
    of one round trip each."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._pending: list[dict[str, Any]] = []

    async def add(self, notification: Notification) -> None:
        self._pending.append(
            {
                "id": notification.id,
                "request_id": notification.request_id,
                "template": notification.template,
                "audience": notification.audience.value,
                "recipient": notification.recipient,
                "params": dict(notification.params),
                "idempotency_key": notification.idempotency_key,
                "created_at": notification.created_at,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": notification.created_at,
            }
        )

    async def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        await self._session.execute(insert(OUTBOX), rows)

    async def for_request(self, request_id: str) -> list[Notification]:
        await self.flush()  # queued rows of this unit of work count too
        rows = await self._rows(
            select(OUTBOX).where(OUTBOX.c.request_id == request_id).order_by(OUTBOX.c.created_at)
        )
        return [_notification(r) for r in rows]

    async def for_recipient(self, recipient: str) -> list[Notification]:
        await self.flush()  # queued rows of this unit of work count too
        rows = await self._rows(
            select(OUTBOX).where(OUTBOX.c.recipient == recipient).order_by(OUTBOX.c.created_at)
        )
        return [_notification(r) for r in rows]


# -------------------------------------------------------------------------- idempotency


class SqlIdempotencyStore(_Repo):
    async def _get(self, key: str) -> IdempotencyRecord | None:
        rows = await self._rows(select(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key))
        if not rows:
            return None
        m = rows[0]._mapping
        return IdempotencyRecord(
            key=m["key"],
            actor=m["actor"],
            command=m["command"],
            created_at=m["created_at"],
            result=m["result"],
        )

    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        values = {
            "key": record.key,
            "actor": record.actor,
            "command": record.command,
            "created_at": record.created_at,
            "result": None,
        }
        bind = self._session.bind
        if bind is not None and bind.dialect.name == "sqlite":
            existing = await self._get(record.key)
            if existing is not None:
                return existing
            # Under BEGIN IMMEDIATE nobody else can insert the key meanwhile.
            await self._session.execute(insert(IDEMPOTENCY).values(**values))
            return None
        # One round trip: a concurrent holder of the same key makes the insert wait
        # until that transaction ends; then it inserts (the holder rolled back) or
        # does nothing (it committed) and the holder's record is read.
        claimed = await self._session.execute(
            postgresql.insert(IDEMPOTENCY)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[IDEMPOTENCY.c.key])
            .returning(IDEMPOTENCY.c.key)
        )
        if claimed.first() is not None:
            return None
        existing = await self._get(record.key)
        if existing is None:
            raise RuntimeError(f"idempotency key {record.key!r} neither claimed nor found")
        return existing

    async def complete(self, key: str, result: str) -> None:
        await self._session.execute(
            update(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key).values(result=result)
        )


# ------------------------------------------------------------------------ misuse matters


def _matter_values(m: MisuseMatter) -> dict[str, Any]:
    return {
        "id": m.id,
        "grant_id": m.grant_id,
        "area": m.area,
        "municipality": m.municipality,
        "version": m.version,
        "reported_by": m.reported_by,
        "reported_at": m.reported_at,
        "note": m.note,
        "outcome": m.outcome.value if m.outcome is not None else None,
        "closing_note": m.closing_note,
        "closed_by": m.closed_by,
        "closed_at": m.closed_at,
    }


def _matter(row: Row[Any]) -> MisuseMatter:
    m = row._mapping
    return MisuseMatter(
        id=m["id"],
        grant_id=m["grant_id"],
        area=m["area"],
        municipality=m["municipality"],
        version=m["version"],
        reported_by=m["reported_by"],
        reported_at=m["reported_at"],
        note=m["note"],
        outcome=MatterOutcome(m["outcome"]) if m["outcome"] else None,
        closing_note=m["closing_note"],
        closed_by=m["closed_by"],
        closed_at=m["closed_at"],
    )


class SqlMatterRepository(_Repo):
    async def add(self, matter: MisuseMatter) -> None:
        await self._session.execute(insert(MATTERS).values(**_matter_values(matter)))

    async def get(self, matter_id: str) -> MisuseMatter | None:
        rows = await self._rows(select(MATTERS).where(MATTERS.c.id == matter_id))
        return _matter(rows[0]) if rows else None

    async def update(self, matter: MisuseMatter, *, expected_version: int) -> bool:
        return await self._compare_and_set(MATTERS, _matter_values(matter), expected_version)

    async def find(
        self,
        *,
        areas: Sequence[str] | None = None,
        open_only: bool = False,
        grant_ids: Sequence[str] | None = None,
        person: str | None = None,
    ) -> list[MisuseMatter]:
        statement = select(MATTERS)
        if areas is not None:
            statement = statement.where(MATTERS.c.area.in_(list(areas)))
        if grant_ids is not None:
            statement = statement.where(MATTERS.c.grant_id.in_(list(grant_ids)))
        if person is not None:
            statement = statement.where(
                or_(MATTERS.c.reported_by == person, MATTERS.c.closed_by == person)
            )
        if open_only:
            statement = statement.where(MATTERS.c.outcome.is_(None))
        statement = statement.order_by(MATTERS.c.reported_at, MATTERS.c.id)
        return [_matter(r) for r in await self._rows(statement)]

    async def open_grant_ids(self) -> set[str]:
        rows = await self._rows(
            select(MATTERS.c.grant_id).where(MATTERS.c.outcome.is_(None)).distinct()
        )
        return {r[0] for r in rows}


# ------------------------------------------------------------------------ unit of work


class SqlUnitOfWork:
    """One transaction on one ``AsyncSession``; ``commit()`` or it is rolled back."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory
        self._session: AsyncSession | None = None
        self._committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open (use `async with`)")
        return self._session

    async def __aenter__(self) -> Self:
        session = self._factory()
        self._session = session
        self._committed = False
        self._sqlite = session.bind is not None and session.bind.dialect.name == "sqlite"
        if self._sqlite:
            # Take the single-writer lock now, so reads and writes of the command see
            # one consistent database (see the module docstring).
            await session.execute(text("BEGIN IMMEDIATE"))
        self.requests = SqlRequestRepository(session)
        self.grants = SqlGrantRepository(session)
        self.decisions = SqlDecisionRepository(session)
        self.keha = SqlKehaRepository(session)
        self.people = SqlPeople(session)
        self.audit = SqlAuditLog(session, self.people)
        self.outbox = SqlOutbox(session)
        self.idempotency = SqlIdempotencyStore(session)
        self.matters = SqlMatterRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        self._session = None
        try:
            if not self._committed:
                await session.rollback()
        finally:
            await session.close()

    async def lock(self, key: str) -> None:
        if not self._sqlite:
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(key)}
            )

    async def commit(self) -> None:
        await self.outbox.flush()
        await self.audit.flush()
        await self.session.commit()
        self._committed = True


def unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
) -> UnitOfWorkFactory:
    """The ``uow_factory`` to give :class:`access.service.AccessService`."""

    def make() -> UnitOfWork:
        return SqlUnitOfWork(session_factory)  # type-checked against the port here

    return make
