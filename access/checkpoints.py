"""Audit checkpoints: the trail anchored outside the database.

A checkpoint is the signed statement "row N of the audit trail had hash H at time T"
(:class:`access.audit.Checkpoint`). Whoever can write to the database can cut rows off
the end of the trail and move the chain head back, and whoever also holds the audit
key can rewrite it; neither can change a checkpoint already delivered elsewhere. So:

* :func:`issue_checkpoint` signs the current head, records an ``audit.checkpoint`` row
  and queues the checkpoint to every authority admin of every area (chat, or e-mail
  where the dispatcher falls back to it); the caller commits and then logs it with
  :func:`log_checkpoint` (the log ships to Log Analytics, outside the database);
* the scheduler issues one every day (``AutomationService.issue_daily_checkpoint``),
  the operator on demand (``atmt-bot audit checkpoint``);
* ``atmt-bot audit verify --checkpoint FILE|TEXT`` proves the trail still contains
  every given checkpoint's row unchanged and extends it.

Log lines and notifications carry the sequence number and hashes only, never people.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from access.audit import CHECKPOINT_ACTION, Checkpoint, KeyedAuditLog, sign_checkpoint
from access.directory import Directory
from access.model import SYSTEM_ACTOR, Audience, AuditDraft, Notification
from access.ports import HELSINKI, IdSource, UnitOfWork

__all__ = ["CHECKPOINT_TEMPLATES", "issue_checkpoint", "log_checkpoint"]

log = logging.getLogger(__name__)

CHECKPOINT_TEMPLATES: Mapping[str, tuple[Audience, ...]] = {
    "audit.checkpoint": (Audience.ADMIN,),
}
"""Catalog key ``audit.checkpoint.admin`` (notifications.po): placeholders ``{start}``
(the date) and ``{note}`` (the checkpoint text, which names the row). No ``number``:
the e-mail subject would show it as a request number."""


async def issue_checkpoint(
    uow: UnitOfWork, directory: Directory, *, at: datetime, ids: IdSource, reason: str
) -> Checkpoint | None:
    """Sign the chain head in ``uow`` (the caller commits), record it in the trail and
    queue it to the authority admins. None: the audit log is not keyed (a test double)
    or the trail is empty (nothing to anchor yet)."""
    audit = uow.audit
    if not isinstance(audit, KeyedAuditLog):
        return None
    head = await audit.head()
    if head is None:
        return None
    checkpoint = sign_checkpoint(audit.key, head.seq, head.hash, at)
    await audit.append(
        AuditDraft(
            at=at,
            actor=SYSTEM_ACTOR,
            action=CHECKPOINT_ACTION,
            request_id=None,
            details={
                "seq": checkpoint.seq,
                "head": checkpoint.head,
                "key_id": checkpoint.key_id,
                "reason": reason,
            },
        )
    )
    sent: set[str] = set()
    for area in sorted(directory.areas.values(), key=lambda a: a.code):
        for admin in area.authority_admins:
            recipient = admin.strip().lower()
            if not recipient or "@" not in recipient or recipient in sent:
                continue
            sent.add(recipient)
            await uow.outbox.add(
                Notification(
                    id=ids.new_id(),
                    request_id=None,
                    template="audit.checkpoint",
                    audience=Audience.ADMIN,
                    recipient=recipient,
                    params={
                        "area": area.code,
                        "start": checkpoint.at.astimezone(HELSINKI).date().isoformat(),
                        "note": checkpoint.text,
                        "actor": SYSTEM_ACTOR,
                        "urgent": False,
                    },
                    idempotency_key=f"audit-checkpoint:{checkpoint.body}:{recipient}",
                    created_at=at,
                )
            )
    return checkpoint


def log_checkpoint(checkpoint: Checkpoint, reason: str) -> None:
    """One log line with the checkpoint (ids and hashes only)."""
    log.info(
        "audit checkpoint %s",
        checkpoint.text,
        extra={
            "event": "audit_checkpoint",
            "seq": checkpoint.seq,
            "key_id": checkpoint.key_id,
            "checkpoint": checkpoint.text,
            "trigger": reason,
        },
    )
