"""Scheduled commands of the request lifecycle (actor ``system``): requests without a
decision expire, approved requests not yet opened whose agreement ended or whose end
date passed are stopped, and grants past their end date or their municipality's
agreement get an urgent revoke. :class:`access.automation.AutomationService` runs them."""

from __future__ import annotations

from datetime import date, timedelta

from access.handoff import stop_lapsed
from access.model import (
    AWAITING_DECISION,
    STOPPABLE_STATES,
    SYSTEM_ACTOR,
    AccessRequest,
    Grant,
    GrantState,
    RequestState,
    RevokeReason,
)
from access.ports import GrantQuery, RequestQuery, UnitOfWork
from access.requests import open_revoke
from access.runner import CommandRunner, Transaction, load_requests, ref

__all__ = ["JobService"]

Tx = Transaction[UnitOfWork]


class JobService:
    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    async def expire(self, *, idempotency_key: str) -> list[AccessRequest]:
        """Scheduled: requests without a decision for the area's ``pending_limit_days``
        (pending, or returned and not resubmitted) expire."""

        async def work(tx: Tx) -> tuple[list[AccessRequest], str]:
            expired: list[AccessRequest] = []
            for area in tx.directory.areas.values():
                cutoff = tx.now - timedelta(days=area.pending_limit_days)
                stale = await tx.uow.requests.find(
                    RequestQuery(
                        areas=[area.code],
                        states=sorted(AWAITING_DECISION),
                        updated_before=cutoff,
                    )
                )
                for request in sorted(stale, key=lambda r: r.number):
                    expired.append(
                        await tx.move(
                            request,
                            RequestState.EXPIRED,
                            action="request.expired",
                            template="request.expired",
                            params={"pending_limit_days": area.pending_limit_days},
                        )
                    )
            return expired, ref("requests", *(r.id for r in expired))

        return await self.runner.run(SYSTEM_ACTOR, "expire", idempotency_key, work, load_requests)

    async def end_due_grants(self, *, idempotency_key: str) -> list[AccessRequest]:
        """Scheduled: an active grant past its end date, or of a municipality whose
        agreement has ended (002 §9), gets an urgent revoke (grant -> revoking); an
        approved request KEHA has not confirmed yet is stopped for the same reasons
        (:func:`access.handoff.stop_lapsed`). Returns the stopped requests, then the
        revokes.

        A grant whose end date a future-dated revoke set carries that revoke's reason
        and note; its effective date is the grant's end date (the agreement's end for
        an ended agreement)."""

        async def work(tx: Tx) -> tuple[list[AccessRequest], str]:
            waiting = await tx.uow.requests.find(RequestQuery(states=sorted(STOPPABLE_STATES)))
            stopped = await stop_lapsed(tx, waiting)
            due: dict[str, tuple[Grant, RevokeReason, date]] = {}
            ended = {
                m.code: m.agreement_ends
                for m in tx.directory.municipalities()
                if m.agreement_ends is not None and m.agreement_ends <= tx.today
            }
            if ended:
                for grant in await tx.uow.grants.find(
                    GrantQuery(municipalities=sorted(ended), states=[GrantState.ACTIVE])
                ):
                    until = ended[grant.municipality]
                    if grant.end_reason is not None and grant.end < until:
                        continue  # a revoke dated before the agreement's end: its reason
                    due[grant.id] = (grant, RevokeReason.AGREEMENT_ENDED, until)
            for grant in await tx.uow.grants.find(
                GrantQuery(states=[GrantState.ACTIVE], end_before=tx.today)
            ):
                reason = grant.end_reason or RevokeReason.GRANT_ENDED
                due.setdefault(grant.id, (grant, reason, grant.end))
            created: list[AccessRequest] = []
            for grant, reason, effective in sorted(due.values(), key=lambda g: g[0].id):
                await tx.uow.lock(f"grant:{grant.id}")
                current = await tx.uow.grants.get(grant.id)
                if current is None or current.state is not GrantState.ACTIVE:
                    continue
                created.append(
                    await open_revoke(
                        tx,
                        current,
                        requester=current.requested_by,
                        reason=reason,
                        note=current.end_note if reason is current.end_reason else "",
                        template="revoke.due",
                        effective=effective,
                    )
                )
            done = stopped + created
            return done, ref("requests", *(r.id for r in done))

        return await self.runner.run(
            SYSTEM_ACTOR, "end_due_grants", idempotency_key, work, load_requests
        )
