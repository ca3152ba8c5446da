"""Shared fixtures: a migrated database per test, on SQLite and PostgreSQL.

How to use
----------
* ``db_url`` -- parametrized ``[sqlite, postgres]``: every test that uses it (directly
  or through ``engine`` / ``session_factory``) runs twice.  The URL is in the sync
  spelling (``sqlite:///...`` / ``postgresql://...``); pass it to
  ``storage.db.create_engine``, which normalizes it.  The schema is already at the
  Alembic head.
* ``pg_url`` -- PostgreSQL only (same database and isolation as ``db_url``'s postgres
  case), for tests of what only PostgreSQL does, such as concurrent writers.
* ``engine`` -- a fresh ``AsyncEngine`` on ``db_url`` for this test (disposed after).
* ``session_factory`` -- ``async_sessionmaker[AsyncSession]`` on ``engine``.
* Isolation: SQLite gets a fresh copy of a once-migrated template file per test;
  PostgreSQL uses one database per session (``atmt_test_<random>``, created and
  migrated once, dropped at the end) and every table except ``alembic_version`` is
  truncated after each test.  Do not keep connections open past your test.
* PostgreSQL server: ``TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``
  (only used to create/drop the session database).  Unreachable -> the postgres
  tests are skipped, or fail when ``CI=true``.  Select with ``-m postgres`` /
  ``-m "not postgres"`` or ``-k sqlite``.
* Event loops are function-scoped: session setup runs its own loop in a worker
  thread (``_run``), never in the test's loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.db import create_engine, create_session_factory, normalize_url
from storage.migrations_runner import upgrade_to_head

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a worker thread.

    Keeps session-scoped setup/teardown away from pytest-asyncio's per-test loops
    (``asyncio.run`` in the main thread would reset the current event loop).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pytest_configure(config: pytest.Config) -> None:
    """The framework patches, as every entry point of the bot applies them."""
    from bot import patches

    patches.apply()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run on one xdist worker, one after the other: they share the
    Playground set-up and two Chromiums at once would only slow each other down."""
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("browser"))


# --------------------------------------------------------------------------- SQLite


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        if engine.dialect.name == "sqlite":
            async with engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _run(_migrate(f"sqlite:///{path}"))
    return path


# ----------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class _PostgresDb:
    url: str | None  # sync spelling, None when the server is unreachable
    error: str | None


def _admin_engine(server_url: str) -> AsyncEngine:
    return create_async_engine(
        normalize_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


async def _create_database(server_url: str, name: str) -> None:
    engine = _admin_engine(server_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _drop_database(server_url: str, name: str) -> None:
    engine = _admin_engine(server_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        await engine.dispose()


async def _probe(server_url: str) -> None:
    engine = create_async_engine(
        normalize_url(server_url), poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def _postgres_db() -> Iterator[_PostgresDb]:
    """Create + migrate ``atmt_test_<random>`` once per session; drop it at the end."""
    server_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
    try:
        _run(_probe(server_url))
    except Exception as exc:  # any connect error means "unreachable"
        yield _PostgresDb(None, f"PostgreSQL at {_redact(server_url)} unreachable: {exc!r}")
        return
    name = f"atmt_test_{uuid.uuid4().hex[:12]}"
    _run(_create_database(server_url, name))
    try:
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        _run(_migrate(url))
        yield _PostgresDb(url, None)
    finally:
        _run(_drop_database(server_url, name))


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _truncate_all(url: str) -> None:
    engine = create_async_engine(normalize_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            # Fail loudly instead of hanging if a test left a transaction open.
            await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            rows = await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            )
            tables = [f'"{row[0]}"' for row in rows]
            if tables:
                await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------- fixtures


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database migrated to head, empty, private to this test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "bot.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return

    yield from _postgres_url(request)


def _postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    pg: _PostgresDb = request.getfixturevalue("_postgres_db")
    if pg.url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{pg.error} (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(pg.error or "PostgreSQL unreachable")
    try:
        yield pg.url
    finally:
        _run(_truncate_all(pg.url))


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Like ``db_url`` but PostgreSQL only, for tests of what only PostgreSQL does
    (concurrent writers, row locks).  Mark such tests ``@pytest.mark.postgres``."""
    yield from _postgres_url(request)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A new AsyncEngine on the migrated test database, disposed after the test."""
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)
