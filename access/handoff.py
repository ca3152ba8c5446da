"""The KEHA hand-off of approved requests: an authority admin puts them into a batch,
marks the batch sent to KEHA and records KEHA's confirmation per row, which opens,
changes or removes the grant (request -> done).

An approved grant or change request can be stopped until KEHA confirms it
(:func:`stop_before_open`, 002 §5 "välittömästi"): approved -> stopped (withdrawn from
the queue), queued_for_keha -> stopped (taken out of the batch not yet sent), or
sent_to_keha -> stopping: an urgent cancellation row goes to KEHA in the next batch and
KEHA's confirmation of it ends the request stopped, with no grant opened or changed.
Queueing and sending check again that the agreement holds and the end date has not
passed (:func:`access.policy.lapse_reason`); what lapsed is stopped with that reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from access import authz
from access.addresses import normalize_email
from access.directory import Roles
from access.errors import (
    ConcurrentModification,
    IllegalTransition,
    NotFound,
    NothingToQueue,
    PolicyViolations,
)
from access.model import (
    STOPPABLE_STATES,
    AccessRequest,
    DecisionOutcome,
    Grant,
    GrantEvent,
    GrantEventKind,
    GrantState,
    IdempotencyRecord,
    JsonValue,
    KehaBatch,
    KehaRow,
    KehaRowState,
    RequestKind,
    RequestState,
    RevokeReason,
)
from access.policy import DECISION_TEXT_MAX, Violation, lapse_reason
from access.ports import KehaRowQuery, RequestQuery, UnitOfWork
from access.runner import (
    CommandRunner,
    Transaction,
    deny,
    load_request,
    load_requests,
    ref,
    ref_ids,
)

__all__ = ["HandoffService", "stop_before_open", "stop_lapsed"]

Tx = Transaction[UnitOfWork]


async def load_batch(uow: UnitOfWork, prior: IdempotencyRecord) -> KehaBatch:
    batch_id = ref_ids(prior.result)[0]
    found = await uow.keha.get_batch(batch_id)
    if found is None:
        raise NotFound("batch", batch_id)
    return found


class HandoffService:
    """The authority admin's commands of the KEHA hand-off."""

    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    async def queue_for_keha(
        self,
        actor: str,
        area: str,
        *,
        idempotency_key: str,
        request_ids: Sequence[str] | None = None,
    ) -> KehaBatch:
        """An authority admin puts the area's approved requests (or the given ones) into
        a new KEHA batch (-> queued_for_keha, one row each), and a cancellation row for
        each request stopped after it was sent (urgent, first).

        First, in a transaction of its own, approved requests whose agreement ended or
        whose end date passed are stopped with that reason (they are never handed to
        KEHA); so ``NothingToQueue`` may follow stops that stay done."""
        actor = normalize_email(actor)
        await self._stop_lapsed_in_area(
            actor, area, batch_key=idempotency_key, request_ids=request_ids
        )

        async def work(tx: Tx) -> tuple[KehaBatch, str]:
            deny(
                authz.may_administer(self.runner.roles_of(actor), area),
                actor,
                "queue_for_keha",
                target=area,
            )
            requests: list[AccessRequest] = []
            stopping: list[tuple[AccessRequest, bool]] = []  # (request, chosen by id)
            if request_ids is None:
                requests = await tx.uow.requests.find(
                    RequestQuery(areas=[area], states=[RequestState.APPROVED])
                )
                stopping = [
                    (r, False)
                    for r in await tx.uow.requests.find(
                        RequestQuery(areas=[area], states=[RequestState.STOPPING])
                    )
                ]
            else:
                for request_id in dict.fromkeys(request_ids):
                    request = await tx.request(request_id)
                    deny(
                        authz.may_queue(request, area),
                        actor,
                        "queue_for_keha",
                        request_id=request.id,
                    )
                    if request.state is RequestState.APPROVED:
                        requests.append(request)
                    elif request.state is RequestState.STOPPING:
                        stopping.append((request, True))
                    else:
                        raise IllegalTransition(request.id, request.state.value, "queue_for_keha")
            cancellations: list[tuple[AccessRequest, KehaRow]] = []
            for request, chosen in stopping:
                original = await _cancellation_target(tx, request)
                if original is not None:
                    cancellations.append((request, original))
                elif chosen:
                    raise IllegalTransition(request.id, request.state.value, "queue_for_keha")
            if not requests and not cancellations:
                raise NothingToQueue(area)
            batch_id = tx.new_id()
            rows: list[tuple[AccessRequest, KehaRow]] = []
            for request in requests:
                decisions = await tx.uow.decisions.for_request(request.id)
                approval = next(
                    (d for d in reversed(decisions) if d.outcome is DecisionOutcome.APPROVED), None
                )
                rows.append(
                    (
                        request,
                        KehaRow(
                            id=tx.new_id(),
                            batch_id=batch_id,
                            request_id=request.id,
                            request_number=request.number,
                            area=request.area,
                            municipality=request.municipality,
                            kind=request.kind,
                            urgent=request.urgent,
                            state=KehaRowState.QUEUED,
                            version=1,
                            worker=request.worker,
                            service_areas=request.service_areas,
                            level=request.level,
                            start=request.start,
                            end=request.end,
                            grant_id=request.grant_id,
                            created_at=tx.now,
                            approved_by=approval.actor if approval else None,
                            approved_at=approval.at if approval else None,
                            revoke_reason=request.revoke_reason,
                            effective=request.effective,
                        ),
                    )
                )
            for request, original in cancellations:
                rows.append(
                    (
                        request,
                        replace(
                            original,
                            id=tx.new_id(),
                            batch_id=batch_id,
                            urgent=True,
                            state=KehaRowState.QUEUED,
                            version=1,
                            created_at=tx.now,
                            revoke_reason=request.revoke_reason,
                            sent_at=None,
                            confirmed_at=None,
                            confirmed_by=None,
                            confirm_note=None,
                            cancels_row_id=original.id,
                        ),
                    )
                )
            rows.sort(key=lambda pair: (not pair[1].urgent, pair[1].request_number))
            batch = KehaBatch(
                id=batch_id,
                area=area,
                created_by=actor,
                created_at=tx.now,
                rows=tuple(row for _, row in rows),
            )
            await tx.uow.keha.add_batch(batch)
            for request, row in rows:
                if row.is_cancellation:
                    await _audit_cancellation(
                        tx, request, "request.cancellation_queued", batch_id, row
                    )
                    continue
                await tx.move(
                    request,
                    RequestState.QUEUED_FOR_KEHA,
                    action="request.queued",
                    template="request.queued",
                    details={"batch_id": batch_id, "keha_row_id": row.id},
                    params={"batch_id": batch_id},
                )
            return batch, ref("batch", batch_id)

        return await self.runner.run(actor, "queue_for_keha", idempotency_key, work, load_batch)

    async def _stop_lapsed_in_area(
        self,
        actor: str,
        area: str,
        *,
        batch_key: str,
        request_ids: Sequence[str] | None,
    ) -> list[AccessRequest]:
        """Before a batch is made: approved requests of the area (or the chosen ones)
        that may no longer go to KEHA are stopped with the reason. When none has lapsed
        nothing is written (not even the idempotency key); a retry of a batch already
        made (``batch_key`` used) stops nothing either."""
        query = RequestQuery(
            areas=[area],
            states=[RequestState.APPROVED],
            ids=list(request_ids) if request_ids is not None else None,
        )

        async def lapsed(uow: UnitOfWork, roles: Roles) -> bool:
            if authz.may_administer(roles, area) is not None:
                return False  # the batch itself is refused, and audited, below
            # Claimed in this read-only transaction, which is rolled back: only asks
            # whether the batch's key was used before.
            record = IdempotencyRecord(batch_key, actor, "queue_for_keha", self.runner.clock.now())
            if await uow.idempotency.claim(record) is not None:
                return False
            today = self.runner.clock.today()
            directory = self.runner.directory
            return any(
                lapse_reason(r, directory, today) is not None
                for r in await uow.requests.find(query)
            )

        if not await self.runner.read(actor, lapsed):
            return []

        async def work(tx: Tx) -> tuple[list[AccessRequest], str]:
            deny(
                authz.may_administer(self.runner.roles_of(actor), area),
                actor,
                "queue_for_keha",
                target=area,
            )
            stopped = await stop_lapsed(tx, await tx.uow.requests.find(query))
            return stopped, ref("requests", *(r.id for r in stopped))

        return await self.runner.run(
            actor, "stop_lapsed", f"{batch_key}:lapsed", work, load_requests
        )

    async def mark_sent(self, actor: str, batch_id: str, *, idempotency_key: str) -> KehaBatch:
        """The admin has handed the batch to KEHA (rows -> sent, requests -> sent_to_keha)."""
        actor = normalize_email(actor)

        async def work(tx: Tx) -> tuple[KehaBatch, str]:
            batch = await tx.uow.keha.get_batch(batch_id)
            if batch is None:
                raise NotFound("batch", batch_id)
            deny(
                authz.may_administer(self.runner.roles_of(actor), batch.area),
                actor,
                "mark_sent",
                target=batch.id,
            )
            if batch.sent_at is not None:
                raise IllegalTransition(batch.id, "sent", "mark_sent")
            rows: list[KehaRow] = []
            for row in batch.rows:
                if row.state is not KehaRowState.QUEUED:
                    raise IllegalTransition(row.request_id, row.state.value, "mark_sent")
                request = await tx.request(row.request_id)
                reason = (
                    None if row.is_cancellation else lapse_reason(request, tx.directory, tx.today)
                )
                if reason is not None:
                    # The agreement ended or the end date passed while the batch waited:
                    # the row is taken out and the request stopped, never sent.
                    await stop_before_open(tx, request, reason=reason, cause="lapsed")
                    continue
                sent = replace(
                    row, state=KehaRowState.SENT, version=row.version + 1, sent_at=tx.now
                )
                if not await tx.uow.keha.update_row(sent, expected_version=row.version):
                    raise ConcurrentModification("keha_row", row.id)
                rows.append(sent)
                if row.is_cancellation:
                    if request.state is not RequestState.STOPPING:
                        raise IllegalTransition(request.id, request.state.value, "mark_sent")
                    await _audit_cancellation(
                        tx, request, "request.cancellation_sent", batch.id, row
                    )
                    continue
                await tx.move(
                    request,
                    RequestState.SENT_TO_KEHA,
                    action="request.sent_to_keha",
                    template="request.sent_to_keha",
                    details={"batch_id": batch.id, "keha_row_id": row.id},
                    params={"batch_id": batch.id},
                )
            done = replace(batch, sent_at=tx.now, sent_by=actor, rows=tuple(rows))
            await tx.uow.keha.update_batch(done)
            return done, ref("batch", batch.id)

        return await self.runner.run(actor, "mark_sent", idempotency_key, work, load_batch)

    async def confirm_row(
        self, actor: str, row_id: str, *, idempotency_key: str, note: str = ""
    ) -> AccessRequest:
        """The admin records KEHA's confirmation of one row (request -> done): the grant
        is opened (active), changed, or removed. ``note``: what KEHA did differently
        (kept on the row, at most 2000 characters; the audit row says only that there is one)."""
        actor = normalize_email(actor)
        note = note.strip()
        if len(note) > DECISION_TEXT_MAX:
            raise PolicyViolations(
                [
                    Violation(
                        "text.too_long",
                        "note",
                        {"max_length": DECISION_TEXT_MAX, "length": len(note)},
                    )
                ]
            )

        async def work(tx: Tx) -> tuple[AccessRequest, str]:
            row = await tx.uow.keha.get_row(row_id)
            if row is None:
                raise NotFound("keha_row", row_id)
            deny(
                authz.may_administer(self.runner.roles_of(actor), row.area),
                actor,
                "confirm_row",
                request_id=row.request_id,
                target=row.id,
            )
            if row.state is not KehaRowState.SENT:
                raise IllegalTransition(row.request_id, row.state.value, "confirm_row")
            request = await tx.request(row.request_id)
            if row.is_cancellation:
                moved = await _confirm_cancellation(tx, row, request, note)
                return moved, ref("request", moved.id)
            if request.state is not RequestState.SENT_TO_KEHA:
                raise IllegalTransition(request.id, request.state.value, "confirm_row")
            grant = await _apply_to_grant(tx, request)
            confirmed = replace(
                row,
                state=KehaRowState.CONFIRMED,
                version=row.version + 1,
                confirmed_at=tx.now,
                confirmed_by=actor,
                confirm_note=note or None,
            )
            if not await tx.uow.keha.update_row(confirmed, expected_version=row.version):
                raise ConcurrentModification("keha_row", row.id)
            template = {
                RequestKind.GRANT: "grant.opened",
                RequestKind.CHANGE: "grant.changed",
                RequestKind.REVOKE: "grant.removed",
            }[request.kind]
            moved = await tx.move(
                request,
                RequestState.DONE,
                action="request.done",
                template=template,
                details={
                    "keha_row_id": row.id,
                    "grant_id": grant.id,
                    "grant_state": grant.state.value,
                    **({"keha_note": True} if note else {}),
                },
                params={"note": note},
                grant_id=grant.id,
            )
            return moved, ref("request", moved.id)

        return await self.runner.run(actor, "confirm_row", idempotency_key, work, load_request)


