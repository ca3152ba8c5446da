"""The audit trail resists the database's own writer.

Each test plays someone who can write every table but does not hold ``ATMT_AUDIT_KEY``:
they know the algorithm, so they recompute hashes with the old unkeyed SHA-256 or with
the public development key. Every tampering of the issue is found by ``audit verify``
(``AuthorityService.verify_audit``), and a cut tail by a checkpoint from before it.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from authority_support import Services, key, make_services
from automation_support import TravelClock, at, make_stack
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    MANAGER,
    PKS,
    STRANGER,
    draft,
    example_directory,
)
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.audit import (
    DEVELOPMENT_KEY,
    GENESIS_HASH,
    PERSON_PREFIX,
    AuditKey,
    AuditKeyMismatch,
    ChainHead,
    PersonBindingError,
    canonical_content,
    parse_checkpoints,
    verify_chain,
)
from access.errors import AccessDenied
from access.model import AuditEntry
from storage.audit_keys import bind_audit_key
from storage.authority import SqlAuthorityUnitOfWork
from storage.db import create_session_factory
from storage.domain_tables import AUDIT, AUDIT_HEAD, OUTBOX, PEOPLE
from storage.repositories import SqlUnitOfWork

TEST_KEY = AuditKey.from_text("test-audit-key: 48 characters of not-so-random text")
OTHER_KEY = AuditKey.from_text("another audit key, as a misconfigured process has it")

Sessions = async_sessionmaker[AsyncSession]
Hasher = Callable[[AuditEntry], str]


def _sha256(entry: AuditEntry) -> str:
    return hashlib.sha256(_content(entry)).hexdigest()


def _development(entry: AuditEntry) -> str:
    return DEVELOPMENT_KEY.row_hash(_content(entry))


def _content(entry: AuditEntry) -> bytes:
    return canonical_content(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        request_id=entry.request_id,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


ATTACKERS = [
    pytest.param(_sha256, id="unkeyed-sha256"),
    pytest.param(_development, id="development-key"),
]


@pytest.fixture
def sessions(session_factory: Sessions) -> Sessions:
    return bind_audit_key(session_factory, TEST_KEY)


@pytest.fixture
async def s(sessions: Sessions) -> Services:
    services = make_services(sessions, example_directory())
    await _history(services)
    result = await services.authority.verify_audit()
    assert result.key_id == TEST_KEY.key_id and not result.notes
    return services


async def _history(s: Services) -> None:
    """A grant through KEHA, a denial, and a second request that the deputy approved."""
    today = s.clock.today()
    first = await s.access.requests.submit(MANAGER, draft(today), idempotency_key=key())
    await s.access.requests.approve(APPROVER, first.id, idempotency_key=key())
    batch = await s.access.handoff.queue_for_keha(ADMIN, PKS, idempotency_key=key())
    await s.access.handoff.mark_sent(ADMIN, batch.id, idempotency_key=key())
    await s.access.handoff.confirm_row(ADMIN, batch.rows[0].id, idempotency_key=key())
    with pytest.raises(AccessDenied):
        await s.access.requests.approve(STRANGER, first.id, idempotency_key=key())
    second = await s.access.requests.submit(
        MANAGER, draft(today, worker_email="eero@laukaa.example.fi"), idempotency_key=key()
    )
    await s.access.requests.approve(DEPUTY, second.id, idempotency_key=key())
    result = await s.authority.verify_audit()
    assert result.ok and result.checked >= 8, result


# ----------------------------------------------------------------- the attacker's tools


async def _entries(sessions: Sessions) -> list[AuditEntry]:
    async with SqlUnitOfWork(sessions) as uow:
        return await uow.audit.entries()


def _rechain(entries: list[AuditEntry], start: int, hasher: Hasher) -> list[AuditEntry]:
    """Renumber from 1 and recompute prev_hash and hash from row ``start`` on."""
    out: list[AuditEntry] = []
    for position, entry in enumerate(entries, start=1):
        if position < start:
            out.append(entry)
            continue
        prev = out[-1].hash if out else GENESIS_HASH
        moved = replace(entry, seq=position, prev_hash=prev)
        out.append(replace(moved, hash=hasher(moved)))
    return out


async def _write_trail(sessions: Sessions, entries: list[AuditEntry]) -> None:
    """Replace the whole trail and move the head to its last row, as a DB writer can."""
    async with sessions() as session:
        await session.execute(delete(AUDIT))
        if entries:
            await session.execute(
                insert(AUDIT),
                [
                    {
                        "seq": e.seq,
                        "at": e.at,
                        "actor": e.actor,
                        "action": e.action,
                        "request_id": e.request_id,
                        "details": dict(e.details),
                        "prev_hash": e.prev_hash,
                        "hash": e.hash,
                    }
                    for e in entries
                ],
            )
        last = entries[-1] if entries else None
        await session.execute(
            update(AUDIT_HEAD)
            .where(AUDIT_HEAD.c.id == 1)
            .values(seq=last.seq if last else 0, hash=last.hash if last else GENESIS_HASH)
        )
        await session.commit()


async def _person_id(sessions: Sessions, email: str) -> str:
    async with sessions() as session:
        found = await session.execute(select(PEOPLE.c.person_id).where(PEOPLE.c.email == email))
        return str(found.scalar_one())


async def _sql(sessions: Sessions, statement: str, **params: Any) -> None:
    async with sessions() as session:
        await session.execute(text(statement), params)
        await session.commit()


# --------------------------------------------------------------- 1. edit and recompute


@pytest.mark.parametrize("hasher", ATTACKERS)
async def test_an_edit_with_every_later_hash_and_the_head_recomputed_is_found(
    s: Services, sessions: Sessions, hasher: Hasher
) -> None:
    entries = await _entries(sessions)
    approval = next(e for e in entries if e.action == "request.approved")
    edited = list(entries)
    edited[approval.seq - 1] = replace(approval, details={**approval.details, "to": "rejected"})
    await _write_trail(sessions, _rechain(edited, approval.seq, hasher))

    result = await s.authority.verify_audit()
    assert not result.ok
    assert result.first_bad_position == approval.seq
    assert (result.reason or "").startswith(f"row {approval.seq} ")
    # The chat's verify (AccessService, the old call shape) uses the key too.
    chat = await s.access.queries.verify_audit(ADMIN)
    assert (chat.ok, chat.first_bad_position) == (False, approval.seq)


async def test_the_same_forgery_passes_under_the_key_it_was_made_with(
    s: Services, sessions: Sessions
) -> None:
    """The attacker's recomputation is complete: only the key tells it apart."""
    entries = _rechain(await _entries(sessions), 1, _development)
    last = entries[-1]
    assert verify_chain(entries, head=ChainHead(last.seq, last.hash), key=DEVELOPMENT_KEY).ok
    assert not verify_chain(entries, head=ChainHead(last.seq, last.hash), key=TEST_KEY).ok


