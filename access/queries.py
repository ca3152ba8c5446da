"""Queries of requests, grants, KEHA rows, one person's data (GDPR art. 15) and the
audit chain, each for whoever may see it (refusals are audited)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from access import authz
from access.addresses import normalize_email
from access.audit import VerifyResult, verify_chain
from access.directory import Roles
from access.errors import NotFound
from access.model import (
    LIVE_GRANT_STATES,
    OPEN_STATES,
    AccessRequest,
    Decision,
    Grant,
    GrantState,
    KehaRow,
    KehaRowState,
    MisuseMatter,
    Notification,
    ParamValue,
    RequestState,
)
from access.ports import GrantQuery, KehaRowQuery, RequestQuery, UnitOfWork
from access.runner import CommandRunner, deny

__all__ = ["MyData", "QueryService", "RequestView"]


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
    matters_about_me: tuple[MisuseMatter, ...] = ()  # suspected misuse of my grants
    matters_by_me: tuple[MisuseMatter, ...] = ()  # reported or closed by me


class QueryService:
    def __init__(self, runner: CommandRunner[UnitOfWork]) -> None:
        self.runner = runner

    async def get_request(self, actor: str, request_id: str) -> RequestView:
        """One request with its decisions, grant and KEHA rows, for whoever may see it."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> RequestView:
            request = await uow.requests.get(request_id)
            if request is None:
                raise NotFound("request", request_id)
            deny(authz.may_view(roles, actor, request), actor, "view", request_id=request.id)
            grant = await uow.grants.get(request.grant_id) if request.grant_id else None
            return RequestView(
                request=request,
                decisions=tuple(await uow.decisions.for_request(request.id)),
                grant=grant,
                keha_rows=tuple(await uow.keha.find_rows(KehaRowQuery(request_id=request.id))),
            )

        return await self.runner.read(actor, fn)

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
            deny(authz.may_view(roles, actor, request), actor, "view", request_id=request.id)
            return _submission_snapshots(request.id, await uow.outbox.for_request(request.id))

        return await self.runner.read(actor, fn)

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

        return await self.runner.read(actor, fn)

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

        return await self.runner.read(actor, fn)

    async def list_keha_rows(
        self, actor: str, area: str, *, states: Iterable[KehaRowState] | None = None
    ) -> list[KehaRow]:
        """The area's KEHA rows, for its authority admins."""
        actor = normalize_email(actor)
        wanted = sorted(set(states)) if states is not None else None

        async def fn(uow: UnitOfWork, roles: Roles) -> list[KehaRow]:
            deny(authz.may_administer(roles, area), actor, "list_keha_rows", target=area)
            return await uow.keha.find_rows(KehaRowQuery(areas=[area], states=wanted))

        return await self.runner.read(actor, fn)

    async def my_data(self, actor: str, worker_email: str | None = None) -> MyData:
        """Everything held about the actor (GDPR art. 15). Asking for someone else's data
        is denied and audited."""
        actor = normalize_email(actor)
        subject = normalize_email(worker_email) if worker_email is not None else actor

        async def fn(uow: UnitOfWork, roles: Roles) -> MyData:
            deny(authz.may_see_data_of(actor, subject), actor, "my_data", target=subject)
            grants = tuple(await uow.grants.find(GrantQuery(worker_email=actor)))
            about = await uow.matters.find(grant_ids=[g.id for g in grants]) if grants else []
            return MyData(
                email=actor,
                requests_about_me=tuple(await uow.requests.find(RequestQuery(worker_email=actor))),
                grants_about_me=grants,
                requests_made_by_me=tuple(await uow.requests.find(RequestQuery(requester=actor))),
                decisions_by_me=tuple(await uow.decisions.by_actor(actor)),
                notifications_to_me=tuple(await uow.outbox.for_recipient(actor)),
                matters_about_me=tuple(about),
                matters_by_me=tuple(await uow.matters.find(person=actor)),
            )

        return await self.runner.read(actor, fn)

    async def is_named_worker(self, actor: str) -> bool:
        """Whether a live grant or an open request names the actor as its worker (what
        the worker's menu offers: their own access). Reads only the actor's own rows."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> bool:
            live = GrantQuery(worker_email=actor, states=tuple(LIVE_GRANT_STATES), limit=1)
            if await uow.grants.find(live):
                return True
            open_ = RequestQuery(worker_email=actor, states=tuple(OPEN_STATES), limit=1)
            return bool(await uow.requests.find(open_))

        return await self.runner.read(actor, fn)

    async def verify_audit(self, actor: str) -> VerifyResult:
        """Verify the whole audit chain; for authority admins (of any area)."""
        actor = normalize_email(actor)

        async def fn(uow: UnitOfWork, roles: Roles) -> VerifyResult:
            deny(authz.may_administer_anywhere(roles), actor, "verify_audit")
            return verify_chain(await uow.audit.entries(), head=await uow.audit.head())

        return await self.runner.read(actor, fn)


def _submission_snapshots(
    request_id: str, notifications: Iterable[Notification]
) -> dict[int, Mapping[str, ParamValue]]:
    """The parameters of a request's submitted/resubmitted notifications by request
    version, which is the second part of their idempotency key."""
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
