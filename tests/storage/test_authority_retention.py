"""Retention on SQLite and PostgreSQL: after a run, the purged
people's names and e-mails are nowhere in the database and the audit chain verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from authority_support import all_text, key, make_services, open_grant, revoke
from lifecycle_support import ADMIN, APPROVER, MANAGER, PKS, FixedClock, draft, example_directory
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.misuse import MisuseReports
from access.model import GrantState, MatterOutcome
from access.ports import UuidIds
from storage.domain_tables import PEOPLE
from storage.models import BotState, ConversationRef
from storage.repositories import unit_of_work_factory


async def _close(s, grant, note: str) -> None:  # type: ignore[no-untyped-def]
    await revoke(s, grant)
    batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("b"))
    await s.authority.mark_sent(ADMIN, batch.id, idempotency_key=key("s"))
    await s.authority.confirm_batch(ADMIN, batch.id, idempotency_key=key("c"), note=note)


async def test_retention_forgets_old_people_and_audit_still_verifies(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(datetime(2021, 3, 2, 8, 30, tzinfo=UTC))
    s = make_services(session_factory, example_directory(), clock=clock)

    # Old worker: grant opened and removed in 2021 (more than four years before 2026).
    old = await open_grant(s, 1)
    assert old.worker.email == "worker1@laukaa.example.fi"
    await _close(s, old, "Suljettu vanhana")
    # An old rejected request of another person.
    rejected = await s.access.requests.submit(
        MANAGER,
        draft(
            clock.today(), worker_name="Hylätty Henkilö", worker_email="hylatty@laukaa.example.fi"
        ),
        idempotency_key=key("r"),
    )
    await s.access.requests.reject(APPROVER, rejected.id, "Ei tarvetta", idempotency_key=key("rj"))
    # Recent worker: removed in 2023, less than four years before 2026: kept.
    clock.current = datetime(2023, 6, 1, 9, 0, tzinfo=UTC)
    recent = await open_grant(s, 2)
    await _close(s, recent, "Suljettu")
    # Active worker: kept.
    clock.current = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    active = await open_grant(s, 3)
    assert active.state is GrantState.ACTIVE
    async with session_factory() as session:
        await session.execute(
            insert(ConversationRef).values(
                user_key="aad-old",
                email="worker1@laukaa.example.fi",
                reference=json.dumps({"user": {"id": "u1", "name": "Testi Työntekijä1"}}),
                locale="fi",
            )
        )
        await session.execute(
            insert(BotState).values(
                key="msteams/conversations/c-old",
                document=json.dumps({"draft": {"worker_name": "Testi Työntekijä1"}}),
                etag="1",
            )
        )
        await session.execute(
            insert(BotState).values(
                key="msteams/conversations/c-other", document=json.dumps({"x": 1}), etag="1"
            )
        )
        await session.commit()

    before = await all_text(session_factory)
    for needle in ("worker1@laukaa.example.fi", "testi työntekijä1", "hylatty@laukaa.example.fi"):
        assert needle in before

    clock.current = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    result = await s.authority.run_retention()
    assert (result.grants, result.requests) == (1, 3)  # grant + revoke + rejected request
    assert result.people_forgotten == 2

    after = await all_text(session_factory)
    for needle in (
        "worker1@laukaa.example.fi",
        "testi työntekijä1",
        "hylatty@laukaa.example.fi",
        "hylätty henkilö",
        "suljettu vanhana",  # the confirmation note of the old row
    ):
        assert needle not in after, needle
    for needle in ("worker2@laukaa.example.fi", "testi työntekijä2", "worker3@laukaa.example.fi"):
        assert needle in after, needle
    assert "c-other" in after  # unrelated bot state stays

    assert (await s.authority.verify_audit()).ok
    assert (await s.access.queries.verify_audit(ADMIN)).ok
    async with session_factory() as session:
        forgotten = (
            await session.execute(select(PEOPLE).where(PEOPLE.c.purged_at.is_not(None)))
        ).all()
    assert len(forgotten) == 2 and all(p.email is None for p in forgotten)

    # A second run finds nothing new; the report still counts the old requests.
    again = await s.authority.run_retention()
    assert (again.grants, again.requests, again.people_forgotten) == (1, 3, 0)
    report = await s.authority.report(
        ADMIN, PKS, datetime(2021, 3, 1).date(), datetime(2021, 3, 31).date()
    )
    laukaa = [r for r in report.rows if r.municipality == "laukaa"]
    assert sum(r.submitted() for r in laukaa) == 3
    records = await s.authority.audit_records()
    assert records[-1].entry.action == "retention.run"
    assert all("@" not in json.dumps(r.entry.details) for r in records)
    assert all(r.entry.actor == "system" or r.entry.actor.startswith("person:") for r in records)
    assert timedelta(0) <= clock.current - records[-1].entry.at


async def test_an_open_misuse_matter_holds_the_records_until_it_is_closed(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """001 annex 6 §5: "except where a matter is pending"."""
    clock = FixedClock(datetime(2021, 3, 2, 8, 30, tzinfo=UTC))
    s = make_services(session_factory, example_directory(), clock=clock)
    reports = MisuseReports(
        unit_of_work_factory(session_factory), example_directory(), clock, UuidIds()
    )
    grant = await open_grant(s, 1)
    report = await reports.report(
        MANAGER, grant.id, "Hakuja ilman asiakkuutta", idempotency_key=key("m")
    )
    await _close(s, grant, "Suljettu")  # the grant ended in 2021, the matter is open

    clock.current = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    held = await s.authority.run_retention()
    assert (held.grants, held.requests, held.people_forgotten, held.held) == (0, 0, 0, 1)
    kept = await all_text(session_factory)
    for needle in ("worker1@laukaa.example.fi", "testi työntekijä1", "hakuja ilman asiakkuutta"):
        assert needle in kept, needle
    assert (await s.authority.verify_audit()).ok

    await reports.close(
        APPROVER, report.matter_id, MatterOutcome.ACCESS_REVOKED, idempotency_key=key("c")
    )
    released = await s.authority.run_retention()
    assert (released.grants, released.requests, released.held) == (1, 2, 0)
    assert released.people_forgotten == 1  # the worker; the manager is in the directory
    after = await all_text(session_factory)
    for needle in ("worker1@laukaa.example.fi", "testi työntekijä1", "hakuja ilman asiakkuutta"):
        assert needle not in after, needle
    assert (await s.authority.verify_audit()).ok
    assert (await s.access.queries.verify_audit(ADMIN)).ok
    records = await s.authority.audit_records()
    actions = [r.entry.action for r in records]
    assert "grant.misuse_reported" in actions and "misuse.closed" in actions
    assert records[-1].entry.details["held_for_matters"] == 0