# ----------------------------------------------- 2. cut the tail, move the head back


async def test_a_cut_tail_with_the_head_moved_back_is_exposed_by_an_earlier_checkpoint(
    s: Services, sessions: Sessions
) -> None:
    checkpoint = await s.authority.audit_checkpoint()
    assert checkpoint is not None
    entries = await _entries(sessions)
    assert entries[checkpoint.seq - 1].hash == checkpoint.head
    assert (await s.authority.verify_audit([checkpoint])).ok

    kept = checkpoint.seq - 3
    await _write_trail(sessions, entries[:kept])  # rows and head, nothing recomputed

    # Without a checkpoint the shorter trail is a valid chain: that is what they are for.
    assert (await s.authority.verify_audit()).ok
    result = await s.authority.verify_audit([checkpoint])
    assert (result.ok, result.first_bad_position) == (False, kept + 1)
    assert f"rows {kept + 1}..{checkpoint.seq} were removed" in (result.reason or "")


@pytest.mark.parametrize("hasher", ATTACKERS)
async def test_a_trail_rewritten_below_a_checkpoint_fails_it(
    s: Services, sessions: Sessions, hasher: Hasher
) -> None:
    """Cut and regrow: the tail removed and as many rows forged again (seq as before)."""
    checkpoint = await s.authority.audit_checkpoint()
    assert checkpoint is not None
    entries = await _entries(sessions)
    cut = checkpoint.seq - 1
    forged = [replace(e, details={**e.details, "forged": True}) for e in entries[cut - 1 :]]
    await _write_trail(sessions, _rechain(entries[: cut - 1] + forged, cut, hasher))
    result = await s.authority.verify_audit([checkpoint])
    assert (result.ok, result.first_bad_position) == (False, cut)


# ------------------------------------------------------- 3. delete a row, renumber


@pytest.mark.parametrize("hasher", [*ATTACKERS, pytest.param(None, id="seq-only")])
async def test_a_deleted_middle_row_with_the_rest_renumbered_is_found(
    s: Services, sessions: Sessions, hasher: Hasher | None
) -> None:
    entries = await _entries(sessions)
    gone = 4
    rest = entries[: gone - 1] + entries[gone:]
    if hasher is None:  # renumbered only: hashes and links as they were
        forged = rest[: gone - 1] + [replace(e, seq=e.seq - 1) for e in rest[gone - 1 :]]
    else:
        forged = _rechain(rest, gone, hasher)
    await _write_trail(sessions, forged)
    result = await s.authority.verify_audit()
    assert (result.ok, result.first_bad_position) == (False, gone)


# --------------------------------------------- 4. swap two e-mails in people; 5. export


