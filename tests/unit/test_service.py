"""The access lifecycle on the SQL unit of work (a SQLite file per test): transitions,
authorisation, audit, outbox, idempotency and races."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from domain_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    KINNULA_MANAGER,
    KUOPIO_ADMIN,
    KUOPIO_APPROVER,
    MANAGER,
    MANAGER2,
    STRANGER,
    TODAY,
    WORKER,
    FixedClock,
    SeqIds,
    directory_data,
    example_directory,
    valid_draft,
)
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.directory import Directory, parse_directory
from access.errors import (
    AccessDenied,
    AlreadyDecided,
    IdempotencyKeyReused,
    IllegalTransition,
    NotFound,
    NothingToQueue,
    PolicyViolations,
    StaleRequest,
)
from access.model import (
    AccessRequest,
    Decision,
    DecisionOutcome,
    Grant,
    GrantEventKind,
    GrantState,
    KehaRowState,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
    RevokeReason,
)
from access.service import AccessService
from storage.db import create_engine, create_session_factory
from storage.domain_tables import (
    AUDIT,
    BATCHES,
    COUNTERS,
    DECISIONS,
    GRANTS,
    IDEMPOTENCY,
    KEHA_ROWS,
    OUTBOX,
    REQUESTS,
)
from storage.repositories import unit_of_work_factory

PKS = "pohjoinen-keski-suomi"
Sessions = async_sessionmaker[AsyncSession]

# What a command writes (audit rows and people aside), keyed for comparison.
WRITTEN: dict[str, tuple[Table, str]] = {
    "requests": (REQUESTS, "id"),
    "grants": (GRANTS, "id"),
    "decisions": (DECISIONS, "id"),
    "batches": (BATCHES, "id"),
    "keha_rows": (KEHA_ROWS, "id"),
    "outbox": (OUTBOX, "id"),
    "idempotency": (IDEMPOTENCY, "key"),
    "counters": (COUNTERS, "year"),
}


@pytest.fixture
async def sessions(_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Sessions]:
    """A migrated SQLite file of this test's own."""
    path = tmp_path / "service.db"
    shutil.copyfile(_sqlite_template, path)
    engine = create_engine(f"sqlite:///{path}")
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@dataclass
class World:
    service: AccessService
    sessions: Sessions
    clock: FixedClock
    keys: int = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    async def written(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        async with self.sessions() as session:
            for name, (table, key) in WRITTEN.items():
                rows = (await session.execute(select(table).order_by(table.c[key]))).all()
                out[name] = [dict(r._mapping) for r in rows]
        return out

    async def audit_count(self) -> int:
        async with self.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(AUDIT))).scalar())

    async def notifications(self, request_id: str) -> list[Any]:
        async with self.service.uow_factory() as uow:
            return list(await uow.outbox.for_request(request_id))

    async def outbox(self, request_id: str | None = None) -> set[tuple[str, str, str]]:
        async with self.sessions() as session:
            query = select(OUTBOX.c.template, OUTBOX.c.audience, OUTBOX.c.recipient)
            if request_id is not None:
                query = query.where(OUTBOX.c.request_id == request_id)
            return {(t, a, r) for t, a, r in (await session.execute(query)).all()}

    async def audit_actions(self) -> list[str]:
        async with self.service.uow_factory() as uow:
            return [e.action for e in await uow.audit.entries()]

    async def grant(self, grant_id: str) -> Grant:
        async with self.service.uow_factory() as uow:
            found = await uow.grants.get(grant_id)
        assert found is not None
        return found

    async def request(self, request_id: str) -> AccessRequest:
        async with self.service.uow_factory() as uow:
            found = await uow.requests.get(request_id)
        assert found is not None
        return found

    async def decisions(self, request_id: str) -> list[Decision]:
        async with self.service.uow_factory() as uow:
            return await uow.decisions.for_request(request_id)

    async def submit(self, actor: str = MANAGER, **changes: Any) -> AccessRequest:
        return await self.service.requests.submit(
            actor, valid_draft(**changes), idempotency_key=self.key()
        )

    async def active_grant(self, **changes: Any) -> str:
        request = await self.submit(**changes)
        await self.service.requests.approve(APPROVER, request.id, idempotency_key=self.key())
        batch = await self.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=self.key())
        await self.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=self.key())
        row = next(r for r in batch.rows if r.request_id == request.id)
        done = await self.service.handoff.confirm_row(ADMIN, row.id, idempotency_key=self.key())
        assert done.grant_id is not None
        return done.grant_id


