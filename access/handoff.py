"""The KEHA hand-off of approved requests: an authority admin puts them into a batch,
marks the batch sent to KEHA and records KEHA's confirmation per row, which opens,
changes or removes the grant (request -> done)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from access import authz
from access.addresses import normalize_email
from access.errors import (
    ConcurrentModification,
    IllegalTransition,
    NotFound,
    NothingToQueue,
    PolicyViolations,
)
from access.model import (
    AccessRequest,
    DecisionOutcome,
    Grant,
    GrantEvent,
    GrantEventKind,
    GrantState,
    IdempotencyRecord,
    KehaBatch,
    KehaRow,
    KehaRowState,
    RequestKind,
    RequestState,
)
from access.policy import DECISION_TEXT_MAX, Violation
from access.ports import RequestQuery, UnitOfWork
from access.runner import CommandRunner, Transaction, deny, load_request, ref, ref_ids

__all__ = ["HandoffService"]

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
        a new KEHA batch (-> queued_for_keha, one row each)."""
        actor = normalize_email(actor)

        async def work(tx: Tx) -> tuple[KehaBatch, str]:
            deny(
                authz.may_administer(self.runner.roles_of(actor), area),
                actor,
                "queue_for_keha",
                target=area,
            )
            if request_ids is None:
                requests = await tx.uow.requests.find(
                    RequestQuery(areas=[area], states=[RequestState.APPROVED])
                )
            else:
                requests = []
                for request_id in dict.fromkeys(request_ids):
                    request = await tx.request(request_id)
                    deny(
                        authz.may_queue(request, area),
                        actor,
                        "queue_for_keha",
                        request_id=request.id,
                    )
                    if request.state is not RequestState.APPROVED:
                        raise IllegalTransition(request.id, request.state.value, "queue_for_keha")
                    requests.append(request)
            if not requests:
                raise NothingToQueue(area)
            requests.sort(key=lambda r: (not r.urgent, r.number))
            batch_id = tx.new_id()
            rows: list[KehaRow] = []
            for request in requests:
                decisions = await tx.uow.decisions.for_request(request.id)
                approval = next(
                    (d for d in reversed(decisions) if d.outcome is DecisionOutcome.APPROVED), None
                )
                rows.append(
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
                    )
                )
            batch = KehaBatch(
                id=batch_id, area=area, created_by=actor, created_at=tx.now, rows=tuple(rows)
            )
            await tx.uow.keha.add_batch(batch)
            for request, row in zip(requests, rows, strict=True):
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
                sent = replace(
                    row, state=KehaRowState.SENT, version=row.version + 1, sent_at=tx.now
                )
                if not await tx.uow.keha.update_row(sent, expected_version=row.version):
                    raise ConcurrentModification("keha_row", row.id)
                rows.append(sent)
                request = await tx.request(row.request_id)
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
