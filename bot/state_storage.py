"""botbuilder ``Storage`` on the SQL document store (:mod:`storage.bot_state`).

Semantics (those of botbuilder's ``MemoryStorage``, with the etag handling of its
Blob/CosmosDB storages):

* ``read(keys)`` returns a dict of the keys that exist (unknown keys are absent;
  ``None`` or empty keys give ``{}``), all of them in one query. Every item read
  carries the row's current etag: ``item["e_tag"]`` for dicts, ``item.e_tag`` for
  objects.
* ``write(changes)``: ``None`` raises, empty is a no-op.  Per item the etag is taken
  from ``item["e_tag"]`` / ``item.e_tag``:
    - missing/``None`` or ``"*"``: unconditional write (insert or overwrite);
    - ``""``: rejected (``ValueError``), as in MemoryStorage;
    - any other value: written only if the stored row has that etag, or if no row
      exists; otherwise :class:`StorageConflictError`.
  After the write the caller's items carry the new etags, so a second save in the
  same turn is not a conflict with itself. All items of one call are written
  together or not at all.
* ``delete(keys)``: unknown keys are ignored.

Items are serialised like botbuilder-azure does (``jsonpickle`` flatten/restore, with
``keys=True`` so non-string dict keys survive): dialog state (``DialogState``,
``DialogInstance``) and ``StoreItem`` objects round-trip.  The etag is kept apart from
the document.  jsonpickle restores classes named in the document, so the database
must be trusted (it is: only the bot writes it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]

from storage.bot_state import DocumentConflictError, DocumentWrite, StateDocumentStore

__all__ = ["StateStorage", "StorageConflictError"]


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


def _flatten(item: Any) -> Any:
    flat = Pickler(keys=True).flatten(item)
    if isinstance(flat, dict):
        flat.pop("e_tag", None)
    return flat


def _restore(document: Any, etag: str) -> Any:
    if isinstance(document, dict):
        document["e_tag"] = etag
    return Unpickler(keys=True).restore(document)


class StateStorage(Storage):  # type: ignore[misc]
    """botbuilder ``Storage`` (conversation, user and dialog state) on SQL documents."""

    def __init__(self, documents: StateDocumentStore) -> None:
        super().__init__()
        self._documents = documents

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._documents.read(keys)
        return {key: _restore(stored.document, stored.etag) for key, stored in found.items()}

    async def write(self, changes: Mapping[str, Any] | None) -> None:
        if changes is None:
            raise Exception("Changes are required when writing")  # botbuilder's contract
        if not changes:
            return
        writes: list[DocumentWrite] = []
        for key, item in changes.items():
            etag = _get_etag(item)
            if etag == "":
                raise ValueError(f"empty e_tag on storage key {key!r}: use None or '*'")
            expected = None if etag is None or etag == "*" else str(etag)
            writes.append(DocumentWrite(key, _flatten(item), expected))
        try:
            new_etags = await self._documents.write(writes)
        except DocumentConflictError as conflict:
            raise StorageConflictError(conflict.key, conflict.expected_etag) from conflict
        for key, item in changes.items():  # only after the write succeeded
            _set_etag(item, new_etags[key])

    async def delete(self, keys: Iterable[str] | None) -> None:
        if keys is None:
            raise TypeError("keys are required when deleting")
        await self._documents.delete(keys)
