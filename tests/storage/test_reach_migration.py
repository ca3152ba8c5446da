"""Migration 0009: a reference from a channel or group chat is no longer a person's
1:1 chat, so a notification meant for one person never goes to the whole channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.conversation_refs import ConversationRefRepository
from storage.db import create_engine, create_session_factory
from storage.migrations_runner import alembic_config, upgrade_to_head


def _reference(conversation: dict[str, Any] | None) -> str:
    document: dict[str, Any] = {
        "channelId": "msteams",
        "serviceUrl": "https://smba.example/emea/",
        "user": {"id": "29:x", "aadObjectId": "aad"},
    }
    if conversation is not None:
        document["conversation"] = conversation
    return json.dumps(document)


async def test_channel_and_group_chat_references_stop_being_personal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:

        def to_0008(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), "0008")

        async with engine.begin() as connection:
            await connection.run_sync(to_0008)
        rows = {
            "t:personal": _reference({"id": "a:1", "conversationType": "personal"}),
            "t:untyped": _reference({"id": "a:2"}),  # written by a test seed, say
            "t:channel": _reference({"id": "19:c@thread", "conversationType": "channel"}),
            "t:group": _reference({"id": "19:g@thread", "conversationType": "groupChat"}),
            "t:flagged": _reference({"id": "19:x", "isGroup": True}),
            "t:none": _reference(None),
            "t:junk": "not json",
        }
        async with engine.begin() as connection:
            for user_key, reference in rows.items():
                await connection.execute(
                    text(
                        "INSERT INTO conversation_refs (user_key, email, tenant_id, reference,"
                        " locale, updated_at) VALUES (:k, :e, 't', :r, 'fi-FI', '2026-01-01')"
                    ),
                    {"k": user_key, "e": f"{user_key[2:]}@example.fi", "r": reference},
                )
        await upgrade_to_head(engine)

        refs = ConversationRefRepository(create_session_factory(engine))
        personal = {key: (await refs.get(key)) for key in rows if key != "t:junk"}
        assert {key for key, row in personal.items() if row is not None and row.personal} == {
            "t:personal",
            "t:untyped",
        }
        channel = await refs.get_by_email("channel@example.fi")
        assert channel is not None and not channel.personal
        assert channel.reference["conversation"]["id"] == "19:c@thread"  # the JSON is kept
    finally:
        await engine.dispose()
