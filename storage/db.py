"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg).

``normalize_url`` turns the sync spellings found in configuration
(``sqlite:///var/bot.db``, ``postgresql://...``, ``postgres://...``) into the async
driver URLs SQLAlchemy needs; ``create_engine`` applies per-dialect settings.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

__all__ = ["create_engine", "create_session_factory", "is_sqlite", "normalize_url"]

_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
)


def normalize_url(url: str) -> str:
    """Return the async-driver form of a database URL.

    ``sqlite://...`` -> ``sqlite+aiosqlite://...``; ``postgresql://`` and
    ``postgres://`` -> ``postgresql+asyncpg://``.  URLs that already name a driver
    (``sqlite+aiosqlite``, ``postgresql+asyncpg``) are returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    lowered = scheme.lower()
    if lowered == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if lowered in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return url


def is_sqlite(url_or_engine: str | AsyncEngine) -> bool:
    """True when the URL or engine talks to SQLite."""
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine.dialect.name == "sqlite"
    return normalize_url(url_or_engine).lower().startswith("sqlite")


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create an :class:`AsyncEngine` for ``url`` (sync or async spelling).

    SQLite: foreign keys on, WAL journal, 5 s busy timeout on every connection; the
    parent directory of the database file is created if missing.
    PostgreSQL: pre-ping, bounded pool, connections recycled after 30 minutes.
    """
    sa_url = make_url(normalize_url(url))
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            parent = os.path.dirname(os.path.abspath(database))
            os.makedirs(parent, exist_ok=True)
        engine = _create_async_engine(sa_url, echo=echo)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    return _create_async_engine(
        sa_url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        pool_recycle=1800,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory bound to ``engine``; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)
