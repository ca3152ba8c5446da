"""Bot state as plain JSON: the jsonpickle'd dialog stacks of ``bot_state`` converted.

Until this revision ``bot.state_storage`` stored botbuilder's ``DialogState`` and
``DialogInstance`` objects as jsonpickle wrote them (``{"py/object":
"botbuilder.dialogs.dialog_state.DialogState", "_dialog_stack": [...]}``); from now on
a dialog stack is ``{"dialogStack": [{"id": ..., "state": {...}}]}`` and every other
value plain JSON. Each row with a jsonpickle tag is converted: dialog stacks and
instances, tuples (as lists). A row holding anything else jsonpickle-tagged (another
class, a shared reference ``py/id``, a non-string key) cannot be read without the
classes it names: it is deleted, and that conversation or user starts afresh (a dialog
in progress is offered again; preferences are kept in the conversation references).
Etags and times are kept: the rows mean what they meant.

The downgrade writes the dialog stacks back in jsonpickle's shape, so that the code of
revision 0008 reads them.

This module is frozen: it does not import the bot's code (``bot.state_storage`` reads
the earlier format the same way, for documents an older process writes during a
rollout).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 500
_STACK = "dialogStack"
_LEGACY_STATE = "botbuilder.dialogs.dialog_state.DialogState"
_LEGACY_INSTANCE = "botbuilder.dialogs.dialog_instance.DialogInstance"

_STATE = sa.table(
    "bot_state",
    sa.column("key", sa.String),
    sa.column("document", sa.Text),
)


class _Unreadable(Exception):
    pass


def to_plain(value: Any) -> Any:
    """A jsonpickle'd value as plain JSON; :class:`_Unreadable` if it names any class
    other than the dialog stack's."""
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("py/object")
    if tag == _LEGACY_STATE and isinstance(value.get("_dialog_stack"), list):
        return {_STACK: [to_plain(entry) for entry in value["_dialog_stack"]]}
    if tag == _LEGACY_INSTANCE and isinstance(value.get("id"), str):
        return {"id": value["id"], "state": to_plain(value.get("state") or {})}
    if set(value) == {"py/tuple"} and isinstance(value["py/tuple"], list):
        return to_plain(value["py/tuple"])
    if any(name.startswith(("py/", "json://")) for name in value):
        raise _Unreadable
    return {name: to_plain(item) for name, item in value.items()}


def _stack_to_legacy(value: Any) -> Any:
    if not (isinstance(value, dict) and set(value) == {_STACK}):
        return value
    if not isinstance(value[_STACK], list):
        return value
    instances = []
    for entry in value[_STACK]:
        state = entry.get("state") if isinstance(entry, dict) else None
        if isinstance(state, dict):
            state = {name: _stack_to_legacy(inner) for name, inner in state.items()}
        instances.append(
            {
                "py/object": _LEGACY_INSTANCE,
                "id": entry.get("id") if isinstance(entry, dict) else None,
                "state": state if state is not None else {},
            }
        )
    return {"py/object": _LEGACY_STATE, "_dialog_stack": instances}


def to_legacy(document: Any) -> Any:
    """A plain document with its dialog stacks in jsonpickle's shape again."""
    if not isinstance(document, dict):
        return document
    return {name: _stack_to_legacy(value) for name, value in document.items()}


def _rewrite(
    conn: sa.Connection, wanted: sa.ColumnElement[bool], change: Callable[[Any], Any]
) -> None:
    """``change`` every matching row's document (keyset pages of :data:`_CHUNK`); a
    document it raises :class:`_Unreadable` for is deleted."""
    last = ""
    while True:
        rows = conn.execute(
            sa.select(_STATE.c.key, _STATE.c.document)
            .where(wanted, _STATE.c.key > last)
            .order_by(_STATE.c.key)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        for key, text in rows:
            try:
                document = change(json.loads(text))
            except (_Unreadable, ValueError, RecursionError):
                conn.execute(sa.delete(_STATE).where(_STATE.c.key == key))
                continue
            new_text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
            if new_text != text:
                conn.execute(sa.update(_STATE).where(_STATE.c.key == key).values(document=new_text))
        last = rows[-1][0]


def upgrade() -> None:
    tagged = sa.or_(_STATE.c.document.contains('"py/'), _STATE.c.document.contains('"json://'))
    _rewrite(op.get_bind(), tagged, to_plain)


def downgrade() -> None:
    _rewrite(op.get_bind(), _STATE.c.document.contains(f'"{_STACK}"'), to_legacy)