async def _apply_to_grant(tx: Tx, request: AccessRequest) -> Grant:
    if request.kind is RequestKind.GRANT:
        assert request.start is not None and request.end is not None
        grant = Grant(
            id=tx.new_id(),
            worker=request.worker,
            municipality=request.municipality,
            area=request.area,
            service_areas=request.service_areas,
            level=request.level,
            start=request.start,
            end=request.end,
            state=GrantState.ACTIVE,
            version=1,
            origin_request_id=request.id,
            requested_by=request.requester,
            created_at=tx.now,
            updated_at=tx.now,
            history=(
                GrantEvent(
                    at=tx.now,
                    event=GrantEventKind.OPENED,
                    request_id=request.id,
                    service_areas=request.service_areas,
                    level=request.level,
                    end=request.end,
                ),
            ),
        )
        await tx.uow.grants.add(grant)
        return grant
    grant_or_none = await tx.uow.grants.get(request.grant_id or "")
    if grant_or_none is None:
        raise NotFound("grant", request.grant_id or "")
    grant = grant_or_none
    if request.kind is RequestKind.CHANGE:
        assert request.end is not None
        # A new end date replaces one a future-dated revoke set, and its reason with it.
        ending: dict[str, Any] = (
            {"end_reason": None, "end_note": ""} if request.end != grant.end else {}
        )
        # A change may correct the worker's name or job title (never the e-mail).
        return await tx.update_grant(
            grant,
            GrantEventKind.CHANGED,
            request.id,
            worker=replace(
                grant.worker, name=request.worker.name, job_title=request.worker.job_title
            ),
            service_areas=request.service_areas,
            level=request.level,
            end=request.end,
            **ending,
        )
    return await tx.update_grant(
        grant, GrantEventKind.REMOVED, request.id, state=GrantState.REMOVED
    )


