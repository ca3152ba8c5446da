"""A misuse report is a matter with a record (002 §7): kept until an approver closes it
with an outcome; the area's admins are told of the report and of its closing; the
audit chain has both (ids and codes, never the texts) and still verifies."""

from __future__ import annotations

import json
from datetime import date

import pytest
from automation_support import TravelClock, at, key, make_stack, open_grant, outbox
from lifecycle_support import ADMIN, APPROVER, DEPUTY, MANAGER, example_directory
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied, MatterClosed, PolicyViolations
from access.misuse import MisuseReports
from access.model import GrantState, MatterOutcome
from access.ports import UuidIds
from storage.domain_tables import AUDIT, MATTERS, OUTBOX
from storage.repositories import unit_of_work_factory

MONDAY = date(2026, 3, 2)
NOTE = "Hakuja asiakkaista ilman asiakkuutta"


async def test_a_report_is_kept_as_a_matter_until_an_approver_closes_it(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    grant = await open_grant(s, 1, end=date(2026, 9, 30))
    reports = MisuseReports(
        unit_of_work_factory(session_factory), example_directory(), s.clock, UuidIds()
    )
    report = await reports.report(MANAGER, grant.id, NOTE, idempotency_key="m1")

    # the admins are told of the new report (without its text in their message)
    assert ("misuse.reported", "admin", ADMIN) in await outbox(session_factory)
    [open_] = await reports.open_matters(APPROVER)
    assert open_.matter.id == report.matter_id and open_.matter.note == NOTE
    assert open_.matter.reported_by == MANAGER and open_.grant.id == grant.id
    assert [o.matter.id for o in await reports.open_matters(DEPUTY)] == [report.matter_id]
    assert await reports.open_matters(MANAGER) == []  # a requester handles no matters

    # who may close, and how
    with pytest.raises(AccessDenied):
        await reports.close(
            MANAGER, report.matter_id, MatterOutcome.UNFOUNDED, idempotency_key=key()
        )
    with pytest.raises(PolicyViolations) as caught:
        await reports.close(
            APPROVER, report.matter_id, MatterOutcome.OTHER_MEASURES, "", idempotency_key=key()
        )
    assert caught.value.violations[0].code == "text.required"
    with pytest.raises(PolicyViolations) as caught:  # the revoke flow comes first
        await reports.close(
            APPROVER, report.matter_id, MatterOutcome.ACCESS_REVOKED, "x", idempotency_key=key()
        )
    assert caught.value.violations[0].code == "matter.grant_still_active"

    s.clock.to(date(2026, 3, 3))
    closed = await reports.close(
        APPROVER,
        report.matter_id,
        MatterOutcome.OTHER_MEASURES,
        "Ohjauskeskustelu pidetty",
        idempotency_key="c1",
    )
    again = await reports.close(
        APPROVER,
        report.matter_id,
        MatterOutcome.OTHER_MEASURES,
        "Ohjauskeskustelu pidetty",
        idempotency_key="c1",
    )
    assert closed == again and closed.outcome is MatterOutcome.OTHER_MEASURES
    assert closed.closed_by == APPROVER and closed.closed_at == s.clock.now()
    with pytest.raises(MatterClosed):
        await reports.close(
            DEPUTY, report.matter_id, MatterOutcome.UNFOUNDED, idempotency_key=key()
        )
    assert await reports.open_matters(APPROVER) == []

    # the reporter and the admins are told of the closing, once each
    assert sorted((a, r) for t, a, r in await outbox(session_factory) if t == "misuse.closed") == [
        ("admin", ADMIN),
        ("requester", MANAGER),
    ]
    async with session_factory() as session:
        [params] = (
            await session.execute(
                select(OUTBOX.c.params).where(
                    OUTBOX.c.template == "misuse.closed", OUTBOX.c.audience == "admin"
                )
            )
        ).scalars()
        matter = (await session.execute(select(MATTERS))).one()
        audit = (await session.execute(select(AUDIT).order_by(AUDIT.c.seq))).all()
    assert params["outcome"] == "other_measures" and params["reported_on"] == "2026-03-02"
    assert "Ohjauskeskustelu" not in json.dumps(params)  # the closing note stays in the record
    assert (matter.note, matter.closing_note) == (NOTE, "Ohjauskeskustelu pidetty")

    # the audit has the report and the closing, by ids and codes only, and verifies
    rows = {r.action: r for r in audit}
    reported, closing = rows["grant.misuse_reported"], rows["misuse.closed"]
    assert reported.details == {"grant_id": grant.id, "matter_id": report.matter_id}
    assert closing.details == {
        "grant_id": grant.id,
        "matter_id": report.matter_id,
        "outcome": "other_measures",
    }
    assert all("Hakuja" not in json.dumps(r.details) for r in audit)
    assert all("Ohjauskeskustelu" not in json.dumps(r.details) for r in audit)
    assert (await s.access.queries.verify_audit(ADMIN)).ok


async def test_access_removed_is_recorded_after_the_revoke_flow(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    grant = await open_grant(s, 1, end=date(2026, 9, 30))
    reports = MisuseReports(
        unit_of_work_factory(session_factory), example_directory(), s.clock, UuidIds()
    )
    report = await reports.report(APPROVER, grant.id, NOTE, idempotency_key="m1")
    await s.access.requests.revoke_for_misuse(APPROVER, grant.id, NOTE, idempotency_key="r1")
    closed = await reports.close(
        DEPUTY, report.matter_id, MatterOutcome.ACCESS_REVOKED, idempotency_key="c1"
    )
    assert closed.outcome is MatterOutcome.ACCESS_REVOKED
    [now] = await s.access.queries.list_grants_for(MANAGER, states=None)
    assert now.state is GrantState.REVOKING
    # an approver who reported is told as the reporter; the closer is the deputy
    assert sorted((a, r) for t, a, r in await outbox(session_factory) if t == "misuse.closed") == [
        ("admin", ADMIN),
        ("requester", APPROVER),
    ]
    assert (await s.access.queries.verify_audit(ADMIN)).ok