@pytest.mark.parametrize("with_bindings", [False, True], ids=["e-mails", "e-mails+bindings"])
async def test_swapped_people_fail_verify_and_the_export_credits_nobody_wrongly(
    s: Services, sessions: Sessions, with_bindings: bool
) -> None:
    contact, deputy = await _person_id(sessions, APPROVER), await _person_id(sessions, DEPUTY)
    before = {r.entry.seq: r.actor_email for r in await s.authority.audit_records()}
    approvals = [
        r for r in await s.authority.audit_records() if r.entry.action == "request.approved"
    ]
    assert {r.actor_email for r in approvals} == {APPROVER, DEPUTY}

    columns = "email = :email, binding = :binding" if with_bindings else "email = :email"
    async with sessions() as session:
        rows = {
            r.person_id: r
            for r in await session.execute(
                select(PEOPLE).where(PEOPLE.c.person_id.in_([contact, deputy]))
            )
        }
    await _sql(sessions, "UPDATE people SET email = NULL WHERE person_id = :p", p=contact)
    for target, source in ((deputy, contact), (contact, deputy)):
        await _sql(
            sessions,
            f"UPDATE people SET {columns} WHERE person_id = :p",
            p=target,
            email=rows[source].email,
            binding=rows[source].binding,
        )

    result = await s.authority.verify_audit()
    assert not result.ok
    assert "not the one bound to this id" in (result.reason or "")
    first_named = min(
        e.seq
        for e in await _entries(sessions)
        if e.actor in (PERSON_PREFIX + contact, PERSON_PREFIX + deputy)
    )
    assert result.first_bad_position is not None
    assert result.first_bad_position >= first_named

    # The export shows neither e-mail for the swapped ids rather than the wrong one.
    after = {r.entry.seq: r.actor_email for r in await s.authority.audit_records()}
    for approval in approvals:
        assert after[approval.entry.seq] is None
    assert {seq: email for seq, email in after.items() if email is not None} == {
        seq: email for seq, email in before.items() if email not in (APPROVER, DEPUTY)
    }
    # Nothing is written under the altered mapping either.
    with pytest.raises(PersonBindingError):
        await s.access.requests.submit(
            APPROVER,
            draft(s.clock.today(), worker_email="x@laukaa.example.fi"),
            idempotency_key=key(),
        )


async def test_an_email_changed_to_anothers_is_found(s: Services, sessions: Sessions) -> None:
    deputy = await _person_id(sessions, DEPUTY)
    await _sql(
        sessions,
        "UPDATE people SET email = :e WHERE person_id = :p",
        e="mallory@pks-area.example.fi",
        p=deputy,
    )
    assert not (await s.authority.verify_audit()).ok


# -------------------------------------------------------------------------- forgetting


async def test_forgetting_by_retention_still_verifies_and_blanking_outside_it_does_not(
    s: Services, sessions: Sessions
) -> None:
    # The stranger appears only in the audit trail (a denial): retention may forget them.
    async with SqlAuthorityUnitOfWork(sessions) as uow:
        assert await uow.retention.forget([STRANGER], keep=[], at=s.clock.now()) == 1
        await uow.commit()
    async with sessions() as session:
        row = (await session.execute(select(PEOPLE).where(PEOPLE.c.email.is_(None)))).one()
    assert row.binding == TEST_KEY.forgotten_binding(row.person_id)
    assert (await s.authority.verify_audit()).ok

    deputy = await _person_id(sessions, DEPUTY)
    await _sql(sessions, "UPDATE people SET email = NULL WHERE person_id = :p", p=deputy)
    result = await s.authority.verify_audit()
    assert not result.ok and "lost the e-mail outside retention" in (result.reason or "")


async def test_a_person_the_trail_names_cannot_vanish(s: Services, sessions: Sessions) -> None:
    stranger = await _person_id(sessions, STRANGER)
    await _sql(sessions, "DELETE FROM people WHERE person_id = :p", p=stranger)
    result = await s.authority.verify_audit()
    assert not result.ok and f"names person {stranger}, missing in people" in (result.reason or "")


# ---------------------------------------------------------------------- the key itself


async def test_another_key_neither_appends_nor_verifies(
    s: Services, session_factory: Sessions
) -> None:
    wrong = bind_audit_key(create_session_factory(session_factory.kw["bind"]), OTHER_KEY)
    other = make_services(wrong, example_directory(), clock=s.clock)
    with pytest.raises(AuditKeyMismatch):
        await other.access.requests.submit(
            MANAGER,
            draft(s.clock.today(), worker_email="y@laukaa.example.fi"),
            idempotency_key=key(),
        )
    result = await other.authority.verify_audit()
    assert not result.ok
    assert f"written with audit key {TEST_KEY.key_id}" in (result.reason or "")
    assert (await s.authority.verify_audit()).ok  # nothing was written