def world(sessions: Sessions, directory: Directory | None = None) -> World:
    clock = FixedClock()
    service = AccessService(
        unit_of_work_factory(sessions), directory or example_directory(), clock, SeqIds()
    )
    return World(service, sessions, clock)


@pytest.fixture
def w(sessions: Sessions) -> World:
    return world(sessions)


async def test_grant_lifecycle_with_audit_and_notifications(w: World) -> None:
    request = await w.submit()
    assert request.state is RequestState.PENDING and request.version == 1
    assert request.number == "2026-000001"
    assert request.area == PKS and request.worker.email == WORKER
    assert await w.outbox(request.id) == {
        ("request.submitted", "requester", MANAGER),
        ("request.submitted", "worker", WORKER),
        ("request.submitted", "approver", APPROVER),
        ("request.submitted", "approver", DEPUTY),
    }

    approved = await w.service.requests.approve(APPROVER, request.id, idempotency_key=w.key())
    assert approved.state is RequestState.APPROVED and approved.version == 2
    batch = await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    [row] = batch.rows
    assert row.state is KehaRowState.QUEUED and row.approved_by == APPROVER
    sent = await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    assert sent.sent_by == ADMIN and sent.rows[0].state is KehaRowState.SENT
    done = await w.service.handoff.confirm_row(ADMIN, row.id, idempotency_key=w.key())
    assert done.state is RequestState.DONE and done.version == 5

    view = await w.service.queries.get_request(WORKER, request.id)
    assert view.grant is not None and view.grant.state is GrantState.ACTIVE
    assert view.grant.end == request.end and view.grant.requested_by == MANAGER
    assert [e.event for e in view.grant.history] == [GrantEventKind.OPENED]
    assert view.last_decision is not None and view.last_decision.actor == APPROVER
    assert [r.state for r in view.keha_rows] == [KehaRowState.CONFIRMED]

    assert await w.audit_actions() == [
        "request.submitted",
        "request.approved",
        "request.queued",
        "request.sent_to_keha",
        "request.done",
    ]
    assert (await w.outbox(request.id)) - {
        ("request.submitted", a, r)
        for a, r in [
            ("requester", MANAGER),
            ("worker", WORKER),
            ("approver", APPROVER),
            ("approver", DEPUTY),
        ]
    } == {
        ("request.approved", "requester", MANAGER),
        ("request.approved", "worker", WORKER),
        ("request.approved", "admin", ADMIN),
        ("grant.opened", "requester", MANAGER),
        ("grant.opened", "worker", WORKER),
    }
    result = await w.service.queries.verify_audit(ADMIN)
    assert result.ok and result.checked == 5


async def test_notification_parameters_are_plain_values(w: World) -> None:
    request = await w.submit()
    await w.service.requests.reject(
        APPROVER, request.id, "Tehtävä ei edellytä", idempotency_key=w.key()
    )
    outbox = await w.notifications(request.id)
    rejected = [n for n in outbox if n.template == "request.rejected"]
    [n] = [n for n in rejected if n.audience.value == "requester"]
    assert n.catalog_key == "request.rejected.requester"
    [told] = [n for n in rejected if n.audience.value == "worker"]  # neutral, once
    assert told.recipient == request.worker.email
    assert n.params["reason"] == "Tehtävä ei edellytä"
    assert n.params["number"] == request.number
    assert n.params["municipality_name"] == "Laukaa"
    assert n.params["end"] == request.end.isoformat() if request.end else False
    assert all(isinstance(v, str | int | bool) or v is None for v in n.params.values())
    keys = [n.idempotency_key for n in outbox]
    assert len(keys) == len(set(keys))


