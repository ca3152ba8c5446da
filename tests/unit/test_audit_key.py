"""The keyed audit chain, checkpoints and people bindings as pure functions."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.audit import (
    DEVELOPMENT_KEY,
    GENESIS_HASH,
    KEYED_ACTION,
    AuditKey,
    AuditKeyError,
    ChainHead,
    PersonBinding,
    canonical_content,
    chain_entry,
    entry_hash,
    keyed_marker,
    legacy_hash,
    named_people,
    parse_checkpoints,
    sign_checkpoint,
    verify_chain,
    verify_people,
    verify_trail,
)
from access.model import AuditDraft, AuditEntry
from dialogs.cards.markup import plain

KEY = AuditKey.from_text("unit-test audit key with enough characters")
OTHER = AuditKey.from_text("unit-test audit key number two, also long")
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def draft(i: int) -> AuditDraft:
    return AuditDraft(
        at=T0 + timedelta(seconds=i),
        actor=f"person:p{i % 3}",
        action="request.submitted",
        request_id=f"r{i}",
        details={"to": "pending", "target": f"person:p{(i + 1) % 3}"},
    )


def build(n: int, key: AuditKey = KEY) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        head = ChainHead(entries[-1].seq, entries[-1].hash) if entries else None
        entries.append(chain_entry(head, draft(i), key))
    return entries


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(entries[-1].seq, entries[-1].hash)


def rechain(entries: list[AuditEntry], start: int, hasher: object) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for position, entry in enumerate(entries, start=1):
        if position < start:
            out.append(entry)
            continue
        moved = replace(entry, seq=position, prev_hash=out[-1].hash if out else GENESIS_HASH)
        out.append(
            replace(moved, hash=legacy_hash(moved) if hasher == "sha256" else entry_hash(moved))
        )
    return out


# ------------------------------------------------------------------------------ the key


def test_the_key_is_long_enough_stripped_and_never_shown() -> None:
    with pytest.raises(AuditKeyError):
        AuditKey.from_text(" " * 40 + "short")
    key = AuditKey.from_text("  unit-test audit key with enough characters \n")
    assert key == KEY and key.key_id == KEY.key_id and len(key.key_id) == 12
    assert "unit-test" not in repr(key)
    assert KEY.key_id != OTHER.key_id != DEVELOPMENT_KEY.key_id
    assert DEVELOPMENT_KEY.development and not KEY.development


def test_one_purpose_never_validates_another() -> None:
    message = "person\0p1\0a@b.fi"
    assert len({KEY.row_hash(message.encode()), KEY.checkpoint_mac(message)}) == 2
    assert KEY.person_binding("p1", "a@b.fi") != KEY.forgotten_binding("p1")
    assert KEY.person_binding("p1", " A@B.fi ") == KEY.person_binding("p1", "a@b.fi")
    assert KEY.person_binding("p1", "a@b.fi") != OTHER.person_binding("p1", "a@b.fi")


def test_a_keyed_chain_verifies_only_under_its_key() -> None:
    entries = build(5)
    assert verify_chain(entries, head=head_of(entries), key=KEY).ok
    assert verify_chain(entries, head=replace(head_of(entries), key=KEY)).ok  # head's key
    wrong = verify_chain(entries, head=head_of(entries), key=OTHER)
    assert (wrong.ok, wrong.first_bad_position, wrong.reason) == (
        False,
        1,
        "row 1 content altered",
    )
    named = verify_chain(entries, head=replace(head_of(entries), key_id=KEY.key_id), key=OTHER)
    assert not named.ok and f"written with audit key {KEY.key_id}" in (named.reason or "")


def test_without_a_key_the_public_development_key_is_used_and_said() -> None:
    entries = build(3, DEVELOPMENT_KEY)
    assert [e.hash for e in entries] == [e.hash for e in build(3, DEVELOPMENT_KEY)]
    result = verify_chain(entries, head=head_of(entries))
    assert result.ok and "PUBLIC development key" in result.notes[0]
    assert not verify_chain(entries, key=KEY).ok


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 10), data=st.data())
def test_recomputing_without_the_key_is_found_at_the_first_changed_row(
    n: int, data: st.DataObject
) -> None:
    entries = build(n)
    kind = data.draw(st.sampled_from(["edit", "delete"]))
    # 0-based, not the first row; a deleted row is a middle one (a cut tail is a
    # valid shorter chain: checkpoints catch that, below)
    i = data.draw(st.integers(1, n - 1 if kind == "edit" else n - 2))
    hasher = data.draw(st.sampled_from(["sha256", "development"]))
    if kind == "edit":
        forged = list(entries)
        forged[i] = replace(forged[i], action="request.approved")
    else:
        forged = entries[:i] + entries[i + 1 :]
    forged = rechain(forged, i + 1, hasher)
    result = verify_chain(forged, head=head_of(forged), key=KEY)
    assert not result.ok and result.first_bad_position == i + 1


# --------------------------------------------------------------------------- checkpoints


def test_a_checkpoint_is_text_that_survives_chat_and_e_mail() -> None:
    checkpoint = sign_checkpoint(KEY, 42, "ab" * 32, T0 + timedelta(microseconds=5))
    assert checkpoint.text.startswith("atmt-checkpoint:v1:42:" + "ab" * 32 + ":20260302T080000Z:")
    assert checkpoint.at == T0 and checkpoint.key_id == KEY.key_id
    assert parse_checkpoints(checkpoint.text) == [checkpoint]
    escaped = plain(checkpoint.text)
    assert "\\-" in escaped
    wrapped = escaped[:40] + "\n  " + escaped[40:90] + "\u200b" + escaped[90:]
    two = f"Checkpoint: {wrapped}. Older: {sign_checkpoint(KEY, 7, 'cd' * 32, T0).text}"
    assert [c.seq for c in parse_checkpoints(two)] == [42, 7]
    assert parse_checkpoints("atmt-checkpoint:v1:1:short") == []


def test_checkpoints_are_checked_before_the_chain() -> None:
    entries = build(6)
    good = sign_checkpoint(KEY, 4, entries[3].hash, T0)
    assert verify_chain(entries, key=KEY, checkpoints=[good]).ok
    forged = replace(good, head=entries[4].hash)
    result = verify_chain(entries, key=KEY, checkpoints=[forged])
    assert not result.ok and "bad signature" in (result.reason or "")
    foreign = sign_checkpoint(OTHER, 4, entries[3].hash, T0)
    result = verify_chain(entries, key=KEY, checkpoints=[foreign])
    assert not result.ok and f"signed with audit key {OTHER.key_id}" in (result.reason or "")


def test_a_checkpoint_exposes_a_cut_tail_and_a_rewrite() -> None:
    entries = build(8)
    checkpoint = sign_checkpoint(KEY, 6, entries[5].hash, T0)
    cut = entries[:4]
    assert verify_chain(cut, head=head_of(cut), key=KEY).ok  # the head moved back too
    result = verify_chain(cut, head=head_of(cut), key=KEY, checkpoints=[checkpoint])
    assert (result.ok, result.first_bad_position) == (False, 5)
    assert "rows 5..6 were removed" in (result.reason or "")
    # A key holder rewrites rows 3.. and regrows the chain: row 3 is not what it was.
    regrown = list(entries)
    regrown[2] = replace(regrown[2], details={"to": "rejected"})
    regrown = _rekey(regrown, 3)
    assert verify_chain(regrown, head=head_of(regrown), key=KEY).ok
    result = verify_chain(regrown, head=head_of(regrown), key=KEY, checkpoints=[checkpoint])
    assert (result.ok, result.first_bad_position) == (False, 6)
    assert "differs from the checkpoint" in (result.reason or "")


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


def _rekey(entries: list[AuditEntry], start: int) -> list[AuditEntry]:
    """Recompute prev_hash and hash under KEY from ``start`` (a key holder's rewrite)."""
    out = list(entries[: start - 1])
    for entry in entries[start - 1 :]:
        moved = replace(entry, prev_hash=out[-1].hash if out else GENESIS_HASH)
        out.append(replace(moved, hash=KEY.row_hash(_content(moved))))
    return out


# -------------------------------------------------------------------------------- legacy


def legacy_chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i in range(n):
        head = ChainHead(out[-1].seq, out[-1].hash) if out else None
        entry = chain_entry(head, draft(i))
        out.append(replace(entry, hash=hashlib.sha256(_content(entry)).hexdigest()))
    return out


def sealed(n: int, more: int, prefix: list[AuditEntry] | None = None) -> list[AuditEntry]:
    entries = legacy_chain(n) if prefix is None else list(prefix)
    marker = keyed_marker(head_of(entries), KEY, T0 + timedelta(hours=1))
    entries.append(chain_entry(head_of(entries), marker, KEY))
    for i in range(more):
        entries.append(chain_entry(head_of(entries), draft(100 + i), KEY))
    return entries


def test_rows_from_before_the_key_verify_once_sealed() -> None:
    legacy = legacy_chain(4)
    result = verify_chain(legacy, head=head_of(legacy), key=KEY)
    assert (result.ok, result.first_bad_position) == (False, 1)
    assert "rows 1..4 are not keyed" in (result.reason or "")

    entries = sealed(4, 2)
    assert entries[4].action == KEYED_ACTION
    result = verify_chain(entries, head=head_of(entries), key=KEY)
    assert result.ok and "rows 1..4 were written before the audit key" in result.notes[0]

    # The prefix is fixed by the keyed marker: rewriting it breaks the link to row 5.
    forged = list(entries)
    forged[1] = replace(forged[1], actor="person:intruder")
    forged = rechain(forged[:4], 2, "sha256") + forged[4:]
    result = verify_chain(forged, head=head_of(forged), key=KEY)
    assert (result.ok, result.first_bad_position) == (False, 4)


def test_unkeyed_rows_are_accepted_only_before_the_seal() -> None:
    entries = sealed(3, 3)
    late = rechain(entries, 6, "sha256")  # the last row recomputed without the key
    result = verify_chain(late, head=head_of(late), key=KEY)
    assert (result.ok, result.first_bad_position) == (False, 6)
    assert "computed without the audit key" in (result.reason or "")
    # A keyed row right after unkeyed ones must be the seal.
    unsealed = legacy_chain(3)
    unsealed.append(chain_entry(head_of(unsealed), draft(9), KEY))
    result = verify_chain(unsealed, head=head_of(unsealed), key=KEY)
    assert (result.ok, result.first_bad_position) == (False, 4)


# -------------------------------------------------------------------------------- people


def test_people_bindings_catch_swaps_blanks_and_missing_people() -> None:
    entries = build(4)
    named = named_people(entries)
    assert named == {"p0": 1, "p1": 1, "p2": 2}
    people = [
        PersonBinding("p0", "a@x.fi", KEY.person_binding("p0", "a@x.fi")),
        PersonBinding("p1", "b@x.fi", KEY.person_binding("p1", "b@x.fi")),
        PersonBinding("p2", None, KEY.forgotten_binding("p2")),  # forgotten by retention
    ]
    assert verify_people(people, KEY, named=named) is None
    assert verify_trail(entries, head=head_of(entries), key=KEY, people=people).ok

    swapped = [replace(people[0], email="b@x.fi"), replace(people[1], email="a@x.fi"), people[2]]
    failed = verify_people(swapped, KEY, named=named)
    assert failed is not None and "not the one bound to this id" in (failed.reason or "")
    assert failed.first_bad_position == 1
    with_bindings = [
        replace(people[0], email="b@x.fi", binding=people[1].binding),
        replace(people[1], email="a@x.fi", binding=people[0].binding),
        people[2],
    ]
    assert verify_people(with_bindings, KEY, named=named) is not None
    blanked = [replace(people[0], email=None), people[1], people[2]]
    failed = verify_people(blanked, KEY, named=named)
    assert failed is not None and "outside retention" in (failed.reason or "")
    failed = verify_people(people[:2], KEY, named=named)
    assert failed is not None and "row 2 names person p2, missing" in (failed.reason or "")
    assert verify_people(people, OTHER, named=named) is not None


def test_a_trial_with_the_development_key_is_sealed_like_rows_before_the_key() -> None:
    trial = build(3, DEVELOPMENT_KEY)
    assert verify_chain(trial, head=head_of(trial)).ok  # under the development key
    assert not verify_chain(trial, head=head_of(trial), key=KEY).ok
    entries = sealed(3, 2, prefix=trial)
    assert verify_chain(entries, head=head_of(entries), key=KEY).ok
    # ... but the development key stays a key anyone has: after the seal it is refused.
    late = list(entries)
    late[-1] = replace(late[-1], hash=DEVELOPMENT_KEY.row_hash(_content(late[-1])))
    result = verify_chain(late, head=head_of(late), key=KEY)
    assert (result.ok, result.first_bad_position) == (False, len(late))
