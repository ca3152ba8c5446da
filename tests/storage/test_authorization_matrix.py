"""The authorisation matrix: every role x every action of the service, table-driven.

Each cell builds its own target (a pending, returned or approved request, an active
grant, a queued or sent KEHA batch) with the people entitled to do so, snapshots every
domain table, runs the action as the role, and checks the expected outcome:

* ``ALLOW``: the action succeeds (a list shows the target);
* ``DENY``: ``AccessDenied`` is raised, and the only change in the database is one
  ``access.denied`` audit row naming the actor (and, at most, the actor's pseudonym row
  in ``people``) - no request, grant, decision, batch, row or notification moved;
* ``HIDDEN`` (the list queries, which filter rather than refuse): the target is not in
  the answer and nothing at all changed.

Runs on SQLite and PostgreSQL against the real ``AccessService`` (and the authority's
``AuthorityService`` for the report and the KEHA hand-off queries) on the SQL unit of
work: 21 actions x 9 roles = 189 cells.

Not rows here, because they have no role check of their own: the audit export
(``AuthorityService.audit_records``) and the directory import
(``AuthorityService.import_directory``) are operator command-line tools (``atmt-bot``),
and the self-access export (``my_data_export``) only ever exports the caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    KUOPIO_ADMIN,
    KUOPIO_APPROVER,
    MANAGER,
    PKS,
    STRANGER,
    VIITASAARI_MANAGER,
    FixedClock,
    draft,
    make_service,
    person_email,
    snapshot,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.authority import AuthorityService
from access.errors import AccessDenied
from access.model import (
    GrantState,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
    RevokeReason,
)
from access.service import AccessService
from storage.authority import authority_unit_of_work_factory

ALLOW, DENY, HIDDEN = "allow", "deny", "hidden"

WORKER = "worker"  # the role "the worker the target is about"; resolved per cell

ROLES: dict[str, str] = {
    "requester": MANAGER,
    "requester_other_municipality": VIITASAARI_MANAGER,
    "approver": APPROVER,
    "deputy": DEPUTY,
    "approver_other_area": KUOPIO_APPROVER,
    "admin": ADMIN,
    "admin_other_area": KUOPIO_ADMIN,
    "worker": WORKER,
    "stranger": STRANGER,
}

A, D, H = ALLOW, DENY, HIDDEN

# Rows: actions. Columns, in order: requester, requester of another municipality,
# approver, deputy, approver of another area, admin, admin of another area, worker,
# stranger.
MATRIX: dict[str, tuple[str, ...]] = {
    "submit":                (A, D, D, D, D, D, D, D, D),
    "change":                (A, D, D, D, D, D, D, D, D),
    "revoke":                (A, D, D, D, D, D, D, D, D),
    "cancel":                (A, D, D, D, D, D, D, D, D),
    "approve":               (D, D, A, A, D, D, D, D, D),
    "reject":                (D, D, A, A, D, D, D, D, D),
    "return":                (D, D, A, A, D, D, D, D, D),
    "resubmit":              (A, D, D, D, D, D, D, D, D),
    "misuse_revoke":         (D, D, A, A, D, D, D, D, D),
    "queue_batch":           (D, D, D, D, D, A, D, D, D),
    "mark_sent":             (D, D, D, D, D, A, D, D, D),
    "confirm":               (D, D, D, D, D, A, D, D, D),
    "get_request":           (A, D, A, A, D, A, D, A, D),
    "list_requests":         (A, H, A, A, H, A, H, A, H),
    "list_grants":           (A, H, A, A, H, A, H, A, H),
    "list_keha_rows":        (D, D, D, D, D, A, D, D, D),
    "my_data_of_another":    (D, D, D, D, D, D, D, D, D),
    "verify_audit":          (D, D, D, D, D, A, A, D, D),
    # the authority's AuthorityService
    "report":                (D, D, A, A, D, A, D, D, D),
    "keha_pending":          (D, D, D, D, D, A, D, D, D),
    "keha_file":             (D, D, D, D, D, A, D, D, D),
}  # fmt: skip

CELLS = len(MATRIX) * len(ROLES)
_counter = itertools.count(1)


@dataclass
class Target:
    worker: str
    ident: str = ""


class World:
    """Builds each cell's target with the people entitled to build it."""

    def __init__(
        self, service: AccessService, clock: FixedClock, authority: AuthorityService
    ) -> None:
        self.service = service
        self.clock = clock
        self.authority = authority

    def key(self) -> str:
        return f"matrix-{next(_counter)}"

    def fresh_worker(self) -> str:
        return f"worker{next(_counter)}@laukaa.example.fi"

    def new_draft(self, worker: str) -> RequestDraft:
        return draft(self.clock.today(), worker_name="Matti Matriisi", worker_email=worker)

    async def pending(self, worker: str) -> str:
        request = await self.service.requests.submit(
            MANAGER, self.new_draft(worker), idempotency_key=self.key()
        )
        return request.id

    async def returned(self, worker: str) -> str:
        request_id = await self.pending(worker)
        await self.service.requests.return_with_question(
            APPROVER, request_id, "Mitkä tehtävät?", idempotency_key=self.key()
        )
        return request_id

    async def approved(self, worker: str) -> str:
        request_id = await self.pending(worker)
        await self.service.requests.approve(APPROVER, request_id, idempotency_key=self.key())
        return request_id

    async def queued(self, worker: str) -> str:
        request_id = await self.approved(worker)
        batch = await self.service.handoff.queue_for_keha(
            ADMIN, PKS, idempotency_key=self.key(), request_ids=[request_id]
        )
        return batch.id

    async def sent_row(self, worker: str) -> str:
        batch_id = await self.queued(worker)
        batch = await self.service.handoff.mark_sent(ADMIN, batch_id, idempotency_key=self.key())
        rows = [r for r in batch.rows if r.batch_id == batch_id]
        if not rows:
            found = await self.service.queries.list_keha_rows(ADMIN, PKS)
            rows = [r for r in found if r.batch_id == batch_id]
        assert len(rows) == 1
        return rows[0].id

    async def active_grant(self, worker: str) -> str:
        row_id = await self.sent_row(worker)
        request = await self.service.handoff.confirm_row(ADMIN, row_id, idempotency_key=self.key())
        assert request.grant_id is not None
        return request.grant_id


