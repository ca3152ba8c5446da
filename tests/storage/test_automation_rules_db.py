"""Time travel through every scheduled rule, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from automation_support import (
    TravelClock,
    at,
    directory_with,
    key,
    make_stack,
    open_grant,
    outbox,
    reminder_keys,
)
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    MANAGER,
    MANAGER2,
    draft,
    example_directory,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.model import GrantState, RequestState

MONDAY = date(2026, 3, 2)


async def test_expiry_reminders_30_and_7_days_before_then_the_grant_ends_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    end = date(2026, 6, 30)
    grant = await open_grant(s, 1, end=end)
    worker = grant.worker.email

    s.clock.to(end - timedelta(days=31))
    assert (await s.automation.run()).expiry_reminders == 0
    s.clock.to(end - timedelta(days=30))
    assert (await s.automation.run()).expiry_reminders == 1
    assert await outbox(session_factory, "grant.expiring") == [
        ("grant.expiring", "requester", MANAGER),
        ("grant.expiring", "worker", worker),
    ]
    s.clock.to(end - timedelta(days=29))
    assert (await s.automation.run()).reminders == 0  # sent once, not every day

    s.clock.to(end - timedelta(days=7))
    assert (await s.automation.run()).expiry_reminders == 1
    assert len(await outbox(session_factory, "grant.expiring")) == 4

    s.clock.to(end)  # the last valid day: still active
    report = await s.automation.run()
    assert report.revoked == [] and report.reminders == 0

    s.clock.to(end + timedelta(days=1))
    report = await s.automation.run()
    assert len(report.revoked) == 1
    current = await s.access.queries.get_request(ADMIN, report.revoked[0])
    assert current.request.revoke_reason is not None
    assert current.request.revoke_reason.value == "grant_ended"
    assert current.request.state is RequestState.APPROVED  # waits in the KEHA queue
    due = await outbox(session_factory, "revoke.due")
    assert {(a, r) for _, a, r in due} == {
        ("requester", MANAGER),
        ("worker", worker),
        ("admin", ADMIN),
    }
    s.clock.to(end + timedelta(days=2))
    assert (await s.automation.run()).revoked == []
    grants = await s.access.queries.list_grants_for(MANAGER, states=None)
    assert [g.state for g in grants] == [GrantState.REVOKING]


async def test_downtime_over_the_end_date_revokes_once_and_sends_no_stale_reminders(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    soon = await open_grant(s, 1, end=date(2026, 5, 20))
    late = await open_grant(s, 2, end=date(2026, 4, 30))

    # the bot was off from March until three days before the first grant ends
    s.clock.to(date(2026, 4, 27))
    report = await s.automation.run()
    assert report.expiry_reminders == 2
    # 23 days left: the 30-day reminder; 3 days left: only the 7-day one
    assert await reminder_keys(session_factory) == sorted(
        [f"expiry:{soon.id}:2026-05-20:30", f"expiry:{late.id}:2026-04-30:7"]
    )

    # off again over both end dates
    s.clock.to(date(2026, 6, 15))
    report = await s.automation.run()
    assert len(report.revoked) == 2
    assert report.reminders == 0  # neither the 7-day reminder of the second grant
    again = await s.automation.run()
    assert again.revoked == [] and again.reminders == 0
    assert len(await outbox(session_factory, "revoke.due")) == 6  # 2 x (requester, worker, admin)


async def test_pending_request_before_easter_reminds_escalates_and_expires(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    thursday = date(2026, 4, 2)  # before Good Friday
    s = make_stack(session_factory, example_directory(), TravelClock(at(thursday, 15)))
    request = await s.access.requests.submit(MANAGER, draft(thursday), idempotency_key=key())

    for day in (date(2026, 4, 3), date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 6)):
        s.clock.to(day)
        assert (await s.automation.run()).reminders == 0, day

    s.clock.to(date(2026, 4, 7))  # the first working day after Easter Monday
    report = await s.automation.run()
    assert (report.pending_reminders, report.escalations) == (1, 0)
    assert await outbox(session_factory, "request.reminder") == [
        ("request.reminder", "approver", APPROVER)
    ]
    s.clock.to(date(2026, 4, 8))
    assert (await s.automation.run()).reminders == 0

    s.clock.to(date(2026, 4, 9))  # three working days
    report = await s.automation.run()
    assert (report.pending_reminders, report.escalations) == (0, 1)
    assert {r for _, _, r in await outbox(session_factory, "request.escalated")} == {
        APPROVER,
        DEPUTY,
    }

    s.clock.to(date(2026, 4, 17))  # 15 days: past the area's 14-day limit
    report = await s.automation.run()
    assert report.expired == [request.id] and report.reminders == 0
    assert sorted(await outbox(session_factory, "request.expired")) == [
        ("request.expired", "requester", MANAGER),
        ("request.expired", "worker", request.worker.email),
    ]


async def test_escalation_after_downtime_skips_the_pointless_reminder(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(date(2026, 6, 18))))
    await s.access.requests.submit(MANAGER, draft(date(2026, 6, 18)), idempotency_key=key())
    s.clock.to(date(2026, 6, 19))  # Midsummer Eve
    assert (await s.automation.run()).reminders == 0
    s.clock.to(date(2026, 6, 25))  # bot was off on Monday 22.6., the first reminder day
    report = await s.automation.run()
    assert (report.pending_reminders, report.escalations) == (0, 1)
    assert await outbox(session_factory, "request.reminder") == []


async def test_a_decided_request_gets_no_reminder(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    request = await s.access.requests.submit(MANAGER, draft(MONDAY), idempotency_key=key())
    await s.access.requests.approve(APPROVER, request.id, idempotency_key=key())
    s.clock.to(MONDAY + timedelta(days=5))
    assert (await s.automation.run()).reminders == 0


async def test_keha_batch_not_confirmed_reminds_the_admins_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    request = await s.access.requests.submit(MANAGER, draft(MONDAY), idempotency_key=key())
    await s.access.requests.approve(APPROVER, request.id, idempotency_key=key())
    batch = await s.access.handoff.queue_for_keha(ADMIN, request.area, idempotency_key=key())
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key())
    s.clock.to(MONDAY + timedelta(days=4))
    assert (await s.automation.run()).keha_reminders == 0
    s.clock.to(MONDAY + timedelta(days=5))
    assert (await s.automation.run()).keha_reminders == 1
    assert await outbox(session_factory, "keha.unconfirmed") == [
        ("keha.unconfirmed", "admin", ADMIN)
    ]
    s.clock.to(MONDAY + timedelta(days=9))
    assert (await s.automation.run()).keha_reminders == 0


async def test_agreement_end_notices_then_every_grant_of_the_municipality_ends(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    ends = date(2026, 9, 30)
    directory = directory_with(laukaa={"agreement_ends": ends.isoformat()})
    s = make_stack(session_factory, directory, TravelClock(at(MONDAY)))
    first = await open_grant(s, 1, end=date(2026, 9, 29))
    await open_grant(s, 2, end=date(2026, 9, 29))
    # no expiry noise in this test
    assert first.end == date(2026, 9, 29)

    s.clock.to(date(2026, 6, 29))
    assert (await s.automation.run()).agreement_notices == 0
    s.clock.to(date(2026, 6, 30))  # three months' notice begins
    assert (await s.automation.run()).agreement_notices == 1
    assert {(a, r) for _, a, r in await outbox(session_factory, "agreement.notice")} == {
        ("requester", MANAGER),
        ("requester", MANAGER2),
        ("approver", APPROVER),
        ("approver", DEPUTY),
    }
    s.clock.to(date(2026, 7, 15))
    assert (await s.automation.run()).agreement_notices == 0
    s.clock.to(date(2026, 8, 31))  # 30 days before
    assert (await s.automation.run()).agreement_notices == 1
    assert len(await outbox(session_factory, "agreement.ending")) == 4

    s.clock.to(ends)
    report = await s.automation.run()
    assert len(report.revoked) == 2 and report.agreement_notices == 0
    assert (await s.automation.run()).revoked == []
