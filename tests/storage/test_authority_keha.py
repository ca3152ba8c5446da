"""KEHA hand-off end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest
from authority_support import Services, approved_change, key, make_services, open_grant, revoke
from lifecycle_support import (
    ADMIN,
    APPROVER,
    KUOPIO_ADMIN,
    MANAGER,
    PKS,
    example_directory,
)
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.errors import AccessDenied, NotFound, PolicyViolations
from access.keha import KEHA_COLUMNS, local_time
from access.model import AccessRequest, GrantState, KehaRowState, RequestKind, RequestState

LABELS = {c: f"Sarake {c}" for c in KEHA_COLUMNS}
ACTIONS = {"grant": "open", "change": "change", "revoke": "close"}


async def _twenty(s: Services) -> tuple[list[AccessRequest], dict[str, Any]]:
    """10 new grants, 5 changes and 5 revokes of existing grants, all approved."""
    existing = [await open_grant(s, n, "laukaa" if n % 2 else "viitasaari") for n in range(10)]
    changes = [await approved_change(s, g) for g in existing[:5]]
    revokes = [await revoke(s, g) for g in existing[5:]]
    grants = []
    for n in range(10, 20):
        request = await s.access.requests.submit(
            MANAGER,
            _draft(s, n),
            idempotency_key=key("submit"),
        )
        grants.append(
            await s.access.requests.approve(APPROVER, request.id, idempotency_key=key("a"))
        )
    return grants + changes + revokes, {g.id: g for g in existing}


def _draft(s: Services, n: int) -> Any:
    from lifecycle_support import draft

    return draft(
        s.clock.today(),
        worker_name=f"Uusi Työntekijä{n}",
        worker_email=f"new{n}@laukaa.example.fi",
    )


def _expected(
    request: AccessRequest, batch_id: str, row_id: str, approvals: dict[str, Any]
) -> list[str]:
    directory = example_directory()
    municipality = directory.municipality(request.municipality)
    assert municipality is not None
    approved = approvals.get(request.id)
    return [
        batch_id,
        row_id,
        request.number,
        ACTIONS[request.kind.value],
        "yes" if request.kind is RequestKind.REVOKE else "no",
        request.worker.name,
        request.worker.email,
        request.worker.job_title,
        request.municipality,
        municipality.name,
        PKS,
        ";".join(request.service_areas),
        request.level,
        request.start.isoformat() if request.start else "",
        request.end.isoformat() if request.end else "",
        approved.actor if approved else "",
        local_time(approved.at) if approved else "",  # Helsinki, to the minute
        request.revoke_reason.value if request.revoke_reason else "",
        request.grant_id or "",
        request.effective.isoformat() if request.effective else "",  # a removal: its date
    ]


async def test_twenty_changes_batch_file_sent_confirmed(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    s = make_services(session_factory, example_directory())
    requests, existing = await _twenty(s)
    assert len(requests) == 20

    pending = await s.authority.pending_handoff(ADMIN, PKS)
    assert {r.id for r in pending} == {r.id for r in requests}
    assert [r.kind for r in pending[:5]] == [RequestKind.REVOKE] * 5  # urgent first

    batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("batch"))
    assert len(batch.rows) == 20
    assert await s.authority.pending_handoff(ADMIN, PKS) == []
    by_request = {r.request_id: r for r in batch.rows}
    approvals = {}
    for request in requests:
        view = await s.access.queries.get_request(ADMIN, request.id)
        assert view.request.state is RequestState.QUEUED_FOR_KEHA
        approvals[request.id] = next(
            (d for d in view.decisions if d.outcome.value == "approved"), None
        )
    urgent_first = sorted(requests, key=lambda r: (r.kind is not RequestKind.REVOKE, r.number))
    expected = [_expected(r, batch.id, by_request[r.id].id, approvals) for r in urgent_first]

    # CSV: UTF-8 with BOM, ";" separator, header in the given language, cell by cell.
    data = await s.authority.batch_file(ADMIN, batch.id, "csv", LABELS)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == [LABELS[c] for c in KEHA_COLUMNS]
    assert lines[1:] == expected

    # XLSX: openpyxl reads it back, same cells.
    xlsx = await s.authority.batch_file(ADMIN, batch.id, "xlsx", LABELS)
    sheet = load_workbook(io.BytesIO(xlsx)).active
    cells = [[c if c is not None else "" for c in row] for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == [LABELS[c] for c in KEHA_COLUMNS]
    assert cells[1:] == expected
    assert not any("henkilötunnus" in h.lower() or "hetu" in h.lower() for h in cells[0])

    sent = await s.authority.mark_sent(ADMIN, batch.id, idempotency_key=key("sent"))
    assert {r.state for r in sent.rows} == {KehaRowState.SENT}

    # One row confirmed with a note (KEHA did something different), the rest as a batch.
    first = batch.rows[0]
    await s.authority.confirm_row(
        ADMIN, first.id, idempotency_key=key("one"), note="KEHA avasi tunnuksen 3.3."
    )
    done = await s.authority.confirm_batch(ADMIN, batch.id, idempotency_key=key("all"))
    assert len(done) == 20 and {r.state for r in done} == {RequestState.DONE}
    again = await s.authority.batch(ADMIN, batch.id)
    assert {r.state for r in again.rows} == {KehaRowState.CONFIRMED}
    assert [r.confirm_note for r in again.rows if r.id == first.id] == ["KEHA avasi tunnuksen 3.3."]

    # Grant states.
    grants = {g.id: g for g in await s.access.queries.list_grants_for(ADMIN, states=None)}
    for request in requests:
        view = await s.access.queries.get_request(ADMIN, request.id)
        grant = grants[view.request.grant_id or ""]
        if request.kind is RequestKind.GRANT:
            assert grant.state is GrantState.ACTIVE
            assert grant.worker.email == request.worker.email
            assert grant.service_areas == request.service_areas and grant.end == request.end
        elif request.kind is RequestKind.CHANGE:
            assert grant.state is GrantState.ACTIVE
            assert grant.service_areas == ("youth",) and grant.level == "record"
            assert grant.end == existing[grant.id].end - __import__("datetime").timedelta(days=30)
        else:
            assert grant.state is GrantState.REMOVED

    # Notifications: requester and worker are told of each confirmation.
    counts: Counter[tuple[str, str]] = Counter()
    for request in requests:
        async with session_factory() as session:
            from sqlalchemy import select

            from storage.domain_tables import OUTBOX

            rows = (
                await session.execute(select(OUTBOX).where(OUTBOX.c.request_id == request.id))
            ).all()
        for row in rows:
            counts[(row.template, row.audience)] += 1
            if row.template.startswith("grant."):
                assert row.recipient in (request.worker.email, request.requester)
    assert counts[("grant.opened", "requester")] == 10
    assert counts[("grant.opened", "worker")] == 10
    assert counts[("grant.changed", "requester")] == 5
    assert counts[("grant.changed", "worker")] == 5
    assert counts[("grant.removed", "requester")] == 5
    assert counts[("grant.removed", "worker")] == 5
    # Internal hand-off steps message no one (the admin who took them saw them in chat).
    assert counts[("request.queued", "requester")] == 0
    assert counts[("request.sent_to_keha", "requester")] == 0
    assert (await s.access.queries.verify_audit(ADMIN)).ok


async def test_confirm_note_is_limited(session_factory: async_sessionmaker[AsyncSession]) -> None:
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 1)
    request = await revoke(s, grant)
    batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("b"))
    await s.authority.mark_sent(ADMIN, batch.id, idempotency_key=key("s"))
    with pytest.raises(PolicyViolations):
        await s.authority.confirm_row(
            ADMIN, batch.rows[0].id, idempotency_key=key("c"), note="x" * 2001
        )
    view = await s.access.queries.get_request(ADMIN, request.id)
    assert view.request.state is RequestState.SENT_TO_KEHA


@pytest.mark.parametrize("outsider", [MANAGER, APPROVER, KUOPIO_ADMIN])
async def test_others_cannot_list_create_or_download(
    session_factory: async_sessionmaker[AsyncSession], outsider: str
) -> None:
    """A non-admin (manager, approver) or an admin of another area gets AccessDenied,
    and nothing changes but the audited denial."""
    s = make_services(session_factory, example_directory())
    grant = await open_grant(s, 1)
    await revoke(s, grant)
    batch = await s.authority.create_batch(ADMIN, PKS, idempotency_key=key("b"))
    await revoke(s, await open_grant(s, 2))  # something approved and not yet queued

    with pytest.raises(AccessDenied):
        await s.authority.pending_handoff(outsider, PKS)
    with pytest.raises(AccessDenied):
        await s.authority.batches(outsider, PKS)
    with pytest.raises(AccessDenied):
        await s.authority.create_batch(outsider, PKS, idempotency_key=key("x"))
    for fmt in ("csv", "xlsx"):
        with pytest.raises(AccessDenied):
            await s.authority.batch_file(outsider, batch.id, fmt)
    is_admin = outsider == KUOPIO_ADMIN  # an admin elsewhere learns only "not found"
    with pytest.raises(NotFound if is_admin else AccessDenied):
        await s.authority.batch(outsider, "no-such-batch")
    with pytest.raises(AccessDenied):
        await s.authority.mark_sent(outsider, batch.id, idempotency_key=key("y"))

    assert len(await s.authority.pending_handoff(ADMIN, PKS)) == 1
    assert (await s.authority.batch(ADMIN, batch.id)).sent_at is None
    with pytest.raises(NotFound):
        await s.authority.batch(ADMIN, "no-such-batch")
    records = await s.authority.audit_records()
    denials = [r for r in records if r.entry.action == "access.denied"]
    assert all(r.actor_email == outsider for r in denials)
    assert [r.area for r in denials] == [PKS] * 5 + ([] if is_admin else [None]) + [PKS]
