"""A removal records the reason it has and an effective date (seed 002 §4, §5, §10):
the area revokes for its own reasons, never recorded as misuse unless it is; the
effective date reaches the request, the audit, the notifications and the KEHA file;
a future date ends the grant that day and the grant-end job removes it then."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    KUOPIO_APPROVER,
    MANAGER,
    PKS,
    FixedClock,
    draft,
    example_directory,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied, NothingToQueue, PolicyViolations
from access.keha import KEHA_COLUMNS, handoff_csv
from access.model import GrantState, RequestKind, RequestState, RevokeReason
from access.ports import UuidIds
from access.service import AccessService
from storage.domain_tables import OUTBOX
from storage.repositories import unit_of_work_factory

Sessions = async_sessionmaker[AsyncSession]
WORKER = "aino.esimerkki@laukaa.example.fi"
MUNICIPAL_DEPUTY = "ville.varahenkilo@laukaa.example.fi"


class World:
    def __init__(self, sessions: Sessions, backdate_days: int | None = None) -> None:
        directory = example_directory()
        # A municipal employee who is also a deputy of the area (their own access).
        area = replace(directory.areas[PKS], deputies=(DEPUTY, MUNICIPAL_DEPUTY))
        if backdate_days is not None:
            area = replace(area, revoke_backdate_days=backdate_days)
        directory = replace(directory, areas={**directory.areas, PKS: area})
        self.clock = FixedClock()
        self.sessions = sessions
        self.service = AccessService(
            unit_of_work_factory(sessions), directory, self.clock, UuidIds()
        )
        self.n = 0

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    @property
    def today(self) -> date:
        return self.clock.today()

    async def active_grant(self, **changes: Any) -> str:
        s = self.service
        request = await s.requests.submit(
            MANAGER, draft(self.today, **changes), idempotency_key=self.key()
        )
        await s.requests.approve(APPROVER, request.id, idempotency_key=self.key())
        batch = await s.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=self.key())
        await s.handoff.mark_sent(ADMIN, batch.id, idempotency_key=self.key())
        done = await s.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=self.key())
        assert done.grant_id is not None
        return done.grant_id

    async def audit(self) -> list[tuple[str, dict[str, Any]]]:
        async with self.service.uow_factory() as uow:
            return [(e.action, dict(e.details)) for e in await uow.audit.entries()]

    async def outbox(self, template: str) -> list[tuple[str, str, dict[str, Any]]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(OUTBOX.c.audience, OUTBOX.c.recipient, OUTBOX.c.params).where(
                    OUTBOX.c.template == template
                )
            )
            return sorted((r[0], r[1], r[2]) for r in rows)

    async def keha_file(self) -> dict[str, str]:
        """Queue and read the one KEHA row as the file has it (column -> value)."""
        batch = await self.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=self.key())
        [row] = batch.rows
        text = handoff_csv([row]).decode("utf-8-sig")
        header, values = csv.reader(io.StringIO(text, newline=""), delimiter=";")
        assert header == list(KEHA_COLUMNS)
        return dict(zip(header, values, strict=True))


@pytest.fixture
def w(session_factory: Sessions) -> World:
    return World(session_factory)


@pytest.mark.parametrize(
    ("reason", "note", "template"),
    [
        (RevokeReason.TASK_ENDED, "", "revoke.area"),
        (RevokeReason.EMPLOYMENT_ENDED, "", "revoke.area"),
        (RevokeReason.AGREEMENT_BREACH, "Sopimusehtoja rikottu", "revoke.area"),
        (RevokeReason.OTHER, "Hanke päättyi", "revoke.area"),
        (RevokeReason.MISUSE, "Hakuja ilman asiakkuutta", "revoke.misuse"),
    ],
)
async def test_the_area_revokes_for_the_reason_it_has(
    w: World, reason: RevokeReason, note: str, template: str
) -> None:
    grant_id = await w.active_grant()
    revocation = await w.service.requests.revoke_by_area(
        DEPUTY, grant_id, reason, note, idempotency_key=w.key()
    )
    revoke = revocation.request
    assert revoke is not None and not revocation.scheduled
    assert revoke.revoke_reason is reason and revoke.effective == w.today
    assert revoke.requester == MANAGER and revoke.created_by == DEPUTY and revoke.urgent
    assert (await w.service.queries.get_request(MANAGER, revoke.id)).request.state is (
        RequestState.APPROVED
    )
    action, details = (await w.audit())[-1]
    assert action == template
    assert details["reason"] == reason.value and details["effective"] == w.today.isoformat()
    told = await w.outbox(template)
    assert {(a, r) for a, r, _ in told} == {
        ("requester", MANAGER),
        ("worker", WORKER),
        ("admin", ADMIN),
    }
    assert {p["revoke_reason"] for _, _, p in told} == {reason.value}
    assert {p["effective"] for _, _, p in told} == {w.today.isoformat()}
    row = await w.keha_file()
    assert row["action"] == "close" and row["revoke_reason"] == reason.value
    assert row["effective_date"] == w.today.isoformat()


async def test_who_may_revoke_for_the_area_and_for_which_reasons(w: World) -> None:
    grant_id = await w.active_grant()
    own = await w.active_grant(worker_email=MUNICIPAL_DEPUTY, worker_name="Ville Varahenkilö")
    requests = w.service.requests

    async def codes(call: Any) -> list[str]:
        with pytest.raises(PolicyViolations) as refused:
            await call
        return [v.code for v in refused.value.violations]

    # the municipality's reasons are not the area's, and the other way round
    assert await codes(
        requests.revoke_by_area(APPROVER, grant_id, RevokeReason.TASKS_CHANGED, idempotency_key="a")
    ) == ["revoke.reason_invalid"]
    assert await codes(
        requests.revoke_by_municipality(
            MANAGER, grant_id, RevokeReason.TASK_ENDED, idempotency_key="b"
        )
    ) == ["revoke.reason_invalid"]
    # misuse and other need a note saying what happened
    for reason in (RevokeReason.MISUSE, RevokeReason.OTHER):
        assert await codes(
            requests.revoke_by_area(APPROVER, grant_id, reason, " ", idempotency_key=reason)
        ) == ["text.required"]
    for actor, why, target in (
        (MANAGER, "not_approver_in_area", grant_id),
        (KUOPIO_APPROVER, "not_approver_in_area", grant_id),
        (MUNICIPAL_DEPUTY, "own_access", own),
    ):
        with pytest.raises(AccessDenied) as denied:
            await requests.revoke_by_area(
                actor, target, RevokeReason.TASK_ENDED, idempotency_key=w.key()
            )
        assert denied.value.reason == why
    assert [a for a, _ in await w.audit()].count("access.denied") == 3
    grants = {g.id: g.state for g in await w.service.queries.list_grants_for(MANAGER)}
    assert grants == {grant_id: GrantState.ACTIVE, own: GrantState.ACTIVE}


async def test_the_effective_date_lies_within_the_areas_days_back_and_the_grant(
    session_factory: Sessions,
) -> None:
    w = World(session_factory, backdate_days=45)
    grant_id = await w.active_grant()
    w.clock.advance(days=100)
    requests = w.service.requests

    async def refused(day: date) -> list[tuple[str, dict[str, Any]]]:
        with pytest.raises(PolicyViolations) as problem:
            await requests.revoke_by_municipality(
                MANAGER,
                grant_id,
                RevokeReason.EMPLOYMENT_ENDED,
                effective=day,
                idempotency_key=w.key(),
            )
        return [(v.code, dict(v.params)) for v in problem.value.violations]

    grant = await w.service.queries.list_grants_for(MANAGER)
    start, end = grant[0].start, grant[0].end
    assert await refused(w.today - timedelta(days=46)) == [
        (
            "revoke.effective_too_far_back",
            {"backdate_days": 45, "earliest": (w.today - timedelta(days=45)).isoformat()},
        )
    ]
    assert await refused(start - timedelta(days=1)) == [
        ("revoke.effective_before_start", {"start": start.isoformat()})
    ]
    assert await refused(end + timedelta(days=1)) == [
        ("revoke.effective_after_end", {"end": end.isoformat()})
    ]
    real_end = w.today - timedelta(days=45)  # more than 7 days back: recorded as it was
    revocation = await requests.revoke_by_municipality(
        MANAGER,
        grant_id,
        RevokeReason.EMPLOYMENT_ENDED,
        "Työsuhde päättyi",
        effective=real_end,
        idempotency_key=w.key(),
    )
    assert revocation.request is not None and revocation.request.effective == real_end
    assert revocation.request.start == w.today  # the day it was asked
    action, details = (await w.audit())[-1]
    assert (action, details["effective"]) == ("revoke.requested", real_end.isoformat())
    row = await w.keha_file()
    assert row["effective_date"] == real_end.isoformat()
    assert row["start_date"] == w.today.isoformat()
    assert row["revoke_reason"] == "employment_ended"


async def test_a_grant_whose_end_passed_long_ago_is_removed_on_its_own_end(
    w: World,
) -> None:
    """The grant-end job has not removed a grant that ended two months ago (it was down,
    or the grant is still open at KEHA): the manager can still remove it, and without a
    date it takes effect on the grant's own end, not refused as too far back."""
    grant_id = await w.active_grant()
    [grant] = await w.service.queries.list_grants_for(MANAGER)
    w.clock.current = w.clock.current + (grant.end - w.today) + timedelta(days=60)
    with pytest.raises(PolicyViolations) as problem:  # a day before that end still is not
        await w.service.requests.revoke_by_municipality(
            MANAGER,
            grant_id,
            RevokeReason.TASKS_CHANGED,
            effective=grant.end - timedelta(days=1),
            idempotency_key=w.key(),
        )
    assert [v.code for v in problem.value.violations] == ["revoke.effective_too_far_back"]
    revocation = await w.service.requests.revoke_by_municipality(
        MANAGER, grant_id, RevokeReason.TASKS_CHANGED, idempotency_key=w.key()
    )
    assert revocation.request is not None and revocation.request.effective == grant.end


