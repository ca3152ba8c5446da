"""Repository of conversation references (``conversation_refs``), one row per user.

The bot saves the reference of every turn here (for proactive messages later) and
caches the user's work e-mail once resolved from Teams (``TeamsInfo.get_member``).

* ``user_key`` is ``"<tenant id>:<Entra object id>"`` (``bot.identity.user_key_of``;
  migration ``0005``); people without both have no row.
* ``save`` is an upsert; an ``email`` of ``None`` keeps the e-mail already stored,
  so a turn never forgets a resolved address (likewise tenant, locale, chosen locale).
* ``locale`` is the Teams client's locale of the last turn, ``chosen_locale`` the
  language the user chose with the bot.
* E-mail addresses are stored lower-cased and stripped.
* ``personal`` (migration ``0009``): ``save`` stores a 1:1 chat; ``save_member`` a
  person met in a team or group chat, whose row never replaces a stored 1:1 chat
  (only fills in what is missing). ``get_by_email`` prefers a 1:1 chat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Select, Table, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.addresses import normalize_email
from access.ports import StoredConversationRef
from storage.db import single_statement_engine
from storage.models import ConversationRef, utcnow

__all__ = ["ConversationRefRepository", "StoredConversationRef"]

_TABLE = cast(Table, ConversationRef.__table__)


_COLUMNS = (
    _TABLE.c.user_key,
    _TABLE.c.email,
    _TABLE.c.tenant_id,
    _TABLE.c.reference,
    _TABLE.c.locale,
    _TABLE.c.updated_at,
    _TABLE.c.chosen_locale,
    _TABLE.c.personal,
)


def _row_to_ref(row: Any) -> StoredConversationRef:
    loaded = json.loads(row.reference)
    return StoredConversationRef(
        user_key=row.user_key,
        email=row.email,
        tenant_id=row.tenant_id,
        reference=loaded if isinstance(loaded, dict) else {},
        locale=row.locale,
        updated_at=row.updated_at,
        chosen_locale=row.chosen_locale,
        personal=bool(row.personal),
    )


class ConversationRefRepository:
    """:class:`access.ports.ConversationRefs` on SQL; each call is its own transaction."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory
        engine = session_factory.kw.get("bind")
        # Reads are single statements: on PostgreSQL they run without BEGIN/ROLLBACK.
        self._reader: AsyncEngine | None = (
            single_statement_engine(engine) if isinstance(engine, AsyncEngine) else None
        )

    async def _read_one(self, statement: Select[Any]) -> StoredConversationRef | None:
        if self._reader is None:
            async with self._sessions() as session:
                found = (await session.execute(statement)).first()
        else:
            async with self._reader.connect() as conn:
                found = (await conn.execute(statement)).first()
        return None if found is None else _row_to_ref(found)

    async def save(
        self,
        *,
        user_key: str,
        reference: Mapping[str, Any],
        tenant_id: str | None = None,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None:
        """Insert or update the user's reference; ``None`` keeps a stored value."""
        await self._upsert(
            personal=True,
            user_key=user_key,
            reference=reference,
            tenant_id=tenant_id,
            locale=locale,
            email=email,
            chosen_locale=chosen_locale,
        )

    async def save_member(
        self,
        *,
        user_key: str,
        reference: Mapping[str, Any],
        tenant_id: str | None = None,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None:
        """Insert or update a person met outside a 1:1 chat; a stored 1:1 reference
        stays, ``None`` keeps a stored value."""
        await self._upsert(
            personal=False,
            user_key=user_key,
            reference=reference,
            tenant_id=tenant_id,
            locale=locale,
            email=email,
            chosen_locale=chosen_locale,
        )

    async def _upsert(
        self,
        *,
        personal: bool,
        user_key: str,
        reference: Mapping[str, Any],
        tenant_id: str | None,
        locale: str | None,
        email: str | None,
        chosen_locale: str | None,
    ) -> None:
        """One row per person: a 1:1 reference (``personal``) always replaces the stored
        one; a member's reference only fills a row that has no 1:1 reference yet."""
        document = json.dumps(dict(reference), separators=(",", ":"), ensure_ascii=False)
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            stmt = insert(_TABLE).values(
                user_key=user_key,
                email=normalize_email(email or "") or None,
                tenant_id=tenant_id,
                reference=document,
                locale=locale,
                chosen_locale=chosen_locale,
                personal=personal,
                updated_at=utcnow(),
            )
            kept: dict[str, Any] = (
                {"reference": stmt.excluded.reference, "personal": True}
                if personal
                else {
                    "reference": case(
                        (_TABLE.c.personal, _TABLE.c.reference),
                        else_=stmt.excluded.reference,
                    )
                }
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_key"],
                    set_={
                        **kept,
                        "tenant_id": func.coalesce(stmt.excluded.tenant_id, _TABLE.c.tenant_id),
                        "locale": func.coalesce(stmt.excluded.locale, _TABLE.c.locale),
                        "chosen_locale": func.coalesce(
                            stmt.excluded.chosen_locale, _TABLE.c.chosen_locale
                        ),
                        "email": func.coalesce(stmt.excluded.email, _TABLE.c.email),
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )

    async def set_email(self, user_key: str, email: str) -> bool:
        """Cache a resolved e-mail; False when the user has no row yet."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(ConversationRef)
                .where(ConversationRef.user_key == user_key)
                .values(email=normalize_email(email) or None, updated_at=utcnow())
                .returning(ConversationRef.user_key)
            )
            return result.first() is not None

    async def get(self, user_key: str) -> StoredConversationRef | None:
        return await self._read_one(select(*_COLUMNS).where(_TABLE.c.user_key == user_key))

    async def get_by_email(self, email: str) -> StoredConversationRef | None:
        """The most recently used reference of the user with this e-mail."""
        wanted = normalize_email(email)
        if not wanted:
            return None
        return await self._read_one(
            select(*_COLUMNS)
            .where(_TABLE.c.email == wanted)
            .order_by(_TABLE.c.personal.desc(), _TABLE.c.updated_at.desc())
            .limit(1)
        )

    async def newest_in_tenant(self, tenant_id: str) -> StoredConversationRef | None:
        """The most recently updated reference in ``tenant_id`` (its Teams service)."""
        if not tenant_id:
            return None
        return await self._read_one(
            select(*_COLUMNS)
            .where(func.lower(_TABLE.c.tenant_id) == tenant_id.strip().lower())
            .order_by(_TABLE.c.updated_at.desc())
            .limit(1)
        )
