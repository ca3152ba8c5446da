"""Reports of suspected misuse of a grant (seed 002 §7).

A requester of the grant's municipality or an approver (or deputy) of its area
reports suspected misuse with a note. The report is an audit row
``grant.misuse_reported`` on the grant's original request (the note itself is not in
the hash-chained audit log, only in the notification) and a notification
``misuse.reported`` to both contacts: the municipality's requesters and the area's
approvers and deputies. An approver can then revoke the grant at once with
``RequestService.revoke_for_misuse`` (002 §10), which the chat offers on the same card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from access import authz
from access.addresses import normalize_email
from access.directory import Directory, DirectorySource
from access.errors import NotFound, PolicyViolations
from access.model import LIVE_GRANT_STATES, AuditDraft, IdempotencyRecord
from access.policy import check_text
from access.ports import Clock, IdSource, UnitOfWork
from access.runner import CommandRunner, Transaction, deny, ref, ref_ids

__all__ = ["NOTE_MAX", "MisuseReport", "MisuseReports"]

NOTE_MAX = 2000


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
        directory: DirectorySource,
        clock: Clock,
        ids: IdSource,
    ) -> None:
        self.runner: CommandRunner[UnitOfWork] = CommandRunner(uow_factory, directory, clock, ids)

    @property
    def directory(self) -> Directory:
        return self.runner.directory

    async def report(
        self, actor: str, grant_id: str, note: str, *, idempotency_key: str
    ) -> MisuseReport:
        actor = normalize_email(actor)
        note = note.strip()
        violations = check_text("note", note, max_length=NOTE_MAX, required=True)
        if violations:
            raise PolicyViolations(violations)

        async def work(tx: Transaction[UnitOfWork]) -> tuple[MisuseReport, str]:
            grant = await tx.uow.grants.get(grant_id)
            if grant is None or grant.state not in LIVE_GRANT_STATES:
                raise NotFound("grant", grant_id)
            deny(
                authz.may_report_misuse(tx.directory.roles_of(actor), actor, grant),
                actor,
                "report_misuse",
                target=grant.id,
            )
            await tx.uow.audit.append(
                AuditDraft(
                    at=tx.now,
                    actor=actor,
                    action="grant.misuse_reported",
                    request_id=grant.origin_request_id,
                    details={"grant_id": grant.id},
                )
            )
            await tx.emit(
                "misuse.reported",
                grant,
                key=f"misuse:{idempotency_key}",
                request_id=grant.origin_request_id,
                params={"note": note},
            )
            return MisuseReport(grant.id, actor, tx.now, first=True), ref("grant", grant.id)

        async def again(uow: UnitOfWork, prior: IdempotencyRecord) -> MisuseReport:
            return MisuseReport(ref_ids(prior.result)[0], actor, prior.created_at, first=False)

        return await self.runner.run(actor, "report_misuse", idempotency_key, work, again)
