"""Corrections of a worker's name or job title, and answers to an approver's question,
on SQLite and PostgreSQL.

A correction is a change request of an active grant that carries the corrected name
and/or job title: approved like any change, KEHA's row carries the corrected values and
KEHA's confirmation corrects the grant. The e-mail is the worker's identity: it stays.
A returned request is answered: the answer is required, kept with the request and
shown to the approvers; the audit row of the resubmit says that there is one and
which fields changed (names only: the audit chain holds no free text).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest
from authority_support import Services, key, make_services, open_grant
from lifecycle_support import ADMIN, APPROVER, MANAGER, PKS, draft, example_directory
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import PolicyViolations
from access.keha import KEHA_COLUMNS
from access.model import (
    AccessRequest,
    Grant,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
)
from storage.domain_tables import AUDIT, OUTBOX


def _correction(
    s: Services, grant: Grant, *, worker_name: str = "", worker_job_title: str = ""
) -> RequestDraft:
    return draft(
        s.clock.today(),
        kind=RequestKind.CHANGE,
        grant_id=grant.id,
        worker_name=worker_name,
        worker_job_title=worker_job_title,
        worker_email="",
        municipality="",
        service_areas=grant.service_areas,
        level=grant.level,
        end=grant.end,
        justification="Nimi muuttui avioliiton myötä",
    )


async def _submit(
    s: Services, grant: Grant, *, worker_name: str = "", worker_job_title: str = ""
) -> AccessRequest:
    return await s.access.requests.submit(
        MANAGER,
        _correction(s, grant, worker_name=worker_name, worker_job_title=worker_job_title),
        idempotency_key=key("correct"),
    )


async def test_a_correction_reaches_keha_and_the_grant(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 1)
    email = grant.worker.email
    request = await _submit(
        s, grant, worker_name="Testi Virtanen", worker_job_title="Erityisasiantuntija"
    )
    assert request.kind is RequestKind.CHANGE and request.state is RequestState.PENDING
    assert (request.worker.name, request.worker.job_title, request.worker.email) == (
        "Testi Virtanen",
        "Erityisasiantuntija",
        email,
    )
    # Until KEHA confirms, the grant keeps its name.
    view = await s.access.queries.get_request(APPROVER, request.id)
    assert view.grant is not None and view.grant.worker.name == "Testi Työntekijä1"

    await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("a"))
    batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("batch"))
    data = await s.authority.batch_file(ADMIN, batch.id, "csv", {})
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    [row] = [dict(zip(KEHA_COLUMNS, line, strict=True)) for line in lines[1:]]
    assert row["action"] == "change"
    assert row["worker_name"] == "Testi Virtanen"
    assert row["worker_job_title"] == "Erityisasiantuntija"
    assert row["worker_email"] == email
    assert row["grant_id"] == grant.id

    await s.authority.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    await s.authority.confirm_batch(ADMIN, batch.id, idempotency_key=key("all"))
    [corrected] = [g for g in await s.access.queries.list_grants_for(ADMIN) if g.id == grant.id]
    assert corrected.worker.name == "Testi Virtanen"
    assert corrected.worker.job_title == "Erityisasiantuntija"
    assert corrected.worker.email == email
    assert (corrected.service_areas, corrected.level, corrected.end) == (
        grant.service_areas,
        grant.level,
        grant.end,
    )
    assert (await s.access.queries.verify_audit(ADMIN)).ok


async def test_a_correction_of_the_title_alone_keeps_the_name(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 2)
    request = await _submit(s, grant, worker_job_title="Ohjaaja")
    assert (request.worker.name, request.worker.job_title) == ("Testi Työntekijä2", "Ohjaaja")


async def test_a_correction_must_correct_and_is_checked(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 3)
    with pytest.raises(PolicyViolations) as same:
        await _submit(s, grant, worker_name=grant.worker.name)
    assert [v.code for v in same.value.violations] == ["change.no_difference"]
    with pytest.raises(PolicyViolations) as bad:
        await _submit(s, grant, worker_name="<b>Testi</b>", worker_job_title="x" * 201)
    assert {(v.code, v.field) for v in bad.value.violations} == {
        ("text.forbidden_characters", "worker_name"),
        ("text.too_long", "worker_job_title"),
    }


async def test_check_finds_the_duplicate_and_the_open_change_before_submit(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 4)
    again = draft(s.clock.today(), worker_name="Testi Työntekijä4", worker_email=grant.worker.email)
    violations = await s.access.requests.check(MANAGER, again)
    assert [(v.code, v.params["existing"]) for v in violations] == [("grant.duplicate", grant.id)]
    first = await _submit(s, grant, worker_name="Testi Korjattu")
    second = _correction(s, grant, worker_job_title="Ohjaaja")
    violations = await s.access.requests.check(MANAGER, second)
    assert [(v.code, v.params["existing"]) for v in violations] == [
        ("grant.request_open", first.number)
    ]
    # Checking changes nothing.
    assert len(await s.access.queries.list_requests_for(MANAGER)) == 2


async def test_an_answer_is_required_kept_and_audited(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    request = await s.access.requests.submit(
        MANAGER,
        draft(s.clock.today(), worker_email="answer@laukaa.example.fi"),
        idempotency_key=key("submit"),
    )
    await s.access.requests.return_with_question(
        APPROVER, request.id, "Mihin tehtäviin?", idempotency_key=key("q")
    )
    with pytest.raises(PolicyViolations) as missing:
        await s.access.requests.resubmit(
            MANAGER, request.id, RequestChanges(answer="  "), idempotency_key=key("r")
        )
    assert [(v.code, v.field) for v in missing.value.violations] == [("text.required", "answer")]
    changes = RequestChanges(
        justification="Ohjaamon nuorten ohjaus",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        answer="Ohjaamon nuorten ohjaukseen",
    )
    again = await s.access.requests.resubmit(MANAGER, request.id, changes, idempotency_key=key("r"))
    assert again.state is RequestState.PENDING and again.answer == "Ohjaamon nuorten ohjaukseen"
    stored = (await s.access.queries.get_request(APPROVER, request.id)).request
    assert stored.answer == "Ohjaamon nuorten ohjaukseen" and stored.question is None

    async with session_factory() as session:
        audit = (
            await session.execute(select(AUDIT).where(AUDIT.c.action == "request.resubmitted"))
        ).one()
        outbox = (
            await session.execute(
                select(OUTBOX).where(
                    OUTBOX.c.template == "request.resubmitted", OUTBOX.c.audience == "approver"
                )
            )
        ).all()
    assert audit.details["answered"] is True
    assert audit.details["changed"] == ["justification"]
    assert "Ohjaamon" not in str(audit.details)  # no free text in the audit chain
    assert {row.params["answer"] for row in outbox} == {"Ohjaamon nuorten ohjaukseen"}

    # What the resubmit changed, as the approver sees it: the justification too.
    snapshots = await s.access.queries.submission_snapshots(APPROVER, request.id)
    assert snapshots[1]["justification"] == "Ohjaamon asiakasohjaus"
    assert snapshots[again.version]["justification"] == "Ohjaamon nuorten ohjaus"

    # A new question: the old answer no longer stands.
    returned = await s.access.requests.return_with_question(
        APPROVER, request.id, "Entä taso?", idempotency_key=key("q2")
    )
    assert returned.answer is None and returned.question == "Entä taso?"


async def test_the_end_can_move_with_a_correction(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 5)
    both = replace(
        _correction(s, grant, worker_name="Testi Uusinimi"), end=grant.end - timedelta(days=10)
    )
    request = await s.access.requests.submit(MANAGER, both, idempotency_key=key("both"))
    assert request.worker.name == "Testi Uusinimi" and request.end == grant.end - timedelta(days=10)