# ------------------------------------------------------------------ stop before open


async def stop_before_open(
    tx: Tx,
    request: AccessRequest,
    *,
    reason: RevokeReason,
    cause: str,
    note: str = "",
    details: Mapping[str, JsonValue] | None = None,
) -> AccessRequest:
    """Stop an approved grant or change request that KEHA has not confirmed yet.

    approved -> stopped (withdrawn from the queue); queued_for_keha -> stopped (its row
    is taken out of the batch, which is not sent yet); sent_to_keha -> stopping (urgent:
    a cancellation row goes to KEHA in the next batch; KEHA's confirmation of it ends the
    request stopped). ``reason`` is kept on the request (and its cancellation row),
    ``cause`` says who or what stopped it (``requester``, ``approver``, ``lapsed``,
    ``superseded_by_revoke``, ``agreement_dissolved``); both are in the audit row.
    Any other state or a revoke request: the transition is illegal.
    """
    if request.kind is RequestKind.REVOKE or request.state not in STOPPABLE_STATES:
        await tx.not_in_state(request)
    audit: dict[str, JsonValue] = {"cause": cause, "reason": reason.value, **(details or {})}
    params = {"cause": cause, "note": note}
    if request.state is RequestState.SENT_TO_KEHA:
        row = await _row_of(tx, request, KehaRowState.SENT)
        return await tx.move(
            request,
            RequestState.STOPPING,
            action="request.stopping",
            template="request.stopping",
            details={**audit, "batch_id": row.batch_id, "keha_row_id": row.id},
            params=params,
            revoke_reason=reason,
            urgent=True,
        )
    if request.state is RequestState.QUEUED_FOR_KEHA:
        row = await _row_of(tx, request, KehaRowState.QUEUED)
        if not await tx.uow.keha.remove_row(row):
            raise ConcurrentModification("keha_row", row.id)
        audit.update(batch_id=row.batch_id, keha_row_id=row.id)
    return await tx.move(
        request,
        RequestState.STOPPED,
        action="request.stopped",
        template="request.stopped",
        details=audit,
        params=params,
        revoke_reason=reason,
    )


