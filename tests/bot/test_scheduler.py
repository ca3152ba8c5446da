"""The scheduler inside the bot process: started and stopped with the app, one lease
per job, runs only when due, takes over a lease left by a crashed process."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from conftest import StartBot
from fakes.botapp import make_settings
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.automation import AutomationService
from access.directory import Directory
from access.model import RequestDraft, RequestKind
from access.ports import HELSINKI, UuidIds
from access.service import AccessService
from bot.app import RUNTIME
from bot.scheduler import JOB, Scheduler
from storage.automation import JobLease, automation_unit_of_work_factory
from storage.domain_tables import OUTBOX
from storage.repositories import unit_of_work_factory

MANAGER = "manager@laukaa.example.fi"


class Clock:
    def __init__(self, day: date) -> None:
        self.current = datetime.combine(day, time(9), tzinfo=HELSINKI).astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.astimezone(HELSINKI).date()


def _draft(day: date) -> RequestDraft:
    return RequestDraft(
        kind=RequestKind.GRANT,
        municipality="laukaa",
        worker_name="Ville Esimerkki",
        worker_email="ville.esimerkki@laukaa.example.fi",
        worker_job_title="Ohjaaja",
        service_areas=("youth",),
        level="view",
        start=day,
        end=day + timedelta(days=90),
        justification="Ohjaamo",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )


def _scheduler(
    sessions: async_sessionmaker[AsyncSession], directory: Directory, clock: Clock, owner: str
) -> Scheduler:
    access = AccessService(unit_of_work_factory(sessions), directory, clock, UuidIds())
    automation = AutomationService(
        automation_unit_of_work_factory(sessions), directory, clock, UuidIds(), access.jobs
    )
    return Scheduler(automation, JobLease(sessions, owner), clock, interval=600)


async def _count(sessions: async_sessionmaker[AsyncSession], template: str) -> int:
    async with sessions() as session:
        statement = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.template == template)
        return int((await session.execute(statement)).scalar_one())


async def test_runs_when_due_once_per_interval(
    session_factory: async_sessionmaker[AsyncSession], directory: Directory
) -> None:
    clock = Clock(date(2026, 4, 2))  # Thursday before Good Friday
    first = _scheduler(session_factory, directory, clock, "proc-a")
    second = _scheduler(session_factory, directory, clock, "proc-b")
    access = AccessService(unit_of_work_factory(session_factory), directory, clock, UuidIds())
    await access.requests.submit(MANAGER, _draft(clock.today()), idempotency_key="s-1")
    assert await first.run_once() is not None
    assert await second.run_once() is None  # not due again within the interval
    clock.current += timedelta(minutes=9)
    assert await first.run_once() is None
    clock.current = datetime.combine(date(2026, 4, 7), time(9), tzinfo=HELSINKI)
    report = await second.run_once()
    assert report is not None and report.pending_reminders == 1
    assert await _count(session_factory, "request.reminder") == 1
    clock.current += timedelta(minutes=10)
    report = await first.run_once()
    assert report is not None and report.reminders == 0


async def test_a_crashed_holder_blocks_until_its_lease_runs_out(
    session_factory: async_sessionmaker[AsyncSession], directory: Directory
) -> None:
    clock = Clock(date(2026, 3, 2))
    crashed = JobLease(session_factory, "crashed")
    assert await crashed.acquire(JOB, clock.now(), timedelta(minutes=10))
    other = _scheduler(session_factory, directory, clock, "proc-b")
    assert await other.run_once() is None
    clock.current += timedelta(minutes=11)
    assert await other.run_once() is not None
    state = await other.lease.state(JOB)
    assert state is not None
    assert state["leased_by"] is None and state["last_outcome"] == "ok"


async def test_a_failing_run_gives_the_lease_back_and_is_retried(
    session_factory: async_sessionmaker[AsyncSession], directory: Directory
) -> None:
    clock = Clock(date(2026, 3, 2))
    scheduler = _scheduler(session_factory, directory, clock, "proc-a")

    async def broken() -> None:
        raise RuntimeError("database went away")

    real = scheduler.automation.run
    scheduler.automation.run = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError):
        await scheduler.run_once()
    state = await scheduler.lease.state(JOB)
    assert state is not None and state["last_outcome"] == "failed"
    assert state["leased_by"] is None
    scheduler.automation.run = real  # type: ignore[method-assign]
    assert await scheduler.run_once() is not None  # due again at once


async def test_the_app_starts_and_stops_its_scheduler(db_url: str, start_bot: StartBot) -> None:
    clock = Clock(date(2026, 4, 2))
    server = await start_bot(make_settings(db_url, scheduler_interval=600), clock=clock)
    runtime = server.app[RUNTIME]
    scheduler = runtime.scheduler
    assert scheduler is not None and scheduler.clock is clock
    assert runtime.service is not None
    await runtime.service.requests.submit(MANAGER, _draft(clock.today()), idempotency_key="app-1")
    clock.current = datetime.combine(date(2026, 4, 7), time(9), tzinfo=HELSINKI)
    report = await scheduler.run_once()
    assert report is not None and report.pending_reminders == 1
    await server.close()
    assert runtime.scheduler is None


async def test_the_scheduler_can_be_turned_off(db_url: str, start_bot: StartBot) -> None:
    server = await start_bot(make_settings(db_url, scheduler_enabled=False))
    assert server.app[RUNTIME].scheduler is None
