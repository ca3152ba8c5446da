"""StateDocumentStore: JSON documents with etags on ``bot_state``, SQL only.

Every test runs on SQLite and PostgreSQL through the ``engine`` fixture; botbuilder's
view of it (StorageBaseTests, dialogs) is tested in tests/bot/test_state_storage.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.bot_state import (
    MAX_KEY_LENGTH,
    DocumentConflictError,
    DocumentWrite,
    StateDocumentStore,
)
from storage.db import create_engine
from storage.models import BotState


@pytest.fixture
def store(engine: AsyncEngine) -> StateDocumentStore:
    return StateDocumentStore(engine)


@pytest.fixture
async def second_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An independent engine (own pool) on the same database: another bot process."""
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


async def test_read_returns_documents_with_their_etags(store: StateDocumentStore) -> None:
    assert await store.read([]) == {}
    assert await store.read(["unknown"]) == {}
    etags = await store.write(
        [DocumentWrite("a", {"n": 1, "nested": {"list": [1, "x", None]}}), DocumentWrite("b", 7)]
    )
    assert set(etags) == {"a", "b"} and etags["a"] != etags["b"]
    found = await store.read(["a", "b", "a", "unknown"])
    assert set(found) == {"a", "b"}
    assert found["a"].document == {"n": 1, "nested": {"list": [1, "x", None]}}
    assert found["b"].document == 7
    assert {k: v.etag for k, v in found.items()} == etags


async def test_conditional_write_needs_the_stored_etag(store: StateDocumentStore) -> None:
    first = (await store.write([DocumentWrite("k", {"v": 1})]))["k"]
    second = (await store.write([DocumentWrite("k", {"v": 2}, expected_etag=first)]))["k"]
    assert second != first
    with pytest.raises(DocumentConflictError) as err:
        await store.write([DocumentWrite("k", {"v": 3}, expected_etag=first)])
    assert (err.value.key, err.value.expected_etag) == ("k", first)
    assert (await store.read(["k"]))["k"].document == {"v": 2}
    await store.write([DocumentWrite("k", {"v": 4})])  # unconditional
    assert (await store.read(["k"]))["k"].document == {"v": 4}


async def test_an_etag_on_a_missing_row_inserts(store: StateDocumentStore) -> None:
    await store.write([DocumentWrite("new", {"v": 1}, expected_etag="seen-elsewhere")])
    assert (await store.read(["new"]))["new"].document == {"v": 1}


async def test_write_is_all_or_nothing(store: StateDocumentStore) -> None:
    stale = (await store.write([DocumentWrite("b", {"v": 1})]))["b"]
    await store.write([DocumentWrite("b", {"v": 2})])
    with pytest.raises(DocumentConflictError):
        await store.write(
            [DocumentWrite("b", {"v": 3}, expected_etag=stale), DocumentWrite("a", {"v": 1})]
        )
    assert await store.read(["a"]) == {}
    assert (await store.read(["b"]))["b"].document == {"v": 2}


async def test_delete(store: StateDocumentStore) -> None:
    await store.write([DocumentWrite(f"k{i}", i) for i in range(3)])
    await store.delete(["k0", "k2", "unknown"])
    await store.delete([])
    assert set(await store.read(["k0", "k1", "k2"])) == {"k1"}


async def test_many_keys_are_read_and_deleted_in_chunks(store: StateDocumentStore) -> None:
    keys = [f"many/{i}" for i in range(1203)]
    await store.write([DocumentWrite(k, {"i": i}) for i, k in enumerate(keys)])
    found = await store.read(keys)
    assert len(found) == len(keys) and found["many/1202"].document == {"i": 1202}
    await store.delete(keys)
    assert await store.read(keys) == {}


async def test_key_type_and_length_are_checked(store: StateDocumentStore) -> None:
    longest = "k" * MAX_KEY_LENGTH
    await store.write([DocumentWrite(longest, {"v": 1})])
    assert (await store.read([longest]))[longest].document == {"v": 1}
    with pytest.raises(ValueError):
        await store.write([DocumentWrite(longest + "x", {"v": 1})])
    with pytest.raises(ValueError):
        await store.read([longest + "x"])
    with pytest.raises(TypeError):
        await store.read([1])  # type: ignore[list-item]


async def test_unicode_round_trip(store: StateDocumentStore) -> None:
    key = "msteams/conversations/a:1ÄÖ/"
    value = {"text": "Äänekoski – työllisyysalue ✓", "email": "worker@example.fi"}
    await store.write([DocumentWrite(key, value)])
    assert (await store.read([key]))[key].document == value


async def test_concurrent_writers_with_same_etag_one_wins(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    one, two = StateDocumentStore(engine), StateDocumentStore(second_engine)
    for round_no in range(10):
        key = f"race/{round_no}"
        etag = (await one.write([DocumentWrite(key, {"winner": None})]))[key]
        assert (await two.read([key]))[key].etag == etag
        results = await asyncio.gather(
            one.write([DocumentWrite(key, {"winner": "one"}, expected_etag=etag)]),
            two.write([DocumentWrite(key, {"winner": "two"}, expected_etag=etag)]),
            return_exceptions=True,
        )
        conflicts = [r for r in results if isinstance(r, DocumentConflictError)]
        assert len(conflicts) == 1, results
        winner = "one" if isinstance(results[0], dict) else "two"
        assert (await one.read([key]))[key].document == {"winner": winner}


async def test_concurrent_inserts_with_etag_one_wins(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    one, two = StateDocumentStore(engine), StateDocumentStore(second_engine)
    for round_no in range(10):
        key = f"insert-race/{round_no}"
        results = await asyncio.gather(
            one.write([DocumentWrite(key, {"w": 1}, expected_etag="seen-before-delete")]),
            two.write([DocumentWrite(key, {"w": 2}, expected_etag="seen-before-delete")]),
            return_exceptions=True,
        )
        assert sum(isinstance(r, DocumentConflictError) for r in results) == 1, results
        assert sum(isinstance(r, dict) for r in results) == 1, results


async def test_concurrent_unconditional_writes_all_succeed(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    one, two = StateDocumentStore(engine), StateDocumentStore(second_engine)
    results = await asyncio.gather(
        *(s.write([DocumentWrite("shared", {"n": i})]) for i, s in enumerate([one, two] * 3))
    )
    assert all(set(r) == {"shared"} for r in results)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(BotState))).scalar_one()
    assert count == 1


async def test_create_makes_a_document_once_among_concurrent_processes(
    store: StateDocumentStore, second_engine: AsyncEngine
) -> None:
    """What is done once (a conversation's welcome) is claimed by creating its row: of
    many callers in two processes at once, exactly one creates it."""
    other = StateDocumentStore(second_engine)
    results = await asyncio.gather(
        *(s.create("welcome/msteams/a:1", {"claimed": True}) for s in (store, other) * 4)
    )
    assert sorted(results) == [False] * 7 + [True]
    assert (await store.read(["welcome/msteams/a:1"]))["welcome/msteams/a:1"].document == {
        "claimed": True
    }
    assert await store.create("welcome/msteams/a:1", {}) is False  # kept until deleted
    await store.delete(["welcome/msteams/a:1"])
    assert await other.create("welcome/msteams/a:1", {}) is True
