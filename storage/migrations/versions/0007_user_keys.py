"""People keyed by tenant and Entra object id.

``conversation_refs``: the user key becomes ``"<tenant id>:<aadObjectId>"`` (lower
case; ``bot.identity.user_key_of``). A row whose stored reference is a Teams
(``msteams``) reference with an Entra object id and a tenant gets its new key; any
other row (a reference from another channel, or keyed by ``from.id`` alone: the key a
sender on Web Chat or Direct Line could choose) is deleted, so no notification
follows a reference such a sender wrote. People who talk to the bot again get their
row back; meanwhile notifications fall back to e-mail. The newest row of a person
wins. The downgrade leaves the keys as they are (the old ones cannot be told apart).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_KEY = 255


def _teams_key(tenant_id: str | None, document: str) -> str | None:
    """The new key of a row, None when the row is not a Teams user's."""
    try:
        reference: Any = json.loads(document)
    except ValueError:
        return None
    if not isinstance(reference, dict) or reference.get("channelId") != "msteams":
        return None
    user = reference.get("user")
    aad = user.get("aadObjectId") if isinstance(user, dict) else None
    conversation = reference.get("conversation")
    tenant = tenant_id or (conversation.get("tenantId") if isinstance(conversation, dict) else None)
    if not isinstance(aad, str) or not aad.strip() or not isinstance(tenant, str):
        return None
    if not tenant.strip():
        return None
    key = f"{tenant.strip().lower()}:{aad.strip().lower()}"
    return key if len(key) <= _MAX_KEY else None


def upgrade() -> None:
    refs = sa.table(
        "conversation_refs",
        sa.column("user_key", sa.String),
        sa.column("email", sa.String),
        sa.column("tenant_id", sa.String),
        sa.column("reference", sa.Text),
        sa.column("locale", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(refs).order_by(refs.c.updated_at.desc())).mappings().all()
    kept: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = _teams_key(row["tenant_id"], row["reference"])
        if key is not None and key not in kept:  # a person's newest row wins
            kept[key] = dict(row) | {"user_key": key}
    # Rewritten as a whole: old and new keys can never clash half-way.
    bind.execute(sa.delete(refs))
    if kept:
        bind.execute(sa.insert(refs), list(kept.values()))


def downgrade() -> None:
    """Nothing: the old keys cannot be rebuilt; older code writes its rows anew."""
