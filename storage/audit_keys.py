"""Which audit key a database session chains and binds people with.

The key (``ATMT_AUDIT_KEY``) is never stored in the database. The composition root
binds it to the session factory once (:func:`bind_audit_key`); every unit of work made
from that factory then chains audit rows, binds people and signs checkpoints with it.
A factory without a bound key uses :data:`access.audit.DEVELOPMENT_KEY`, which is
public, and says so in the log once per process: fine for local mode and tests,
never for production (``bot.config`` refuses an app id without ``ATMT_AUDIT_KEY``).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.audit import DEVELOPMENT_KEY, AuditKey

__all__ = ["audit_key_of", "bind_audit_key"]

log = logging.getLogger(__name__)

_INFO = "atmt_audit_key"
_warned = False


def bind_audit_key(
    sessions: async_sessionmaker[AsyncSession], key: AuditKey
) -> async_sessionmaker[AsyncSession]:
    """Make every session of ``sessions`` use ``key``; returns ``sessions``. The
    development key is logged as a warning (once per process), another key by its id."""
    info = dict(sessions.kw.get("info") or {})
    info[_INFO] = key
    sessions.configure(info=info)
    if key.development:
        _warn_development()
    else:
        log.info("audit key in use", extra={"event": "audit_key", "key_id": key.key_id})
    return sessions


def _warn_development() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "audit chain keyed with the PUBLIC development key: anyone can rewrite it; "
            "set ATMT_AUDIT_KEY",
            extra={"event": "audit_development_key", "key_id": DEVELOPMENT_KEY.key_id},
        )


def audit_key_of(session: AsyncSession) -> AuditKey:
    """The key bound to ``session``'s factory, else the development key (logged)."""
    key = session.info.get(_INFO)
    if isinstance(key, AuditKey):
        return key
    _warn_development()
    return DEVELOPMENT_KEY