async def test_a_trail_written_before_the_key_is_sealed_by_the_first_keyed_row(
    s: Services, sessions: Sessions
) -> None:
    """A database from before migration 0005: unkeyed rows, no key id, no bindings."""
    legacy = _rechain(await _entries(sessions), 1, _sha256)
    await _write_trail(sessions, legacy)
    await _sql(sessions, "UPDATE audit_chain_head SET key_id = NULL")
    await _sql(sessions, "UPDATE people SET binding = NULL")
    result = await s.authority.verify_audit()
    assert not result.ok and f"rows 1..{len(legacy)} are not keyed" in (result.reason or "")

    assert await s.authority.audit_checkpoint() is not None  # any audited command seals
    entries = await _entries(sessions)
    marker = entries[len(legacy)]
    assert marker.action == "audit.keyed"
    assert marker.details["legacy_rows"] == len(legacy)
    assert marker.details["legacy_head"] == legacy[-1].hash
    result = await s.authority.verify_audit()
    assert result.ok, result
    assert f"rows 1..{len(legacy)} were written before the audit key" in " ".join(result.notes)

    # The sealed prefix can no longer be rewritten either.
    edited = list(entries)
    edited[2] = replace(edited[2], actor="person:intruder")
    await _write_trail(
        sessions, _rechain(edited[: len(legacy)], 3, _sha256) + entries[len(legacy) :]
    )
    result = await s.authority.verify_audit()
    assert (result.ok, result.first_bad_position) == (False, len(legacy))


async def test_a_trial_run_with_the_development_key_moves_on_to_the_real_key(
    session_factory: Sessions,
) -> None:
    """Rows and people made with the public key before ATMT_AUDIT_KEY was set are
    sealed and re-bound by the first append with the real key; no way back."""
    trial = make_services(session_factory, example_directory())  # no key bound
    await _history(trial)
    trial_rows = len(await _entries(session_factory))
    sessions = bind_audit_key(create_session_factory(session_factory.kw["bind"]), TEST_KEY)
    real = make_services(sessions, example_directory(), clock=trial.clock)
    result = await real.authority.verify_audit()
    assert not result.ok and f"rows 1..{trial_rows} are not keyed" in (result.reason or "")

    assert await real.authority.audit_checkpoint() is not None
    marker = (await _entries(sessions))[trial_rows]
    assert marker.action == "audit.keyed"
    assert marker.details["previous_key_id"] == DEVELOPMENT_KEY.key_id
    result = await real.authority.verify_audit()
    assert result.ok, result
    people = await _people_rows(sessions)
    assert people and all(
        p.binding == TEST_KEY.person_binding(p.person_id, p.email) for p in people
    )
    with pytest.raises(AuditKeyMismatch):
        await trial.access.requests.submit(
            MANAGER,
            draft(trial.clock.today(), worker_email="z@laukaa.example.fi"),
            idempotency_key=key(),
        )


async def _people_rows(sessions: Sessions) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(PEOPLE))).all())


# ----------------------------------------------------------------- daily checkpoints


async def test_the_scheduler_sends_one_checkpoint_a_day_to_every_authority_admin(
    sessions: Sessions,
) -> None:
    directory = example_directory()
    day = date(2026, 3, 2)
    clock = TravelClock(at(day))
    stack = make_stack(sessions, directory, clock)
    assert (await stack.automation.run()).audit_checkpoint is None  # empty trail
    await stack.access.requests.submit(MANAGER, draft(day), idempotency_key=key())

    first = await stack.automation.run()
    assert first.audit_checkpoint is not None
    clock.current += timedelta(hours=3)
    assert (await stack.automation.run()).audit_checkpoint is None  # once a day
    clock.to(day + timedelta(days=1))
    second = await stack.automation.run()
    assert second.audit_checkpoint is not None

    admins = {a for area in directory.areas.values() for a in area.authority_admins}
    async with sessions() as session:
        rows = (
            await session.execute(
                select(OUTBOX.c.recipient, OUTBOX.c.audience, OUTBOX.c.params).where(
                    OUTBOX.c.template == "audit.checkpoint"
                )
            )
        ).all()
    assert sorted(r.recipient for r in rows) == sorted([*admins, *admins])
    assert {r.audience for r in rows} == {"admin"}
    texts = {r.params["note"] for r in rows}
    assert texts == {first.audit_checkpoint, second.audit_checkpoint}
    actions = [e.action for e in await _entries(sessions)]
    assert actions.count("audit.checkpoint") == 2
    assert (await stack.access.queries.verify_audit(ADMIN)).ok
    authority = make_services(sessions, directory).authority
    assert (await authority.verify_audit(parse_checkpoints("\n".join(texts)))).ok