Action = Callable[[AccessService, str, Target, World], Awaitable[Any]]
Setup = Callable[[World, str], Awaitable[str]]


async def _none(world: World, worker: str) -> str:
    return ""


async def _submit(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.submit(actor, w.new_draft(t.worker), idempotency_key=w.key())


async def _change(s: AccessService, actor: str, t: Target, w: World) -> Any:
    today = w.clock.today()
    d = RequestDraft(
        kind=RequestKind.CHANGE,
        grant_id=t.ident,
        service_areas=("youth", "guidance"),
        level="record",
        start=today,
        end=today + timedelta(days=60),
        justification="Tehtävät muuttuivat",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )
    return await s.requests.submit(actor, d, idempotency_key=w.key())


async def _revoke(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.revoke_by_municipality(
        actor, t.ident, RevokeReason.EMPLOYMENT_ENDED, idempotency_key=w.key()
    )


async def _cancel(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.cancel(actor, t.ident, idempotency_key=w.key())


async def _approve(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.approve(actor, t.ident, idempotency_key=w.key())


async def _reject(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.reject(actor, t.ident, "Ei perusteita", idempotency_key=w.key())


async def _return(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.return_with_question(actor, t.ident, "Miksi?", idempotency_key=w.key())


async def _resubmit(s: AccessService, actor: str, t: Target, w: World) -> Any:
    changes = RequestChanges(
        justification="Ohjaamon asiakasohjaus ja uraohjaus", answer="Ohjaamossa"
    )
    return await s.requests.resubmit(actor, t.ident, changes, idempotency_key=w.key())


async def _misuse(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.requests.revoke_for_misuse(
        actor, t.ident, "Väärinkäyttö", idempotency_key=w.key()
    )


async def _queue(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.handoff.queue_for_keha(
        actor, PKS, idempotency_key=w.key(), request_ids=[t.ident]
    )


async def _mark_sent(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.handoff.mark_sent(actor, t.ident, idempotency_key=w.key())


async def _confirm(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.handoff.confirm_row(actor, t.ident, idempotency_key=w.key())


async def _get(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.queries.get_request(actor, t.ident)


async def _list_requests(s: AccessService, actor: str, t: Target, w: World) -> bool:
    return t.ident in {r.id for r in await s.queries.list_requests_for(actor)}


async def _list_grants(s: AccessService, actor: str, t: Target, w: World) -> bool:
    found = await s.queries.list_grants_for(actor, states=list(GrantState))
    return t.ident in {g.id for g in found}


async def _keha_rows(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.queries.list_keha_rows(actor, PKS)


async def _my_data(s: AccessService, actor: str, t: Target, w: World) -> Any:
    other = t.worker if actor != t.worker else "someone.else@laukaa.example.fi"
    return await s.queries.my_data(actor, other)


async def _verify(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await s.queries.verify_audit(actor)


async def _report(s: AccessService, actor: str, t: Target, w: World) -> Any:
    today = w.clock.today()
    return await w.authority.report(actor, PKS, today.replace(day=1), today)


async def _keha_pending(s: AccessService, actor: str, t: Target, w: World) -> Any:
    found = await w.authority.pending_handoff(actor, PKS)
    assert t.ident in {r.id for r in found}
    return found


async def _keha_file(s: AccessService, actor: str, t: Target, w: World) -> Any:
    return await w.authority.batch_file(actor, t.ident, "csv")


ACTIONS: dict[str, tuple[Setup, Action]] = {
    "submit": (_none, _submit),
    "change": (World.active_grant, _change),
    "revoke": (World.active_grant, _revoke),
    "cancel": (World.pending, _cancel),
    "approve": (World.pending, _approve),
    "reject": (World.pending, _reject),
    "return": (World.pending, _return),
    "resubmit": (World.returned, _resubmit),
    "misuse_revoke": (World.active_grant, _misuse),
    "queue_batch": (World.approved, _queue),
    "mark_sent": (World.queued, _mark_sent),
    "confirm": (World.sent_row, _confirm),
    "get_request": (World.pending, _get),
    "list_requests": (World.pending, _list_requests),
    "list_grants": (World.active_grant, _list_grants),
    "list_keha_rows": (World.sent_row, _keha_rows),
    "my_data_of_another": (World.pending, _my_data),
    "verify_audit": (World.pending, _verify),
    "report": (World.pending, _report),
    "keha_pending": (World.approved, _keha_pending),
    "keha_file": (World.queued, _keha_file),
}

# What an allowed command leaves behind (checked on the request or the batch).
ALLOWED_STATE: dict[str, RequestState] = {
    "submit": RequestState.PENDING,
    "change": RequestState.PENDING,
    "cancel": RequestState.CANCELLED,
    "approve": RequestState.APPROVED,
    "reject": RequestState.REJECTED,
    "return": RequestState.RETURNED,
    "resubmit": RequestState.PENDING,
    "confirm": RequestState.DONE,
}


def test_matrix_is_complete() -> None:
    assert set(MATRIX) == set(ACTIONS)
    assert all(len(row) == len(ROLES) for row in MATRIX.values())
    assert CELLS == 189


def _diff(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    changed: dict[str, list[dict[str, Any]]] = {}
    for name in before:
        old = before[name]
        new = after[name]
        if old != new:
            changed[name] = [row for row in new if row not in old] + [
                {"removed": row} for row in old if row not in new
            ]
    return changed


async def _cell(
    service: AccessService,
    world: World,
    session_factory: async_sessionmaker[AsyncSession],
    role: str,
    action: str,
    expected: str,
) -> str | None:
    """Run one cell; return a description of what went wrong, or None."""
    worker = world.fresh_worker()
    setup, act = ACTIONS[action]
    target = Target(worker=worker, ident=await setup(world, worker))
    actor = worker if ROLES[role] == WORKER else ROLES[role]
    before = await snapshot(session_factory)
    try:
        result = await act(service, actor, target, world)
    except AccessDenied as denial:
        if expected != DENY:
            return f"denied ({denial.reason}), expected {expected}"
        after = await snapshot(session_factory)
        changed = _diff(before, after)
        extra = set(changed) - {"audit", "people"}
        if extra:
            return f"denial changed {sorted(extra)}"
        audit = changed.get("audit", [])
        if len(audit) != 1:
            return f"denial wrote {len(audit)} audit rows"
        row = audit[0]
        if row["action"] != "access.denied" or person_email(after, row["actor"]) != actor:
            return f"denial audit row is {row['action']} by {row['actor']}"
        if any("removed" in r for r in changed.get("people", [])):
            return "denial removed a person"
        return None
    after = await snapshot(session_factory)
    if expected == DENY:
        return "allowed, expected deny"
    if action in ("list_requests", "list_grants"):
        visible = bool(result)
        if visible != (expected == ALLOW):
            return f"target {'visible' if visible else 'hidden'}, expected {expected}"
        if after != before:
            return "a list query changed the database"
        return None
    if expected == HIDDEN:
        return "expected a filtered list"
    if action in ALLOWED_STATE and result.state is not ALLOWED_STATE[action]:
        return f"state {result.state}, expected {ALLOWED_STATE[action]}"
    if action in ("revoke", "misuse_revoke"):
        grants = {g["id"]: g for g in after["grants"]}
        if grants[target.ident]["state"] != GrantState.REVOKING:
            return "grant not revoking after an allowed revoke"
    if action == "queue_batch" and target.ident not in {r.request_id for r in result.rows}:
        return "batch does not hold the request"
    if action in ("get_request",) and result.request.id != target.ident:
        return "wrong request"
    return None


@pytest.mark.parametrize("role", list(ROLES))
async def test_authorization_matrix(
    session_factory: async_sessionmaker[AsyncSession], role: str
) -> None:
    clock = FixedClock()
    service = make_service(session_factory, clock)
    authority = AuthorityService(service, authority_unit_of_work_factory(session_factory))
    world = World(service, clock, authority)
    column = list(ROLES).index(role)
    failures: dict[str, str] = {}
    for action, row in MATRIX.items():
        problem = await _cell(service, world, session_factory, role, action, row[column])
        if problem is not None:
            failures[action] = problem
    assert failures == {}
