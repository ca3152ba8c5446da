"""Run the Alembic migrations shipped in :mod:`storage.migrations` programmatically.

The Alembic :class:`~alembic.config.Config` is built in code with
``script_location`` pointing at the package directory, so this works from an
installed wheel without any ``alembic.ini``.  All functions take the application's
:class:`~sqlalchemy.ext.asyncio.AsyncEngine` and run Alembic on a sync connection
via ``connection.run_sync`` (SQLite/aiosqlite and PostgreSQL/asyncpg alike).

    await upgrade_to_head(engine)      # idempotent; serialised on PostgreSQL
    head_revision()                    # "0001", ... (the single head of the scripts)
    await current_revision(engine)     # None on an empty database
    await is_at_head(engine)           # readiness check

Later revisions live in ``storage/migrations/versions/NNNN_name.py`` with
``revision = "NNNN"`` and ``down_revision`` = the previous number (first: "0001").
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "is_at_head",
    "upgrade_to_head",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant key for pg_advisory_xact_lock: several bot processes starting
# at once must not run the same migration concurrently.
_PG_MIGRATION_LOCK_KEY = 0x41544D54  # "ATMT"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged scripts, optionally bound to a connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The single head revision of the packaged migration scripts."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected exactly one migration head, found {sorted(heads)}")
    return heads[0]


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
        )
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Migrate the database behind ``engine`` to the head revision (idempotent)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision stamped in the database, or ``None`` if it was never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def is_at_head(engine: AsyncEngine) -> bool:
    """True when the database is migrated to the head of the packaged scripts."""
    return await current_revision(engine) == head_revision()
