from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, normalize_url
from storage.migrations_runner import (
    alembic_config,
    current_revision,
    head_revision,
    is_at_head,
    upgrade_to_head,
)


def _now(engine: AsyncEngine) -> object:
    """Now, as a raw SQL parameter: SQLite gets SQLAlchemy's text form (Python 3.12+
    deprecates sqlite3's own datetime adapter), PostgreSQL a datetime."""
    now = datetime.now(UTC)
    if engine.dialect.name == "sqlite":
        return now.replace(tzinfo=None).isoformat(" ")
    return now


def test_head_revision_is_single_and_chains_from_0001() -> None:
    assert head_revision()  # raises on several heads


async def test_fixture_database_is_at_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    assert await is_at_head(engine)

    def table_names(sync_conn: object) -> set[str]:
        return set(inspect(sync_conn).get_table_names())

    async with engine.connect() as conn:
        names = await conn.run_sync(table_names)
    assert {"alembic_version", "bot_state", "conversation_refs"} <= names


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    await upgrade_to_head(engine)
    assert await is_at_head(engine)


async def test_fresh_sqlite_database_migrates_to_head(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'fresh.db'}")
    try:
        assert await current_revision(eng) is None
        assert not await is_at_head(eng)
        await upgrade_to_head(eng)
        assert await current_revision(eng) == head_revision()
        assert await is_at_head(eng)
    finally:
        await eng.dispose()


async def test_sqlite_pragmas_are_set(tmp_path: Path) -> None:
    from sqlalchemy import text

    eng = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with eng.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
    finally:
        await eng.dispose()


def test_normalize_url() -> None:
    assert normalize_url("sqlite:///var/bot.db") == "sqlite+aiosqlite:///var/bot.db"
    assert normalize_url("sqlite:////abs/bot.db") == "sqlite+aiosqlite:////abs/bot.db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgres://u:p@h:5432/db") == "postgresql+asyncpg://u:p@h:5432/db"
    for already in ("sqlite+aiosqlite:///x.db", "postgresql+asyncpg://u@h/db"):
        assert normalize_url(already) == already


async def test_0006_copies_languages_chosen_in_user_state_to_the_references(
    engine: AsyncEngine,
) -> None:
    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0005")

    def upgrade(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), "0006")

    def reference(user_id: str) -> str:
        return json.dumps({"channelId": "msteams", "user": {"id": user_id}})

    now = _now(engine)
    states = {
        "msteams/users/29:chose": {"Preferences": {"locale": "sv"}, "Other": {"x": 1}},
        "msteams/users/29:other": {"Other": {"x": 1}},
        "msteams/conversations/a:1": {"Preferences": {"locale": "en"}},
    }
    refs = {
        "aad-chose": reference("29:chose"),
        "aad-other": reference("29:other"),
        "aad-no-state": reference("29:no-state"),
        "aad-odd": json.dumps(["not", "a", "reference"]),
    }
    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    try:
        async with engine.begin() as conn:
            for key, state in states.items():
                await conn.execute(
                    text(
                        "INSERT INTO bot_state (key, document, etag, updated_at)"
                        " VALUES (:key, :document, 'e', :now)"
                    ),
                    {"key": key, "document": json.dumps(state), "now": now},
                )
            for user_key, document in refs.items():
                await conn.execute(
                    text(
                        "INSERT INTO conversation_refs (user_key, reference, locale, updated_at)"
                        " VALUES (:user_key, :reference, 'fi-FI', :now)"
                    ),
                    {"user_key": user_key, "reference": document, "now": now},
                )
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT user_key, chosen_locale FROM conversation_refs"))
        chosen = dict(rows.all())
    assert chosen == {"aad-chose": "sv", "aad-other": None, "aad-no-state": None, "aad-odd": None}
    await upgrade_to_head(engine)  # the later revisions on top (people keyed by tenant too)
    assert await is_at_head(engine)


async def test_0009_converts_jsonpickled_dialog_state_to_plain_json(engine: AsyncEngine) -> None:
    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0008")

    def upgrade(conn: Connection, to: str = "head") -> None:
        command.upgrade(alembic_config(conn), to)

    state = "botbuilder.dialogs.dialog_state.DialogState"
    instance = "botbuilder.dialogs.dialog_instance.DialogInstance"
    legacy = {  # what jsonpickle wrote (keys=True) for the request form waiting for input
        "DialogState": {
            "py/object": state,
            "_dialog_stack": [
                {
                    "py/object": instance,
                    "id": "inner",
                    "state": {"attempts": 1, "pair": {"py/tuple": [1, "a"]}},
                },
                {
                    "py/object": instance,
                    "id": "outer",
                    "state": {
                        "dialogs": {"py/object": state, "_dialog_stack": []},
                        "values": {"municipality": "laukaa", "names": ["Ö", "ä"]},
                    },
                },
            ],
        },
        "Welcome": {"sent": True},
    }
    plain = {
        "DialogState": {
            "dialogStack": [
                {"id": "inner", "state": {"attempts": 1, "pair": [1, "a"]}},
                {
                    "id": "outer",
                    "state": {
                        "dialogs": {"dialogStack": []},
                        "values": {"municipality": "laukaa", "names": ["Ö", "ä"]},
                    },
                },
            ]
        },
        "Welcome": {"sent": True},
    }
    rows = {
        "msteams/conversations/a:legacy": legacy,
        "msteams/conversations/a:shared": {  # a shared reference: cannot be read
            "DialogState": {
                "py/object": state,
                "_dialog_stack": [
                    {"py/object": instance, "id": "d", "state": {"a": {}, "b": {"py/id": 3}}}
                ],
            }
        },
        "msteams/conversations/a:int-key": {"Other": {"json://1": "x"}},
        "msteams/users/29:plain": {"Preferences": {"locale": "sv"}},
    }
    now = _now(engine)
    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    try:
        async with engine.begin() as conn:
            for key, document in rows.items():
                await conn.execute(
                    text(
                        "INSERT INTO bot_state (key, document, etag, updated_at)"
                        " VALUES (:key, :document, 'e1', :now)"
                    ),
                    {"key": key, "document": json.dumps(document), "now": now},
                )
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def stored() -> dict[str, tuple[object, str]]:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT key, document, etag FROM bot_state"))
            return {key: (json.loads(doc), etag) for key, doc, etag in found.all()}

    after = await stored()
    assert after == {
        "msteams/conversations/a:legacy": (plain, "e1"),
        "msteams/users/29:plain": ({"Preferences": {"locale": "sv"}}, "e1"),
    }
    assert await is_at_head(engine)

    # Down again: the code of 0008 finds its jsonpickle shapes (tuples stay lists).
    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    try:
        legacy_again = (await stored())["msteams/conversations/a:legacy"][0]
        assert isinstance(legacy_again, dict)
        stack = legacy_again["DialogState"]
        assert stack["py/object"] == state
        assert [entry["id"] for entry in stack["_dialog_stack"]] == ["inner", "outer"]
        assert stack["_dialog_stack"][1]["state"]["dialogs"] == {
            "py/object": state,
            "_dialog_stack": [],
        }
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
    assert (await stored())["msteams/conversations/a:legacy"] == (plain, "e1")
