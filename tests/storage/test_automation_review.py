"""The access review: started on schedule, Keep / Revoke per worker by the requesters,
every answer audited, reminder, approvers told, progress as counts, next cycle."""

from __future__ import annotations

from datetime import date

import pytest
from automation_support import TravelClock, at, directory_with, make_stack, open_grant, outbox
from lifecycle_support import ADMIN, APPROVER, DEPUTY, MANAGER, MANAGER2, STRANGER
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied, NotFound
from access.model import GrantState
from access.review import ReviewAnswer

MONDAY = date(2026, 3, 2)


async def test_a_quarterly_review_from_start_to_the_next_cycle(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    directory = directory_with({"review_interval_months": 3, "review_reminder_days": 14})
    s = make_stack(session_factory, directory, TravelClock(at(MONDAY)))
    grants = [await open_grant(s, n, end=date(2027, 2, 28)) for n in (1, 2, 3)]

    s.clock.to(date(2026, 6, 1))
    assert (await s.automation.run()).reviews_started == 0
    s.clock.to(date(2026, 6, 2))  # the oldest grant is three months old
    assert (await s.automation.run()).reviews_started == 1
    assert (await s.automation.run()).reviews_started == 0
    assert {r for _, _, r in await outbox(session_factory, "review.requested")} == {
        MANAGER,
        MANAGER2,
    }

    [(review, rows)] = await s.reviews.open_for(MANAGER)
    assert [g.id for g, _ in rows] == [g.id for g in grants]  # sorted by worker name
    assert await s.reviews.open_for(STRANGER) == []

    item, first = await s.reviews.answer(MANAGER, review.id, grants[0].id, ReviewAnswer.KEEP)
    assert first and item.answer is ReviewAnswer.KEEP
    _, first = await s.reviews.answer(MANAGER2, review.id, grants[0].id, ReviewAnswer.REVOKE)
    assert not first  # the first answer stands, nothing revoked
    _, first = await s.reviews.answer(MANAGER2, review.id, grants[1].id, ReviewAnswer.REVOKE)
    assert first
    states = {g.id: g.state for g in await s.access.queries.list_grants_for(MANAGER, states=None)}
    assert states == {
        grants[0].id: GrantState.ACTIVE,
        grants[1].id: GrantState.REVOKING,
        grants[2].id: GrantState.ACTIVE,
    }
    with pytest.raises(AccessDenied):
        await s.reviews.answer(STRANGER, review.id, grants[2].id, ReviewAnswer.REVOKE)
    with pytest.raises(NotFound):
        await s.reviews.answer(MANAGER, review.id, "no-such-grant", ReviewAnswer.KEEP)

    audit = await s.access.queries.verify_audit(ADMIN)
    assert audit.ok

    s.clock.to(date(2026, 6, 16))  # 14 days unanswered
    assert (await s.automation.run()).review_reminders == 1
    assert (await s.automation.run()).review_reminders == 0
    s.clock.to(date(2026, 6, 30))  # 28 days: the approvers are told
    report = await s.automation.run()
    assert (report.review_reminders, report.review_overdue) == (0, 1)
    assert {(a, r) for _, a, r in await outbox(session_factory, "review.overdue")} == {
        ("requester", MANAGER),
        ("requester", MANAGER2),
        ("approver", APPROVER),
        ("approver", DEPUTY),
    }

    [progress] = await s.reviews.progress(ADMIN, "pohjoinen-keski-suomi")
    assert (progress.total, progress.kept, progress.revoked, progress.open) == (3, 1, 1, 1)
    assert not progress.closed
    with pytest.raises(AccessDenied):
        await s.reviews.progress(MANAGER, "pohjoinen-keski-suomi")

    await s.reviews.answer(MANAGER, review.id, grants[2].id, ReviewAnswer.KEEP)
    await s.automation.run()
    [progress] = await s.reviews.progress(APPROVER, "pohjoinen-keski-suomi")
    assert progress.closed and progress.open == 0
    assert await s.reviews.open_for(MANAGER) == []

    s.clock.to(date(2026, 9, 2))  # the next cycle: the two grants still active
    assert (await s.automation.run()).reviews_started == 1
    [(_, rows)] = await s.reviews.open_for(MANAGER)
    assert [g.id for g, _ in rows] == [grants[0].id, grants[2].id]


async def test_no_review_when_turned_off_or_nothing_is_active(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    off = directory_with({"review_interval_months": 0})
    s = make_stack(session_factory, off, TravelClock(at(MONDAY)))
    await open_grant(s, 1, end=date(2027, 2, 28))
    s.clock.to(date(2027, 2, 1))
    assert (await s.automation.run()).reviews_started == 0

    yearly = make_stack(session_factory, directory_with(), s.clock)
    s.clock.to(date(2027, 3, 3))  # a year on, but the only grant has ended
    assert (await yearly.automation.run()).reviews_started == 0


async def test_the_first_yearly_review_counts_from_the_first_grant_ever(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, directory_with(), TravelClock(at(MONDAY)))
    await open_grant(s, 1, end=date(2027, 2, 28))
    s.clock.to(date(2026, 10, 1))
    later = await open_grant(s, 2, end=date(2027, 9, 30))
    s.clock.to(date(2027, 3, 2))  # a year after the first grant, which has ended
    report = await s.automation.run()
    assert report.reviews_started == 1 and len(report.revoked) == 1
    [(_, rows)] = await s.reviews.open_for(MANAGER)
    assert [g.id for g, _ in rows] == [later.id]