async def test_a_future_effective_date_ends_the_grant_that_day(w: World) -> None:
    grant_id = await w.active_grant()
    change = await w.service.requests.submit(
        MANAGER,
        replace(draft(w.today), kind=RequestKind.CHANGE, grant_id=grant_id, level="record"),
        idempotency_key=w.key(),
    )
    day = w.today + timedelta(days=20)
    key = w.key()
    revocation = await w.service.requests.revoke_by_area(
        APPROVER,
        grant_id,
        RevokeReason.TASK_ENDED,
        "Ohjaamon hanke päättyy",
        effective=day,
        idempotency_key=key,
    )
    assert revocation.scheduled and revocation.effective == day
    assert revocation.reason is RevokeReason.TASK_ENDED
    grant = revocation.grant
    assert grant.state is GrantState.ACTIVE and grant.end == day
    assert grant.end_reason is RevokeReason.TASK_ENDED
    # the same key again: the same answer, nothing new
    again = await w.service.requests.revoke_by_area(
        APPROVER,
        grant_id,
        RevokeReason.TASK_ENDED,
        "Ohjaamon hanke päättyy",
        effective=day,
        idempotency_key=key,
    )
    assert (again.grant.version, again.grant.end, again.reason, again.effective) == (
        grant.version,
        day,
        RevokeReason.TASK_ENDED,
        day,
    )
    assert again.scheduled
    # recorded now: audit, notices; the change on its way is superseded
    action, details = (await w.audit())[-1]
    assert action == "revoke.scheduled"
    assert details["reason"] == "task_ended" and details["effective"] == day.isoformat()
    told = await w.outbox("revoke.scheduled")
    assert {(a, r) for a, r, _ in told} == {
        ("requester", MANAGER),
        ("worker", WORKER),
        ("approver", APPROVER),
        ("approver", DEPUTY),
        ("approver", MUNICIPAL_DEPUTY),
    }
    assert {(p["revoke_reason"], p["effective"]) for _, _, p in told} == {
        ("task_ended", day.isoformat())
    }
    assert (await w.service.queries.get_request(MANAGER, change.id)).request.state is (
        RequestState.CANCELLED
    )
    with pytest.raises(NothingToQueue):  # nothing goes to KEHA before the day
        await w.service.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=w.key())

    w.clock.advance(days=20)  # the day itself: the access is still valid
    assert await w.service.jobs.end_due_grants(idempotency_key=w.key()) == []
    w.clock.advance(days=1)
    [revoke] = await w.service.jobs.end_due_grants(idempotency_key=w.key())
    assert revoke.revoke_reason is RevokeReason.TASK_ENDED and revoke.effective == day
    assert revoke.justification == "Ohjaamon hanke päättyy" and revoke.requester == MANAGER
    action, details = (await w.audit())[-1]
    assert action == "revoke.due" and details["reason"] == "task_ended"
    assert {p["revoke_reason"] for _, _, p in await w.outbox("revoke.due")} == {"task_ended"}
    row = await w.keha_file()
    assert (row["revoke_reason"], row["effective_date"]) == ("task_ended", day.isoformat())


async def test_an_ordinary_end_date_stays_grant_ended(w: World) -> None:
    grant_id = await w.active_grant(end=date(2026, 3, 10))
    w.clock.advance(days=9)
    [revoke] = await w.service.jobs.end_due_grants(idempotency_key=w.key())
    assert revoke.grant_id == grant_id
    assert revoke.revoke_reason is RevokeReason.GRANT_ENDED
    assert revoke.effective == date(2026, 3, 10)
