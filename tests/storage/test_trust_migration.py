"""Migrations 0005 and 0006 (trust): conversation references re-keyed by tenant and
Entra object id, references a sender on another channel could have written dropped;
the table of used download links, whose expired rows are cleaned up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.conversation_refs import ConversationRefRepository
from storage.db import create_engine, create_session_factory
from storage.download_links import USED_LINKS, SqlUsedLinks
from storage.migrations_runner import alembic_config, upgrade_to_head

TENANT = "00000000-0000-0000-0000-0000000000AA"
AAD = "00000000-0000-0000-0000-0000000000A2"


def _reference(channel: str, user: dict[str, Any], tenant: str | None = TENANT) -> str:
    conversation: dict[str, Any] = {"id": f"a:{channel}-1"}
    if tenant is not None:
        conversation["tenantId"] = tenant
    return json.dumps(
        {
            "channelId": channel,
            "serviceUrl": f"https://{channel}.example/",
            "user": user,
            "conversation": conversation,
        }
    )


def _to(revision: str) -> Any:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return upgrade


async def test_references_are_rekeyed_and_foreign_channel_rows_dropped(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to("0004"))
        rows = [
            # (user_key, email, tenant_id, reference, updated_at)
            (AAD, "contact@pks-area.example.fi", TENANT,
             _reference("msteams", {"id": "29:a", "aadObjectId": AAD}), "2026-01-01 10:00:00"),
            # Web Chat, from.id = the approver's object id: the row the attack wrote.
            (AAD.lower(), "contact@pks-area.example.fi", TENANT,
             _reference("webchat", {"id": AAD}), "2026-01-02 10:00:00"),
            ("29:no-aad", "x@laukaa.example.fi", TENANT,
             _reference("msteams", {"id": "29:no-aad"}), "2026-01-01 10:00:00"),
            ("aad-without-tenant", None, None,
             _reference("msteams", {"id": "29:c", "aadObjectId": "aad-c"}, tenant=None),
             "2026-01-01 10:00:00"),
            ("aad-d", "d@laukaa.example.fi", None,
             _reference("msteams", {"id": "29:d", "aadObjectId": "AAD-D"}),
             "2026-01-01 10:00:00"),
        ]  # fmt: skip
        async with engine.begin() as connection:
            for row in rows:
                await connection.execute(
                    text(
                        "INSERT INTO conversation_refs (user_key, email, tenant_id, reference,"
                        " locale, updated_at) VALUES (:k, :e, :t, :r, 'fi-FI', :u)"
                    ),
                    dict(zip("ketru", row, strict=True)),
                )
        await upgrade_to_head(engine)

        refs = ConversationRefRepository(create_session_factory(engine))
        approver = await refs.get(f"{TENANT.lower()}:{AAD.lower()}")
        assert approver is not None and approver.reference["channelId"] == "msteams"
        assert approver.email == "contact@pks-area.example.fi"
        d = await refs.get(f"{TENANT.lower()}:aad-d")  # tenant from the reference
        assert d is not None and d.email == "d@laukaa.example.fi" and d.locale == "fi-FI"
        async with engine.connect() as connection:
            keys = sorted(
                (await connection.execute(text("SELECT user_key FROM conversation_refs"))).scalars()
            )
        assert keys == sorted([f"{TENANT.lower()}:aad-d", f"{TENANT.lower()}:{AAD.lower()}"])
        found = await refs.get_by_email("contact@pks-area.example.fi")
        assert found is not None and found.reference["serviceUrl"] == "https://msteams.example/"
    finally:
        await engine.dispose()


async def test_a_download_link_id_is_used_once_and_expired_ids_are_cleaned_up(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    used = SqlUsedLinks(session_factory)
    now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    later = now + timedelta(minutes=10)
    assert await used.use("link-1", later, now)
    assert not await used.use("link-1", later, now)  # the second use
    assert await used.use("link-2", now + timedelta(minutes=1), now)
    # Eleven minutes on, both links have expired: their rows go with the next use.
    assert await used.use("link-3", now + timedelta(minutes=21), now + timedelta(minutes=11))
    async with session_factory() as session:
        count = (await session.execute(select(func.count()).select_from(USED_LINKS))).scalar()
    assert count == 1
