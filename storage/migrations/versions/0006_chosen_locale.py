"""The language a user chose with the bot travels with their conversation reference.

* ``conversation_refs.chosen_locale``: the language chosen with the bot's language
  command (``fi``, ``sv``, ``en``); ``locale`` stays the Teams client's locale of the
  last turn. Notifications use the chosen one first.
* The choices made before this revision were kept only in the bot's user state
  (``bot_state`` row ``{channelId}/users/{user id}``, ``Preferences.locale``): they are
  copied to the references of the same users, so nobody's notifications change language
  until their next turn.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 500
_LOCALE_LENGTH = 35

_REFS = sa.table(
    "conversation_refs",
    sa.column("user_key", sa.String),
    sa.column("reference", sa.Text),
    sa.column("chosen_locale", sa.String),
)
_STATE = sa.table("bot_state", sa.column("key", sa.String), sa.column("document", sa.Text))


def upgrade() -> None:
    with op.batch_alter_table("conversation_refs") as batch:
        batch.add_column(
            sa.Column("chosen_locale", sa.String(length=_LOCALE_LENGTH), nullable=True)
        )
    _copy_chosen_locales(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("conversation_refs") as batch:
        batch.drop_column("chosen_locale")


def _user_state_key(reference: str) -> str | None:
    """botbuilder's ``UserState`` storage key of the user of a stored reference."""
    try:
        loaded = json.loads(reference)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    channel = loaded.get("channelId") or loaded.get("channel_id")
    user = loaded.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(channel, str) or not isinstance(user_id, str) or not channel or not user_id:
        return None
    return f"{channel}/users/{user_id}"


def _chosen_locale(document: str) -> str | None:
    try:
        state = json.loads(document)
    except ValueError:
        return None
    preferences = state.get("Preferences") if isinstance(state, dict) else None
    chosen = preferences.get("locale") if isinstance(preferences, dict) else None
    if isinstance(chosen, str) and 0 < len(chosen) <= _LOCALE_LENGTH:
        return chosen
    return None


def _copy_chosen_locales(conn: sa.Connection) -> None:
    users: dict[str, list[str]] = {}  # user state key -> user keys of references
    for user_key, reference in conn.execute(sa.select(_REFS.c.user_key, _REFS.c.reference)):
        key = _user_state_key(reference)
        if key is not None:
            users.setdefault(key, []).append(user_key)
    keys = sorted(users)
    for start in range(0, len(keys), _CHUNK):
        rows = conn.execute(
            sa.select(_STATE.c.key, _STATE.c.document).where(
                _STATE.c.key.in_(keys[start : start + _CHUNK])
            )
        )
        for key, document in rows.all():
            chosen = _chosen_locale(document)
            if chosen is not None:
                conn.execute(
                    sa.update(_REFS)
                    .where(_REFS.c.user_key.in_(users[key]))
                    .values(chosen_locale=chosen)
                )