async def test_change_request_changes_the_grant(w: World) -> None:
    grant_id = await w.active_grant()
    new_end = TODAY + timedelta(days=300)
    change = await w.service.requests.submit(
        MANAGER2,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant_id,
            service_areas=("youth", "integration"),
            level="record",
            start=TODAY,
            end=new_end,
            justification="Kotoutujien ohjaus lisätty",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key=w.key(),
    )
    assert change.worker.email == WORKER and change.grant_id == grant_id
    assert ("request.submitted", "worker", WORKER) in await w.outbox(change.id)
    await w.service.requests.approve(DEPUTY, change.id, idempotency_key=w.key())
    batch = await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    await w.service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=w.key())
    grant = await w.grant(grant_id)
    assert grant.state is GrantState.ACTIVE
    assert grant.service_areas == ("youth", "integration") and grant.level == "record"
    assert grant.end == new_end
    assert [e.event for e in grant.history] == [GrantEventKind.OPENED, GrantEventKind.CHANGED]
    assert ("grant.changed", "worker", WORKER) in await w.outbox(change.id)


async def test_revoke_by_municipality_needs_no_approval_and_is_urgent(w: World) -> None:
    grant_id = await w.active_grant()
    revocation = await w.service.requests.revoke_by_municipality(
        MANAGER,
        grant_id,
        RevokeReason.EMPLOYMENT_ENDED,
        "Työsuhde päättyi",
        idempotency_key=w.key(),
    )
    revoke = revocation.request
    assert revoke is not None and not revocation.scheduled
    assert revoke.kind is RequestKind.REVOKE and revoke.state is RequestState.APPROVED
    assert revoke.urgent and revoke.requester == MANAGER and revoke.end is None
    assert (await w.grant(grant_id)).state is GrantState.REVOKING
    assert await w.outbox(revoke.id) == {
        ("revoke.requested", "requester", MANAGER),
        ("revoke.requested", "worker", WORKER),
        ("revoke.requested", "approver", APPROVER),
        ("revoke.requested", "approver", DEPUTY),
        ("revoke.requested", "admin", ADMIN),
    }
    assert (await w.audit_actions())[-1] == "revoke.requested"
    with pytest.raises(PolicyViolations) as again:
        await w.service.requests.revoke_by_municipality(
            MANAGER, grant_id, RevokeReason.OTHER, idempotency_key=w.key()
        )
    assert [v.code for v in again.value.violations] == ["grant.not_active"]

    batch = await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    assert batch.rows[0].urgent and batch.rows[0].approved_by is None
    await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    await w.service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=w.key())
    assert (await w.grant(grant_id)).state is GrantState.REMOVED
    assert ("grant.removed", "worker", WORKER) in await w.outbox(revoke.id)
    # The worker may get a new grant now.
    assert (await w.submit()).state is RequestState.PENDING


async def test_misuse_revoke_by_approver_supersedes_an_open_change(w: World) -> None:
    grant_id = await w.active_grant()
    change = await w.service.requests.submit(
        MANAGER,
        RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant_id,
            service_areas=("youth",),
            level="record",
            start=TODAY,
            end=TODAY + timedelta(days=30),
            justification="x",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key=w.key(),
    )
    with pytest.raises(PolicyViolations) as missing_note:
        await w.service.requests.revoke_for_misuse(APPROVER, grant_id, " ", idempotency_key=w.key())
    assert [v.code for v in missing_note.value.violations] == ["text.required"]
    revoke = await w.service.requests.revoke_for_misuse(
        APPROVER, grant_id, "Epäasiallinen käyttö", idempotency_key=w.key()
    )
    assert revoke.revoke_reason is RevokeReason.MISUSE and revoke.urgent
    assert revoke.requester == MANAGER and revoke.created_by == APPROVER
    superseded = await w.request(change.id)
    assert superseded.state is RequestState.CANCELLED
    assert ("request.cancelled", "approver", APPROVER) in await w.outbox(change.id)
    assert (await w.audit_actions())[-2:] == ["request.cancelled", "revoke.misuse"]
    assert await w.outbox(revoke.id) == {
        ("revoke.misuse", "requester", MANAGER),
        ("revoke.misuse", "worker", WORKER),
        ("revoke.misuse", "admin", ADMIN),
    }
    view = await w.service.queries.get_request(APPROVER, revoke.id)
    assert view.last_decision is not None
    assert view.last_decision.outcome is DecisionOutcome.APPROVED
    assert view.last_decision.text == "Epäasiallinen käyttö"


async def _denied(w: World, coro: Any, reason: str) -> AccessDenied:
    before, audited = await w.written(), await w.audit_count()
    with pytest.raises(AccessDenied) as denied:
        await coro
    assert denied.value.reason == reason
    assert await w.written() == before
    assert await w.audit_count() == audited + 1
    async with w.service.uow_factory() as uow:
        row = (await uow.audit.entries())[-1]
    assert row.action == "access.denied" and row.details["reason"] == reason
    return denied.value


