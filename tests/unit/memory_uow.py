"""An in-memory implementation of ``access.ports`` for fast domain tests.

Transactions are serialised by one lock; each works on a copy of the state that
replaces the committed state only on ``commit()`` (leaving without commit = rollback).
Audit drafts are chained at commit, like the SQL implementation does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from access.audit import PERSON_PREFIX, ChainHead, chain_entry, emails_in, pseudonymised
from access.model import (
    AccessRequest,
    AuditDraft,
    AuditEntry,
    Decision,
    Grant,
    GrantEvent,
    IdempotencyRecord,
    KehaBatch,
    KehaRow,
    Notification,
)
from access.ports import GrantQuery, KehaRowQuery, RequestQuery


@dataclass
class State:
    requests: dict[str, AccessRequest] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    batches: dict[str, KehaBatch] = field(default_factory=dict)  # rows kept in `rows`
    rows: dict[str, KehaRow] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    outbox: list[Notification] = field(default_factory=list)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # e-mail -> person id

    def copy(self) -> State:
        return State(
            dict(self.requests),
            dict(self.grants),
            list(self.decisions),
            dict(self.batches),
            dict(self.rows),
            list(self.audit),
            list(self.outbox),
            dict(self.idempotency),
            dict(self.counters),
            dict(self.people),
        )


class MemoryDb:
    def __init__(self) -> None:
        self.state = State()
        self.lock = asyncio.Lock()
        self.commits = 0

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def s(self) -> State:
        return self._uow.state


class MemoryRequests(_Repo):
    async def get(self, request_id: str) -> AccessRequest | None:
        return self.s.requests.get(request_id)

    async def add(self, request: AccessRequest) -> None:
        assert request.id not in self.s.requests
        self.s.requests[request.id] = request

    async def update(self, request: AccessRequest, *, expected_version: int) -> bool:
        current = self.s.requests.get(request.id)
        if current is None or current.version != expected_version:
            return False
        self.s.requests[request.id] = request
        return True

    async def find(self, query: RequestQuery) -> list[AccessRequest]:
        out = []
        for r in self.s.requests.values():
            if query.ids is not None and r.id not in query.ids:
                continue
            if query.municipalities is not None and r.municipality not in query.municipalities:
                continue
            if query.areas is not None and r.area not in query.areas:
                continue
            if query.states is not None and r.state not in query.states:
                continue
            if query.kinds is not None and r.kind not in query.kinds:
                continue
            if query.worker_email is not None and r.worker.email != query.worker_email:
                continue
            if query.requester is not None and query.requester not in (r.requester, r.created_by):
                continue
            if query.grant_id is not None and r.grant_id != query.grant_id:
                continue
            if query.updated_before is not None and not r.updated_at < query.updated_before:
                continue
            out.append(r)
        out.sort(key=lambda r: (r.created_at, r.number), reverse=True)
        return out[: query.limit] if query.limit is not None else out

    async def next_number(self, year: int) -> int:
        self.s.counters[year] = self.s.counters.get(year, 0) + 1
        return self.s.counters[year]


class MemoryGrants(_Repo):
    async def get(self, grant_id: str) -> Grant | None:
        return self.s.grants.get(grant_id)

    async def add(self, grant: Grant) -> None:
        assert grant.id not in self.s.grants
        self.s.grants[grant.id] = grant

    async def update(self, grant: Grant, *, expected_version: int) -> bool:
        current = self.s.grants.get(grant.id)
        if current is None or current.version != expected_version:
            return False
        self.s.grants[grant.id] = replace(grant, history=current.history)
        return True

    async def add_event(self, grant_id: str, event: GrantEvent) -> None:
        current = self.s.grants[grant_id]
        self.s.grants[grant_id] = replace(current, history=(*current.history, event))

    async def find(self, query: GrantQuery) -> list[Grant]:
        out = []
        for g in self.s.grants.values():
            if query.ids is not None and g.id not in query.ids:
                continue
            if query.municipalities is not None and g.municipality not in query.municipalities:
                continue
            if query.areas is not None and g.area not in query.areas:
                continue
            if query.states is not None and g.state not in query.states:
                continue
            if query.worker_email is not None and g.worker.email != query.worker_email:
                continue
            if query.end_before is not None and not g.end < query.end_before:
                continue
            out.append(g)
        out.sort(key=lambda g: (g.created_at, g.id))
        return out[: query.limit] if query.limit is not None else out


class MemoryDecisions(_Repo):
    async def add(self, decision: Decision) -> None:
        self.s.decisions.append(decision)

    async def for_request(self, request_id: str) -> list[Decision]:
        return [d for d in self.s.decisions if d.request_id == request_id]

    async def by_actor(self, actor: str) -> list[Decision]:
        return [d for d in self.s.decisions if d.actor == actor]


class MemoryKeha(_Repo):
    async def add_batch(self, batch: KehaBatch) -> None:
        self.s.batches[batch.id] = replace(batch, rows=())
        for row in batch.rows:
            self.s.rows[row.id] = row

    async def get_batch(self, batch_id: str) -> KehaBatch | None:
        batch = self.s.batches.get(batch_id)
        if batch is None:
            return None
        rows = sorted(
            (r for r in self.s.rows.values() if r.batch_id == batch_id),
            key=lambda r: (not r.urgent, r.request_number),
        )
        return replace(batch, rows=tuple(rows))

    async def update_batch(self, batch: KehaBatch) -> None:
        self.s.batches[batch.id] = replace(batch, rows=())

    async def get_row(self, row_id: str) -> KehaRow | None:
        return self.s.rows.get(row_id)

    async def update_row(self, row: KehaRow, *, expected_version: int) -> bool:
        current = self.s.rows.get(row.id)
        if current is None or current.version != expected_version:
            return False
        self.s.rows[row.id] = row
        return True

    async def find_rows(self, query: KehaRowQuery) -> list[KehaRow]:
        out = [
            r
            for r in self.s.rows.values()
            if (query.batch_id is None or r.batch_id == query.batch_id)
            and (query.request_id is None or r.request_id == query.request_id)
            and (query.areas is None or r.area in query.areas)
            and (query.states is None or r.state in query.states)
        ]
        return sorted(out, key=lambda r: (r.created_at, not r.urgent, r.request_number))


class MemoryAudit(_Repo):
    async def append(self, draft: AuditDraft) -> None:
        self._uow.pending_audit.append(draft)

    async def entries(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        rows = [e for e in self.s.audit if e.seq > after_seq]
        return rows[:limit] if limit is not None else rows

    async def for_request(self, request_id: str) -> list[AuditEntry]:
        return [e for e in self.s.audit if e.request_id == request_id]

    async def head(self) -> ChainHead | None:
        if not self.s.audit:
            return None
        last = self.s.audit[-1]
        return ChainHead(last.seq, last.hash)


class MemoryOutbox(_Repo):
    async def add(self, notification: Notification) -> None:
        assert all(n.idempotency_key != notification.idempotency_key for n in self.s.outbox)
        self.s.outbox.append(notification)

    async def for_request(self, request_id: str) -> list[Notification]:
        return [n for n in self.s.outbox if n.request_id == request_id]

    async def for_recipient(self, recipient: str) -> list[Notification]:
        return [n for n in self.s.outbox if n.recipient == recipient]


class MemoryIdempotency(_Repo):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        existing = self.s.idempotency.get(record.key)
        if existing is not None:
            return existing
        self.s.idempotency[record.key] = record
        return None

    async def complete(self, key: str, result: str) -> None:
        self.s.idempotency[key] = replace(self.s.idempotency[key], result=result)


class MemoryPeople(_Repo):
    async def refs_for(self, emails: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for email in sorted({e.strip().lower() for e in emails if e.strip()}):
            person_id = self.s.people.setdefault(email, uuid.uuid4().hex)
            out[email] = PERSON_PREFIX + person_id
        return out

    async def ref_of(self, email: str) -> str | None:
        person_id = self.s.people.get(email.strip().lower())
        return PERSON_PREFIX + person_id if person_id else None

    async def emails_of(self, refs: Sequence[str]) -> dict[str, str]:
        by_ref = {PERSON_PREFIX + pid: email for email, pid in self.s.people.items()}
        return {r: by_ref[r] for r in refs if r in by_ref}


class MemoryUnitOfWork:
    def __init__(self, db: MemoryDb) -> None:
        self._db = db
        self.state = State()
        self.pending_audit: list[AuditDraft] = []
        self.requests = MemoryRequests(self)
        self.grants = MemoryGrants(self)
        self.decisions = MemoryDecisions(self)
        self.keha = MemoryKeha(self)
        self.audit = MemoryAudit(self)
        self.outbox = MemoryOutbox(self)
        self.idempotency = MemoryIdempotency(self)
        self.people = MemoryPeople(self)

    async def __aenter__(self) -> Self:
        await self._db.lock.acquire()
        self.state = self._db.state.copy()
        self.pending_audit = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db.lock.release()

    async def lock(self, key: str) -> None:
        return None  # transactions are already serialised

    async def commit(self) -> None:
        for pending in self.pending_audit:
            draft = pseudonymised(pending, await self.people.refs_for(sorted(emails_in(pending))))
            head = (
                ChainHead(self.state.audit[-1].seq, self.state.audit[-1].hash)
                if self.state.audit
                else None
            )
            self.state.audit.append(chain_entry(head, draft))
        self.pending_audit = []
        self._db.state = self.state
        self._db.commits += 1
