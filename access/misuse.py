"""Reports of suspected misuse of a grant (seed 002 §7) are matters with a record.

A requester of the grant's municipality or an approver (or deputy) of its area
reports suspected misuse with a note. The report opens a :class:`MisuseMatter` (who,
when, which grant, the note), an audit row ``grant.misuse_reported`` (ids only) and a
notification ``misuse.reported`` to both contacts (the municipality's requesters, the
area's approvers and deputies) and the area's authority admins.

The matter stays open until an approver (or deputy) of the area closes it with an
outcome (:class:`MatterOutcome`: unfounded, access revoked, other measures) and a
note: an audit row ``misuse.closed`` (ids and the outcome code) and a notification
``misuse.closed`` to the reporter and the area's admins. "Access revoked" is the
outcome of the existing revoke flow (``RequestService.revoke_for_misuse``, 002 §10),
so it can only be recorded once the grant is no longer active.

The texts (the report's note, the closing note) are kept only in the matter's record,
never in the hash-chained audit log, which cannot be pseudonymised (docs/decisions.md,
"Misuse matters"). While a matter is open, retention holds every record of its grant
(001 annex 6 §5: "except where a matter is pending").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from access import authz
from access.addresses import normalize_email
from access.directory import Directory, DirectorySource, Roles
from access.errors import ConcurrentModification, MatterClosed, NotFound, PolicyViolations
from access.model import (
    LIVE_GRANT_STATES,
    AuditDraft,
    Grant,
    GrantState,
    IdempotencyRecord,
    MatterOutcome,
    MisuseMatter,
)
from access.notifications import MatterNotice
from access.policy import Violation, check_text
from access.ports import Clock, IdSource, UnitOfWork
from access.runner import CommandRunner, Transaction, deny, ref, ref_ids

__all__ = [
    "NOTE_MAX",
    "MatterOutcome",
    "MisuseMatter",
    "MisuseReport",
    "MisuseReports",
    "OpenMatter",
]

NOTE_MAX = 2000


@dataclass(frozen=True)
class MisuseReport:
    grant_id: str
    reported_by: str
    reported_at: datetime
    first: bool  # False: the same idempotency key was used before (nothing new)
    matter_id: str = ""


@dataclass(frozen=True)
class OpenMatter:
    """An open matter as the approver's list shows it: the matter and its grant."""

    matter: MisuseMatter
    grant: Grant
    municipality_name: str


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

    # ---------------------------------------------------------------- report

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
            matter = MisuseMatter(
                id=tx.new_id(),
                grant_id=grant.id,
                area=grant.area,
                municipality=grant.municipality,
                reported_by=actor,
                reported_at=tx.now,
                note=note,
            )
            await tx.uow.matters.add(matter)
            await tx.uow.audit.append(
                AuditDraft(
                    at=tx.now,
                    actor=actor,
                    action="grant.misuse_reported",
                    request_id=grant.origin_request_id,
                    details={"grant_id": grant.id, "matter_id": matter.id},
                )
            )
            await tx.emit(
                "misuse.reported",
                grant,
                key=f"misuse:{idempotency_key}",
                request_id=grant.origin_request_id,
                params={"note": note},
            )
            report = MisuseReport(grant.id, actor, tx.now, first=True, matter_id=matter.id)
            return report, ref("matter", matter.id, grant.id)

        async def again(uow: UnitOfWork, prior: IdempotencyRecord) -> MisuseReport:
            ids = ref_ids(prior.result)
            matter_id, grant = (ids[0], ids[1]) if len(ids) > 1 else ("", ids[0])
            return MisuseReport(grant, actor, prior.created_at, first=False, matter_id=matter_id)

        return await self.runner.run(actor, "report_misuse", idempotency_key, work, again)

    # ----------------------------------------------------------------- close

    async def close(
        self,
        actor: str,
        matter_id: str,
        outcome: MatterOutcome,
        note: str = "",
        *,
        idempotency_key: str,
    ) -> MisuseMatter:
        """Close an open matter with its outcome. ``note`` is required for "other
        measures" (which ones); "access revoked" needs the grant revoked first."""
        actor = normalize_email(actor)
        note = note.strip()
        violations = check_text(
            "note", note, max_length=NOTE_MAX, required=outcome is MatterOutcome.OTHER_MEASURES
        )
        if violations:
            raise PolicyViolations(violations)

        async def work(tx: Transaction[UnitOfWork]) -> tuple[MisuseMatter, str]:
            matter = await tx.uow.matters.get(matter_id)
            grant = await tx.uow.grants.get(matter.grant_id) if matter is not None else None
            if matter is None or grant is None:
                raise NotFound("matter", matter_id)
            deny(
                authz.may_close_matter(tx.directory.roles_of(actor), actor, grant),
                actor,
                "close_matter",
                target=matter.id,
            )
            if not matter.open:
                raise MatterClosed(
                    matter.id,
                    closed_by=matter.closed_by,
                    closed_at=matter.closed_at,
                    outcome=matter.outcome.value if matter.outcome else "",
                )
            if outcome is MatterOutcome.ACCESS_REVOKED and grant.state is GrantState.ACTIVE:
                raise PolicyViolations([Violation("matter.grant_still_active", "outcome", {})])
            closed = replace(
                matter,
                version=matter.version + 1,
                outcome=outcome,
                closing_note=note,
                closed_by=actor,
                closed_at=tx.now,
            )
            if not await tx.uow.matters.update(closed, expected_version=matter.version):
                raise ConcurrentModification("matter", matter.id)
            await tx.uow.audit.append(
                AuditDraft(
                    at=tx.now,
                    actor=actor,
                    action="misuse.closed",
                    request_id=grant.origin_request_id,
                    details={
                        "grant_id": grant.id,
                        "matter_id": matter.id,
                        "outcome": outcome.value,
                    },
                )
            )
            await tx.emit(
                "misuse.closed",
                MatterNotice(closed, grant),
                key=f"misuse-closed:{matter.id}",
                request_id=grant.origin_request_id,
            )
            return closed, ref("matter", matter.id)

        async def again(uow: UnitOfWork, prior: IdempotencyRecord) -> MisuseMatter:
            found = await uow.matters.get(ref_ids(prior.result)[0])
            if found is None:
                raise NotFound("matter", matter_id)
            return found

        return await self.runner.run(actor, "close_matter", idempotency_key, work, again)

    # ----------------------------------------------------------------- lists

    async def open_matters(self, actor: str) -> list[OpenMatter]:
        """The open matters of the areas where ``actor`` is an approver or deputy, oldest
        report first (none for anyone else)."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> list[OpenMatter]:
            areas = sorted(roles.decides_in)
            if not areas:
                return []
            directory = self.directory
            found: list[OpenMatter] = []
            for matter in await uow.matters.find(areas=areas, open_only=True):
                grant = await uow.grants.get(matter.grant_id)
                if grant is not None and grant.worker.email != actor:
                    municipality = directory.municipality(grant.municipality)
                    name = municipality.name if municipality is not None else grant.municipality
                    found.append(OpenMatter(matter, grant, name))
            return found

        return await self.runner.read(actor, fn)