async def test_requesters_act_only_for_their_municipalities(w: World) -> None:
    await _denied(w, w.submit(STRANGER), "not_requester_for_municipality")
    await _denied(w, w.submit("manager@viitasaari.example.fi"), "not_requester_for_municipality")
    request = await w.submit()
    await _denied(
        w,
        w.service.requests.cancel(KINNULA_MANAGER, request.id, idempotency_key=w.key()),
        "not_requester_for_municipality",
    )
    # A colleague in the same municipality may cancel.
    cancelled = await w.service.requests.cancel(MANAGER2, request.id, idempotency_key=w.key())
    assert cancelled.state is RequestState.CANCELLED


async def test_approvers_act_only_in_their_area_and_never_on_their_own_request(
    sessions: Sessions,
) -> None:
    w = world(sessions, example_directory(deputies=[DEPUTY, MANAGER2]))
    request = await w.submit(MANAGER2)
    await _denied(
        w, w.service.requests.approve(MANAGER2, request.id, idempotency_key=w.key()), "own_request"
    )
    await _denied(
        w,
        w.service.requests.approve(KUOPIO_APPROVER, request.id, idempotency_key=w.key()),
        "not_approver_in_area",
    )
    await _denied(
        w,
        w.service.requests.reject(MANAGER, request.id, "no", idempotency_key=w.key()),
        "not_approver_in_area",
    )
    # MANAGER2 of Laukaa is also a deputy here: never on their own access.
    for_deputy = await w.submit(worker_email=MANAGER2)
    await _denied(
        w,
        w.service.requests.approve(MANAGER2, for_deputy.id, idempotency_key=w.key()),
        "own_access",
    )
    assert (
        await w.service.requests.approve(APPROVER, for_deputy.id, idempotency_key=w.key())
    ).state is (RequestState.APPROVED)


async def test_admins_act_only_in_their_area(w: World) -> None:
    request = await w.submit()
    await w.service.requests.approve(APPROVER, request.id, idempotency_key=w.key())
    await _denied(
        w,
        w.service.handoff.queue_for_keha(KUOPIO_ADMIN, PKS, idempotency_key=w.key()),
        "not_admin_in_area",
    )
    await _denied(
        w,
        w.service.handoff.queue_for_keha(APPROVER, PKS, idempotency_key=w.key()),
        "not_admin_in_area",
    )
    batch = await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    await _denied(
        w,
        w.service.handoff.mark_sent(KUOPIO_ADMIN, batch.id, idempotency_key=w.key()),
        "not_admin_in_area",
    )
    await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    await _denied(
        w,
        w.service.handoff.confirm_row(MANAGER, batch.rows[0].id, idempotency_key=w.key()),
        "not_admin_in_area",
    )
    await _denied(w, w.service.queries.list_keha_rows(KUOPIO_ADMIN, PKS), "not_admin_in_area")


async def test_workers_see_only_their_own_data(w: World) -> None:
    request = await w.submit()
    other = await w.submit(worker_email="eero.esimerkki@laukaa.example.fi", worker_name="Eero")
    assert (await w.service.queries.get_request(WORKER, request.id)).request.id == request.id
    await _denied(w, w.service.queries.get_request(WORKER, other.id), "not_visible")
    await _denied(w, w.service.queries.get_request(STRANGER, request.id), "not_visible")
    await _denied(
        w, w.service.queries.my_data(WORKER, "eero.esimerkki@laukaa.example.fi"), "not_own_data"
    )
    mine = await w.service.queries.my_data(WORKER.upper())
    assert [r.id for r in mine.requests_about_me] == [request.id]
    assert {n.template for n in mine.notifications_to_me} == {"request.submitted"}
    assert mine.requests_made_by_me == ()
    manager = await w.service.queries.my_data(MANAGER)
    assert {r.id for r in manager.requests_made_by_me} == {request.id, other.id}


