"""Reports of suspected misuse of a grant (issue 8; seed 002 §7).

A requester of the grant's municipality or an approver (or deputy) of its area
reports suspected misuse with a note. The report is an audit row
``grant.misuse_reported`` on the grant's original request (the note itself is not in
the hash-chained audit log, only in the notification) and a notification
``misuse.reported`` to both contacts: the municipality's requesters and the area's
approvers and deputies. An approver can then revoke the grant at once with
``AccessService.revoke_for_misuse`` (002 §10), which the chat offers on the same card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from access.directory import Directory, current_directory
from access.errors import AccessDenied, IdempotencyKeyReused, NotFound, PolicyViolations
from access.model import (
    LIVE_GRANT_STATES,
    Audience,
    AuditDraft,
    Grant,
    IdempotencyRecord,
    Notification,
    ParamValue,
)
from access.policy import check_text, normalize_email
from access.ports import Clock, IdSource, UnitOfWork

__all__ = ["MISUSE_TEMPLATES", "NOTE_MAX", "MisuseReports", "may_report_misuse"]

NOTE_MAX = 2000
MISUSE_TEMPLATES: dict[str, tuple[Audience, ...]] = {
    "misuse.reported": (Audience.REQUESTER, Audience.APPROVER),
}


def may_report_misuse(directory: Directory, actor: str, grant: Grant) -> str | None:
    """None if ``actor`` may report misuse of ``grant``, else the denial reason."""
    roles = directory.roles_of(actor)
    if grant.municipality not in roles.requester_for and grant.area not in roles.decides_in:
        return "not_visible"
    if actor == grant.worker.email:
        return "own_access"
    return None


@dataclass(frozen=True)
class MisuseReport:
    grant_id: str
    reported_by: str
    reported_at: datetime
    first: bool  # False: the same idempotency key was used before (nothing new)


class MisuseReports:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        directory: Directory | Callable[[], Directory],
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self._uow_factory = uow_factory
        self._directory = directory
        self.clock = clock
        self.ids = ids

    @property
    def directory(self) -> Directory:
        return current_directory(self._directory)

    async def report(
        self, actor: str, grant_id: str, note: str, *, idempotency_key: str
    ) -> MisuseReport:
        actor = normalize_email(actor)
        note = note.strip()
        violations = check_text("note", note, max_length=NOTE_MAX, required=True)
        if violations:
            raise PolicyViolations(violations)
        directory = self.directory
        async with self._uow_factory() as uow:
            grant = await uow.grants.get(grant_id)
            if grant is None or grant.state not in LIVE_GRANT_STATES:
                raise NotFound("grant", grant_id)
            reason = may_report_misuse(directory, actor, grant)
            if reason is None:
                now = self.clock.now()
                prior = await uow.idempotency.claim(
                    IdempotencyRecord(idempotency_key, actor, "report_misuse", now)
                )
                if prior is not None:
                    if prior.actor != actor or prior.command != "report_misuse":
                        raise IdempotencyKeyReused(idempotency_key)
                    return MisuseReport(grant.id, actor, prior.created_at, first=False)
                await uow.audit.append(
                    AuditDraft(
                        at=now,
                        actor=actor,
                        action="grant.misuse_reported",
                        request_id=grant.origin_request_id,
                        details={"grant_id": grant.id},
                    )
                )
                await self._notify(uow, grant, actor, note, idempotency_key, now)
                await uow.idempotency.complete(idempotency_key, f"grant:{grant.id}")
                await uow.commit()
                return MisuseReport(grant.id, actor, now, first=True)
        async with self._uow_factory() as uow:
            await uow.audit.append(
                AuditDraft(
                    at=self.clock.now(),
                    actor=actor,
                    action="access.denied",
                    request_id=None,
                    details={"command": "report_misuse", "reason": reason, "target": grant.id},
                )
            )
            await uow.commit()
        raise AccessDenied(actor, "report_misuse", reason, target=grant.id)

    async def _notify(
        self,
        uow: UnitOfWork,
        grant: Grant,
        actor: str,
        note: str,
        key: str,
        now: datetime,
    ) -> None:
        directory = self.directory
        municipality = directory.municipality(grant.municipality)
        params: dict[str, ParamValue] = {
            "request_id": grant.origin_request_id,
            "worker_name": grant.worker.name,
            "worker_email": grant.worker.email,
            "worker_job_title": grant.worker.job_title,
            "municipality": grant.municipality,
            "municipality_name": municipality.name if municipality else grant.municipality,
            "area": grant.area,
            "service_areas": ",".join(grant.service_areas),
            "level": grant.level,
            "start": grant.start.isoformat(),
            "end": grant.end.isoformat(),
            "urgent": True,
            "actor": actor,
            "grant_id": grant.id,
            "note": note,
        }
        people = {
            Audience.REQUESTER: municipality.requesters if municipality else (),
            Audience.APPROVER: directory.approvers_of(grant.area),
        }
        for audience in MISUSE_TEMPLATES["misuse.reported"]:
            for recipient in dict.fromkeys(people[audience]):
                await uow.outbox.add(
                    Notification(
                        id=self.ids.new_id(),
                        request_id=grant.origin_request_id,
                        template="misuse.reported",
                        audience=audience,
                        recipient=recipient,
                        params=dict(params),
                        idempotency_key=f"misuse:{key}:{audience.value}:{recipient}",
                        created_at=now,
                    )
                )