async def stop_lapsed(tx: Tx, requests: Sequence[AccessRequest]) -> list[AccessRequest]:
    """Stop each approved-not-opened request whose agreement ended or whose end date
    passed (:func:`access.policy.lapse_reason`), with that reason; the others stay."""
    stopped: list[AccessRequest] = []
    for request in sorted(requests, key=lambda r: r.number):
        if request.state not in STOPPABLE_STATES:
            continue
        reason = lapse_reason(request, tx.directory, tx.today)
        if reason is not None:
            stopped.append(await stop_before_open(tx, request, reason=reason, cause="lapsed"))
    return stopped


async def _row_of(tx: Tx, request: AccessRequest, state: KehaRowState) -> KehaRow:
    rows = await tx.uow.keha.find_rows(KehaRowQuery(request_id=request.id, states=[state]))
    found = [r for r in rows if not r.is_cancellation]
    if not found:
        raise NotFound("keha_row", request.id)
    return found[-1]


async def _cancellation_target(tx: Tx, request: AccessRequest) -> KehaRow | None:
    """The sent row a stopping request's cancellation is about; None when a
    cancellation row already exists (queued, sent or confirmed)."""
    rows = await tx.uow.keha.find_rows(KehaRowQuery(request_id=request.id))
    if any(r.is_cancellation for r in rows):
        return None
    sent = [r for r in rows if r.state is KehaRowState.SENT]
    return sent[-1] if sent else None


