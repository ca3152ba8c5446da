"""People met outside a 1:1 chat with the bot can be reached.

* ``conversation_refs.personal``: true when the stored reference is the person's 1:1
  chat with the bot. False for people met in a team or group chat (the bot installed
  there, a member added, a message in a channel): their row holds who they are (user
  id, Entra object id, tenant, e-mail) and where their tenant's Teams service is, and
  the notifier opens a 1:1 chat with them when it has something to say.
* Rows written before this revision from a channel or group chat turn held that
  conversation as the person's reference, so a notification meant for one person
  went to the whole channel: they become ``personal = false`` (the JSON is kept as it
  is; only personal references are used to send).

The downgrade drops the column: an older version then treats the rows of people met
outside a 1:1 chat as references, which Teams refuses, so they fall back to e-mail.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 500


def _is_personal(document: str) -> bool:
    """Whether a stored reference is a 1:1 chat (no conversation type counts as one:
    the rows the bot wrote always had one from Teams)."""
    try:
        reference: Any = json.loads(document)
    except ValueError:
        return True
    conversation = reference.get("conversation") if isinstance(reference, dict) else None
    if not isinstance(conversation, dict) or not conversation.get("id"):
        return False
    kind = conversation.get("conversationType")
    return kind in (None, "", "personal") and conversation.get("isGroup") is not True


def upgrade() -> None:
    with op.batch_alter_table("conversation_refs") as batch:
        batch.add_column(
            sa.Column("personal", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    refs = sa.table(
        "conversation_refs",
        sa.column("user_key", sa.String),
        sa.column("reference", sa.Text),
        sa.column("personal", sa.Boolean),
    )
    conn = op.get_bind()
    shared = [
        user_key
        for user_key, reference in conn.execute(sa.select(refs.c.user_key, refs.c.reference))
        if not _is_personal(reference)
    ]
    for start in range(0, len(shared), _CHUNK):
        conn.execute(
            sa.update(refs)
            .where(refs.c.user_key.in_(shared[start : start + _CHUNK]))
            .values(personal=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_refs") as batch:
        batch.drop_column("personal")