async def test_lists_follow_the_roles(w: World) -> None:
    laukaa = await w.submit()
    kuopio = await w.service.requests.submit(
        "manager@kuopio.example.fi",
        valid_draft(
            municipality="kuopio",
            service_areas=("complementary_training",),
            confirmations=frozenset({"valid_customer_relationship"}),
            worker_email="kalle.kokeilu@kuopio.example.fi",
        ),
        idempotency_key=w.key(),
    )

    async def ids(actor: str) -> set[str]:
        return {r.id for r in await w.service.queries.list_requests_for(actor)}

    assert await ids(MANAGER2) == {laukaa.id}
    assert await ids(APPROVER) == {laukaa.id}
    assert await ids(KUOPIO_APPROVER) == {kuopio.id}
    assert await ids(KUOPIO_ADMIN) == {kuopio.id}
    assert await ids(WORKER) == {laukaa.id}
    assert await ids(STRANGER) == set()
    assert await w.service.queries.list_requests_for(APPROVER, states=[RequestState.APPROVED]) == []


async def test_same_idempotency_key_returns_the_first_result(w: World) -> None:
    first = await w.service.requests.submit(MANAGER, valid_draft(), idempotency_key="card-1")
    again = await w.service.requests.submit(MANAGER, valid_draft(), idempotency_key="card-1")
    assert again == first
    written = await w.written()
    assert len(written["requests"]) == 1 and await w.audit_count() == 1
    approved = await w.service.requests.approve(APPROVER, first.id, idempotency_key="click-1")
    twice = await w.service.requests.approve(APPROVER, first.id, idempotency_key="click-1")
    assert twice == approved
    assert await w.audit_actions() == ["request.submitted", "request.approved"]
    with pytest.raises(IdempotencyKeyReused):
        await w.service.requests.cancel(MANAGER, first.id, idempotency_key="card-1")
    with pytest.raises(ValueError):
        await w.service.requests.cancel(MANAGER, first.id, idempotency_key="")


async def test_the_second_decision_learns_who_decided(w: World) -> None:
    request = await w.submit()
    await w.service.requests.approve(APPROVER, request.id, idempotency_key=w.key())
    with pytest.raises(AlreadyDecided) as late:
        await w.service.requests.reject(DEPUTY, request.id, "ei", idempotency_key=w.key())
    assert late.value.decided_by == APPROVER
    assert late.value.outcome is DecisionOutcome.APPROVED
    assert late.value.decided_at == w.clock.now()
    # The requester may still withdraw it: approved, not yet opened by KEHA, it stops.
    stopped = await w.service.requests.cancel(MANAGER, request.id, idempotency_key=w.key())
    assert stopped.state is RequestState.STOPPED
    assert stopped.revoke_reason is RevokeReason.WITHDRAWN


