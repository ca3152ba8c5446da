"""JSON documents with an etag each on the ``bot_state`` table (optimistic concurrency).

The store under the bot's conversation and user state; it knows no bot framework
(``bot.state_storage`` makes botbuilder's ``Storage`` of it).

* ``read(keys)`` returns the documents of the keys that exist (unknown keys are absent)
  with each row's current etag; one query per 500 keys.
* ``write(writes)``: per document the ``expected_etag`` is
    - ``None``: unconditional write (insert or overwrite);
    - any other value: written only if the stored row has that etag, or if no row
      exists; otherwise :class:`DocumentConflictError`.
  Every written row gets a new etag; ``write`` returns them by key. All documents of
  one call are written in one transaction (all or nothing), in key order (no lock-order
  deadlocks on PostgreSQL); each is a single ``INSERT .. ON CONFLICT (key) DO UPDATE
  .. WHERE etag = :old`` statement, which is atomic on SQLite and PostgreSQL: of two
  writers holding the same etag exactly one wins. A single document is one statement
  without BEGIN/COMMIT around it on PostgreSQL.
* ``create(key, document)``: inserts the document only if no row has the key, in one
  ``INSERT .. ON CONFLICT DO NOTHING`` statement: of two writers exactly one creates it
  (True), the other gets False. What is done once (a conversation's welcome) claims so.
* ``delete(keys)``: unknown keys are ignored.

A document is any JSON value; the etag lives in its own column, never in the document.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import single_statement_engine
from storage.models import BotState, utcnow

__all__ = [
    "MAX_KEY_LENGTH",
    "DocumentConflictError",
    "DocumentWrite",
    "StateDocumentStore",
    "StoredDocument",
]

MAX_KEY_LENGTH = 1024
_CHUNK = 500  # keys per IN (...) list
_TABLE = cast(Table, BotState.__table__)


class DocumentConflictError(Exception):
    """A conditional write's etag no longer matches the stored document."""

    def __init__(self, key: str, expected_etag: str) -> None:
        super().__init__(f"etag conflict on key {key!r}: the document changed since it was read")
        self.key = key
        self.expected_etag = expected_etag


@dataclass(frozen=True)
class StoredDocument:
    document: Any  # a JSON value
    etag: str


@dataclass(frozen=True)
class DocumentWrite:
    key: str
    document: Any  # a JSON value
    expected_etag: str | None = None  # None: write whatever is stored


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"storage keys must be str, got {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"storage key longer than {MAX_KEY_LENGTH} characters")
    return key


class StateDocumentStore:
    """JSON documents by key on the ``bot_state`` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"StateDocumentStore supports sqlite and postgresql, not {dialect}")
        self._engine = engine
        insert_of = sqlite.insert if dialect == "sqlite" else postgresql.insert
        # Built once: an ON CONFLICT statement's ``excluded`` makes a copy of every
        # column each time it is built, a tenth of a turn's CPU.
        insert = insert_of(_TABLE).values(
            key=bindparam("key"),
            document=bindparam("document"),
            etag=bindparam("etag"),
            updated_at=bindparam("updated_at"),
        )
        assignments = {
            "document": insert.excluded.document,
            "etag": insert.excluded.etag,
            "updated_at": insert.excluded.updated_at,
        }
        self._upsert = insert.on_conflict_do_update(index_elements=["key"], set_=assignments)
        self._insert_new = insert.on_conflict_do_nothing(index_elements=["key"]).returning(
            _TABLE.c.key
        )
        self._upsert_if_etag = insert.on_conflict_do_update(
            index_elements=["key"],
            set_=assignments,
            where=_TABLE.c.etag == bindparam("expected"),
        ).returning(_TABLE.c.key)
        # PostgreSQL: single statements without BEGIN and COMMIT/ROLLBACK (two round
        # trips fewer each); one statement is atomic and sees one snapshot.
        self._autocommit = single_statement_engine(engine)

    async def read(self, keys: Iterable[str]) -> dict[str, StoredDocument]:
        """The stored documents of ``keys``; keys without a document are absent."""
        wanted = list(dict.fromkeys(_check_key(k) for k in keys))
        if not wanted:
            return {}
        result: dict[str, StoredDocument] = {}
        async with self._autocommit.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = await conn.execute(
                    select(_TABLE.c.key, _TABLE.c.document, _TABLE.c.etag).where(
                        _TABLE.c.key.in_(chunk)
                    )
                )
                for key, document, etag in rows:
                    result[key] = StoredDocument(json.loads(document), etag)
        return result

    async def write(self, writes: Sequence[DocumentWrite]) -> dict[str, str]:
        """Write every document or none (:class:`DocumentConflictError`); the new etags."""
        if not writes:
            return {}
        # Validate and serialise everything before touching the database.
        planned = [
            (_check_key(w.key), json.dumps(w.document, separators=(",", ":"), ensure_ascii=False))
            for w in writes
        ]
        expected = [w.expected_etag for w in writes]
        order = sorted(range(len(writes)), key=lambda i: planned[i][0])
        new_etags: dict[str, str] = {}
        # One document (botbuilder saves each state scope on its own) is one atomic
        # statement: on PostgreSQL it needs no BEGIN/COMMIT round trips around it.
        engine = self._autocommit if len(planned) == 1 else self._engine
        async with engine.begin() as conn:
            for i in order:
                key, document = planned[i]
                new_etag = uuid.uuid4().hex
                await self._write_one(conn, key, document, new_etag, expected[i])
                new_etags[key] = new_etag
        return new_etags

    async def _write_one(
        self,
        conn: AsyncConnection,
        key: str,
        document: str,
        new_etag: str,
        expected: str | None,
    ) -> None:
        values = {"key": key, "document": document, "etag": new_etag, "updated_at": utcnow()}
        if expected is None:
            await conn.execute(self._upsert, values)
            return
        found = await conn.execute(self._upsert_if_etag, values | {"expected": expected})
        if found.first() is None:
            raise DocumentConflictError(key, expected)

    async def create(self, key: str, document: Any) -> bool:
        """Insert ``document`` under ``key`` unless a row has the key: True if this call
        created it. Atomic on SQLite and PostgreSQL (one statement)."""
        values = {
            "key": _check_key(key),
            "document": json.dumps(document, separators=(",", ":"), ensure_ascii=False),
            "etag": uuid.uuid4().hex,
            "updated_at": utcnow(),
        }
        async with self._autocommit.begin() as conn:
            found = await conn.execute(self._insert_new, values)
            return found.first() is not None

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the documents of ``keys`` (unknown keys are ignored)."""
        doomed = [_check_key(k) for k in keys]
        if not doomed:
            return
        async with self._engine.begin() as conn:
            for start in range(0, len(doomed), _CHUNK):
                await conn.execute(
                    delete(_TABLE).where(_TABLE.c.key.in_(doomed[start : start + _CHUNK]))
                )
