"""The audit chain detects edited, deleted, reordered and appended rows by row number."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from access.audit import (
    GENESIS_HASH,
    ChainHead,
    canonical_content,
    chain_entry,
    entry_hash,
    verify_chain,
)
from access.model import AuditDraft, AuditEntry

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def build(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        head = ChainHead(entries[-1].seq, entries[-1].hash) if entries else None
        draft = AuditDraft(
            at=T0 + timedelta(seconds=i),
            actor=f"person{i % 3}@laukaa.example.fi",
            action="request.submitted",
            request_id=f"r{i}",
            details={"from": None, "to": "pending", "version": 1, "ä": "ö"},
        )
        entries.append(chain_entry(head, draft))
    return entries


def head_of(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(entries[-1].seq, entries[-1].hash)


def test_a_fresh_chain_verifies() -> None:
    entries = build(5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    result = verify_chain(entries, head=head_of(entries))
    assert result.ok and result.checked == 5 and result.first_bad_position is None
    assert verify_chain([]).ok


def test_canonical_content_is_stable_and_sorted() -> None:
    content = canonical_content(
        seq=1,
        at=T0,
        actor="a@x.fi",
        action="x",
        request_id=None,
        details={"b": 1, "a": [1, "ö"]},
        prev_hash=GENESIS_HASH,
    )
    assert (
        content
        == (
            '{"action":"x","actor":"a@x.fi","at":"2026-03-02T08:00:00.000000Z",'
            '"details":{"a":[1,"ö"],"b":1},"prev_hash":"' + GENESIS_HASH + '",'
            '"request_id":null,"seq":1}'
        ).encode()
    )


def test_edit_is_found_at_its_row() -> None:
    entries = build(6)
    entries[2] = replace(entries[2], actor="intruder@example.fi")
    result = verify_chain(entries, head=head_of(entries))
    assert not result.ok and result.first_bad_position == 3
    assert result.reason == "row 3 content altered"


def test_edit_with_recomputed_hash_is_found_at_its_row() -> None:
    entries = build(6)
    forged = replace(entries[2], details={"to": "approved"})
    entries[2] = replace(forged, hash=entry_hash(forged))
    result = verify_chain(entries, head=head_of(build(6)))
    assert not result.ok and result.first_bad_position == 3
    assert "row 3 altered" in (result.reason or "")


def test_edit_of_the_last_row_with_recomputed_hash_is_caught_by_the_head() -> None:
    entries = build(4)
    head = head_of(entries)
    forged = replace(entries[3], actor="intruder@example.fi")
    entries[3] = replace(forged, hash=entry_hash(forged))
    result = verify_chain(entries, head=head)
    assert not result.ok and result.first_bad_position == 4


def test_delete_is_found_at_the_missing_row() -> None:
    entries = build(6)
    del entries[3]
    result = verify_chain(entries, head=head_of(build(6)))
    assert not result.ok and result.first_bad_position == 4
    assert result.reason == "row 4 missing (found row 5 in its place)"


def test_deleting_the_tail_is_caught_by_the_head() -> None:
    entries = build(6)
    result = verify_chain(entries[:4], head=head_of(entries))
    assert not result.ok and result.first_bad_position == 5
    assert result.reason == "rows 5..6 missing"


def test_swapped_rows_are_found() -> None:
    entries = build(6)
    entries[1], entries[2] = entries[2], entries[1]
    result = verify_chain(entries)
    assert not result.ok and result.first_bad_position == 2
    # Swapping the sequence numbers too (so the order looks right) breaks the hashes.
    entries = build(6)
    a, b = entries[1], entries[2]
    entries[1], entries[2] = replace(b, seq=2), replace(a, seq=3)
    result = verify_chain(entries)
    assert not result.ok and result.first_bad_position == 2


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 12), data=st.data())
def test_any_single_tampering_is_found_at_or_before_its_row(n: int, data: st.DataObject) -> None:
    entries = build(n)
    head = head_of(entries)
    i = data.draw(st.integers(0, n - 1))
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "rehash"]))
    if kind == "edit":
        entries[i] = replace(entries[i], action="request.approved")
    elif kind == "rehash":
        forged = replace(entries[i], request_id="other")
        entries[i] = replace(forged, hash=entry_hash(forged))
    elif kind == "delete":
        del entries[i]
    else:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        entries[i], entries[j] = entries[j], entries[i]
        i = min(i, j)
    result = verify_chain(entries, head=head)
    assert not result.ok
    assert result.first_bad_position == i + 1
