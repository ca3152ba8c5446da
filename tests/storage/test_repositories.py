"""Repositories and the SQL unit of work on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from lifecycle_support import (
    ADMIN,
    APPROVER,
    MANAGER,
    PKS,
    FixedClock,
    draft,
    make_service,
    snapshot,
)
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.errors import PolicyViolations
from access.model import GrantState, RequestState
from storage import domain_tables
from storage.models import Base
from storage.repositories import SqlUnitOfWork, unit_of_work_factory


async def test_migration_matches_the_tables(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        ours = {t.name for t in Base.metadata.sorted_tables if t.name in _DOMAIN}
        return [d for d in compare_metadata(ctx, Base.metadata) if _touches(d, ours)]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


_DOMAIN = {
    t.name
    for t in (
        domain_tables.REQUESTS,
        domain_tables.COUNTERS,
        domain_tables.GRANTS,
        domain_tables.GRANT_EVENTS,
        domain_tables.DECISIONS,
        domain_tables.BATCHES,
        domain_tables.KEHA_ROWS,
        domain_tables.AUDIT,
        domain_tables.AUDIT_HEAD,
        domain_tables.OUTBOX,
        domain_tables.IDEMPOTENCY,
    )
}


def _touches(diff: object, tables: set[str]) -> bool:
    return any(name in repr(diff) for name in tables)


async def test_full_lifecycle_round_trips_through_the_database(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    request = await service.requests.submit(MANAGER, draft(clock.today()), idempotency_key="s1")
    assert request.number == "2026-000001"
    second = await service.requests.submit(
        MANAGER,
        draft(clock.today(), worker_email="eero@laukaa.example.fi"),
        idempotency_key="s2",
    )
    assert second.number == "2026-000002"
    approved = await service.requests.approve(APPROVER, request.id, idempotency_key="a1")
    batch = await service.handoff.queue_for_keha(
        ADMIN, PKS, idempotency_key="q1", request_ids=[request.id]
    )
    await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key="m1")
    done = await service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key="c1")
    assert done.state is RequestState.DONE and approved.version == 2
    view = await service.queries.get_request(MANAGER, request.id)
    assert view.request == done
    assert view.grant is not None and view.grant.state is GrantState.ACTIVE
    assert view.grant.start == request.start and view.grant.end == request.end
    assert view.request.created_at == clock.now()
    assert view.request.created_at.tzinfo is not None
    assert len(view.grant.history) == 1
    assert (await service.queries.verify_audit(ADMIN)).ok
    # Replays return the first result and change nothing.
    before = await snapshot(session_factory)
    assert (
        await service.requests.submit(MANAGER, draft(clock.today()), idempotency_key="s1")
        == (await service.queries.get_request(MANAGER, request.id)).request
    )
    assert await snapshot(session_factory) == before


async def test_failed_command_rolls_everything_back(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    before = await snapshot(session_factory)
    with pytest.raises(PolicyViolations):
        await service.requests.submit(MANAGER, draft(clock.today(), end=None), idempotency_key="x")
    assert await snapshot(session_factory) == before


async def test_numbers_and_queries(session_factory: async_sessionmaker[AsyncSession]) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    made = []
    for i in range(3):
        made.append(
            await service.requests.submit(
                MANAGER,
                draft(clock.today(), worker_email=f"w{i}@laukaa.example.fi"),
                idempotency_key=f"k{i}",
            )
        )
        clock.advance(minutes=1)
    listed = await service.queries.list_requests_for(APPROVER)
    assert [r.id for r in listed] == [r.id for r in reversed(made)]
    clock.advance(days=15)
    expired = await service.jobs.expire(idempotency_key="e")
    assert sorted(r.number for r in expired) == ["2026-000001", "2026-000002", "2026-000003"]
    assert await service.queries.list_requests_for(APPROVER, states=[RequestState.PENDING]) == []


async def test_unit_of_work_rolls_back_without_commit(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(session_factory) as uow:
        assert await uow.requests.next_number(2030) == 1
        assert await uow.requests.next_number(2030) == 2
        sqlite = uow.session.get_bind().dialect.name == "sqlite"
    make = unit_of_work_factory(session_factory)
    async with make() as uow:
        after_rollback = await uow.requests.next_number(2030)
        await uow.commit()
    # SQLite: the number is taken in the command's transaction and rolled back with it.
    # PostgreSQL: it is taken in its own short transaction (no queue behind the counter
    # row), so the rolled-back command's numbers stay used: a gap, never a reuse.
    assert after_rollback == (1 if sqlite else 3)
    async with make() as uow:
        assert await uow.requests.next_number(2030) == after_rollback + 1
        assert await uow.audit.head() is None


async def test_audit_head_follows_the_last_row(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    await service.requests.submit(MANAGER, draft(clock.today()), idempotency_key="h1")
    async with SqlUnitOfWork(session_factory) as uow:
        [entry] = await uow.audit.entries()
        head = await uow.audit.head()
    assert head is not None and (head.seq, head.hash) == (1, entry.hash)


async def test_fresh_database_has_the_seeded_chain_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, seq, hash FROM audit_chain_head"))).all()
    # PostgreSQL tests share one database whose tables are truncated between tests;
    # the head row is then re-created on the first append.
    assert [tuple(r) for r in rows] in ([(1, 0, "0" * 64)], [])
    if engine.dialect.name == "sqlite":
        assert rows


async def test_dates_survive_the_round_trip(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    start = clock.today() - timedelta(days=3)
    request = await service.requests.submit(
        MANAGER,
        draft(clock.today(), start=start, end=start + timedelta(days=1)),
        idempotency_key="d",
    )
    stored = (await service.queries.get_request(MANAGER, request.id)).request
    assert stored.start == start and stored.end == start + timedelta(days=1)
    assert stored.service_areas == ("youth", "guidance")
    assert stored.confirmations == frozenset({"customer_consent_form", "worker_agreement"})


async def test_change_revoke_and_misuse_on_the_database(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    from access.model import RequestDraft, RequestKind, RevokeReason

    clock = FixedClock()
    service = make_service(session_factory, clock)
    today = clock.today()

    async def active(email: str) -> str:
        request = await service.requests.submit(
            MANAGER, draft(today, worker_email=email), idempotency_key=f"s-{email}"
        )
        await service.requests.approve(APPROVER, request.id, idempotency_key=f"a-{email}")
        batch = await service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=f"q-{email}")
        await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=f"m-{email}")
        done = await service.handoff.confirm_row(
            ADMIN, batch.rows[0].id, idempotency_key=f"c-{email}"
        )
        assert done.grant_id is not None
        return done.grant_id

    first = await active("aino@laukaa.example.fi")
    second = await active("eero@laukaa.example.fi")
    change = await service.requests.submit(
        MANAGER,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=first,
            service_areas=("youth",),
            level="record",
            start=today,
            end=today + timedelta(days=60),
            justification="Uudet tehtävät",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key="change",
    )
    revoke = (
        await service.requests.revoke_by_municipality(
            MANAGER, first, RevokeReason.EMPLOYMENT_ENDED, idempotency_key="revoke"
        )
    ).request
    assert revoke is not None
    assert (
        await service.queries.get_request(MANAGER, change.id)
    ).request.state is RequestState.CANCELLED
    misuse = await service.requests.revoke_for_misuse(
        APPROVER, second, "Väärinkäyttö", idempotency_key="x"
    )
    batch = await service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key="q-revokes")
    assert {r.request_id for r in batch.rows} == {revoke.id, misuse.id}
    assert all(r.urgent for r in batch.rows)
    await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key="m-revokes")
    for i, row in enumerate(batch.rows):
        await service.handoff.confirm_row(ADMIN, row.id, idempotency_key=f"c-revokes-{i}")
    grants = await service.queries.list_grants_for(MANAGER, states=None)
    assert {g.id: g.state for g in grants} == {
        first: GrantState.REMOVED,
        second: GrantState.REMOVED,
    }
    assert [e.event.value for e in grants[0].history] == ["opened", "revoking", "removed"]
    result = await service.queries.verify_audit(ADMIN)
    assert result.ok and result.checked == 2 * 5 + 1 + 1 + 1 + 1 + 2 + 2 + 2
