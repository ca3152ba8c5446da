"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg).

``normalize_url`` turns the sync spellings found in configuration
(``sqlite:///var/bot.db``, ``postgresql://...``, ``postgres://...``) into the async
driver URLs SQLAlchemy needs; ``create_engine`` applies per-dialect settings.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

__all__ = [
    "PING_AFTER_IDLE_SECONDS",
    "POOL_CAPACITY",
    "create_engine",
    "create_session_factory",
    "is_sqlite",
    "normalize_url",
    "single_statement_engine",
]

POOL_SIZE = 20
MAX_OVERFLOW = 10
POOL_CAPACITY = POOL_SIZE + MAX_OVERFLOW
"""PostgreSQL connections per process at most (``bot.config`` keeps turns below it)."""

PING_AFTER_IDLE_SECONDS = 10.0
"""A pooled PostgreSQL connection idle this long is pinged before it is used."""

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


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every check-out: a round trip before
    every transaction, about a tenth of a turn's CPU. A connection that
    was just used is alive; one that sat idle may have been closed by a database
    restart, a fail-over or a firewall, so that one is pinged, and a dead one is
    replaced (``DisconnectionError`` makes the pool retry with a new connection).
    A connection that dies while the pool is busy fails one statement, after
    which SQLAlchemy's disconnect handling empties the pool.
    """
    dialect = engine.sync_engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["atmt_idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("atmt_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("idle connection failed its ping") from error
        if alive is False:
            raise exc.DisconnectionError("idle connection failed its ping")

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


def create_engine(
    url: str, *, echo: bool = False, ping_after_idle: float = PING_AFTER_IDLE_SECONDS
) -> AsyncEngine:
    """Create an :class:`AsyncEngine` for ``url`` (sync or async spelling).

    SQLite: foreign keys on, WAL journal, 5 s busy timeout on every connection; the
    parent directory of the database file is created if missing.
    PostgreSQL: a connection idle ``ping_after_idle`` seconds is pinged before use
    (:func:`_ping_idle_connections`), bounded pool, connections recycled after 30
    minutes.
    """
    sa_url = make_url(normalize_url(url))
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            parent = os.path.dirname(os.path.abspath(database))
            os.makedirs(parent, exist_ok=True)
        # Pool as large as PostgreSQL's: an overflow connection closed on return and
        # opened again a moment later costs a thread and the PRAGMAs each time.
        in_memory = not database or database == ":memory:" or "mode=memory" in str(sa_url)
        sizes = {} if in_memory else {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
        engine = _create_async_engine(sa_url, echo=echo, **sizes)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    engine = _create_async_engine(
        sa_url,
        echo=echo,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_timeout=30,
        pool_recycle=1800,
    )
    _ping_idle_connections(engine, ping_after_idle)
    return engine


def single_statement_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for work that is one statement: on PostgreSQL in autocommit, without
    the BEGIN and COMMIT/ROLLBACK round trips around it (one statement is atomic and
    sees one snapshot; its row locks last as long as it does). SQLite: ``engine``."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory bound to ``engine``; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)
