"""Access approved but not yet opened by KEHA can be stopped, in every state before
KEHA's confirmation, and the agreement's life (notice, dissolution) is recorded in chat;
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest
import yaml
from authority_support import Services, key, make_services, open_grant
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    EXAMPLE,
    MANAGER,
    PKS,
    STRANGER,
    draft,
    example_directory,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import (
    AccessDenied,
    IllegalTransition,
    NothingToQueue,
    PolicyViolations,
    StaleRequest,
)
from access.keha import KEHA_COLUMNS
from access.model import (
    AccessRequest,
    Audience,
    GrantState,
    KehaRowState,
    RequestKind,
    RequestState,
    RevokeReason,
)
from access.ports import GrantQuery, RequestQuery

WORKER = "aino.esimerkki@laukaa.example.fi"


def _services(session_factory: async_sessionmaker[AsyncSession]) -> Services:
    content = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return make_services(session_factory, example_directory(), content)


async def _approved(s: Services, n: int = 0, **changes: Any) -> AccessRequest:
    request = await s.access.requests.submit(
        MANAGER,
        draft(
            s.clock.today(),
            worker_name=f"Aino Esimerkki{n}",
            worker_email=f"aino{n}@laukaa.example.fi",
            **changes,
        ),
        idempotency_key=key("submit"),
    )
    return await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("approve"))


async def _sent(s: Services, n: int = 0) -> tuple[AccessRequest, str]:
    request = await _approved(s, n)
    batch = await s.access.handoff.queue_for_keha(
        ADMIN, PKS, idempotency_key=key("q"), request_ids=[request.id]
    )
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    return await _get(s, request.id), batch.rows[0].id


async def _get(s: Services, request_id: str) -> AccessRequest:
    return (await s.access.queries.get_request(ADMIN, request_id)).request


async def _outbox(s: Services, request_id: str, template: str) -> set[tuple[str, str]]:
    async with s.access.uow_factory() as uow:
        rows = await uow.outbox.for_request(request_id)
    return {(n.audience.value, n.recipient) for n in rows if n.template == template}


async def _audit(s: Services, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with s.access.uow_factory() as uow:
        rows = await uow.audit.for_request(request_id)
    return [(e.action, dict(e.details)) for e in rows]


def _csv(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


# ------------------------------------------------------------- stop before open


async def test_requester_withdraws_an_approved_request_from_the_queue(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    request = await _approved(s)
    stopped = await s.access.requests.cancel(MANAGER, request.id, idempotency_key=key("c"))
    assert stopped.state is RequestState.STOPPED
    assert stopped.revoke_reason is RevokeReason.WITHDRAWN
    # Nothing is left for KEHA.
    with pytest.raises(NothingToQueue):
        await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    people = await _outbox(s, request.id, "request.stopped")
    assert ("requester", MANAGER) in people
    assert ("worker", "aino0@laukaa.example.fi") in people
    assert ("approver", APPROVER) in people and ("approver", DEPUTY) in people
    assert ("admin", ADMIN) in people
    action, details = (await _audit(s, request.id))[-1]
    assert action == "request.stopped"
    assert details["reason"] == "withdrawn" and details["cause"] == "requester"
    assert (details["from"], details["to"]) == ("approved", "stopped")


async def test_a_stop_takes_the_row_out_of_a_batch_not_yet_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    first, second = await _approved(s, 1), await _approved(s, 2)
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    assert len(batch.rows) == 2
    stopped = await s.access.requests.stop(
        MANAGER,
        first.id,
        RevokeReason.EMPLOYMENT_ENDED,
        "Työsuhde päättyi",
        idempotency_key=key("stop"),
    )
    assert stopped.state is RequestState.STOPPED
    rows = _csv(await s.authority.batch_file(ADMIN, batch.id, "csv"))
    assert [r["request_number"] for r in rows] == [second.number]
    sent = await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    assert [r.request_id for r in sent.rows] == [second.id]
    assert (await _get(s, first.id)).state is RequestState.STOPPED
    _, details = (await _audit(s, first.id))[-1]
    assert details["reason"] == "employment_ended" and details["batch_id"] == batch.id


async def test_a_stop_from_an_older_view_of_the_request_is_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The approver's card was of the approved request; it has gone into a batch since:
    a stop of that version is refused as stale, and nothing changes until it is made
    from the request as it is now."""
    s = _services(session_factory)
    seen = await _approved(s)
    await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    now = await _get(s, seen.id)
    assert now.version > seen.version
    with pytest.raises(StaleRequest):
        await s.access.requests.stop(
            APPROVER,
            seen.id,
            RevokeReason.TASK_ENDED,
            idempotency_key=key("stop"),
            expected_version=seen.version,
        )
    assert (await _get(s, seen.id)).state is RequestState.QUEUED_FOR_KEHA
    stopped = await s.access.requests.stop(
        APPROVER,
        seen.id,
        RevokeReason.TASK_ENDED,
        idempotency_key=key("stop"),
        expected_version=now.version,
    )
    assert stopped.state is RequestState.STOPPED