async def _audit_cancellation(
    tx: Tx, request: AccessRequest, action: str, batch_id: str, row: KehaRow
) -> None:
    """A cancellation row queued or sent: the request stays ``stopping``."""
    await tx.audit(
        action,
        request,
        {
            "from": request.state.value,
            "to": request.state.value,
            "batch_id": batch_id,
            "keha_row_id": row.id,
            "cancels_row_id": row.cancels_row_id,
        },
    )


async def _confirm_cancellation(
    tx: Tx, row: KehaRow, request: AccessRequest, note: str
) -> AccessRequest:
    """KEHA confirmed a cancellation: the cancelled row is closed as ``cancelled``, the
    request ends ``stopped`` and no grant is opened or changed."""
    if request.state is not RequestState.STOPPING:
        raise IllegalTransition(request.id, request.state.value, "confirm_row")
    original = await tx.uow.keha.get_row(row.cancels_row_id or "")
    if original is None:
        raise NotFound("keha_row", row.cancels_row_id or "")
    closed = replace(original, state=KehaRowState.CANCELLED, version=original.version + 1)
    if not await tx.uow.keha.update_row(closed, expected_version=original.version):
        raise ConcurrentModification("keha_row", original.id)
    confirmed = replace(
        row,
        state=KehaRowState.CONFIRMED,
        version=row.version + 1,
        confirmed_at=tx.now,
        confirmed_by=tx.actor,
        confirm_note=note or None,
    )
    if not await tx.uow.keha.update_row(confirmed, expected_version=row.version):
        raise ConcurrentModification("keha_row", row.id)
    return await tx.move(
        request,
        RequestState.STOPPED,
        action="request.stopped",
        template="request.stop_confirmed",
        details={
            "keha_row_id": row.id,
            "cancelled_row_id": original.id,
            "reason": request.revoke_reason.value if request.revoke_reason else None,
            **({"keha_note": True} if note else {}),
        },
        params={"note": note},
    )
