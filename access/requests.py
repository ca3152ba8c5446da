"""Use cases of a request: submit, cancel, return, resubmit, approve, reject, stop (an
approved request before KEHA opened it), and the revokes (by the municipality, by the
area for the reason it has; misuse is one of them).

Every command authorises the actor against the directory (:mod:`access.authz`),
checks the transition and the rules (all violations at once) and writes the new state
with compare-and-set, one audit row per request transition and the outbox rows the
transition implies, under an idempotency key - in one unit of work
(:meth:`access.runner.CommandRunner.run`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, TypeVar

from access import authz
from access.addresses import normalize_email
from access.directory import Directory, Roles
from access.errors import NotFound, PolicyViolations, StaleRequest
from access.handoff import stop_before_open
from access.model import (
    AREA_NOTE_REQUIRED,
    AREA_REVOKE_REASONS,
    AREA_STOP_REASONS,
    AWAITING_DECISION,
    LIVE_GRANT_STATES,
    MUNICIPAL_REVOKE_REASONS,
    MUNICIPAL_STOP_REASONS,
    OPEN_STATES,
    STOPPABLE_STATES,
    AccessRequest,
    AuditDraft,
    DecisionOutcome,
    Grant,
    GrantEventKind,
    GrantState,
    IdempotencyRecord,
    JsonValue,
    ParamValue,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
    Revocation,
    RevokeReason,
    Worker,
)
from access.notifications import GrantEnding
from access.policy import (
    DECISION_TEXT_MAX,
    PolicyContext,
    Violation,
    check_answer,
    check_decision_text,
    check_effective,
    check_request,
    check_revoke,
    check_still_grantable,
    check_text,
)
from access.ports import GrantQuery, RequestQuery, UnitOfWork
from access.runner import CommandRunner, Transaction, deny, load_request, ref, ref_ids

__all__ = ["RequestService", "load_revocation", "open_revoke", "schedule_end"]

T = TypeVar("T")

Tx = Transaction[UnitOfWork]


class RequestService:
    """The commands of requesters and approvers on requests and grants."""

    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    # ------------------------------------------------------------------ requesters

    async def submit(
        self, actor: str, draft: RequestDraft, *, idempotency_key: str
    ) -> AccessRequest:
        """A requester asks for a new grant or a change of an active grant (-> pending).

        Raises AccessDenied (not a requester for the municipality) or PolicyViolations.
        """
        actor = normalize_email(actor)
        if draft.kind is RequestKind.REVOKE:
            raise ValueError("use revoke_by_municipality for revoke requests")

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            roles = self.runner.roles_of(actor)
            d = _normalized(draft)
            grant: Grant | None = None
            if d.kind is RequestKind.CHANGE:
                grant = await tx.uow.grants.get(d.grant_id) if d.grant_id else None
                if grant is None:
                    deny(authz.may_request_anywhere(roles), actor, "submit", target=d.grant_id)
                    raise PolicyViolations(
                        [Violation("grant.not_found", "grant_id", {"grant_id": d.grant_id or ""})]
                    )
                d = replace(d, municipality=grant.municipality)
            deny(authz.may_request(roles, d.municipality), actor, "submit", target=d.municipality)
            ctx = await _policy_context(tx, d, grant, exclude=None)
            violations = check_request(d, tx.directory, ctx)
            if violations:
                raise PolicyViolations(violations)
            area = tx.directory.area_of(d.municipality)
            assert area is not None  # checked by the policy
            worker = (
                _corrected(grant.worker, d)
                if grant is not None
                else Worker(d.worker_name, d.worker_email, d.worker_job_title, d.municipality)
            )
            request = AccessRequest(
                id=tx.new_id(),
                number=await tx.next_number(),
                kind=d.kind,
                state=RequestState.PENDING,
                version=1,
                worker=worker,
                municipality=d.municipality,
                area=area.code,
                service_areas=d.service_areas,
                level=d.level,
                start=d.start,
                end=d.end,
                justification=d.justification,
                confirmations=d.confirmations,
                requester=actor,
                created_by=actor,
                created_at=tx.now,
                updated_at=tx.now,
                grant_id=grant.id if grant is not None else None,
            )
            await tx.create(
                request,
                action="request.submitted",
                template="request.submitted",
                params=_submission_params(request),
            )
            return request, ref("request", request.id)

        return await self.runner.run(actor, "submit", idempotency_key, work, load_request)

    async def check(self, actor: str, draft: RequestDraft) -> list[Violation]:
        """Every rule :meth:`submit` would check, with what the database knows (another
        grant or open request of the worker, another change of the grant), without
        submitting: a form shows them before its summary. Raises AccessDenied like
        :meth:`submit` (audited)."""
        actor = normalize_email(actor)
        if draft.kind is RequestKind.REVOKE:
            raise ValueError("use revoke_by_municipality for revoke requests")

        async def fn(uow: UnitOfWork, roles: Roles) -> list[Violation]:
            d = _normalized(draft)
            grant: Grant | None = None
            if d.kind is RequestKind.CHANGE:
                grant = await uow.grants.get(d.grant_id) if d.grant_id else None
                if grant is None:
                    deny(authz.may_request_anywhere(roles), actor, "check", target=d.grant_id)
                    return [
                        Violation("grant.not_found", "grant_id", {"grant_id": d.grant_id or ""})
                    ]
                d = replace(d, municipality=grant.municipality)
            deny(authz.may_request(roles, d.municipality), actor, "check", target=d.municipality)
            directory = self.runner.directory
            ctx = await _gather_context(
                uow, directory, self.runner.clock.today(), d, grant, exclude=None
            )
            return check_request(d, directory, ctx)

        return await self.runner.read(actor, fn)

    async def cancel(self, actor: str, request_id: str, *, idempotency_key: str) -> AccessRequest:
        """The requester withdraws a request: before it is decided (-> cancelled), or
        approved and not yet opened by KEHA (stopped, reason ``withdrawn``: see
        :meth:`stop`)."""
        actor = normalize_email(actor)

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            request = await tx.request(request_id)
            deny(
                authz.may_request(self.runner.roles_of(actor), request.municipality),
                actor,
                "cancel",
                request_id=request.id,
            )
            if request.state in STOPPABLE_STATES and request.kind is not RequestKind.REVOKE:
                stopped = await stop_before_open(
                    tx, request, reason=RevokeReason.WITHDRAWN, cause="requester"
                )
                return stopped, ref("request", stopped.id)
            if request.state not in AWAITING_DECISION:
                await tx.not_in_state(request)
            moved = await tx.move(
                request,
                RequestState.CANCELLED,
                action="request.cancelled",
                template="request.cancelled",
                details={"cause": "requester"},
                params={"cause": "requester"},
                question=None,
            )
            return moved, ref("request", moved.id)

        return await self.runner.run(actor, "cancel", idempotency_key, work, load_request)

    async def stop(
        self,
        actor: str,
        request_id: str,
        reason: RevokeReason,
        note: str = "",
        *,
        idempotency_key: str,
        expected_version: int | None = None,
    ) -> AccessRequest:
        """Stop an approved grant or change request before KEHA has confirmed it (002 §5:
        at once): a requester of its municipality (employment ended, tasks changed,
        withdrawn, other) or an approver of its area (the task ended, misuse: a note is
        then required). Withdrawn from the queue, taken out of a batch not yet sent, or
        an urgent cancellation row to KEHA when it was sent
        (:func:`access.handoff.stop_before_open`). ``expected_version``: the version the
        stopper saw (a card of it); another -> :class:`StaleRequest`."""
        actor = normalize_email(actor)
        note = note.strip()

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            roles = self.runner.roles_of(actor)
            request = await tx.request(request_id)
            deny(authz.may_stop(roles, actor, request), actor, "stop", request_id=request.id)
            _check_version(request, expected_version)
            as_requester = request.municipality in roles.requester_for
            allowed = MUNICIPAL_STOP_REASONS if as_requester else set()
            if request.area in roles.decides_in and actor != request.worker.email:
                allowed = allowed | AREA_STOP_REASONS
            cause = "requester" if reason in MUNICIPAL_STOP_REASONS and as_requester else "approver"
            violations = check_text(
                "note",
                note,
                max_length=DECISION_TEXT_MAX,
                required=cause == "approver" and reason in AREA_NOTE_REQUIRED,
            )
            if reason not in allowed:
                violations.append(
                    Violation("revoke.reason_invalid", "reason", {"reason": reason.value})
                )
            if violations:
                raise PolicyViolations(violations)
            if request.kind is RequestKind.REVOKE or request.state not in STOPPABLE_STATES:
                await tx.not_in_state(request)
            stopped = await stop_before_open(tx, request, reason=reason, cause=cause, note=note)
            if cause == "approver":
                await tx.decide(stopped, DecisionOutcome.STOPPED, note)
            return stopped, ref("request", stopped.id)

        return await self.runner.run(actor, "stop", idempotency_key, work, load_request)

    async def resubmit(
        self,
        actor: str,
        request_id: str,
        changes: RequestChanges,
        *,
        idempotency_key: str,
    ) -> AccessRequest:
        """The requester edits a returned request and sends it again (-> pending)."""
        actor = normalize_email(actor)

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            request = await tx.request(request_id)
            deny(
                authz.may_request(self.runner.roles_of(actor), request.municipality),
                actor,
                "resubmit",
                request_id=request.id,
            )
            if request.state is not RequestState.RETURNED:
                await tx.not_in_state(request)
            draft = _normalized(_apply_changes(request, changes))
            if request.kind is RequestKind.CHANGE:  # an empty name or title keeps it
                draft = replace(
                    draft,
                    worker_name=draft.worker_name or request.worker.name,
                    worker_job_title=draft.worker_job_title or request.worker.job_title,
                )
            answer = changes.answer.strip()
            grant = (
                await tx.uow.grants.get(request.grant_id)
                if request.kind is RequestKind.CHANGE and request.grant_id
                else None
            )
            ctx = await _policy_context(tx, draft, grant, exclude=request.id)
            violations = check_answer(answer) + check_request(draft, tx.directory, ctx)
            if violations:
                raise PolicyViolations(violations)
            worker = replace(
                request.worker, name=draft.worker_name, job_title=draft.worker_job_title
            )
            edited = replace(
                request,
                worker=worker,
                service_areas=draft.service_areas,
                level=draft.level,
                start=draft.start,
                end=draft.end,
                justification=draft.justification,
                confirmations=draft.confirmations,
            )
            moved = await tx.move(
                request,
                RequestState.PENDING,
                action="request.resubmitted",
                template="request.resubmitted",
                # The answer itself is free text (personal data retention can empty):
                # kept on the request and in the notification, the audit row says
                # that there is one and which fields changed.
                details={"answered": True, "changed": list(_edited_fields(request, edited))},
                params=_submission_params(edited) | {"answer": answer},
                worker=worker,
                service_areas=draft.service_areas,
                level=draft.level,
                start=draft.start,
                end=draft.end,
                justification=draft.justification,
                confirmations=draft.confirmations,
                question=None,
                answer=answer,
            )
            return moved, ref("request", moved.id)

        return await self.runner.run(actor, "resubmit", idempotency_key, work, load_request)

    async def revoke_by_municipality(
        self,
        actor: str,
        grant_id: str,
        reason: RevokeReason,
        note: str = "",
        *,
        effective: date | None = None,
        idempotency_key: str,
    ) -> Revocation:
        """The municipality ends a grant (002 §5): no approval, logged, the area's
        approvers are told. ``effective`` (default today) is the day the access ends:
        up to the area's ``revoke_backdate_days`` back or today -> an urgent revoke for
        KEHA now (grant -> ``revoking``); a future day up to the grant's end -> the
        grant ends that day and the grant-end job revokes it then."""
        actor = normalize_email(actor)
        note = note.strip()

        async def work(tx: Tx) -> tuple[Revocation, str]:
            roles = self.runner.roles_of(actor)
            grant = await _grant_to_remove(
                tx, grant_id, actor, "revoke", authz.may_request_anywhere(roles)
            )
            deny(authz.may_request(roles, grant.municipality), actor, "revoke", target=grant.id)
            day = await _removal_day(
                tx, grant, reason, note, effective, reasons=MUNICIPAL_REVOKE_REASONS
            )
            if day > tx.today:
                return await schedule_end(
                    tx, grant, reason=reason, note=note, effective=day, requester=actor
                )
            request = await open_revoke(
                tx,
                grant,
                requester=actor,
                reason=reason,
                note=note,
                template="revoke.requested",
                effective=day,
            )
            return _revoked(grant, request)

        return await self.runner.run(actor, "revoke", idempotency_key, work, load_revocation)

    # ------------------------------------------------------------------- approvers

    async def approve(
        self,
        actor: str,
        request_id: str,
        *,
        idempotency_key: str,
        expected_version: int | None = None,
    ) -> AccessRequest:
        """An approver or deputy of the area approves (-> approved).

        The loser of a race gets AlreadyDecided naming who decided and when.
        """
        actor = normalize_email(actor)

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            request = await self._pending_decision(
                tx, actor, request_id, "approve", expected_version
            )
            violations = check_still_grantable(
                request.municipality,
                tx.directory,
                tx.today,
                worker_email=request.worker.email if request.kind is RequestKind.GRANT else None,
            )
            if violations:
                raise PolicyViolations(violations)
            moved = await tx.move(
                request,
                RequestState.APPROVED,
                action="request.approved",
                template="request.approved",
            )
            await tx.decide(request, DecisionOutcome.APPROVED, "")
            return moved, ref("request", moved.id)

        return await self.runner.run(actor, "approve", idempotency_key, work, load_request)

    async def reject(
        self,
        actor: str,
        request_id: str,
        reason: str,
        *,
        idempotency_key: str,
        expected_version: int | None = None,
    ) -> AccessRequest:
        """An approver or deputy rejects with a reason (-> rejected)."""
        return await self._decide_with_text(
            actor,
            request_id,
            reason,
            command="reject",
            field="reason",
            to=RequestState.REJECTED,
            outcome=DecisionOutcome.REJECTED,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    async def return_with_question(
        self,
        actor: str,
        request_id: str,
        question: str,
        *,
        idempotency_key: str,
        expected_version: int | None = None,
    ) -> AccessRequest:
        """An approver sends the request back with a question (-> returned)."""
        return await self._decide_with_text(
            actor,
            request_id,
            question,
            command="return",
            field="question",
            to=RequestState.RETURNED,
            outcome=DecisionOutcome.RETURNED,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    async def _decide_with_text(
        self,
        actor: str,
        request_id: str,
        text: str,
        *,
        command: str,
        field: str,
        to: RequestState,
        outcome: DecisionOutcome,
        idempotency_key: str,
        expected_version: int | None,
    ) -> AccessRequest:
        """Return (with a question) or reject (with a reason): the text is required,
        shown to the requester and recorded with the decision."""
        actor = normalize_email(actor)
        text = text.strip()
        # A returned request carries its open question until it is resubmitted.
        changes: dict[str, Any] = {"question": text, "answer": None} if field == "question" else {}

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            request = await self._pending_decision(tx, actor, request_id, command, expected_version)
            violations = check_decision_text(field, text)
            if violations:
                raise PolicyViolations(violations)
            moved = await tx.move(
                request,
                to,
                action=f"request.{to.value}",
                template=f"request.{to.value}",
                params={field: text},
                **changes,
            )
            await tx.decide(request, outcome, text)
            return moved, ref("request", moved.id)

        return await self.runner.run(actor, command, idempotency_key, work, load_request)

    async def revoke_by_area(
        self,
        actor: str,
        grant_id: str,
        reason: RevokeReason,
        note: str = "",
        *,
        effective: date | None = None,
        idempotency_key: str,
        command: str = "revoke_by_area",
    ) -> Revocation:
        """An approver or deputy of the grant's area ends it for the reason the area has
        (002 §4: the task in the municipality ended, or misuse; 002 §10: the agreement
        was breached; employment ended; other). ``misuse`` and ``other`` need a note.
        The effective date works as in :meth:`revoke_by_municipality`; the grant's
        original requester, the worker and the authority admins are told."""
        actor = normalize_email(actor)
        note = note.strip()

        async def work(tx: Tx) -> tuple[Revocation, str]:
            roles = self.runner.roles_of(actor)
            grant = await _grant_to_remove(
                tx, grant_id, actor, command, authz.may_decide_anywhere(roles)
            )
            deny(
                authz.may_revoke_for_area(roles, actor, grant.area, grant.worker.email),
                actor,
                command,
                target=grant.id,
            )
            day = await _removal_day(
                tx,
                grant,
                reason,
                note,
                effective,
                reasons=AREA_REVOKE_REASONS,
                note_required=reason in AREA_NOTE_REQUIRED,
            )
            if day > tx.today:
                return await schedule_end(
                    tx,
                    grant,
                    reason=reason,
                    note=note,
                    effective=day,
                    requester=grant.requested_by,
                )
            request = await open_revoke(
                tx,
                grant,
                requester=grant.requested_by,
                reason=reason,
                note=note,
                template="revoke.misuse" if reason is RevokeReason.MISUSE else "revoke.area",
                effective=day,
            )
            await tx.decide(request, DecisionOutcome.APPROVED, note)
            return _revoked(grant, request)

        return await self.runner.run(actor, command, idempotency_key, work, load_revocation)

    async def revoke_for_misuse(
        self, actor: str, grant_id: str, note: str, *, idempotency_key: str
    ) -> AccessRequest:
        """An approver or deputy ends a grant at once on misuse (002 §4, §10): the area's
        revoke with the reason ``misuse``, effective today."""
        revocation = await self.revoke_by_area(
            actor,
            grant_id,
            RevokeReason.MISUSE,
            note,
            idempotency_key=idempotency_key,
            command="revoke_for_misuse",
        )
        assert revocation.request is not None  # effective today: revoked at once
        return revocation.request

    async def _pending_decision(
        self, tx: Tx, actor: str, request_id: str, command: str, expected_version: int | None
    ) -> AccessRequest:
        """The request an approver decides on: may decide, pending, the version seen."""
        request = await tx.request(request_id)
        deny(
            authz.may_decide(self.runner.roles_of(actor), actor, request),
            actor,
            command,
            request_id=request.id,
        )
        if request.state is not RequestState.PENDING:
            await tx.not_in_state(request)
        _check_version(request, expected_version)
        return request


async def open_revoke(
    tx: Transaction[Any],
    grant: Grant,
    *,
    requester: str,
    reason: RevokeReason,
    note: str,
    template: str,
    effective: date,
) -> AccessRequest:
    """Create an approved, urgent revoke request effective ``effective`` (the day the
    access ends); the grant becomes ``revoking``.

    Change requests of the grant that have not reached KEHA are superseded
    (-> cancelled, cause ``superseded_by_revoke``).
    """
    request_id = tx.new_id()
    await _supersede_changes(tx, grant, request_id, reason)
    await tx.update_grant(grant, GrantEventKind.REVOKING, request_id, state=GrantState.REVOKING)
    request = AccessRequest(
        id=request_id,
        number=await tx.next_number(),
        kind=RequestKind.REVOKE,
        state=RequestState.APPROVED,
        version=1,
        worker=grant.worker,
        municipality=grant.municipality,
        area=grant.area,
        service_areas=grant.service_areas,
        level=grant.level,
        start=tx.today,
        end=None,
        justification=note,
        confirmations=frozenset(),
        requester=requester,
        created_by=tx.actor,
        created_at=tx.now,
        updated_at=tx.now,
        grant_id=grant.id,
        revoke_reason=reason,
        urgent=True,
        effective=effective,
    )
    await tx.create(
        request,
        action=template,
        template=template,
        details={
            "grant_id": grant.id,
            "grant_state": GrantState.REVOKING.value,
            "reason": reason.value,
            "effective": effective.isoformat(),
        },
        params={"note": note, "effective": effective.isoformat()},
    )
    return request


async def schedule_end(
    tx: Tx,
    grant: Grant,
    *,
    reason: RevokeReason,
    note: str,
    effective: date,
    requester: str,
) -> tuple[Revocation, str]:
    """A revoke dated in the future: recorded now (audit ``revoke.scheduled``, the
    notices ``revoke.scheduled``), the grant's end date becomes ``effective`` with the
    reason, and :meth:`access.jobs.JobService.end_due_grants` revokes it after that day.
    Change requests of the grant that have not reached KEHA are superseded."""
    await _supersede_changes(tx, grant, None, reason)
    updated = await tx.update_grant(
        grant,
        GrantEventKind.ENDING,
        grant.origin_request_id,
        end=effective,
        end_reason=reason,
        end_note=note,
    )
    await tx.uow.audit.append(
        AuditDraft(
            at=tx.now,
            actor=tx.actor,
            action="revoke.scheduled",
            request_id=grant.origin_request_id,
            details={
                "grant_id": grant.id,
                "command": tx.command,
                "reason": reason.value,
                "effective": effective.isoformat(),
                "previous_end": grant.end.isoformat(),
            },
        )
    )
    await tx.emit(
        "revoke.scheduled",
        GrantEnding(updated, requester),
        key=f"{grant.id}:{updated.version}:revoke.scheduled",
        request_id=grant.origin_request_id,
        params={
            "revoke_reason": reason.value,
            "note": note,
            "effective": effective.isoformat(),
        },
    )
    revocation = Revocation(grant=updated, reason=reason, effective=effective)
    return revocation, ref("revocation", updated.id)


async def load_revocation(uow: UnitOfWork, prior: IdempotencyRecord) -> Revocation:
    """The first result of a revoke command, from its reference
    (``revocation:<grant id>[,<request id>]``)."""
    ids = ref_ids(prior.result)
    grant = await uow.grants.get(ids[0]) if ids else None
    if grant is None:
        raise NotFound("grant", ids[0] if ids else "")
    request = await uow.requests.get(ids[1]) if len(ids) > 1 else None
    if request is not None:
        assert request.revoke_reason is not None
        effective = request.effective or request.start or grant.end
        return Revocation(grant, request.revoke_reason, effective, request)
    return Revocation(grant, grant.end_reason or RevokeReason.GRANT_ENDED, grant.end)


def _revoked(grant: Grant, request: AccessRequest) -> tuple[Revocation, str]:
    assert request.revoke_reason is not None and request.effective is not None
    revocation = Revocation(grant, request.revoke_reason, request.effective, request)
    return revocation, ref("revocation", grant.id, request.id)


async def _grant_to_remove(
    tx: Tx, grant_id: str, actor: str, command: str, may_anywhere: str | None
) -> Grant:
    """The grant a removal names; an unknown id is ``grant.not_found`` to someone who
    may remove somewhere (``may_anywhere`` is no denial), and a refusal to anyone else
    (nothing to learn from it)."""
    grant = await tx.uow.grants.get(grant_id)
    if grant is None:
        deny(may_anywhere, actor, command, target=grant_id)
        raise PolicyViolations([Violation("grant.not_found", "grant_id", {"grant_id": grant_id})])
    return grant


async def _removal_day(
    tx: Tx,
    grant: Grant,
    reason: RevokeReason,
    note: str,
    effective: date | None,
    *,
    reasons: frozenset[RevokeReason],
    note_required: bool = False,
) -> date:
    """Lock the grant and check its removal: a live grant not already being removed, a
    reason offered to the remover, the note, and the day it takes effect. Returns that
    day: the one asked for, else today (or the grant's end when that has passed)."""
    await tx.uow.lock(f"grant:{grant.id}")
    day = effective or min(tx.today, grant.end)
    violations = check_revoke(grant, grant.id, note, note_required=note_required)
    if reason not in reasons:
        violations.append(Violation("revoke.reason_invalid", "reason", {"reason": reason.value}))
    if grant.state is GrantState.ACTIVE:
        area = tx.directory.area(grant.area)
        backdate_days = area.revoke_backdate_days if area is not None else 0
        violations += check_effective(grant.start, grant.end, day, tx.today, backdate_days)
    if violations:
        raise PolicyViolations(violations)
    return day


async def _supersede_changes(
    tx: Transaction[Any], grant: Grant, revoke_id: str | None, reason: RevokeReason
) -> None:
    """Change requests of the grant that have not reached KEHA end (-> cancelled, cause
    ``superseded_by_revoke``): the grant is ending. A change already in a batch, or
    sent, must not reach (or be carried out by) KEHA after the account is closed: it
    is stopped like any approved request, for the revoke's reason."""
    superseded = await tx.uow.requests.find(
        RequestQuery(
            grant_id=grant.id,
            kinds=[RequestKind.CHANGE],
            states=[RequestState.PENDING, RequestState.RETURNED, RequestState.APPROVED],
        )
    )
    for change in sorted(superseded, key=lambda r: r.number):
        details: dict[str, JsonValue] = {"cause": "superseded_by_revoke"}
        if revoke_id is not None:
            details["superseded_by"] = revoke_id
        await tx.move(
            change,
            RequestState.CANCELLED,
            action="request.cancelled",
            template="request.cancelled",
            details=details,
            params={"cause": "superseded_by_revoke"},
            question=None,
        )
    in_handoff = await tx.uow.requests.find(
        RequestQuery(
            grant_id=grant.id,
            kinds=[RequestKind.CHANGE],
            states=[RequestState.QUEUED_FOR_KEHA, RequestState.SENT_TO_KEHA],
        )
    )
    for change in sorted(in_handoff, key=lambda r: r.number):
        await stop_before_open(
            tx,
            change,
            reason=reason,
            cause="superseded_by_revoke",
            details={} if revoke_id is None else {"superseded_by": revoke_id},
        )


async def _policy_context(
    tx: Tx, draft: RequestDraft, grant: Grant | None, *, exclude: str | None
) -> PolicyContext:
    """Lock the subject and gather what the duplicate / open-request rules need."""
    if draft.kind is RequestKind.CHANGE and grant is not None:
        await tx.uow.lock(f"grant:{grant.id}")
    else:
        area = tx.directory.area_of(draft.municipality)
        if area is not None and draft.worker_email:
            await tx.uow.lock(f"worker:{area.code}:{draft.worker_email}")
    return await _gather_context(tx.uow, tx.directory, tx.today, draft, grant, exclude=exclude)


async def _gather_context(
    uow: UnitOfWork,
    directory: Directory,
    today: date,
    draft: RequestDraft,
    grant: Grant | None,
    *,
    exclude: str | None,
) -> PolicyContext:
    """What the duplicate / open-request rules need (the caller holds any lock)."""
    if draft.kind is RequestKind.CHANGE and grant is not None:
        requests = await uow.requests.find(
            RequestQuery(grant_id=grant.id, states=sorted(OPEN_STATES))
        )
        return PolicyContext(
            today=today, grant=grant, requests=requests, exclude_request_id=exclude
        )
    area = directory.area_of(draft.municipality)
    if area is None or not draft.worker_email:
        return PolicyContext(today=today, exclude_request_id=exclude)
    grants = await uow.grants.find(
        GrantQuery(
            worker_email=draft.worker_email,
            areas=[area.code],
            states=sorted(LIVE_GRANT_STATES),
        )
    )
    requests = await uow.requests.find(
        RequestQuery(
            worker_email=draft.worker_email,
            areas=[area.code],
            kinds=[RequestKind.GRANT],
            states=sorted(OPEN_STATES),
        )
    )
    return PolicyContext(today=today, grants=grants, requests=requests, exclude_request_id=exclude)


def _corrected(worker: Worker, draft: RequestDraft) -> Worker:
    """The grant's worker with the name / job title a change corrects (empty: kept)."""
    return replace(
        worker,
        name=draft.worker_name or worker.name,
        job_title=draft.worker_job_title or worker.job_title,
    )


SUBMISSION_FIELDS = (
    "worker_name",
    "worker_job_title",
    "service_areas",
    "level",
    "start",
    "end",
    "justification",
    "confirmations",
)
"""What a requester fills in and a resubmit may change (compared for the approver)."""


def _submission_params(request: AccessRequest) -> dict[str, ParamValue]:
    """What the submitted / resubmitted notifications carry beyond the common
    parameters, so that what a resubmit changed can be shown: the justification and the
    confirmations (codes, comma-separated)."""
    return {
        "justification": request.justification,
        "confirmations": ",".join(sorted(request.confirmations)),
    }


def _edited_fields(before: AccessRequest, after: AccessRequest) -> tuple[str, ...]:
    """Names of the fields a resubmit changed (for the audit row: names, no values)."""

    def values(r: AccessRequest) -> tuple[object, ...]:
        return (
            r.worker.name,
            r.worker.job_title,
            sorted(r.service_areas),
            r.level,
            r.start,
            r.end,
            r.justification,
            sorted(r.confirmations),
        )

    return tuple(
        name
        for name, old, new in zip(SUBMISSION_FIELDS, values(before), values(after), strict=True)
        if old != new
    )


def _check_version(request: AccessRequest, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != request.version:
        raise StaleRequest(request.id, expected_version, request.version)


def _normalized(draft: RequestDraft) -> RequestDraft:
    return replace(
        draft,
        municipality=draft.municipality.strip().lower(),
        worker_name=" ".join(draft.worker_name.split()),
        worker_email=normalize_email(draft.worker_email),
        worker_job_title=" ".join(draft.worker_job_title.split()),
        service_areas=tuple(dict.fromkeys(s.strip() for s in draft.service_areas if s.strip())),
        level=draft.level.strip(),
        justification=draft.justification.strip(),
        confirmations=frozenset(c.strip() for c in draft.confirmations if c.strip()),
    )


def _apply_changes(request: AccessRequest, changes: RequestChanges) -> RequestDraft:
    def pick(new: T | None, old: T) -> T:
        return old if new is None else new

    return RequestDraft(
        kind=request.kind,
        municipality=request.municipality,
        worker_name=pick(changes.worker_name, request.worker.name),
        worker_email=request.worker.email,
        worker_job_title=pick(changes.worker_job_title, request.worker.job_title),
        service_areas=pick(changes.service_areas, request.service_areas),
        level=pick(changes.level, request.level),
        start=pick(changes.start, request.start),
        end=pick(changes.end, request.end),
        justification=pick(changes.justification, request.justification),
        confirmations=pick(changes.confirmations, request.confirmations),
        grant_id=request.grant_id,
    )
