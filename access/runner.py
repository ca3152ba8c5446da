"""The command runner: how every use case of the domain runs.

One :class:`CommandRunner` holds what every service needs - the unit-of-work factory,
the clock, the id source and the directory in force - and does, in one place, what
each service used to do by hand:

* :meth:`CommandRunner.run` runs a command in ONE unit of work: the idempotency key is
  claimed first (the same key returns the first result and changes nothing), the work
  writes its state, audit rows and outbox rows, the key is completed with a reference
  to the result, and the unit of work commits once;
* :meth:`CommandRunner.read` runs a query with the actor's roles;
* denials: :func:`deny` raises :class:`AccessDenied` for a refusal reason of
  :mod:`access.authz`; whatever runs inside :meth:`run`, :meth:`read` or
  :meth:`audited` gets it audited (an ``access.denied`` row, in a transaction of its
  own, since the command's transaction rolls back) before it reaches the caller;
* :meth:`CommandRunner.emit` writes a notification's outbox rows, one per recipient,
  from the template registry (:data:`access.notifications.TEMPLATES`).

:class:`Transaction` is one command's unit of work with who and when, and the helpers
that write a request transition together with its audit row and notifications.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, NoReturn, TypeVar

from access.directory import Directory, DirectorySource, Roles, current_directory
from access.errors import (
    AccessDenied,
    AlreadyDecided,
    ConcurrentModification,
    IdempotencyKeyReused,
    IllegalTransition,
    NotFound,
)
from access.model import (
    TRANSITIONS,
    AccessRequest,
    AuditDraft,
    Decision,
    DecisionOutcome,
    Grant,
    GrantEvent,
    GrantEventKind,
    IdempotencyRecord,
    JsonValue,
    Notification,
    ParamValue,
    RequestState,
)
from access.notifications import TEMPLATES
from access.ports import Clock, IdSource, RequestQuery, SystemClock, UnitOfWork, UuidIds

__all__ = [
    "DECIDED_STATES",
    "CommandRunner",
    "Transaction",
    "deny",
    "load_request",
    "load_requests",
    "ref",
    "ref_ids",
]

T = TypeVar("T")
U = TypeVar("U", bound=UnitOfWork)

DECIDED_STATES = frozenset(
    {
        RequestState.APPROVED,
        RequestState.QUEUED_FOR_KEHA,
        RequestState.SENT_TO_KEHA,
        RequestState.DONE,
        RequestState.REJECTED,
        RequestState.RETURNED,
        RequestState.STOPPING,
        RequestState.STOPPED,
    }
)


def deny(
    reason: str | None,
    actor: str,
    command: str,
    *,
    request_id: str | None = None,
    target: str | None = None,
) -> None:
    """Raise :class:`AccessDenied` when ``reason`` (an :mod:`access.authz` answer) is set."""
    if reason is not None:
        raise AccessDenied(actor, command, reason, request_id=request_id, target=target)


# ------------------------------------------------------------------ results by reference


def ref(kind: str, *ids: str) -> str:
    """What the idempotency store keeps of a result: ``kind:id,id,...``."""
    return f"{kind}:{','.join(ids)}"


def ref_ids(reference: str | None) -> list[str]:
    _, _, rest = (reference or "").partition(":")
    return [i for i in rest.split(",") if i]


async def load_request(uow: UnitOfWork, prior: IdempotencyRecord) -> AccessRequest:
    request_id = ref_ids(prior.result)[0]
    found = await uow.requests.get(request_id)
    if found is None:
        raise NotFound("request", request_id)
    return found


async def load_requests(uow: UnitOfWork, prior: IdempotencyRecord) -> list[AccessRequest]:
    ids = ref_ids(prior.result)
    if not ids:
        return []
    found = {r.id: r for r in await uow.requests.find(RequestQuery(ids=ids))}
    return [found[i] for i in ids if i in found]


# ---------------------------------------------------------------------------- runner


class CommandRunner(Generic[U]):
    """Unit of work, clock, ids and directory, and the one way commands run.

    ``directory``: a :class:`Directory`, or a callable that returns the one in force
    (``access.authority.DirectoryProvider``), asked on every use.
    """

    def __init__(
        self,
        uow_factory: Callable[[], U],
        directory: DirectorySource,
        clock: Clock | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self.directory_source: DirectorySource = directory
        self.clock: Clock = clock or SystemClock()
        self.ids: IdSource = ids or UuidIds()

    @property
    def uow_factory(self) -> Callable[[], U]:
        return self._uow_factory

    @property
    def directory(self) -> Directory:
        """The current directory (a callable directory is asked on every use)."""
        return current_directory(self.directory_source)

    def roles_of(self, actor: str) -> Roles:
        return self.directory.roles_of(actor)

    def new_id(self) -> str:
        return self.ids.new_id()

    # ------------------------------------------------------------ transactions

    async def run(
        self,
        actor: str,
        command: str,
        idempotency_key: str,
        work: Callable[[Transaction[U]], Awaitable[tuple[T, str]]],
        load: Callable[[U, IdempotencyRecord], Awaitable[T]],
    ) -> T:
        """Run ``work`` in one unit of work under ``idempotency_key``.

        ``work`` returns its result and a reference to it (:func:`ref`), stored with
        the key; a second call with the key returns ``load(uow, first record)``. A key
        first used by another actor or command raises :class:`IdempotencyKeyReused`.
        """
        if not idempotency_key:
            raise ValueError("every command needs an idempotency key")
        async with self.audited(), self._uow_factory() as uow:
            tx = Transaction(self, uow, actor, command)
            prior = await uow.idempotency.claim(
                IdempotencyRecord(idempotency_key, actor, command, tx.now)
            )
            if prior is not None:
                if prior.actor != actor or prior.command != command or prior.result is None:
                    raise IdempotencyKeyReused(idempotency_key)
                return await load(uow, prior)
            result, reference = await work(tx)
            await uow.idempotency.complete(idempotency_key, reference)
            await uow.commit()
            return result

    async def read(self, actor: str, fn: Callable[[U, Roles], Awaitable[T]]) -> T:
        """Run a query in a unit of work of its own, with the actor's roles."""
        async with self.audited(), self._uow_factory() as uow:
            return await fn(uow, self.roles_of(actor))

    # ----------------------------------------------------------------- denials

    @asynccontextmanager
    async def audited(self) -> AsyncIterator[None]:
        """Audit an :class:`AccessDenied` raised inside, then let it go on."""
        try:
            yield
        except AccessDenied as denial:
            await self.record_denial(denial)
            raise

    async def authorize(
        self,
        reason: str | None,
        actor: str,
        command: str,
        *,
        request_id: str | None = None,
        target: str | None = None,
    ) -> None:
        """:func:`deny` outside a transaction: a refusal is audited, then raised."""
        async with self.audited():
            deny(reason, actor, command, request_id=request_id, target=target)

    async def record_denial(self, denial: AccessDenied) -> None:
        """The ``access.denied`` audit row, in a transaction of its own."""
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

    # ----------------------------------------------------------- notifications

    async def emit(
        self,
        uow: UnitOfWork,
        template: str,
        subject: Any,
        *,
        key: str,
        actor: str,
        at: datetime,
        request_id: str | None,
        params: Mapping[str, ParamValue] | None = None,
        directory: Directory | None = None,
    ) -> None:
        """Write the outbox rows of ``template`` about ``subject``: one per recipient of
        each of its audiences, with its parameters (plus ``params``) and the
        idempotency key ``<key>:<audience>:<recipient>``."""
        spec = TEMPLATES[template]
        where = directory if directory is not None else self.directory
        values = spec.params(subject, where, actor)
        if params:
            values.update(params)
        for audience in spec.audiences:
            for recipient in spec.people(audience, subject, where):
                await uow.outbox.add(
                    Notification(
                        id=self.new_id(),
                        request_id=request_id,
                        template=template,
                        audience=audience,
                        recipient=recipient,
                        params=dict(values),
                        idempotency_key=f"{key}:{audience.value}:{recipient}",
                        created_at=at,
                    )
                )


