"""Helpers of the automation tests: a Finnish clock that travels, services on SQL."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import yaml
from lifecycle_support import ADMIN, APPROVER, EXAMPLE, MANAGER, draft
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.automation import AutomationService
from access.directory import Directory, parse_directory
from access.model import Grant
from access.ports import HELSINKI, UuidIds
from access.review import ReviewService
from access.service import AccessService
from storage.automation import REMINDERS, automation_unit_of_work_factory
from storage.domain_tables import OUTBOX
from storage.repositories import unit_of_work_factory

_keys = itertools.count()


def key(label: str = "k") -> str:
    return f"{label}-{next(_keys)}"


class TravelClock:
    """A settable clock whose dates are Finnish dates (like ``SystemClock``)."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.astimezone(HELSINKI).date()

    def to(self, day: date, hour: int = 9) -> None:
        """Travel to ``day`` at ``hour`` o'clock Finnish time."""
        self.current = datetime.combine(day, time(hour), tzinfo=HELSINKI).astimezone(UTC)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=HELSINKI).astimezone(UTC)


def directory_with(
    automation: dict[str, Any] | None = None, **municipality_changes: dict[str, Any]
) -> Directory:
    """The example directory with some municipalities' keys changed (and every area's
    ``automation`` block set to ``automation``)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for area in data["areas"]:
        if automation is not None:
            area["automation"] = automation
        for municipality in area["municipalities"]:
            municipality.update(municipality_changes.get(municipality["code"], {}))
    return parse_directory(data)


@dataclass
class Stack:
    access: AccessService
    automation: AutomationService
    clock: TravelClock
    sessions: async_sessionmaker[AsyncSession]
    reviews: ReviewService


def make_stack(
    sessions: async_sessionmaker[AsyncSession], directory: Directory, clock: TravelClock
) -> Stack:
    access = AccessService(unit_of_work_factory(sessions), directory, clock, UuidIds())
    uow_factory = automation_unit_of_work_factory(sessions)
    reviews = ReviewService(uow_factory, directory, clock, UuidIds(), access.requests)
    automation = AutomationService(uow_factory, directory, clock, UuidIds(), access.jobs, reviews)
    return Stack(access, automation, clock, sessions, reviews)


async def open_grant(s: Stack, n: int, *, end: date) -> Grant:
    """A Laukaa worker's grant taken all the way to active, ending ``end``."""
    request = await s.access.requests.submit(
        MANAGER,
        draft(
            s.clock.today(),
            worker_name=f"Testi Työntekijä{n}",
            worker_email=f"worker{n}@laukaa.example.fi",
            end=end,
        ),
        idempotency_key=key("submit"),
    )
    await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("approve"))
    batch = await s.access.handoff.queue_for_keha(
        ADMIN, request.area, idempotency_key=key("q"), request_ids=[request.id]
    )
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    done = await s.access.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=key("c"))
    view = await s.access.queries.get_request(ADMIN, done.id)
    assert view.grant is not None
    return view.grant


async def outbox(
    sessions: async_sessionmaker[AsyncSession], template: str | None = None
) -> list[tuple[str, str, str]]:
    """(template, audience, recipient) of the outbox rows, oldest first."""
    statement = select(OUTBOX.c.template, OUTBOX.c.audience, OUTBOX.c.recipient).order_by(
        OUTBOX.c.created_at, OUTBOX.c.template, OUTBOX.c.audience, OUTBOX.c.recipient
    )
    if template is not None:
        statement = statement.where(OUTBOX.c.template == template)
    async with sessions() as session:
        return [(r[0], r[1], r[2]) for r in (await session.execute(statement)).all()]


async def reminder_keys(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(REMINDERS.c.key).order_by(REMINDERS.c.key))
        return [str(r[0]) for r in rows]
