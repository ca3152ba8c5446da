"""The agreement's life, recorded in chat: a municipality's agreement dissolved for
breach (002 §10) removes every right of its workers at once.

:meth:`AgreementService.dissolve` runs in one unit of work: every active grant of the
municipality gets an urgent revoke (reason ``agreement_dissolved``), requests awaiting
a decision are cancelled, and approved requests KEHA has not opened yet are stopped
(:func:`access.handoff.stop_before_open`): withdrawn, taken out of a batch not yet sent,
or cancelled with KEHA by an urgent row. So a dissolved municipality leaves no grant
and no request that KEHA would still open. One ``agreement.dissolved`` audit row and
notification (its requesters, the area's contacts and admins) record it with its
reason. The directory's end date of the agreement is set by
:meth:`access.authority.AuthorityService.dissolve_agreement`, which calls this.
"""

from __future__ import annotations

from dataclasses import dataclass

from access import authz
from access.addresses import normalize_email
from access.errors import NotFound, PolicyViolations
from access.handoff import stop_before_open
from access.model import (
    AWAITING_DECISION,
    STOPPABLE_STATES,
    AccessRequest,
    AuditDraft,
    GrantState,
    IdempotencyRecord,
    RequestKind,
    RequestState,
    RevokeReason,
)
from access.notifications import MunicipalityNotice
from access.policy import check_decision_text
from access.ports import GrantQuery, RequestQuery, UnitOfWork
from access.requests import open_revoke
from access.runner import CommandRunner, Transaction, deny, load_requests, ref

__all__ = ["DISSOLVED_CAUSE", "AgreementService", "Dissolution"]

Tx = Transaction[UnitOfWork]

DISSOLVED_CAUSE = "agreement_dissolved"


@dataclass(frozen=True)
class Dissolution:
    """What a dissolution did: the revokes it opened and the requests it ended."""

    municipality: str
    revoked: tuple[AccessRequest, ...]
    cancelled: tuple[AccessRequest, ...]
    stopped: tuple[AccessRequest, ...]

    @property
    def requests(self) -> list[AccessRequest]:
        return [*self.cancelled, *self.stopped, *self.revoked]


class AgreementService:
    """Commands on a municipality's agreement that act on its requests and grants."""

    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    async def dissolve(
        self, actor: str, municipality: str, reason: str, *, idempotency_key: str
    ) -> Dissolution:
        """An authority admin or approver of the area dissolves the municipality's
        agreement for breach (002 §10): every right removed at once, with a reason."""
        actor = normalize_email(actor)
        reason = reason.strip()

        async def work(tx: Tx) -> tuple[Dissolution, str]:
            found = tx.directory.municipality(municipality)
            if found is None:
                deny(
                    authz.may_manage_agreement(self.runner.roles_of(actor), ""),
                    actor,
                    "dissolve_agreement",
                    target=municipality,
                )
                raise NotFound("municipality", municipality)
            area = tx.directory.area(found.area_code)
            assert area is not None
            deny(
                authz.may_manage_agreement(self.runner.roles_of(actor), area.code),
                actor,
                "dissolve_agreement",
                target=municipality,
            )
            violations = check_decision_text("reason", reason)
            if violations:
                raise PolicyViolations(violations)
            await tx.uow.lock(f"agreement:{found.code}")
            cancelled: list[AccessRequest] = []
            stopped: list[AccessRequest] = []
            open_requests = await tx.uow.requests.find(
                RequestQuery(
                    municipalities=[found.code],
                    states=sorted(AWAITING_DECISION | STOPPABLE_STATES),
                    kinds=[RequestKind.GRANT, RequestKind.CHANGE],
                )
            )
            for request in sorted(open_requests, key=lambda r: r.number):
                if request.state in AWAITING_DECISION:
                    cancelled.append(
                        await tx.move(
                            request,
                            RequestState.CANCELLED,
                            action="request.cancelled",
                            template="request.cancelled",
                            details={"cause": DISSOLVED_CAUSE},
                            params={"cause": DISSOLVED_CAUSE},
                            question=None,
                        )
                    )
                else:
                    stopped.append(
                        await stop_before_open(
                            tx,
                            request,
                            reason=RevokeReason.AGREEMENT_DISSOLVED,
                            cause=DISSOLVED_CAUSE,
                        )
                    )
            revoked: list[AccessRequest] = []
            grants = await tx.uow.grants.find(
                GrantQuery(municipalities=[found.code], states=[GrantState.ACTIVE])
            )
            for grant in sorted(grants, key=lambda g: g.id):
                await tx.uow.lock(f"grant:{grant.id}")
                current = await tx.uow.grants.get(grant.id)
                if current is None or current.state is not GrantState.ACTIVE:
                    continue
                revoked.append(
                    await open_revoke(
                        tx,
                        current,
                        requester=current.requested_by,
                        reason=RevokeReason.AGREEMENT_DISSOLVED,
                        note="",
                        template="revoke.due",
                        effective=tx.today,
                    )
                )
            result = Dissolution(found.code, tuple(revoked), tuple(cancelled), tuple(stopped))
            await tx.uow.audit.append(
                _agreement_audit(tx, "agreement.dissolved", found.code, area.code, reason, result)
            )
            await tx.emit(
                "agreement.dissolved",
                MunicipalityNotice(area, found, end=tx.today),
                key=f"agreement-dissolved:{found.code}:{idempotency_key}",
                request_id=None,
                params={"reason": reason},
            )
            return result, ref("requests", *(r.id for r in result.requests))

        async def load(uow: UnitOfWork, prior: IdempotencyRecord) -> Dissolution:
            done = await load_requests(uow, prior)
            return Dissolution(
                municipality,
                tuple(r for r in done if r.kind is RequestKind.REVOKE),
                tuple(r for r in done if r.state is RequestState.CANCELLED),
                tuple(
                    r
                    for r in done
                    if r.kind is not RequestKind.REVOKE and r.state is not RequestState.CANCELLED
                ),
            )

        return await self.runner.run(actor, "dissolve_agreement", idempotency_key, work, load)


def _agreement_audit(
    tx: Tx, action: str, municipality: str, area: str, reason: str, result: Dissolution
) -> AuditDraft:
    return AuditDraft(
        at=tx.now,
        actor=tx.actor,
        action=action,
        request_id=None,
        details={
            "municipality": municipality,
            "area": area,
            "reason": reason,
            "revoked": len(result.revoked),
            "cancelled": len(result.cancelled),
            "stopped": len(result.stopped),
        },
    )
