"""Tampering with audit rows in the database is found, with the row number."""

from __future__ import annotations

import json

import pytest
from lifecycle_support import (
    ADMIN,
    APPROVER,
    MANAGER,
    PKS,
    FixedClock,
    draft,
    make_service,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.audit import content_hash
from access.errors import AccessDenied
from access.service import AccessService
from storage.repositories import SqlUnitOfWork


async def _history(service: AccessService) -> int:
    """Seven audit rows: a grant through KEHA, a denial, and a second request."""
    today = service.clock.today()
    request = await service.requests.submit(MANAGER, draft(today), idempotency_key="1")
    await service.requests.approve(APPROVER, request.id, idempotency_key="2")
    batch = await service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key="3")
    await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key="4")
    await service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key="5")
    with pytest.raises(AccessDenied):
        await service.requests.approve(
            "someone@elsewhere.example.fi", request.id, idempotency_key="6"
        )
    await service.requests.submit(
        MANAGER, draft(today, worker_email="eero@laukaa.example.fi"), idempotency_key="7"
    )
    result = await service.queries.verify_audit(ADMIN)
    assert result.ok and result.checked == 7
    return result.checked


async def _sql(factory: async_sessionmaker[AsyncSession], *statements: str) -> None:
    async with factory() as session:
        for statement in statements:
            await session.execute(text(statement))
        await session.commit()


@pytest.fixture
async def service(session_factory: async_sessionmaker[AsyncSession]) -> AccessService:
    svc = make_service(session_factory, FixedClock())
    await _history(svc)
    return svc


async def test_edited_row_is_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await _sql(session_factory, "UPDATE audit_log SET actor = 'intruder@example.fi' WHERE seq = 3")
    result = await service.queries.verify_audit(ADMIN)
    assert not result.ok
    assert result.first_bad_position == 3
    assert result.reason == "row 3 content altered"


async def test_edited_details_are_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await _sql(
        session_factory,
        "UPDATE audit_log SET details = REPLACE(details, '\"approved\"', '\"rejected\"') "
        "WHERE seq = 2",
    )
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 2)


async def test_edit_with_a_recomputed_hash_is_found_at_the_edited_row(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        row = (await session.execute(text("SELECT * FROM audit_log WHERE seq = 4"))).one()
    async with SqlUnitOfWork(session_factory) as uow:
        entry = (await uow.audit.entries())[3]
    details = dict(entry.details, to="done")
    forged = content_hash(
        seq=4,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        request_id=entry.request_id,
        details=details,
        prev_hash=row.prev_hash,
    )
    async with session_factory() as session:
        await session.execute(
            text("UPDATE audit_log SET details = :d, hash = :h WHERE seq = 4"),
            {"d": json.dumps(details, sort_keys=True), "h": forged},
        )
        await session.commit()
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 4)
    assert "row 4 altered" in (result.reason or "")


async def test_deleted_row_is_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await _sql(session_factory, "DELETE FROM audit_log WHERE seq = 5")
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 5)
    assert result.reason == "row 5 missing (found row 6 in its place)"


async def test_deleted_last_row_is_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await _sql(session_factory, "DELETE FROM audit_log WHERE seq = 7")
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 7)


async def test_swapped_rows_are_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Exchange the row numbers of rows 2 and 3, so reading in order shows them swapped.
    await _sql(
        session_factory,
        "UPDATE audit_log SET seq = -2 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -2",
    )
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 2)


async def test_swapped_contents_are_found(
    service: AccessService, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Exchange everything but the row numbers of rows 5 and 6.
    columns = "at, actor, action, request_id, details, prev_hash, hash"
    async with session_factory() as session:
        five = (await session.execute(text(f"SELECT {columns} FROM audit_log WHERE seq = 5"))).one()
        six = (await session.execute(text(f"SELECT {columns} FROM audit_log WHERE seq = 6"))).one()
        for seq, values in ((5, six), (6, five)):
            await session.execute(
                text(
                    "UPDATE audit_log SET at = :at, actor = :actor, action = :action, "
                    "request_id = :request_id, details = :details, prev_hash = :prev_hash, "
                    "hash = :hash WHERE seq = :seq"
                ),
                {**values._asdict(), "seq": seq},
            )
        await session.commit()
    result = await service.queries.verify_audit(ADMIN)
    assert (result.ok, result.first_bad_position) == (False, 5)
