"""The scheduled jobs inside the bot process: reminders, expiry, escalation, reviews.

Every ``interval`` seconds the task tries to take the database lease of the job
``lifecycle`` (:class:`storage.automation.JobLease`): only when the job is due and no
other process holds the lease. The holder runs every rule once
(:meth:`access.automation.AutomationService.run`) and gives the lease back with the
next due time, so with several bot processes on one PostgreSQL database the job
runs once per interval, in one process. The reminders themselves are also claimed
by unique key, so even an expired lease taken over mid-run cannot duplicate one.

Time comes from the injected :class:`access.ports.Clock`, so tests travel in time.
Logs carry counts and ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from access.automation import AutomationService, RunReport
from access.ports import Clock
from storage.automation import JobLease

if TYPE_CHECKING:
    from bot.composition import Services

__all__ = ["JOB", "Scheduler", "build_scheduler", "default_owner"]

log = logging.getLogger(__name__)

JOB = "lifecycle"


def default_owner() -> str:
    """An id of this process for the lease (host, pid and a random part)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class Scheduler:
    def __init__(
        self,
        automation: AutomationService,
        lease: JobLease,
        clock: Clock,
        *,
        interval: float,
        lease_seconds: float | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.automation = automation
        self.lease = lease
        self.clock = clock
        self.interval = interval
        # long enough for a slow run; a crashed holder's lease runs out after it
        self.lease_seconds = lease_seconds if lease_seconds is not None else max(600.0, interval)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> RunReport | None:
        """Run the job if this process gets its lease; None if it did not."""
        now = self.clock.now()
        if not await self.lease.acquire(JOB, now, timedelta(seconds=self.lease_seconds)):
            return None
        ok = False
        try:
            report = await self.automation.run()
            ok = True
        finally:
            finished = self.clock.now()
            next_run = finished + timedelta(seconds=self.interval) if ok else finished
            await self.lease.release(JOB, finished, next_run, ok=ok)
        log.info(
            "scheduled jobs ran",
            extra={
                "event": "automation_run",
                "reminders": report.reminders,
                "expired": len(report.expired),
                "revoked": len(report.revoked),
            },
        )
        return report

    async def _loop(self) -> None:
        while True:
            # The first run waits one interval, so a starting process (or a test app)
            # answers before it does scheduled work.
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep the scheduler alive; retried next tick
                log.error(
                    "scheduled jobs failed",
                    extra={"event": "automation_failed", "error": type(error).__name__},
                )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="atmt-scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def build_scheduler(services: Services, *, interval: float, owner: str | None = None) -> Scheduler:
    """The scheduler of the process's automation service (``create_app`` uses it)."""
    lease = JobLease(services.sessions, owner or default_owner())
    return Scheduler(services.automation, lease, services.clock, interval=interval)