# ------------------------------------------------------------------------ transaction


class Transaction(Generic[U]):
    """One command's transaction: the unit of work plus who, when and the helpers that
    write a transition together with its audit row and notifications."""

    def __init__(self, runner: CommandRunner[U], uow: U, actor: str, command: str) -> None:
        self.runner = runner
        self.uow = uow
        self.actor = actor
        self.command = command
        self.now = runner.clock.now()
        self.today = runner.clock.today()
        self.directory = runner.directory

    def new_id(self) -> str:
        return self.runner.new_id()

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

    async def emit(
        self,
        template: str,
        subject: Any,
        *,
        key: str,
        request_id: str | None,
        params: Mapping[str, ParamValue] | None = None,
    ) -> None:
        """:meth:`CommandRunner.emit` in this transaction, as its actor, at its time."""
        await self.runner.emit(
            self.uow,
            template,
            subject,
            key=key,
            actor=self.actor,
            at=self.now,
            request_id=request_id,
            params=params,
            directory=self.directory,
        )

    async def notify(
        self, template: str, request: AccessRequest, extra: Mapping[str, ParamValue] | None = None
    ) -> None:
        """The notifications of a request transition (keyed by request and version)."""
        await self.emit(
            template,
            request,
            key=f"{request.id}:{request.version}:{template}",
            request_id=request.id,
            params=extra,
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
