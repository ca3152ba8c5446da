"""Download links already redeemed (``download_links_used``): each link works once.

A download link (``bot.downloads``) is a bearer link: whoever holds it gets the file
until it expires (at most ten minutes). Its random id is claimed here with
``INSERT ... ON CONFLICT DO NOTHING`` when the link is used, so a second use (a
forwarded link, a browser history, a proxy log) is refused by every bot process;
PostgreSQL makes a concurrent second insert wait for the first and then skip it.
A row is needed only until its link expires (an expired link is refused by its
signature's expiry anyway): each claim first deletes the rows already expired.

Created by migration ``0006``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from storage.domain_tables import UtcDateTime
from storage.models import Base

__all__ = ["USED_LINKS", "SqlUsedLinks", "UsedLinkRow"]


class UsedLinkRow(Base):
    __tablename__ = "download_links_used"
    __table_args__ = (Index("ix_download_links_used_expires_at", "expires_at"),)  # clean-up

    link_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


def _table() -> Table:
    table = UsedLinkRow.__table__
    assert isinstance(table, Table)
    return table


USED_LINKS = _table()


class SqlUsedLinks:
    """:class:`access.ports.UsedLinks` on SQL; each call is its own transaction."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def use(self, link_id: str, expires_at: datetime, now: datetime) -> bool:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(USED_LINKS).where(USED_LINKS.c.expires_at < now))
            dialect = session.get_bind().dialect.name
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            statement: Any = (
                insert(USED_LINKS)
                .values(link_id=link_id, expires_at=expires_at)
                .on_conflict_do_nothing()
            )
            result = await session.execute(statement)
            return bool(getattr(result, "rowcount", 0) == 1)
