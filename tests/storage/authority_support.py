"""Helpers of the authority tests: services on the SQL unit of work and a filled area."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lifecycle_support import ADMIN, APPROVER, MANAGER, VIITASAARI_MANAGER, FixedClock, draft
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.authority import AuthorityService, DirectoryProvider
from access.directory import Directory
from access.model import AccessRequest, Grant, RequestKind, RevokeReason
from access.ports import IdSource, UuidIds
from access.service import AccessService
from storage.authority import authority_unit_of_work_factory
from storage.repositories import unit_of_work_factory

_keys = itertools.count()


def key(label: str = "k") -> str:
    return f"{label}-{next(_keys)}"


@dataclass
class Services:
    access: AccessService
    authority: AuthorityService
    clock: FixedClock
    provider: DirectoryProvider


def make_services(
    session_factory: async_sessionmaker[AsyncSession],
    directory: Directory,
    content: dict[str, Any] | None = None,
    clock: FixedClock | None = None,
    ids: IdSource | None = None,
) -> Services:
    clock = clock or FixedClock()
    provider = DirectoryProvider(directory, content or {})
    access = AccessService(unit_of_work_factory(session_factory), provider, clock, ids or UuidIds())
    authority = AuthorityService(access, authority_unit_of_work_factory(session_factory), provider)
    return Services(access, authority, clock, provider)


async def open_grant(s: Services, n: int, municipality: str = "laukaa") -> Grant:
    """A worker's grant taken all the way to active."""
    manager = MANAGER if municipality == "laukaa" else VIITASAARI_MANAGER
    request = await s.access.requests.submit(
        manager,
        draft(
            s.clock.today(),
            municipality=municipality,
            worker_name=f"Testi Työntekijä{n}",
            worker_email=f"worker{n}@{municipality}.example.fi",
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


async def approved_change(s: Services, grant: Grant) -> AccessRequest:
    request = await s.access.requests.submit(
        MANAGER if grant.municipality == "laukaa" else VIITASAARI_MANAGER,
        draft(
            s.clock.today(),
            kind=RequestKind.CHANGE,
            grant_id=grant.id,
            worker_name="",  # no correction: the grant's name and job title stay
            worker_job_title="",
            service_areas=("youth",),
            level="record",
            end=grant.end - timedelta(days=30),
        ),
        idempotency_key=key("change"),
    )
    return await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("approve"))


async def revoke(s: Services, grant: Grant) -> AccessRequest:
    revocation = await s.access.requests.revoke_by_municipality(
        MANAGER if grant.municipality == "laukaa" else VIITASAARI_MANAGER,
        grant.id,
        RevokeReason.EMPLOYMENT_ENDED,
        "Työsuhde päättyi",
        idempotency_key=key("revoke"),
    )
    assert revocation.request is not None
    return revocation.request


async def all_text(session_factory: async_sessionmaker[AsyncSession]) -> str:
    """Every text value of every table (except Alembic's), lower-cased, for scans."""
    chunks: list[str] = []
    async with session_factory() as session:
        bind = session.bind
        if bind.dialect.name == "sqlite":
            names = [
                r[0]
                for r in await session.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table'")
                )
            ]
        else:
            names = [
                r[0]
                for r in await session.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ]
        for name in names:
            if name == "alembic_version":
                continue
            rows = await session.execute(text(f'SELECT * FROM "{name}"'))
            for row in rows:
                chunks.extend(str(v) for v in row if v is not None)
    return "\n".join(chunks).lower()
