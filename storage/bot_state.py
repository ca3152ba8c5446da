"""botbuilder ``Storage`` on the ``bot_state`` table, with optimistic concurrency.

Semantics (those of botbuilder's ``MemoryStorage``, with the etag handling of its
Blob/CosmosDB storages):

* ``read(keys)`` returns a dict of the keys that exist (unknown keys are absent;
  ``None`` or empty keys give ``{}``).  Every item read carries the row's current
  etag: ``item["e_tag"]`` for dicts, ``item.e_tag`` for objects.
* ``write(changes)``: ``None`` raises, empty is a no-op.  Per item the etag is taken
  from ``item["e_tag"]`` / ``item.e_tag``:
    - missing/``None`` or ``"*"``: unconditional write (insert or overwrite);
    - ``""``: rejected (``ValueError``), as in MemoryStorage;
    - any other value: written only if the stored row has that etag, or if no row
      exists; otherwise :class:`StorageConflictError`.
  A new etag is generated on every write and, after the commit, set on the caller's
  item, so a second save in the same turn is not a conflict with itself.  All items
  of one call are written in one transaction (all or nothing); each item is a single
  ``INSERT .. ON CONFLICT (key) DO UPDATE .. WHERE etag = :old`` statement, which is
  atomic on SQLite and PostgreSQL: of two writers holding the same etag exactly one
  wins.
* ``delete(keys)``: unknown keys are ignored.

Items are serialised like botbuilder-azure does (``jsonpickle`` flatten/restore, with
``keys=True`` so non-string dict keys survive): dialog state (``DialogState``,
``DialogInstance``) and ``StoreItem`` objects round-trip.  The etag lives in its own
column, never in the document.  jsonpickle restores classes named in the document,
so the database must be trusted (it is: only the bot writes it).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from botbuilder.core import Storage  # type: ignore[import-untyped]
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import single_statement_engine
from storage.models import BotState, utcnow

__all__ = ["MAX_KEY_LENGTH", "SqlStorage", "StorageConflictError"]

MAX_KEY_LENGTH = 1024
_CHUNK = 500  # keys per IN (...) list
_TABLE = cast(Table, BotState.__table__)


class StorageConflictError(Exception):
    """A write carried an etag that no longer matches the stored item.

    Deliberately not a ``KeyError`` (MemoryStorage raises ``KeyError``, which
    aiohttp's error middleware turns into a 404).
    """

    def __init__(self, key: str, expected_etag: str) -> None:
        super().__init__(f"etag conflict on storage key {key!r}: item changed since it was read")
        self.key = key
        self.expected_etag = expected_etag


def _get_etag(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("e_tag")
    return getattr(item, "e_tag", None)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item["e_tag"] = etag
    elif hasattr(item, "__dict__"):
        with contextlib.suppress(AttributeError):  # read-only objects: nothing to update
            item.e_tag = etag


def _encode(item: Any) -> str:
    flat = Pickler(keys=True).flatten(item)
    if isinstance(flat, dict):
        flat.pop("e_tag", None)
    return json.dumps(flat, separators=(",", ":"), ensure_ascii=False)


def _decode(document: str, etag: str) -> Any:
    flat = json.loads(document)
    if isinstance(flat, dict):
        flat["e_tag"] = etag
    return Unpickler(keys=True).restore(flat)


def _check_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"storage keys must be str, got {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"storage key longer than {MAX_KEY_LENGTH} characters")
    return key


class SqlStorage(Storage):  # type: ignore[misc]
    """botbuilder ``Storage`` backed by the ``bot_state`` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"SqlStorage supports sqlite and postgresql, not {dialect}")
        self._engine = engine
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        # PostgreSQL: single statements without BEGIN and COMMIT/ROLLBACK (two round
        # trips fewer each, issue 10); one statement is atomic and sees one snapshot.
        # Built once: an ON CONFLICT statement's ``excluded`` makes a copy of every
        # column each time it is built, a tenth of a turn's CPU (issue 10).
        insert = self._insert(_TABLE).values(
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
        self._upsert_if_etag = insert.on_conflict_do_update(
            index_elements=["key"],
            set_=assignments,
            where=_TABLE.c.etag == bindparam("expected"),
        ).returning(_TABLE.c.key)
        self._autocommit = single_statement_engine(engine)

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        if not keys:
            return {}
        wanted = list(dict.fromkeys(_check_key(k) for k in keys))
        result: dict[str, Any] = {}
        async with self._autocommit.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = await conn.execute(
                    select(_TABLE.c.key, _TABLE.c.document, _TABLE.c.etag).where(
                        _TABLE.c.key.in_(chunk)
                    )
                )
                for key, document, etag in rows:
                    result[key] = _decode(document, etag)
        return result

    async def write(self, changes: Mapping[str, Any] | None) -> None:
        if changes is None:
            raise Exception("Changes are required when writing")  # botbuilder's contract
        if not changes:
            return
        # Validate and serialise everything before touching the database.
        planned: list[tuple[str, Any, str, str | None]] = []
        for key in sorted(changes):  # fixed order: no lock-order deadlocks on PostgreSQL
            item = changes[key]
            _check_key(key)
            etag = _get_etag(item)
            if etag == "":
                raise ValueError(f"empty e_tag on storage key {key!r}: use None or '*'")
            expected = None if etag is None or etag == "*" else str(etag)
            planned.append((key, item, _encode(item), expected))

        new_etags: list[tuple[Any, str]] = []
        # One item (botbuilder saves each state scope on its own) is one atomic
        # statement: on PostgreSQL it needs no BEGIN/COMMIT round trips around it.
        engine = self._autocommit if len(planned) == 1 else self._engine
        async with engine.begin() as conn:
            for key, item, document, expected in planned:
                new_etag = uuid.uuid4().hex
                await self._write_one(conn, key, document, new_etag, expected)
                new_etags.append((item, new_etag))
        for item, new_etag in new_etags:  # only after the commit succeeded
            _set_etag(item, new_etag)

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
            raise StorageConflictError(key, expected)

    async def delete(self, keys: Iterable[str] | None) -> None:
        if keys is None:
            raise TypeError("keys are required when deleting")
        doomed = [_check_key(k) for k in keys]
        if not doomed:
            return
        async with self._engine.begin() as conn:
            for start in range(0, len(doomed), _CHUNK):
                await conn.execute(
                    delete(_TABLE).where(_TABLE.c.key.in_(doomed[start : start + _CHUNK]))
                )
