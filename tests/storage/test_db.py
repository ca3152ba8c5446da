"""Engines: a connection the database dropped while it sat in the pool is replaced.

The PostgreSQL engine pings only connections that sat idle (``storage.db``), instead of
one round trip before every transaction. These tests close the server side of pooled
connections (as a database restart or fail-over does) and check that the bot's next
queries still work.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import NullPool, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.db import create_engine, normalize_url

pytestmark = pytest.mark.postgres


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pg_url: str, pid: int) -> None:
    admin = create_async_engine(normalize_url(pg_url), poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(
    pg_url: str,
) -> None:
    engine = create_engine(pg_url, ping_after_idle=0.05)
    try:
        first = await _backend_pid(engine)
        await _terminate(pg_url, first)
        await asyncio.sleep(0.1)  # idle longer than ping_after_idle
        second = await _backend_pid(engine)  # no error: pinged, found dead, replaced
        assert second != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_the_server_closed_fails_once_then_the_pool_recovers(
    pg_url: str,
) -> None:
    engine = create_engine(pg_url, ping_after_idle=3600)
    try:
        first = await _backend_pid(engine)
        await _terminate(pg_url, first)
        with pytest.raises(exc.DBAPIError) as raised:
            await _backend_pid(engine)  # not pinged: it was used a moment ago
        assert raised.value.connection_invalidated
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url: str) -> None:
    engine = create_engine(pg_url, ping_after_idle=0.2)
    dialect = engine.sync_engine.dialect
    pings: list[object] = []
    real_ping = dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == []  # one round trip per transaction saved
        await asyncio.sleep(0.3)
        await _backend_pid(engine)
        assert len(pings) == 1  # after sitting idle it is checked first
    finally:
        await engine.dispose()