async def test_concurrent_decisions_have_one_winner(w: World) -> None:
    request = await w.submit()
    calls = [
        w.service.requests.approve(APPROVER, request.id, idempotency_key=f"a{i}")
        if i % 2 == 0
        else w.service.requests.reject(DEPUTY, request.id, "ei", idempotency_key=f"r{i}")
        for i in range(10)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    winners = [r for r in results if isinstance(r, AccessRequest)]
    losers = [r for r in results if isinstance(r, AlreadyDecided)]
    assert len(winners) == 1 and len(losers) == 9
    decisions = await w.decisions(request.id)
    assert len(decisions) == 1
    assert {e.decided_by for e in losers} == {decisions[0].actor}


async def test_a_stale_card_cannot_decide(w: World) -> None:
    request = await w.submit()
    await w.service.requests.return_with_question(
        APPROVER, request.id, "Mikä on tehtävänimike?", idempotency_key=w.key()
    )
    resubmitted = await w.service.requests.resubmit(
        MANAGER,
        request.id,
        RequestChanges(worker_job_title="Ohjaaja", answer="Ohjaaja"),
        idempotency_key=w.key(),
    )
    assert resubmitted.version == 3 and resubmitted.question is None
    with pytest.raises(StaleRequest):
        await w.service.requests.approve(
            APPROVER, request.id, idempotency_key=w.key(), expected_version=1
        )
    approved = await w.service.requests.approve(
        APPROVER, request.id, idempotency_key=w.key(), expected_version=3
    )
    assert approved.worker.job_title == "Ohjaaja"


async def test_return_and_resubmit(w: World) -> None:
    request = await w.submit()
    with pytest.raises(IllegalTransition):
        await w.service.requests.resubmit(
            MANAGER, request.id, RequestChanges(), idempotency_key=w.key()
        )
    returned = await w.service.requests.return_with_question(
        DEPUTY, request.id, "Tarvitaanko kirjausoikeus?", idempotency_key=w.key()
    )
    assert returned.state is RequestState.RETURNED
    assert returned.question == "Tarvitaanko kirjausoikeus?"
    assert (await w.outbox(request.id)) >= {("request.returned", "requester", MANAGER)}
    with pytest.raises(PolicyViolations) as bad:
        await w.service.requests.resubmit(
            MANAGER,
            request.id,
            RequestChanges(service_areas=(), answer="Ei"),
            idempotency_key=w.key(),
        )
    assert [v.code for v in bad.value.violations] == ["service_area.missing"]
    again = await w.service.requests.resubmit(
        MANAGER, request.id, RequestChanges(level="record", answer="Kyllä"), idempotency_key=w.key()
    )
    assert again.state is RequestState.PENDING and again.level == "record"
    assert ("request.resubmitted", "approver", APPROVER) in await w.outbox(request.id)
    assert await w.audit_actions() == [
        "request.submitted",
        "request.returned",
        "request.resubmitted",
    ]


async def test_submission_snapshots_show_what_a_resubmit_changed(w: World) -> None:
    request = await w.submit()
    await w.service.requests.return_with_question(
        APPROVER, request.id, "Tarvitaanko kirjausoikeus?", idempotency_key=w.key()
    )
    again = await w.service.requests.resubmit(
        MANAGER, request.id, RequestChanges(level="record", answer="Kyllä"), idempotency_key=w.key()
    )
    snapshots = await w.service.queries.submission_snapshots(APPROVER, request.id)
    assert sorted(snapshots) == [1, again.version]
    assert snapshots[1]["level"] == request.level
    assert snapshots[again.version]["level"] == "record"
    assert await w.service.queries.submission_snapshots(MANAGER, request.id) == snapshots


async def test_submission_snapshots_only_for_who_may_see_the_request(w: World) -> None:
    request = await w.submit()
    snapshots = w.service.queries.submission_snapshots(STRANGER, request.id)
    denied = await _denied(w, snapshots, "not_visible")
    assert denied.request_id == request.id
    with pytest.raises(NotFound):
        await w.service.queries.submission_snapshots(APPROVER, "no-such-request")


async def test_reason_and_question_are_required(w: World) -> None:
    request = await w.submit()
    with pytest.raises(PolicyViolations) as no_reason:
        await w.service.requests.reject(APPROVER, request.id, "  ", idempotency_key=w.key())
    assert [(v.code, v.field) for v in no_reason.value.violations] == [("text.required", "reason")]
    with pytest.raises(PolicyViolations):
        await w.service.requests.return_with_question(
            APPROVER, request.id, "", idempotency_key=w.key()
        )
    assert await w.audit_actions() == ["request.submitted"]


async def test_illegal_transitions_are_typed_errors(w: World) -> None:
    request = await w.submit()
    await w.service.requests.cancel(MANAGER, request.id, idempotency_key=w.key())
    with pytest.raises(IllegalTransition) as cancelled:
        await w.service.requests.cancel(MANAGER, request.id, idempotency_key=w.key())
    assert not isinstance(cancelled.value, AlreadyDecided)
    assert cancelled.value.state == "cancelled"
    with pytest.raises(IllegalTransition):
        await w.service.requests.approve(APPROVER, request.id, idempotency_key=w.key())
    with pytest.raises(NothingToQueue):
        await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    with pytest.raises(NotFound):
        await w.service.requests.approve(APPROVER, "nope", idempotency_key=w.key())

    second = await w.submit()
    await w.service.requests.approve(APPROVER, second.id, idempotency_key=w.key())
    batch = await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())
    with pytest.raises(IllegalTransition):
        await w.service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=w.key())
    await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    with pytest.raises(IllegalTransition):
        await w.service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=w.key())
    await w.service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=w.key())
    with pytest.raises(IllegalTransition):
        await w.service.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=w.key())


async def test_rules_are_enforced_on_submit(w: World) -> None:
    with pytest.raises(PolicyViolations) as kinnula:
        await w.submit(KINNULA_MANAGER, municipality="kinnula")
    assert [v.code for v in kinnula.value.violations] == ["municipality.no_agreement"]
    await w.submit()
    with pytest.raises(PolicyViolations) as duplicate:
        await w.submit(MANAGER2, worker_email=WORKER.upper())
    assert [v.code for v in duplicate.value.violations] == ["grant.duplicate"]
    assert duplicate.value.violations[0].params["existing"] == "2026-000001"
    assert await w.audit_actions() == ["request.submitted"]
    assert len((await w.written())["idempotency"]) == 1


