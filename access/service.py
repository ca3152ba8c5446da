"""Use cases of the access lifecycle: one async method per command or query.

Every command

* authorises the actor against the directory (denials raise :class:`AccessDenied`
  and are audited in a transaction of their own),
* checks the transition (:class:`IllegalTransition`, :class:`AlreadyDecided`) and the
  rules (:class:`PolicyViolations`, all of them at once),
* writes the new state with compare-and-set on the version column, one audit row per
  request transition and the outbox rows that transition implies, and records the
  idempotency key - all in ONE unit of work, committed once at the end,
* returns its first result again when called again with the same idempotency key.

Time comes from the injected :class:`Clock`, ids from the :class:`IdSource`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from access import authz
from access.audit import VerifyResult, verify_chain
from access.directory import Directory, Roles, current_directory
from access.errors import (
    AccessDenied,
    AccessError,
    AlreadyDecided,
    ConcurrentModification,
    IdempotencyKeyReused,
    IllegalTransition,
    NotFound,
    PolicyViolations,
    StaleRequest,
)
from access.model import (
    AWAITING_DECISION,
    LIVE_GRANT_STATES,
    MUNICIPAL_REVOKE_REASONS,
    OPEN_STATES,
    SYSTEM_ACTOR,
    TRANSITIONS,
    AccessRequest,
    AuditDraft,
    Decision,
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
    Notification,
    ParamValue,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
    RevokeReason,
    Worker,
)
from access.notifications import TEMPLATES, base_params, recipients
from access.policy import (
    PolicyContext,
    Violation,
    check_decision_text,
    check_request,
    check_revoke,
    check_still_grantable,
    normalize_email,
)
from access.ports import (
    Clock,
    GrantQuery,
    IdSource,
    KehaRowQuery,
    RequestQuery,
    SystemClock,
    UnitOfWork,
    UnitOfWorkFactory,
    UuidIds,
)

T = TypeVar("T")

DECIDED_STATES = frozenset(
    {
        RequestState.APPROVED,
        RequestState.QUEUED_FOR_KEHA,
        RequestState.SENT_TO_KEHA,
        RequestState.DONE,
        RequestState.REJECTED,
        RequestState.RETURNED,
    }
)


class NothingToQueue(AccessError):
    """There is no approved request to hand to KEHA in this area."""

    code = "keha.nothing_to_queue"

    def __init__(self, area: str) -> None:
        self.area = area
        super().__init__(f"no approved requests to queue in {area}")


@dataclass(frozen=True)
class RequestView:
    request: AccessRequest
    decisions: tuple[Decision, ...]
    grant: Grant | None
    keha_rows: tuple[KehaRow, ...]

    @property
    def last_decision(self) -> Decision | None:
        return self.decisions[-1] if self.decisions else None


@dataclass(frozen=True)
class MyData:
    """Everything the service holds about one person (GDPR art. 15)."""

    email: str
    requests_about_me: tuple[AccessRequest, ...]
    grants_about_me: tuple[Grant, ...]
    requests_made_by_me: tuple[AccessRequest, ...]
    decisions_by_me: tuple[Decision, ...]
    notifications_to_me: tuple[Notification, ...]


def _ref(kind: str, *ids: str) -> str:
    return f"{kind}:{','.join(ids)}"


def _ids(ref: str) -> list[str]:
    _, _, rest = ref.partition(":")
    return [i for i in rest.split(",") if i]


class _Tx:
    """One command's transaction: the unit of work plus who, when and the helpers that
    write a transition together with its audit row and notifications."""

    def __init__(self, service: AccessService, uow: UnitOfWork, actor: str, command: str) -> None:
        self.service = service
        self.uow = uow
        self.actor = actor
        self.command = command
        self.now = service.clock.now()
        self.today = service.clock.today()
        self.directory = service.directory

    def new_id(self) -> str:
        return self.service.ids.new_id()

    async def request(self, request_id: str) -> AccessRequest:
        found = await self.uow.requests.get(request_id)
        if found is None:
            raise NotFound("request", request_id)
        return found

    async def next_number(self) -> str:
        year = self.today.year
        return f"{year}-{await self.uow.requests.next_number(year):06d}"

    async def audit(
        self, action: str, request: AccessRequest, details: Mapping[str, JsonValue]
    ) -> None:
        content: dict[str, JsonValue] = {
            "number": request.number,
            "kind": request.kind.value,
            "version": request.version,
        }
        content.update(details)
        await self.uow.audit.append(
            AuditDraft(
                at=self.now,
                actor=self.actor,
                action=action,
                request_id=request.id,
                details=content,
            )
        )

    async def notify(
        self, template: str, request: AccessRequest, extra: Mapping[str, ParamValue] | None = None
    ) -> None:
        params = base_params(request, self.directory, self.actor)
        if extra:
            params.update(extra)
        for audience in TEMPLATES[template]:
            for recipient in recipients(audience, request, self.directory):
                await self.uow.outbox.add(
                    Notification(
                        id=self.new_id(),
                        request_id=request.id,
                        template=template,
                        audience=audience,
                        recipient=recipient,
                        params=dict(params),
                        idempotency_key=(
                            f"{request.id}:{request.version}:{template}:{audience.value}:{recipient}"
                        ),
                        created_at=self.now,
                    )
                )

    async def create(
        self,
        request: AccessRequest,
        *,
        action: str,
        template: str,
        details: Mapping[str, JsonValue] | None = None,
        params: Mapping[str, ParamValue] | None = None,
    ) -> AccessRequest:
        await self.uow.requests.add(request)
        await self.audit(
            action, request, {"from": None, "to": request.state.value, **(details or {})}
        )
        await self.notify(template, request, params)
        return request

    async def move(
        self,
        request: AccessRequest,
        to: RequestState,
        *,
        action: str,
        template: str,
        details: Mapping[str, JsonValue] | None = None,
        params: Mapping[str, ParamValue] | None = None,
        **changes: Any,
    ) -> AccessRequest:
        if to not in TRANSITIONS[request.state]:
            raise IllegalTransition(request.id, request.state.value, self.command)
        moved = replace(
            request, state=to, version=request.version + 1, updated_at=self.now, **changes
        )
        if not await self.uow.requests.update(moved, expected_version=request.version):
            await self.lost_race(request)
        await self.audit(
            action, moved, {"from": request.state.value, "to": to.value, **(details or {})}
        )
        await self.notify(template, moved, params)
        return moved

    async def not_in_state(self, request: AccessRequest) -> NoReturn:
        """Raise the most helpful error for a request that cannot take this command."""
        if request.state in DECIDED_STATES:
            decisions = await self.uow.decisions.for_request(request.id)
            if decisions:
                last = decisions[-1]
                raise AlreadyDecided(
                    request.id,
                    request.state,
                    self.command,
                    decided_by=last.actor,
                    decided_at=last.at,
                    outcome=last.outcome,
                )
        raise IllegalTransition(request.id, request.state.value, self.command)

    async def lost_race(self, request: AccessRequest) -> NoReturn:
        """Compare-and-set failed: someone else moved the request first."""
        current = await self.request(request.id)
        if current.state != request.state:
            await self.not_in_state(current)
        raise ConcurrentModification("request", request.id)

    async def decide(self, request: AccessRequest, outcome: DecisionOutcome, text: str) -> Decision:
        decision = Decision(
            id=self.new_id(),
            request_id=request.id,
            outcome=outcome,
            actor=self.actor,
            at=self.now,
            text=text,
            request_version=request.version,
        )
        await self.uow.decisions.add(decision)
        return decision

    async def update_grant(
        self, grant: Grant, event: GrantEventKind, request_id: str, **changes: Any
    ) -> Grant:
        updated = replace(grant, version=grant.version + 1, updated_at=self.now, **changes)
        if not await self.uow.grants.update(updated, expected_version=grant.version):
            raise ConcurrentModification("grant", grant.id)
        await self.uow.grants.add_event(
            grant.id,
            GrantEvent(
                at=self.now,
                event=event,
                request_id=request_id,
                service_areas=updated.service_areas,
                level=updated.level,
                end=updated.end,
            ),
        )
        return updated


class AccessService:
    """The access lifecycle. Construct once per process; it holds no state of its own."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        directory: Directory | Callable[[], Directory],
        clock: Clock | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._directory = directory
        self.clock: Clock = clock or SystemClock()
        self.ids: IdSource = ids or UuidIds()

    @property
    def directory(self) -> Directory:
        """The current directory (a callable directory is asked on every use)."""
        return current_directory(self._directory)

    def roles_of(self, actor: str) -> Roles:
        return self.directory.roles_of(actor)

    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        """The unit-of-work factory, for small companion services (acknowledgements)."""
        return self._uow_factory

    # ------------------------------------------------------------------ machinery

    async def _run(
        self,
        actor: str,
        command: str,
        idempotency_key: str,
        work: Callable[[_Tx], Awaitable[tuple[T, str]]],
        load: Callable[[UnitOfWork, str], Awaitable[T]],
    ) -> T:
        if not idempotency_key:
            raise ValueError("every command needs an idempotency key")
        try:
            async with self._uow_factory() as uow:
                tx = _Tx(self, uow, actor, command)
                prior = await uow.idempotency.claim(
                    IdempotencyRecord(idempotency_key, actor, command, tx.now)
                )
                if prior is not None:
                    if prior.actor != actor or prior.command != command or prior.result is None:
                        raise IdempotencyKeyReused(idempotency_key)
                    return await load(uow, prior.result)
                result, ref = await work(tx)
                await uow.idempotency.complete(idempotency_key, ref)
                await uow.commit()
                return result
        except AccessDenied as denial:
            await self._record_denial(denial)
            raise

    async def _read(self, actor: str, fn: Callable[[UnitOfWork, Roles], Awaitable[T]]) -> T:
        try:
            async with self._uow_factory() as uow:
                return await fn(uow, self.roles_of(actor))
        except AccessDenied as denial:
            await self._record_denial(denial)
            raise

    async def _record_denial(self, denial: AccessDenied) -> None:
        details: dict[str, JsonValue] = {"command": denial.command, "reason": denial.reason}
        if denial.target is not None:
            details["target"] = denial.target
        async with self._uow_factory() as uow:
            await uow.audit.append(
                AuditDraft(
                    at=self.clock.now(),
                    actor=denial.actor,
                    action="access.denied",
                    request_id=denial.request_id,
                    details=details,
                )
            )
            await uow.commit()

    @staticmethod
    def _deny(
        reason: str | None,
        actor: str,
        command: str,
        *,
        request_id: str | None = None,
        target: str | None = None,
    ) -> None:
        if reason is not None:
            raise AccessDenied(actor, command, reason, request_id=request_id, target=target)

    async def _pending_decision(
        self, tx: _Tx, actor: str, request_id: str, command: str, expected_version: int | None
    ) -> AccessRequest:
        """The request an approver decides on: may decide, pending, the version seen."""
        request = await tx.request(request_id)
        self._deny(
            authz.may_decide(self.roles_of(actor), actor, request),
            actor,
            command,
            request_id=request.id,
        )
        if request.state is not RequestState.PENDING:
            await tx.not_in_state(request)
        self._check_version(request, expected_version)
        return request

    @staticmethod
    async def _load_request(uow: UnitOfWork, ref: str) -> AccessRequest:
        request_id = _ids(ref)[0]
        found = await uow.requests.get(request_id)
        if found is None:
            raise NotFound("request", request_id)
        return found

    @staticmethod
    async def _load_requests(uow: UnitOfWork, ref: str) -> list[AccessRequest]:
        ids = _ids(ref)
        if not ids:
            return []
        found = {r.id: r for r in await uow.requests.find(RequestQuery(ids=ids))}
        return [found[i] for i in ids if i in found]

    @staticmethod
    async def _load_batch(uow: UnitOfWork, ref: str) -> KehaBatch:
        batch_id = _ids(ref)[0]
        found = await uow.keha.get_batch(batch_id)
        if found is None:
            raise NotFound("batch", batch_id)
        return found

    @staticmethod
    def _check_version(request: AccessRequest, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != request.version:
            raise StaleRequest(request.id, expected_version, request.version)

    # ------------------------------------------------------------------- commands

    async def submit(
        self, actor: str, draft: RequestDraft, *, idempotency_key: str
    ) -> AccessRequest:
        """A requester asks for a new grant or a change of an active grant (-> pending).

        Raises AccessDenied (not a requester for the municipality) or PolicyViolations.
        """
        actor = normalize_email(actor)
        if draft.kind is RequestKind.REVOKE:
            raise ValueError("use revoke_by_municipality for revoke requests")

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            roles = self.roles_of(actor)
            d = _normalized(draft)
            grant: Grant | None = None
            if d.kind is RequestKind.CHANGE:
                grant = await tx.uow.grants.get(d.grant_id) if d.grant_id else None
                if grant is None:
                    self._deny(
                        None if roles.requester_for else "not_requester_for_municipality",
                        actor,
                        "submit",
                        target=d.grant_id,
                    )
                    raise PolicyViolations(
                        [Violation("grant.not_found", "grant_id", {"grant_id": d.grant_id or ""})]
                    )
                d = replace(d, municipality=grant.municipality)
            self._deny(
                authz.may_request(roles, d.municipality), actor, "submit", target=d.municipality
            )
            ctx = await self._policy_context(tx, d, grant, exclude=None)
            violations = check_request(d, self.directory, ctx)
            if violations:
                raise PolicyViolations(violations)
            area = self.directory.area_of(d.municipality)
            assert area is not None  # checked by the policy
            worker = (
                grant.worker
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
            await tx.create(request, action="request.submitted", template="request.submitted")
            return request, _ref("request", request.id)

        return await self._run(actor, "submit", idempotency_key, work, self._load_request)

    async def _policy_context(
        self, tx: _Tx, draft: RequestDraft, grant: Grant | None, *, exclude: str | None
    ) -> PolicyContext:
        """Lock the subject and gather what the duplicate / open-request rules need."""
        if draft.kind is RequestKind.CHANGE and grant is not None:
            await tx.uow.lock(f"grant:{grant.id}")
            requests = await tx.uow.requests.find(
                RequestQuery(grant_id=grant.id, states=sorted(OPEN_STATES))
            )
            return PolicyContext(
                today=tx.today, grant=grant, requests=requests, exclude_request_id=exclude
            )
        area = self.directory.area_of(draft.municipality)
        if area is None or not draft.worker_email:
            return PolicyContext(today=tx.today, exclude_request_id=exclude)
        await tx.uow.lock(f"worker:{area.code}:{draft.worker_email}")
        grants = await tx.uow.grants.find(
            GrantQuery(
                worker_email=draft.worker_email,
                areas=[area.code],
                states=sorted(LIVE_GRANT_STATES),
            )
        )
        requests = await tx.uow.requests.find(
            RequestQuery(
                worker_email=draft.worker_email,
                areas=[area.code],
                kinds=[RequestKind.GRANT],
                states=sorted(OPEN_STATES),
            )
        )
        return PolicyContext(
            today=tx.today, grants=grants, requests=requests, exclude_request_id=exclude
        )

    async def cancel(self, actor: str, request_id: str, *, idempotency_key: str) -> AccessRequest:
        """The requester withdraws a request before it is decided (-> cancelled)."""
        actor = normalize_email(actor)

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            request = await tx.request(request_id)
            self._deny(
                authz.may_request(self.roles_of(actor), request.municipality),
                actor,
                "cancel",
                request_id=request.id,
            )
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
            return moved, _ref("request", moved.id)

        return await self._run(actor, "cancel", idempotency_key, work, self._load_request)

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

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            request = await tx.request(request_id)
            self._deny(
                authz.may_request(self.roles_of(actor), request.municipality),
                actor,
                "resubmit",
                request_id=request.id,
            )
            if request.state is not RequestState.RETURNED:
                await tx.not_in_state(request)
            draft = _normalized(_apply_changes(request, changes))
            grant = (
                await tx.uow.grants.get(request.grant_id)
                if request.kind is RequestKind.CHANGE and request.grant_id
                else None
            )
            ctx = await self._policy_context(tx, draft, grant, exclude=request.id)
            violations = check_request(draft, self.directory, ctx)
            if violations:
                raise PolicyViolations(violations)
            worker = replace(
                request.worker, name=draft.worker_name, job_title=draft.worker_job_title
            )
            moved = await tx.move(
                request,
                RequestState.PENDING,
                action="request.resubmitted",
                template="request.resubmitted",
                worker=worker,
                service_areas=draft.service_areas,
                level=draft.level,
                start=draft.start,
                end=draft.end,
                justification=draft.justification,
                confirmations=draft.confirmations,
                question=None,
            )
            return moved, _ref("request", moved.id)

        return await self._run(actor, "resubmit", idempotency_key, work, self._load_request)

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

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            request = await self._pending_decision(
                tx, actor, request_id, "approve", expected_version
            )
            violations = check_still_grantable(request.municipality, self.directory, tx.today)
            if violations:
                raise PolicyViolations(violations)
            moved = await tx.move(
                request,
                RequestState.APPROVED,
                action="request.approved",
                template="request.approved",
            )
            await tx.decide(request, DecisionOutcome.APPROVED, "")
            return moved, _ref("request", moved.id)

        return await self._run(actor, "approve", idempotency_key, work, self._load_request)

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
        changes: dict[str, Any] = {"question": text} if field == "question" else {}

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
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
            return moved, _ref("request", moved.id)

        return await self._run(actor, command, idempotency_key, work, self._load_request)

    async def revoke_by_municipality(
        self,
        actor: str,
        grant_id: str,
        reason: RevokeReason,
        note: str = "",
        *,
        idempotency_key: str,
    ) -> AccessRequest:
        """The municipality ends a grant (002 §5): no approval, logged, urgent for KEHA,
        the area's approvers are told. The grant becomes ``revoking``."""
        actor = normalize_email(actor)
        note = note.strip()

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            roles = self.roles_of(actor)
            grant = await tx.uow.grants.get(grant_id)
            if grant is None:
                self._deny(
                    None if roles.requester_for else "not_requester_for_municipality",
                    actor,
                    "revoke",
                    target=grant_id,
                )
                raise PolicyViolations(
                    [Violation("grant.not_found", "grant_id", {"grant_id": grant_id})]
                )
            self._deny(
                authz.may_request(roles, grant.municipality), actor, "revoke", target=grant.id
            )
            await tx.uow.lock(f"grant:{grant.id}")
            violations = check_revoke(grant, grant_id, note)
            if reason not in MUNICIPAL_REVOKE_REASONS:
                violations.append(
                    Violation("revoke.reason_invalid", "reason", {"reason": reason.value})
                )
            if violations:
                raise PolicyViolations(violations)
            request = await self._open_revoke(
                tx,
                grant,
                requester=actor,
                reason=reason,
                note=note,
                template="revoke.requested",
            )
            return request, _ref("request", request.id)

        return await self._run(actor, "revoke", idempotency_key, work, self._load_request)

    async def revoke_for_misuse(
        self, actor: str, grant_id: str, note: str, *, idempotency_key: str
    ) -> AccessRequest:
        """An approver or deputy ends a grant at once on misuse (002 §4, §10)."""
        actor = normalize_email(actor)
        note = note.strip()

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            roles = self.roles_of(actor)
            grant = await tx.uow.grants.get(grant_id)
            if grant is None:
                self._deny(
                    None if roles.decides_in else "not_approver_in_area",
                    actor,
                    "revoke_for_misuse",
                    target=grant_id,
                )
                raise PolicyViolations(
                    [Violation("grant.not_found", "grant_id", {"grant_id": grant_id})]
                )
            self._deny(
                authz.may_revoke_for_misuse(roles, actor, grant.area, grant.worker.email),
                actor,
                "revoke_for_misuse",
                target=grant.id,
            )
            await tx.uow.lock(f"grant:{grant.id}")
            violations = check_revoke(grant, grant_id, note, note_required=True)
            if violations:
                raise PolicyViolations(violations)
            request = await self._open_revoke(
                tx,
                grant,
                requester=grant.requested_by,
                reason=RevokeReason.MISUSE,
                note=note,
                template="revoke.misuse",
            )
            await tx.decide(request, DecisionOutcome.APPROVED, note)
            return request, _ref("request", request.id)

        return await self._run(
            actor, "revoke_for_misuse", idempotency_key, work, self._load_request
        )

    async def _open_revoke(
        self,
        tx: _Tx,
        grant: Grant,
        *,
        requester: str,
        reason: RevokeReason,
        note: str,
        template: str,
    ) -> AccessRequest:
        """Create an approved, urgent revoke request; the grant becomes ``revoking``.

        Change requests of the grant that have not reached KEHA are superseded
        (-> cancelled, cause ``superseded_by_revoke``).
        """
        request_id = tx.new_id()
        superseded = await tx.uow.requests.find(
            RequestQuery(
                grant_id=grant.id,
                kinds=[RequestKind.CHANGE],
                states=[RequestState.PENDING, RequestState.RETURNED, RequestState.APPROVED],
            )
        )
        for change in sorted(superseded, key=lambda r: r.number):
            await tx.move(
                change,
                RequestState.CANCELLED,
                action="request.cancelled",
                template="request.cancelled",
                details={"cause": "superseded_by_revoke", "superseded_by": request_id},
                params={"cause": "superseded_by_revoke"},
                question=None,
            )
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
        )
        await tx.create(
            request,
            action=template,
            template=template,
            details={
                "grant_id": grant.id,
                "grant_state": GrantState.REVOKING.value,
                "reason": reason.value,
            },
            params={"note": note},
        )
        return request

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

        async def work(tx: _Tx) -> tuple[KehaBatch, str]:
            self._deny(
                authz.may_administer(self.roles_of(actor), area),
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
                    self._deny(
                        None if request.area == area else "not_admin_in_area",
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
            return batch, _ref("batch", batch_id)

        return await self._run(actor, "queue_for_keha", idempotency_key, work, self._load_batch)

    async def mark_sent(self, actor: str, batch_id: str, *, idempotency_key: str) -> KehaBatch:
        """The admin has handed the batch to KEHA (rows -> sent, requests -> sent_to_keha)."""
        actor = normalize_email(actor)

        async def work(tx: _Tx) -> tuple[KehaBatch, str]:
            batch = await tx.uow.keha.get_batch(batch_id)
            if batch is None:
                raise NotFound("batch", batch_id)
            self._deny(
                authz.may_administer(self.roles_of(actor), batch.area),
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
            return done, _ref("batch", batch.id)

        return await self._run(actor, "mark_sent", idempotency_key, work, self._load_batch)

    async def confirm_row(
        self, actor: str, row_id: str, *, idempotency_key: str, note: str = ""
    ) -> AccessRequest:
        """The admin records KEHA's confirmation of one row (request -> done): the grant
        is opened (active), changed, or removed. ``note``: what KEHA did differently
        (kept on the row, at most 2000 characters; the audit row says only that there is one)."""
        actor = normalize_email(actor)
        note = note.strip()
        if len(note) > 2000:
            raise PolicyViolations(
                [Violation("text.too_long", "note", {"max_length": 2000, "length": len(note)})]
            )

        async def work(tx: _Tx) -> tuple[AccessRequest, str]:
            row = await tx.uow.keha.get_row(row_id)
            if row is None:
                raise NotFound("keha_row", row_id)
            self._deny(
                authz.may_administer(self.roles_of(actor), row.area),
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
            grant = await self._apply_to_grant(tx, request)
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
            return moved, _ref("request", moved.id)

        return await self._run(actor, "confirm_row", idempotency_key, work, self._load_request)

    async def _apply_to_grant(self, tx: _Tx, request: AccessRequest) -> Grant:
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
            return await tx.update_grant(
                grant,
                GrantEventKind.CHANGED,
                request.id,
                service_areas=request.service_areas,
                level=request.level,
                end=request.end,
            )
        return await tx.update_grant(
            grant, GrantEventKind.REMOVED, request.id, state=GrantState.REMOVED
        )

    async def expire(self, *, idempotency_key: str) -> list[AccessRequest]:
        """Scheduled: requests without a decision for the area's ``pending_limit_days``
        (pending, or returned and not resubmitted) expire."""

        async def work(tx: _Tx) -> tuple[list[AccessRequest], str]:
            expired: list[AccessRequest] = []
            for area in self.directory.areas.values():
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
            return expired, _ref("requests", *(r.id for r in expired))

        return await self._run(SYSTEM_ACTOR, "expire", idempotency_key, work, self._load_requests)

    async def end_due_grants(self, *, idempotency_key: str) -> list[AccessRequest]:
        """Scheduled: an active grant past its end date, or of a municipality whose
        agreement has ended (002 §9), gets an urgent revoke (grant -> revoking)."""

        async def work(tx: _Tx) -> tuple[list[AccessRequest], str]:
            due: dict[str, tuple[Grant, RevokeReason]] = {}
            ended = [
                m.code
                for m in self.directory.municipalities()
                if m.agreement_ends is not None and m.agreement_ends <= tx.today
            ]
            if ended:
                for grant in await tx.uow.grants.find(
                    GrantQuery(municipalities=ended, states=[GrantState.ACTIVE])
                ):
                    due[grant.id] = (grant, RevokeReason.AGREEMENT_ENDED)
            for grant in await tx.uow.grants.find(
                GrantQuery(states=[GrantState.ACTIVE], end_before=tx.today)
            ):
                due.setdefault(grant.id, (grant, RevokeReason.GRANT_ENDED))
            created: list[AccessRequest] = []
            for grant, reason in sorted(due.values(), key=lambda g: g[0].id):
                await tx.uow.lock(f"grant:{grant.id}")
                current = await tx.uow.grants.get(grant.id)
                if current is None or current.state is not GrantState.ACTIVE:
                    continue
                created.append(
                    await self._open_revoke(
                        tx,
                        current,
                        requester=current.requested_by,
                        reason=reason,
                        note="",
                        template="revoke.due",
                    )
                )
            return created, _ref("requests", *(r.id for r in created))

        return await self._run(
            SYSTEM_ACTOR, "end_due_grants", idempotency_key, work, self._load_requests
        )

    # -------------------------------------------------------------------- queries

    async def get_request(self, actor: str, request_id: str) -> RequestView:
        """One request with its decisions, grant and KEHA rows, for whoever may see it."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> RequestView:
            request = await uow.requests.get(request_id)
            if request is None:
                raise NotFound("request", request_id)
            self._deny(authz.may_view(roles, actor, request), actor, "view", request_id=request.id)
            grant = await uow.grants.get(request.grant_id) if request.grant_id else None
            return RequestView(
                request=request,
                decisions=tuple(await uow.decisions.for_request(request.id)),
                grant=grant,
                keha_rows=tuple(await uow.keha.find_rows(KehaRowQuery(request_id=request.id))),
            )

        return await self._read(actor, fn)

    async def submission_snapshots(
        self, actor: str, request_id: str
    ) -> dict[int, Mapping[str, ParamValue]]:
        """The parameters a request was submitted and resubmitted with, by the request's
        version then, for whoever may see it: what a resubmit changed is the difference
        between two of them."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> dict[int, Mapping[str, ParamValue]]:
            request = await uow.requests.get(request_id)
            if request is None:
                raise NotFound("request", request_id)
            self._deny(authz.may_view(roles, actor, request), actor, "view", request_id=request.id)
            return _submission_snapshots(request.id, await uow.outbox.for_request(request.id))

        return await self._read(actor, fn)

    async def list_requests_for(
        self,
        actor: str,
        *,
        states: Iterable[RequestState] | None = None,
        limit: int = 200,
    ) -> list[AccessRequest]:
        """Requests the actor may see (own municipalities, own areas, own access),
        newest first."""
        actor = normalize_email(actor)
        wanted = sorted(set(states)) if states is not None else None

        async def fn(uow: UnitOfWork, roles: Roles) -> list[AccessRequest]:
            queries = [
                RequestQuery(worker_email=actor, states=wanted, limit=limit),
                RequestQuery(requester=actor, states=wanted, limit=limit),
            ]
            if roles.requester_for:
                queries.append(
                    RequestQuery(
                        municipalities=sorted(roles.requester_for), states=wanted, limit=limit
                    )
                )
            areas = roles.decides_in | roles.admin_in
            if areas:
                queries.append(RequestQuery(areas=sorted(areas), states=wanted, limit=limit))
            found: dict[str, AccessRequest] = {}
            for query in queries:
                for request in await uow.requests.find(query):
                    found[request.id] = request
            ordered = sorted(found.values(), key=lambda r: (r.created_at, r.number), reverse=True)
            return ordered[:limit]

        return await self._read(actor, fn)

    async def list_grants_for(
        self, actor: str, *, states: Iterable[GrantState] | None = (GrantState.ACTIVE,)
    ) -> list[Grant]:
        """Grants the actor may see: own municipalities, own areas, own access."""
        actor = normalize_email(actor)
        wanted = sorted(set(states)) if states is not None else None

        async def fn(uow: UnitOfWork, roles: Roles) -> list[Grant]:
            queries = [GrantQuery(worker_email=actor, states=wanted)]
            if roles.requester_for:
                queries.append(
                    GrantQuery(municipalities=sorted(roles.requester_for), states=wanted)
                )
            areas = roles.decides_in | roles.admin_in
            if areas:
                queries.append(GrantQuery(areas=sorted(areas), states=wanted))
            found: dict[str, Grant] = {}
            for query in queries:
                for grant in await uow.grants.find(query):
                    found[grant.id] = grant
            return sorted(found.values(), key=lambda g: (g.worker.name, g.id))

        return await self._read(actor, fn)

    async def list_keha_rows(
        self, actor: str, area: str, *, states: Iterable[KehaRowState] | None = None
    ) -> list[KehaRow]:
        """The area's KEHA rows, for its authority admins."""
        actor = normalize_email(actor)
        wanted = sorted(set(states)) if states is not None else None

        async def fn(uow: UnitOfWork, roles: Roles) -> list[KehaRow]:
            self._deny(authz.may_administer(roles, area), actor, "list_keha_rows", target=area)
            return await uow.keha.find_rows(KehaRowQuery(areas=[area], states=wanted))

        return await self._read(actor, fn)

    async def my_data(self, actor: str, worker_email: str | None = None) -> MyData:
        """Everything held about the actor (GDPR art. 15). Asking for someone else's data
        is denied and audited."""
        actor = normalize_email(actor)
        subject = normalize_email(worker_email) if worker_email is not None else actor

        async def fn(uow: UnitOfWork, roles: Roles) -> MyData:
            self._deny(
                None if subject == actor else "not_own_data", actor, "my_data", target=subject
            )
            return MyData(
                email=actor,
                requests_about_me=tuple(await uow.requests.find(RequestQuery(worker_email=actor))),
                grants_about_me=tuple(await uow.grants.find(GrantQuery(worker_email=actor))),
                requests_made_by_me=tuple(await uow.requests.find(RequestQuery(requester=actor))),
                decisions_by_me=tuple(await uow.decisions.by_actor(actor)),
                notifications_to_me=tuple(await uow.outbox.for_recipient(actor)),
            )

        return await self._read(actor, fn)

    async def verify_audit(self, actor: str) -> VerifyResult:
        """Verify the whole audit chain; for authority admins (of any area)."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> VerifyResult:
            self._deny(None if roles.admin_in else "not_admin_in_area", actor, "verify_audit")
            return verify_chain(await uow.audit.entries(), head=await uow.audit.head())

        return await self._read(actor, fn)


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


def _submission_snapshots(
    request_id: str, notifications: Iterable[Notification]
) -> dict[int, Mapping[str, ParamValue]]:
    """The parameters of a request's submitted/resubmitted notifications by request
    version, which is the second part of their idempotency key (``_Tx.notify``)."""
    prefix = f"{request_id}:"
    found: dict[int, Mapping[str, ParamValue]] = {}
    for notification in notifications:
        key = notification.idempotency_key
        if notification.template not in ("request.submitted", "request.resubmitted"):
            continue
        version = key[len(prefix) :].partition(":")[0] if key.startswith(prefix) else ""
        if version.isdigit():
            found[int(version)] = notification.params
    return found
