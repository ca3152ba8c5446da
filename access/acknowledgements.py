"""The worker acknowledges the data-protection terms of a grant (DOMAIN rule 4).

The acknowledgement is an audit row ``grant.terms_acknowledged`` (hash-chained like
every other row) on the grant's original request, with ``details.grant_id``. Only
the worker of a live grant can acknowledge it; doing it again returns the first
time and writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from access import authz
from access.addresses import normalize_email
from access.errors import NotFound
from access.model import LIVE_GRANT_STATES, AuditDraft, Grant
from access.ports import UnitOfWork
from access.runner import CommandRunner, deny

__all__ = ["ACTION", "Acknowledgements"]

ACTION = "grant.terms_acknowledged"


async def _first(uow: UnitOfWork, grant: Grant) -> datetime | None:
    # Audit rows name people by pseudonymous id (access.audit.PERSON_PREFIX), not e-mail.
    worker = await uow.people.ref_of(grant.worker.email)
    for entry in await uow.audit.for_request(grant.origin_request_id):
        if (
            entry.action == ACTION
            and entry.details.get("grant_id") == grant.id
            and worker is not None
            and entry.actor == worker
        ):
            return entry.at
    return None


class Acknowledgements:
    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    async def acknowledged_at(self, grant: Grant) -> datetime | None:
        """When the grant's worker acknowledged the terms, or None."""
        async with self.runner.uow_factory() as uow:
            return await _first(uow, grant)

    async def acknowledge(self, actor: str, grant_id: str) -> datetime:
        """Record the worker's acknowledgement; the time of the first one."""
        actor = normalize_email(actor)
        async with self.runner.audited(), self.runner.uow_factory() as uow:
            grant = await uow.grants.get(grant_id)
            if grant is None or grant.state not in LIVE_GRANT_STATES:
                raise NotFound("grant", grant_id)
            deny(authz.may_acknowledge(actor, grant), actor, "acknowledge", target=grant.id)
            await uow.lock(f"grant:{grant.id}")
            first = await _first(uow, grant)
            if first is not None:
                return first
            now = self.runner.clock.now()
            await uow.audit.append(
                AuditDraft(
                    at=now,
                    actor=actor,
                    action=ACTION,
                    request_id=grant.origin_request_id,
                    details={"grant_id": grant.id},
                )
            )
            await uow.commit()
            return now