async def test_names_with_markup_are_refused_whatever_the_channel(w: World) -> None:
    with pytest.raises(PolicyViolations) as markup:
        await w.submit(worker_name="**Pomo** [klikkaa](https://evil.example)")
    assert [(v.code, v.field) for v in markup.value.violations] == [
        ("text.forbidden_characters", "worker_name")
    ]
    assert await w.audit_actions() == []


async def test_requests_without_decision_expire(w: World) -> None:
    old = await w.submit()
    returned = await w.submit(worker_email="eero.esimerkki@laukaa.example.fi")
    await w.service.requests.return_with_question(
        APPROVER, returned.id, "?", idempotency_key=w.key()
    )
    w.clock.advance(days=10)
    fresh = await w.submit(worker_email="liisa.kokeilu@laukaa.example.fi", start=w.clock.today())
    w.clock.advance(days=5)
    expired = await w.service.jobs.expire(idempotency_key="expire-1")
    assert {r.id for r in expired} == {old.id, returned.id}
    assert all(r.state is RequestState.EXPIRED for r in expired)
    assert (await w.request(fresh.id)).state is RequestState.PENDING
    assert ("request.expired", "requester", MANAGER) in await w.outbox(old.id)
    assert await w.service.jobs.expire(idempotency_key="expire-1") == expired
    assert await w.service.jobs.expire(idempotency_key="expire-2") == []


async def test_grants_end_when_their_end_date_passes(w: World) -> None:
    grant_id = await w.active_grant(end=TODAY + timedelta(days=20))
    assert await w.service.jobs.end_due_grants(idempotency_key="sweep-1") == []
    w.clock.advance(days=21)
    [revoke] = await w.service.jobs.end_due_grants(idempotency_key="sweep-2")
    assert revoke.revoke_reason is RevokeReason.GRANT_ENDED and revoke.created_by == "system"
    assert revoke.requester == MANAGER
    assert (await w.grant(grant_id)).state is GrantState.REVOKING
    assert await w.outbox(revoke.id) == {
        ("revoke.due", "requester", MANAGER),
        ("revoke.due", "worker", WORKER),
        ("revoke.due", "admin", ADMIN),
    }
    assert await w.service.jobs.end_due_grants(idempotency_key="sweep-3") == []


async def test_grants_end_with_the_agreement(sessions: Sessions) -> None:
    # Siilinjärvi (agreement ends 2026-06-30) gets a requester for this test.
    raw = directory_data()
    requester = "manager@kuopio.example.fi"
    raw["areas"][1]["municipalities"][1]["requesters"] = [requester]
    w = world(sessions, parse_directory(raw))
    kuopio_draft = {
        "municipality": "siilinjarvi",
        "service_areas": ("complementary_training",),
        "confirmations": frozenset({"valid_customer_relationship"}),
        "worker_email": "tuomas.testi@siilinjarvi.example.fi",
        "end": TODAY + timedelta(days=100),
    }
    request = await w.service.requests.submit(
        requester, valid_draft(**kuopio_draft), idempotency_key=w.key()
    )
    await w.service.requests.approve(KUOPIO_APPROVER, request.id, idempotency_key=w.key())
    batch = await w.service.handoff.queue_for_keha(KUOPIO_ADMIN, "kuopio", idempotency_key=w.key())
    await w.service.handoff.mark_sent(KUOPIO_ADMIN, batch.id, idempotency_key=w.key())
    await w.service.handoff.confirm_row(KUOPIO_ADMIN, batch.rows[0].id, idempotency_key=w.key())
    w.clock.advance(days=120)  # past 2026-06-30
    [revoke] = await w.service.jobs.end_due_grants(idempotency_key="sweep")
    assert revoke.revoke_reason is RevokeReason.AGREEMENT_ENDED


async def test_failed_commands_leave_no_trace(w: World) -> None:
    with pytest.raises(PolicyViolations):
        await w.submit(end=None)
    assert all(rows == [] for rows in (await w.written()).values())
    assert await w.audit_count() == 0
