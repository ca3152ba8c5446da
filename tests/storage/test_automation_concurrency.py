"""Two app instances (own engines, own services, own schedulers) on one PostgreSQL
database: with the clock advanced, every reminder is created exactly once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from automation_support import TravelClock, at, key, make_stack, open_grant, outbox, reminder_keys
from lifecycle_support import MANAGER, draft, example_directory
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from access.automation import RunReport
from bot.scheduler import JOB, Scheduler
from storage.automation import REMINDERS, JobLease
from storage.db import create_engine, create_session_factory
from storage.domain_tables import OUTBOX

MONDAY = date(2026, 3, 2)


async def _world(pg_url: str) -> tuple[TravelClock, list[str]]:
    """Two grants ending soon, three pending requests; returns the clock."""
    engine = create_engine(pg_url)
    try:
        s = make_stack(create_session_factory(engine), example_directory(), TravelClock(at(MONDAY)))
        grant_ids = [
            (await open_grant(s, n, end=date(2026, 4, 10) + timedelta(days=n))).id for n in (1, 2)
        ]
        for n in (3, 4, 5):
            await s.access.requests.submit(
                MANAGER,
                draft(MONDAY, worker_email=f"worker{n}@laukaa.example.fi"),
                idempotency_key=key(),
            )
        return s.clock, grant_ids
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_instances_create_each_reminder_exactly_once(pg_url: str) -> None:
    clock, _ = await _world(pg_url)
    engines = [create_engine(pg_url), create_engine(pg_url)]
    try:
        stacks = [
            make_stack(create_session_factory(e), example_directory(), clock) for e in engines
        ]
        totals = RunReport()
        # Day by day over six weeks, both instances run every rule at the same moment
        # (no lease here: the reminders' unique keys alone must hold).
        day = MONDAY
        while day <= date(2026, 4, 20):
            clock.to(day)
            reports = await asyncio.gather(*(s.automation.run() for s in stacks))
            for report in reports:
                totals.expiry_reminders += report.expiry_reminders
                totals.pending_reminders += report.pending_reminders
                totals.escalations += report.escalations
                totals.expired.extend(report.expired)
                totals.revoked.extend(report.revoked)
            day += timedelta(days=1)
        sessions = stacks[0].sessions
        keys = await reminder_keys(sessions)
        # 2 grants x (30-day, 7-day); 3 requests x (reminder, escalation)
        assert (totals.expiry_reminders, totals.pending_reminders, totals.escalations) == (
            4,
            3,
            3,
        )
        assert len(keys) == 10 == len(set(keys))
        assert len(totals.expired) == 3 == len(set(totals.expired))
        assert len(totals.revoked) == 2 == len(set(totals.revoked))
        # the requester and the worker of each of the three
        assert len(await outbox(sessions, "request.expired")) == 6
        assert len(await outbox(sessions, "revoke.due")) == 6  # requester, worker, admin
        assert len(await outbox(sessions, "grant.expiring")) == 8  # requester + worker
        assert len(await outbox(sessions, "request.reminder")) == 3
        assert len(await outbox(sessions, "request.escalated")) == 6  # approver + deputy
    finally:
        for e in engines:
            await e.dispose()


@pytest.mark.postgres
async def test_two_schedulers_one_lease_one_run_per_interval(pg_url: str) -> None:
    clock, _ = await _world(pg_url)
    engines = [create_engine(pg_url), create_engine(pg_url)]
    try:
        schedulers = []
        for n, engine in enumerate(engines):
            sessions = create_session_factory(engine)
            stack = make_stack(sessions, example_directory(), clock)
            schedulers.append(
                Scheduler(stack.automation, JobLease(sessions, f"proc-{n}"), clock, interval=3600)
            )
        runs = 0
        day = MONDAY
        while day <= date(2026, 4, 20):
            clock.to(day)
            results = await asyncio.gather(*(s.run_once() for s in schedulers))
            assert sum(r is not None for r in results) == 1, day  # exactly one ran
            runs += 1
            clock.to(day, hour=9)
            clock.current += timedelta(minutes=30)  # within the interval: nobody runs
            assert await asyncio.gather(*(s.run_once() for s in schedulers)) == [None, None]
            day += timedelta(days=1)
        assert runs == 50
        sessions = async_sessionmaker(engines[0], expire_on_commit=False)
        async with sessions() as session:
            keys = (await session.execute(select(REMINDERS.c.key))).scalars().all()
            idem = (await session.execute(select(OUTBOX.c.idempotency_key))).scalars().all()
        assert len(keys) == 10 == len(set(keys))
        assert len(idem) == len(set(idem))
        state = await schedulers[0].lease.state(JOB)
        assert state is not None and state["leased_by"] is None
        assert state["last_outcome"] == "ok"
    finally:
        for e in engines:
            await e.dispose()
