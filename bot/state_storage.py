"""botbuilder ``Storage`` on the SQL document store (:mod:`storage.bot_state`).

Semantics (those of botbuilder's ``MemoryStorage``, with the etag handling of its
Blob/CosmosDB storages):

* ``read(keys)`` returns a dict of the keys that exist (unknown keys are absent;
  ``None`` or empty keys give ``{}``), all of them in one query. Every item read
  carries the row's current etag in ``item["e_tag"]``.
* ``write(changes)``: ``None`` raises, empty is a no-op.  Per item the etag is taken
  from ``item["e_tag"]``:
    - missing/``None`` or ``"*"``: unconditional write (insert or overwrite);
    - ``""``: rejected (``ValueError``), as in MemoryStorage;
    - any other value: written only if the stored row has that etag, or if no row
      exists; otherwise :class:`StorageConflictError`.
  After the write the caller's items carry the new etags, so a second save in the
  same turn is not a conflict with itself. All items of one call are written
  together or not at all.
* ``delete(keys)``: unknown keys are ignored.

Items are stored as plain JSON, not as jsonpickle'd framework objects. An item is a
dict (botbuilder's ``BotState`` writes one per state scope: property name -> value);
its values are JSON (dicts with string keys, lists, strings, numbers, booleans,
``None``), except botbuilder's dialog stack: a ``DialogState`` is stored as
``{"dialogStack": [{"id": ..., "state": {...}}, ...]}`` (the shape botbuilder-js and
-dotnet store) and restored as one, as a property of the item or a value in a dialog
instance's state (where ``ComponentDialog`` keeps its inner stack). Anything else (a
``StoreItem`` object, a ``PromptOptions``, a tuple, a date, a non-string key) raises
:class:`UnstorableState` before anything is written: the conversations store JSON only,
so the stored documents mean the same to a port of the framework (docs/decisions.md)
and reading them never restores a class a document names (jsonpickle did).

Documents of the earlier jsonpickle format (revision 0009 converts the stored ones;
an older process may still write one while a release rolls out) are read too: their
dialog stack is converted, and a document with anything else jsonpickle-tagged is
treated as absent (the conversation starts afresh).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage
from botbuilder.dialogs import DialogInstance, DialogState

from storage.bot_state import DocumentConflictError, DocumentWrite, StateDocumentStore

__all__ = [
    "DIALOG_STACK",
    "StateStorage",
    "StorageConflictError",
    "StoredClaims",
    "UnstorableState",
]

DIALOG_STACK = "dialogStack"
_LEGACY_STATE = "botbuilder.dialogs.dialog_state.DialogState"
_LEGACY_INSTANCE = "botbuilder.dialogs.dialog_instance.DialogInstance"


class StorageConflictError(Exception):
    """A write carried an etag that no longer matches the stored item.

    Deliberately not a ``KeyError`` (MemoryStorage raises ``KeyError``, which
    aiohttp's error middleware turns into a 404).
    """

    def __init__(self, key: str, expected_etag: str) -> None:
        super().__init__(f"etag conflict on storage key {key!r}: item changed since it was read")
        self.key = key
        self.expected_etag = expected_etag


class UnstorableState(TypeError):
    """An item holds something that is not plain JSON (nor a dialog stack)."""

    def __init__(self, path: str, value: object) -> None:
        super().__init__(
            f"bot state {path}: {type(value).__name__} is not plain JSON "
            "(store dicts with string keys, lists, strings, numbers, booleans, None)"
        )
        self.path = path


def _get_etag(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("e_tag")
    return getattr(item, "e_tag", None)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item["e_tag"] = etag


# ------------------------------------------------------------------- writing


def _check_json(value: Any, path: str) -> None:
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise UnstorableState(f"{path}[{key!r}] (key)", key)
            _check_json(item, f"{path}.{key}")
        return
    if kind is list:
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    raise UnstorableState(path, value)


def _dialog_stack(state: DialogState, path: str) -> dict[str, Any]:
    stack: list[dict[str, Any]] = []
    for index, instance in enumerate(state.dialog_stack):
        where = f"{path}.{DIALOG_STACK}[{index}]"
        if type(instance.id) is not str:
            raise UnstorableState(f"{where}.id", instance.id)
        stack.append({"id": instance.id, "state": _instance_state(instance.state, where)})
    return {DIALOG_STACK: stack}


def _instance_state(state: Any, path: str) -> Any:
    if type(state) is not dict:
        _check_json(state, f"{path}.state")
        return state
    if not any(isinstance(value, DialogState) for value in state.values()):
        _check_json(state, f"{path}.state")
        return state
    stored: dict[str, Any] = {}
    for key, value in state.items():
        where = f"{path}.state.{key}"
        if type(key) is not str:
            raise UnstorableState(f"{path}.state[{key!r}] (key)", key)
        if isinstance(value, DialogState):
            stored[key] = _dialog_stack(value, where)
        else:
            _check_json(value, where)
            stored[key] = value
    return stored


def to_document(key: str, item: Any) -> dict[str, Any]:
    """The JSON document of a state item (the item is not changed; its etag is left
    out). Raises :class:`UnstorableState`."""
    if type(item) is not dict:
        raise UnstorableState(key, item)
    document: dict[str, Any] = {}
    for name, value in item.items():
        if name == "e_tag":
            continue
        if type(name) is not str:
            raise UnstorableState(f"{key}[{name!r}] (key)", name)
        if isinstance(value, DialogState):
            document[name] = _dialog_stack(value, f"{key}.{name}")
        else:
            _check_json(value, f"{key}.{name}")
            document[name] = value
    return document


# ------------------------------------------------------------------- reading


def _as_dialog_state(value: Any) -> DialogState | None:
    """A stored ``{"dialogStack": [...]}`` as botbuilder's object, else ``None``."""
    if type(value) is not dict or len(value) != 1:
        return None
    stack = value.get(DIALOG_STACK)
    if type(stack) is not list:
        return None
    instances: list[DialogInstance] = []
    for entry in stack:
        if type(entry) is not dict or type(entry.get("id")) is not str:
            return None
        state = entry.get("state")
        if type(state) is dict:
            for name, inner in state.items():
                nested = _as_dialog_state(inner)
                if nested is not None:
                    state[name] = nested
        instances.append(DialogInstance(entry["id"], state if state is not None else {}))
    return DialogState(instances)


class _Unreadable(Exception):
    pass


def _from_legacy(value: Any) -> Any:
    """A jsonpickle'd value of the earlier format as the plain document it stands for
    (dialog stacks, tuples); :class:`_Unreadable` for any other tagged value."""
    if type(value) is list:
        return [_from_legacy(item) for item in value]
    if type(value) is not dict:
        return value
    tag = value.get("py/object")
    if tag == _LEGACY_STATE and type(value.get("_dialog_stack")) is list:
        return {DIALOG_STACK: [_from_legacy(entry) for entry in value["_dialog_stack"]]}
    if tag == _LEGACY_INSTANCE:
        return {"id": value.get("id"), "state": _from_legacy(value.get("state") or {})}
    if set(value) == {"py/tuple"} and type(value["py/tuple"]) is list:
        return _from_legacy(value["py/tuple"])
    if any(name.startswith(("py/", "json://")) for name in value):
        raise _Unreadable
    return {name: _from_legacy(item) for name, item in value.items()}


def from_document(document: Any, etag: str) -> Any:
    """The state item of a stored document, carrying the row's etag; ``None`` for a
    document of the earlier format that cannot be read."""
    if type(document) is not dict:
        return document
    if any(type(value) is dict and "py/object" in value for value in document.values()):
        try:
            document = _from_legacy(document)
        except _Unreadable:
            return None
    for name, value in document.items():
        state = _as_dialog_state(value)
        if state is not None:
            document[name] = state
    document["e_tag"] = etag
    return document


class StateStorage(Storage):  # type: ignore[misc]
    """botbuilder ``Storage`` (conversation, user and dialog state) on SQL documents."""

    def __init__(self, documents: StateDocumentStore) -> None:
        super().__init__()
        self._documents = documents

    @property
    def documents(self) -> StateDocumentStore:
        """The documents under this storage (for :class:`StoredClaims`)."""
        return self._documents

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        if not keys:
            return {}
        found = await self._documents.read(keys)
        items = {key: from_document(stored.document, stored.etag) for key, stored in found.items()}
        return {key: item for key, item in items.items() if item is not None}

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
            writes.append(DocumentWrite(key, to_document(key, item), expected))
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


class StoredClaims:
    """:class:`dialogs.turn.Claims` as rows of the bot's state table, shared by every
    process on the database: a claim is a row created only if absent."""

    def __init__(self, documents: StateDocumentStore) -> None:
        self._documents = documents

    async def claim(self, key: str) -> bool:
        return await self._documents.create(key, {"claimed": True})

    async def release(self, key: str) -> None:
        await self._documents.delete([key])