async def test_a_sent_opening_is_cancelled_with_keha_by_an_urgent_row(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    request, opening_row = await _sent(s)
    other = await _approved(s, 5)
    # An approver stops it for misuse; a note is required.
    with pytest.raises(PolicyViolations):
        await s.access.requests.stop(
            APPROVER, request.id, RevokeReason.MISUSE, "", idempotency_key=key("s")
        )
    stopping = await s.access.requests.stop(
        APPROVER, request.id, RevokeReason.MISUSE, "Epäilty väärinkäyttö", idempotency_key=key("s")
    )
    assert stopping.state is RequestState.STOPPING and stopping.urgent
    admins = await _outbox(s, request.id, "request.stopping")
    assert ("admin", ADMIN) in admins and ("worker", "aino0@laukaa.example.fi") in admins
    # The opening itself can no longer be confirmed as opened.
    with pytest.raises(IllegalTransition):
        await s.access.handoff.confirm_row(ADMIN, opening_row, idempotency_key=key("c"))
    pending = await s.authority.pending_handoff(ADMIN, PKS)
    assert pending[0].id == request.id  # the urgent cancellation first
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    assert [r.request_id for r in batch.rows] == [request.id, other.id]
    cancel = batch.rows[0]
    assert cancel.urgent and cancel.cancels_row_id == opening_row
    rows = _csv(await s.authority.batch_file(ADMIN, batch.id, "csv"))
    assert list(rows[0]) == list(KEHA_COLUMNS)
    assert rows[0]["action"] == "cancel" and rows[0]["urgent"] == "yes"
    assert rows[0]["request_number"] == request.number
    assert rows[0]["revoke_reason"] == "misuse"
    assert rows[1]["action"] == "open" and rows[1]["urgent"] == "no"
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    assert (await _get(s, request.id)).state is RequestState.STOPPING
    done = await s.access.handoff.confirm_row(ADMIN, cancel.id, idempotency_key=key("c"))
    assert done.state is RequestState.STOPPED
    assert ("requester", MANAGER) in await _outbox(s, request.id, "request.stop_confirmed")
    async with s.access.uow_factory() as uow:
        grants = await uow.grants.find(GrantQuery(worker_email="aino0@laukaa.example.fi"))
        original = await uow.keha.get_row(opening_row)
    assert grants == []  # nothing was opened
    assert original is not None and original.state is KehaRowState.CANCELLED
    actions = [a for a, _ in await _audit(s, request.id)]
    assert actions[-4:] == [
        "request.stopping",
        "request.cancellation_queued",
        "request.cancellation_sent",
        "request.stopped",
    ]


async def test_only_the_municipality_or_the_area_may_stop(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    request = await _approved(s)
    with pytest.raises(AccessDenied):
        await s.access.requests.stop(
            STRANGER, request.id, RevokeReason.OTHER, idempotency_key=key("s")
        )
    # A requester cannot call it misuse; that is the area's reason.
    with pytest.raises(PolicyViolations):
        await s.access.requests.stop(
            MANAGER, request.id, RevokeReason.MISUSE, "x", idempotency_key=key("s")
        )
    assert (await _get(s, request.id)).state is RequestState.APPROVED
    _, row = await _sent(s, 3)
    confirmed = await s.access.handoff.confirm_row(ADMIN, row, idempotency_key=key("c"))
    assert confirmed.state is RequestState.DONE
    with pytest.raises(IllegalTransition):
        await s.access.requests.stop(
            MANAGER, confirmed.id, RevokeReason.OTHER, idempotency_key=key("s")
        )


async def test_a_revoke_stops_a_change_already_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    grant = await open_grant(s, 1)
    change = await s.access.requests.submit(
        MANAGER,
        draft(
            s.clock.today(),
            kind=RequestKind.CHANGE,
            grant_id=grant.id,
            service_areas=("youth",),
            level="record",
            end=grant.end - timedelta(days=30),
        ),
        idempotency_key=key("change"),
    )
    await s.access.requests.approve(APPROVER, change.id, idempotency_key=key("a"))
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    await s.access.requests.revoke_by_municipality(
        MANAGER, grant.id, RevokeReason.EMPLOYMENT_ENDED, idempotency_key=key("r")
    )
    stopped = await _get(s, change.id)
    assert stopped.state is RequestState.STOPPING
    assert stopped.revoke_reason is RevokeReason.EMPLOYMENT_ENDED
    next_batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    kinds = sorted((r.kind.value, r.is_cancellation) for r in next_batch.rows)
    assert kinds == [("change", True), ("revoke", False)]


# ------------------------------------------------------------- re-checks at hand-off


async def test_queueing_stops_what_lapsed_and_sends_nothing_of_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    short = await _approved(s, 1, end=s.clock.today() + timedelta(days=2))
    s.clock.advance(days=5)  # its end date passed while it waited
    with pytest.raises(NothingToQueue):
        await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    lapsed = await _get(s, short.id)
    assert lapsed.state is RequestState.STOPPED
    assert lapsed.revoke_reason is RevokeReason.GRANT_ENDED
    assert ("admin", ADMIN) in await _outbox(s, short.id, "request.stopped")
    _, details = (await _audit(s, short.id))[-1]
    assert details["cause"] == "lapsed" and details["reason"] == "grant_ended"


async def test_sending_takes_out_a_row_whose_agreement_ended(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    request = await _approved(s)
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    await s.authority.set_agreement_end("system", "laukaa", s.clock.today())
    sent = await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    assert sent.rows == ()
    stopped = await _get(s, request.id)
    assert stopped.state is RequestState.STOPPED
    assert stopped.revoke_reason is RevokeReason.AGREEMENT_ENDED


async def test_the_scheduler_stops_approved_access_of_an_ended_agreement(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    sent, _ = await _sent(s, 1)
    waiting = await _approved(s, 2)
    await s.authority.set_agreement_end("system", "laukaa", s.clock.today() + timedelta(days=1))
    s.clock.advance(days=1)
    done = await s.access.jobs.end_due_grants(idempotency_key=key("due"))
    states = {r.id: r.state for r in done}
    assert states[waiting.id] is RequestState.STOPPED
    assert states[sent.id] is RequestState.STOPPING


# ------------------------------------------------------------ the agreement's life


async def test_dissolution_leaves_nothing_that_keha_would_still_open(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    grant = await open_grant(s, 1)
    sent, _ = await _sent(s, 2)
    queued = await _approved(s, 3)
    await s.access.handoff.queue_for_keha(
        ADMIN, PKS, idempotency_key=key("q"), request_ids=[queued.id]
    )
    approved = await _approved(s, 4)
    pending = await s.access.requests.submit(
        MANAGER,
        draft(s.clock.today(), worker_name="Eero", worker_email="eero@laukaa.example.fi"),
        idempotency_key=key("submit"),
    )
    viitasaari = await open_grant(s, 9, "viitasaari")  # another municipality stays
    with pytest.raises(AccessDenied):
        await s.authority.dissolve_agreement(MANAGER, "laukaa", "Rikottu", idempotency_key="d")
    with pytest.raises(PolicyViolations):
        await s.authority.dissolve_agreement(APPROVER, "laukaa", " ", idempotency_key="d0")
    result = await s.authority.dissolve_agreement(
        APPROVER, "laukaa", "Sopimusehtoja rikottu (002 §10)", idempotency_key="d1"
    )
    assert s.authority.directory.municipality("laukaa").agreement_ends == s.clock.today()  # type: ignore[union-attr]
    assert {r.id for r in result.cancelled} == {pending.id}
    assert {r.id: r.state for r in result.stopped} == {
        sent.id: RequestState.STOPPING,
        queued.id: RequestState.STOPPED,
        approved.id: RequestState.STOPPED,
    }
    assert [r.grant_id for r in result.revoked] == [grant.id]
    assert result.revoked[0].revoke_reason is RevokeReason.AGREEMENT_DISSOLVED
    async with s.access.uow_factory() as uow:
        notes = [
            n for n in await uow.outbox.for_recipient(ADMIN) if n.template == "agreement.dissolved"
        ]
        requester_notes = [
            n
            for n in await uow.outbox.for_recipient(MANAGER)
            if n.template == "agreement.dissolved"
        ]
        entries = [e for e in await uow.audit.entries() if e.action == "agreement.dissolved"]
    assert len(notes) == 1 and notes[0].audience is Audience.ADMIN
    assert notes[0].params["reason"] == "Sopimusehtoja rikottu (002 §10)"
    assert len(requester_notes) == 1
    assert len(entries) == 1 and entries[0].details["revoked"] == 1
    # KEHA gets the removal and the cancellation, urgent; after it confirms them
    # nothing of Laukaa is open and no request would still be opened.
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key("q"))
    assert all(r.urgent for r in batch.rows) and len(batch.rows) == 2
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    await s.authority.confirm_batch(ADMIN, batch.id, idempotency_key=key("cb"))
    async with s.access.uow_factory() as uow:
        live = await uow.grants.find(
            GrantQuery(municipalities=["laukaa"], states=[GrantState.ACTIVE, GrantState.REVOKING])
        )
        still = await uow.requests.find(
            RequestQuery(
                municipalities=["laukaa"],
                kinds=[RequestKind.GRANT, RequestKind.CHANGE],
                states=[
                    RequestState.PENDING,
                    RequestState.RETURNED,
                    RequestState.APPROVED,
                    RequestState.QUEUED_FOR_KEHA,
                    RequestState.SENT_TO_KEHA,
                    RequestState.STOPPING,
                ],
            )
        )
        other = await uow.grants.get(viitasaari.id)
    assert live == [] and still == []
    assert other is not None and other.state is GrantState.ACTIVE
    # No new request for the municipality is accepted.
    with pytest.raises(PolicyViolations):
        await _approved(s, 7)


async def test_a_notice_of_termination_ends_the_agreement_after_the_notice_period(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = _services(session_factory)
    with pytest.raises(AccessDenied):
        await s.authority.record_termination(
            MANAGER, "laukaa", "Kunta irtisanoi", idempotency_key=key("t")
        )
    ends = await s.authority.record_termination(
        ADMIN, "laukaa", "Kunta irtisanoi sopimuksen", idempotency_key="t1"
    )
    assert ends == date(2026, 6, 2)  # three months (002 §9), the area's setting
    assert s.authority.directory.municipality("laukaa").agreement_ends == ends  # type: ignore[union-attr]
    again = await s.authority.record_termination(
        ADMIN, "laukaa", "Kunta irtisanoi sopimuksen", idempotency_key="t1"
    )
    assert again == ends
    async with s.access.uow_factory() as uow:
        told = {
            (n.audience.value, n.recipient)
            for who in (MANAGER, APPROVER, ADMIN)
            for n in await uow.outbox.for_recipient(who)
            if n.template == "agreement.terminated"
        }
        entries = [e for e in await uow.audit.entries() if e.action == "agreement.terminated"]
    assert told == {("requester", MANAGER), ("approver", APPROVER), ("admin", ADMIN)}
    assert len(entries) == 1 and entries[0].details["ends"] == "2026-06-02"
    # A request ending after the agreement is refused from now on.
    with pytest.raises(PolicyViolations) as refused:
        await s.access.requests.submit(
            MANAGER,
            draft(s.clock.today(), end=date(2026, 8, 1)),
            idempotency_key=key("submit"),
        )
    assert "dates.after_agreement_end" in {v.code for v in refused.value.violations}
