"""Races on one request: exactly one decision; every loser learns who decided."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lifecycle_support import (
    APPROVER,
    DEPUTY,
    MANAGER,
    MANAGER2,
    FixedClock,
    draft,
    example_directory,
)
from sqlalchemy import NullPool, func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from access.errors import AlreadyDecided, PolicyViolations
from access.model import AccessRequest, DecisionOutcome, RequestState
from access.ports import UuidIds
from access.service import AccessService
from storage.db import normalize_url
from storage.domain_tables import AUDIT, DECISIONS
from storage.repositories import SqlUnitOfWork, unit_of_work_factory

N = 50


@pytest.fixture
async def unpooled(db_url: str) -> AsyncIterator[AsyncEngine]:
    """One connection per session, so 50 calls really run in 50 transactions at once."""
    if db_url.startswith("sqlite"):
        from storage.db import create_engine

        engine = create_engine(db_url)
    else:
        engine = create_async_engine(normalize_url(db_url), poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


class BarrierUnitOfWork(SqlUnitOfWork):
    """Every racer waits at the compare-and-set until all have read the request as
    pending: then all of them try to write the same version at the same moment."""

    barrier: asyncio.Barrier
    cas_results: list[bool]

    async def __aenter__(self) -> BarrierUnitOfWork:
        await super().__aenter__()
        plain_update = self.requests.update

        async def update(request: AccessRequest, *, expected_version: int) -> bool:
            if request.state in (RequestState.APPROVED, RequestState.REJECTED):
                await asyncio.wait_for(self.barrier.wait(), timeout=60)
                won = await plain_update(request, expected_version=expected_version)
                self.cas_results.append(won)
                return won
            return await plain_update(request, expected_version=expected_version)

        self.requests.update = update  # type: ignore[method-assign]
        return self


async def _race(factory: async_sessionmaker[AsyncSession], service: AccessService) -> None:
    request = await service.requests.submit(
        MANAGER, draft(service.clock.today()), idempotency_key="s"
    )

    def call(i: int) -> Any:
        actor = APPROVER if i % 2 == 0 else DEPUTY
        if i % 3 == 0:
            return service.requests.reject(
                actor, request.id, f"Hylätty {i}", idempotency_key=f"k{i}"
            )
        return service.requests.approve(actor, request.id, idempotency_key=f"k{i}")

    results = await asyncio.gather(*(call(i) for i in range(N)), return_exceptions=True)
    unexpected = [r for r in results if not isinstance(r, AccessRequest | AlreadyDecided)]
    assert unexpected == []
    winners = [r for r in results if isinstance(r, AccessRequest)]
    losers = [r for r in results if isinstance(r, AlreadyDecided)]
    assert len(winners) == 1 and len(losers) == N - 1

    view = await service.queries.get_request(MANAGER2, request.id)
    [decision] = view.decisions
    assert view.request == winners[0]
    expected_state = (
        RequestState.APPROVED
        if decision.outcome is DecisionOutcome.APPROVED
        else RequestState.REJECTED
    )
    assert view.request.state is expected_state and view.request.version == 2
    assert {(e.decided_by, e.decided_at, e.outcome) for e in losers} == {
        (decision.actor, decision.at, decision.outcome)
    }
    async with factory() as session:
        decisions = (await session.execute(select(func.count()).select_from(DECISIONS))).scalar()
        audit = (await session.execute(select(func.count()).select_from(AUDIT))).scalar()
    assert decisions == 1
    assert audit == 2  # submitted + the one decision; losers wrote nothing
    async with SqlUnitOfWork(factory) as uow:
        outbox = await uow.outbox.for_request(request.id)
    # submitted: requester, worker, approver, deputy; approved: requester, worker, admin;
    # rejected: requester, worker (in neutral words); returned: requester.
    decided = {
        DecisionOutcome.APPROVED: 3,
        DecisionOutcome.REJECTED: 2,
        DecisionOutcome.RETURNED: 1,
    }[decision.outcome]
    assert len(outbox) == 4 + decided
    assert (await service.queries.verify_audit("admin@pks-area.example.fi")).ok


@pytest.mark.postgres
async def test_fifty_concurrent_decisions_give_one_decision(pg_url: str) -> None:
    # The barrier variant needs concurrent writers: PostgreSQL only.
    unpooled = create_async_engine(normalize_url(pg_url), poolclass=NullPool)
    try:
        await _fifty_with_barrier(unpooled)
    finally:
        await unpooled.dispose()


async def _fifty_with_barrier(unpooled: AsyncEngine) -> None:
    factory = async_sessionmaker(unpooled, expire_on_commit=False)
    barrier = asyncio.Barrier(N)
    cas_results: list[bool] = []

    def make() -> SqlUnitOfWork:
        uow = BarrierUnitOfWork(factory)
        uow.barrier = barrier
        uow.cas_results = cas_results
        return uow

    service = AccessService(make, example_directory(), FixedClock(), UuidIds())
    await _race(factory, service)
    # All 50 read the request as pending and tried the same compare-and-set at once:
    # the database let exactly one through.
    assert sorted(cas_results) == [False] * (N - 1) + [True]


async def test_fifty_concurrent_decisions_without_barrier(unpooled: AsyncEngine) -> None:
    factory = async_sessionmaker(unpooled, expire_on_commit=False)
    service = AccessService(
        unit_of_work_factory(factory), example_directory(), FixedClock(), UuidIds()
    )
    await _race(factory, service)


async def test_concurrent_submits_for_one_worker_give_one_request(unpooled: AsyncEngine) -> None:
    factory = async_sessionmaker(unpooled, expire_on_commit=False)
    service = AccessService(
        unit_of_work_factory(factory), example_directory(), FixedClock(), UuidIds()
    )
    today = service.clock.today()
    results = await asyncio.gather(
        *(
            service.requests.submit(actor, draft(today), idempotency_key=f"s{i}")
            for i, actor in enumerate([MANAGER, MANAGER2] * 10)
        ),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, AccessRequest)]
    refused = [r for r in results if isinstance(r, PolicyViolations)]
    assert len(made) == 1 and len(refused) == 19, results
    assert {v.code for e in refused for v in e.violations} == {"grant.duplicate"}


async def test_concurrent_retries_with_one_key_give_one_request(unpooled: AsyncEngine) -> None:
    factory = async_sessionmaker(unpooled, expire_on_commit=False)
    service = AccessService(
        unit_of_work_factory(factory), example_directory(), FixedClock(), UuidIds()
    )
    today = service.clock.today()
    results = await asyncio.gather(
        *(
            service.requests.submit(MANAGER, draft(today), idempotency_key="double-click")
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, AccessRequest) for r in results), results
    assert len({r.id for r in results if isinstance(r, AccessRequest)}) == 1
    async with factory() as session:
        count = (await session.execute(select(func.count()).select_from(AUDIT))).scalar()
    assert count == 1
