"""Reporting suspected misuse of a grant (002 §7): both contacts told, audited, once;
the approver can revoke at once (002 §10)."""

from __future__ import annotations

from datetime import date

import pytest
from automation_support import TravelClock, at, make_stack, open_grant, outbox
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    KUOPIO_APPROVER,
    MANAGER,
    MANAGER2,
    example_directory,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied, NotFound, PolicyViolations
from access.misuse import MisuseReports
from access.model import GrantState
from access.ports import UuidIds
from storage.repositories import unit_of_work_factory

MONDAY = date(2026, 3, 2)


async def test_report_tells_both_contacts_once_and_the_approver_revokes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_stack(session_factory, example_directory(), TravelClock(at(MONDAY)))
    grant = await open_grant(s, 1, end=date(2026, 9, 30))
    reports = MisuseReports(
        unit_of_work_factory(session_factory), example_directory(), s.clock, UuidIds()
    )
    first = await reports.report(
        MANAGER, grant.id, "Epäily: hakuja ilman asiakkuutta", idempotency_key="m1"
    )
    again = await reports.report(
        MANAGER, grant.id, "Epäily: hakuja ilman asiakkuutta", idempotency_key="m1"
    )
    assert first.first and not again.first
    assert {(a, r) for _, a, r in await outbox(session_factory, "misuse.reported")} == {
        ("requester", MANAGER),
        ("requester", MANAGER2),
        ("approver", APPROVER),
        ("approver", DEPUTY),
        ("admin", ADMIN),
    }
    entries = await s.access.queries.verify_audit(ADMIN)
    assert entries.ok

    with pytest.raises(AccessDenied):
        await reports.report(KUOPIO_APPROVER, grant.id, "x", idempotency_key="m2")
    with pytest.raises(AccessDenied):
        await reports.report(grant.worker.email, grant.id, "x", idempotency_key="m3")
    with pytest.raises(PolicyViolations) as caught:
        await reports.report(APPROVER, grant.id, "   ", idempotency_key="m4")
    assert caught.value.violations[0].code == "text.required"
    with pytest.raises(PolicyViolations):
        await reports.report(APPROVER, grant.id, "x" * 2001, idempotency_key="m5")
    with pytest.raises(NotFound):
        await reports.report(APPROVER, "nope", "x", idempotency_key="m6")

    # the approver revokes at once; a report by the approver works the same way
    await reports.report(APPROVER, grant.id, "Vahvistettu", idempotency_key="m7")
    await s.access.requests.revoke_for_misuse(
        APPROVER, grant.id, "Vahvistettu", idempotency_key="r1"
    )
    [now] = await s.access.queries.list_grants_for(MANAGER, states=None)
    assert now.state is GrantState.REVOKING
    assert len(await outbox(session_factory, "revoke.misuse")) == 3  # requester, worker, admin
