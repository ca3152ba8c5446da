"""The audit chain: canonical content, SHA-256 hash chain and its verification.

Each row's hash covers its canonical content *including* its sequence number (the row
number, 1, 2, 3 ...) and the previous row's hash. So

* an edited row no longer matches its own hash,
* an edited row whose hash was recomputed no longer matches the ``prev_hash`` its
  successor recorded (or the chain head, for the last row),
* a deleted row leaves a gap in the sequence,
* swapped or reordered rows break the sequence or the hashes,

and :func:`verify_chain` names the first bad row number. Pure functions: storage
appends with :func:`chain_entry` under a lock so the chain stays linear.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from access.addresses import normalize_email
from access.model import AuditDraft, AuditEntry, JsonValue

GENESIS_HASH = "0" * 64

PERSON_PREFIX = "person:"
"""Audit rows name people as ``person:<random id>`` (storage's ``people`` table maps the
id to a work e-mail until retention forgets it), never by e-mail or name, so personal
data can be pseudonymised later without touching a hashed row."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def is_email(value: object) -> bool:
    return isinstance(value, str) and _EMAIL.match(value.strip()) is not None


def _walk_emails(value: JsonValue, found: set[str]) -> None:
    if isinstance(value, str):
        if is_email(value):
            found.add(normalize_email(value))
    elif isinstance(value, list):
        for item in value:
            _walk_emails(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk_emails(item, found)


def emails_in(draft: AuditDraft) -> set[str]:
    """The work e-mails a draft mentions (its actor and any e-mail valued detail)."""
    found: set[str] = set()
    _walk_emails(draft.actor, found)
    for value in draft.details.values():
        _walk_emails(value, found)
    return found


def _swap(value: JsonValue, refs: Mapping[str, str]) -> JsonValue:
    if isinstance(value, str):
        return refs.get(normalize_email(value), value) if is_email(value) else value
    if isinstance(value, list):
        return [_swap(item, refs) for item in value]
    if isinstance(value, dict):
        return {key: _swap(item, refs) for key, item in value.items()}
    return value


def pseudonymised(draft: AuditDraft, refs: Mapping[str, str]) -> AuditDraft:
    """``draft`` with every e-mail replaced by its person reference (``refs``: e-mail ->
    ``person:<id>``). Storage calls this before chaining, so no hashed row holds an
    e-mail; an e-mail missing from ``refs`` is a programming error."""
    missing = emails_in(draft) - set(refs)
    if missing:
        raise ValueError(f"{len(missing)} e-mail(s) of an audit row have no person id")
    actor = _swap(draft.actor, refs)
    assert isinstance(actor, str)
    return replace(
        draft,
        actor=actor,
        details={key: _swap(value, refs) for key, value in draft.details.items()},
    )


@dataclass(frozen=True)
class ChainHead:
    """The last row of the chain (kept in its own row by storage, locked on append)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # rows read
    first_bad_position: int | None = None  # 1-based row number
    reason: str | None = None


def format_time(at: datetime) -> str:
    """UTC, microseconds, ``Z``: the one spelling used in hashed content."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    request_id: str | None,
    details: Mapping[str, JsonValue],
    prev_hash: str,
) -> bytes:
    """Sorted-key, compact, UTF-8 JSON of everything a row asserts."""
    document = {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "action": action,
        "request_id": request_id,
        "details": dict(details),
        "prev_hash": prev_hash,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def content_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    request_id: str | None,
    details: Mapping[str, JsonValue],
    prev_hash: str,
) -> str:
    return hashlib.sha256(
        canonical_content(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            details=details,
            prev_hash=prev_hash,
        )
    ).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """The hash ``entry`` should carry, recomputed from its content."""
    return content_hash(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        request_id=entry.request_id,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def chain_entry(head: ChainHead | None, draft: AuditDraft) -> AuditEntry:
    """The next entry after ``head`` (``None``: the chain is empty)."""
    seq = 1 if head is None else head.seq + 1
    prev_hash = GENESIS_HASH if head is None else head.hash
    return AuditEntry(
        seq=seq,
        at=draft.at,
        actor=draft.actor,
        action=draft.action,
        request_id=draft.request_id,
        details=dict(draft.details),
        prev_hash=prev_hash,
        hash=content_hash(
            seq=seq,
            at=draft.at,
            actor=draft.actor,
            action=draft.action,
            request_id=draft.request_id,
            details=draft.details,
            prev_hash=prev_hash,
        ),
    )


def verify_chain(entries: Iterable[AuditEntry], *, head: ChainHead | None = None) -> VerifyResult:
    """Check the chain in the order given (storage reads it by sequence number).

    ``head``, when given, is the stored chain head; it catches rows cut off the end.
    The first bad row number is reported:

    * ``row N missing`` / ``row N out of order``: the sequence breaks at N;
    * ``row N content altered``: N does not match its own hash;
    * ``row N altered``: N's hash differs from what row N+1 (or the head) recorded.
    """
    previous: AuditEntry | None = None
    position = 0
    for entry in entries:
        position += 1
        if entry.seq != position:
            if entry.seq > position:
                reason = f"row {position} missing (found row {entry.seq} in its place)"
            else:
                reason = f"row {position} out of order (found row {entry.seq} in its place)"
            return VerifyResult(False, position, position, reason)
        try:
            recomputed = entry_hash(entry)
        except (TypeError, ValueError) as error:
            return VerifyResult(False, position, position, f"row {position} unreadable: {error}")
        if recomputed != entry.hash:
            return VerifyResult(False, position, position, f"row {position} content altered")
        expected_prev = GENESIS_HASH if previous is None else previous.hash
        if entry.prev_hash != expected_prev:
            # This row is intact (its own hash matches), so the previous row changed.
            bad = position - 1 if previous is not None else position
            return VerifyResult(
                False,
                position,
                bad,
                f"row {bad} altered (its hash differs from the one row {position} recorded)",
            )
        previous = entry
    if head is not None:
        last_seq = 0 if previous is None else previous.seq
        if head.seq > last_seq:
            return VerifyResult(
                False, position, last_seq + 1, f"rows {last_seq + 1}..{head.seq} missing"
            )
        if head.seq < last_seq:
            return VerifyResult(
                False,
                position,
                head.seq + 1,
                f"rows after {head.seq} were not appended by the chain",
            )
        if previous is not None and previous.hash != head.hash:
            return VerifyResult(
                False,
                position,
                previous.seq,
                f"row {previous.seq} altered (its hash differs from the chain head)",
            )
    return VerifyResult(True, position)
