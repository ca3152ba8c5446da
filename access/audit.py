"""The audit chain: canonical content, keyed hash chain, checkpoints and verification.

Each row's hash is an HMAC-SHA256 under the audit key (``ATMT_AUDIT_KEY``, kept out of
the database) of its canonical content, which *includes* its sequence number (the row
number, 1, 2, 3 ...) and the previous row's hash. So

* an edited row no longer matches its own hash, and without the key nobody can
  compute a matching one (recomputing the chain needs the key);
* an edited row whose hash was recomputed (by a key holder) no longer matches the
  ``prev_hash`` its successor recorded (or the chain head, for the last row);
* a deleted row leaves a gap in the sequence; renumbering breaks the hashes;
* swapped or reordered rows break the sequence or the hashes;
* a cut tail with the head moved back is a valid shorter chain: only a
  :class:`Checkpoint` kept outside the database (signed sequence number, head hash and
  time) exposes it, and :func:`verify_chain` checks any given checkpoints.

Rows written before the key existed verify as a prefix that the ``audit.keyed`` row
seals: "legacy" rows with a plain SHA-256, or rows made with the public
:data:`DEVELOPMENT_KEY` (a trial run before ``ATMT_AUDIT_KEY`` was set). The sealing
row is keyed and records the prefix's head, so the prefix cannot change either.

People: the ``people`` table maps a random person id to a work e-mail; each mapping
carries a keyed binding (:meth:`AuditKey.person_binding`) and a forgotten person a keyed
tombstone (:meth:`AuditKey.forgotten_binding`), so swapping e-mails or blanking one
outside retention fails :func:`verify_people`.

Pure functions: storage appends with :func:`chain_entry` under a lock so the chain
stays linear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from access.addresses import normalize_email
from access.model import SYSTEM_ACTOR, AuditDraft, AuditEntry, JsonValue

GENESIS_HASH = "0" * 64

KEYED_ACTION = "audit.keyed"
"""The row that starts the keyed chain after rows written before the key existed."""

CHECKPOINT_ACTION = "audit.checkpoint"
"""The row recording that a checkpoint was issued (sequence number and head)."""

MIN_KEY_CHARS = 32

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


# ------------------------------------------------------------------------------ the key


class AuditKeyError(ValueError):
    """A value that cannot be the audit key (too short)."""


class AuditKeyMismatch(RuntimeError):
    """The chain was written with another key than this process has: appending would
    make rows that never verify, so storage refuses (fix ``ATMT_AUDIT_KEY``)."""


class PersonBindingError(RuntimeError):
    """A ``people`` row does not match its keyed binding (the table was altered):
    storage refuses to name anyone by it."""


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditKey:
    """The chain's secret (``ATMT_AUDIT_KEY``): never in the database, never logged.

    One sub-key per purpose is derived with HMAC (rows, people, checkpoints, the key
    id), so a value made for one purpose is never valid for another.
    """

    secret: bytes = field(repr=False)
    development: bool = False
    key_id: str = field(init=False)
    _rows: bytes = field(init=False, repr=False, compare=False)
    _people: bytes = field(init=False, repr=False, compare=False)
    _checkpoints: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_CHARS:
            raise AuditKeyError(f"must be at least {MIN_KEY_CHARS} characters")

        def derive(purpose: str) -> bytes:
            return hmac.new(self.secret, b"atmt-audit/" + purpose.encode(), hashlib.sha256).digest()

        object.__setattr__(self, "key_id", derive("key-id").hex()[:12])
        object.__setattr__(self, "_rows", derive("rows"))
        object.__setattr__(self, "_people", derive("people"))
        object.__setattr__(self, "_checkpoints", derive("checkpoints"))

    @classmethod
    def from_text(cls, text: str) -> AuditKey:
        """The key from its configured text (at least 32 characters, e.g. 32 random
        bytes in base64); the text itself is the secret, so it needs no decoding."""
        value = text.strip()
        if len(value) < MIN_KEY_CHARS:
            raise AuditKeyError(
                f"must be at least {MIN_KEY_CHARS} characters (e.g. `openssl rand -base64 48`)"
            )
        return cls(value.encode("utf-8"))

    def row_hash(self, content: bytes) -> str:
        return _mac(self._rows, content)

    def person_binding(self, person_id: str, email: str) -> str:
        """The keyed commitment of one ``people`` row: this id is this e-mail."""
        return _mac(self._people, f"bound\0{person_id}\0{email.strip().lower()}".encode())

    def forgotten_binding(self, person_id: str) -> str:
        """The keyed tombstone retention leaves when it forgets the id's e-mail."""
        return _mac(self._people, f"forgotten\0{person_id}".encode())

    def checkpoint_mac(self, body: str) -> str:
        return _mac(self._checkpoints, body.encode())


DEVELOPMENT_KEY = AuditKey(
    b"atmt-access-bot: the PUBLIC development audit key; never use it in production",
    development=True,
)
"""Used where no key is configured (local anonymous mode, tests). Anyone can compute
with it, so the chain is then only as strong as the old unkeyed one; start-up logs a
warning and production settings (an app id) refuse to start without ``ATMT_AUDIT_KEY``."""


# ---------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class ChainHead:
    """The last row of the chain (kept in its own row by storage, locked on append).

    Storage also hands over the verification context: ``key`` (the key it chains
    with, used by :func:`verify_chain` when no key is given) and ``key_id`` (the id of
    the key the stored chain was written with). Neither takes part in comparisons.
    """

    seq: int
    hash: str
    key: AuditKey | None = field(default=None, compare=False, repr=False)
    key_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # rows read
    first_bad_position: int | None = None  # 1-based row number
    reason: str | None = None
    notes: tuple[str, ...] = ()  # facts worth telling about a verified trail
    key_id: str | None = None  # the key verified with


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
    key: AuditKey | None = None,
) -> str:
    """The row hash: HMAC-SHA256 under ``key`` (None: :data:`DEVELOPMENT_KEY`)."""
    return (key or DEVELOPMENT_KEY).row_hash(
        canonical_content(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            details=details,
            prev_hash=prev_hash,
        )
    )


def legacy_hash(entry: AuditEntry) -> str:
    """The unkeyed SHA-256 that rows written before the audit key carry."""
    return hashlib.sha256(_content(entry)).hexdigest()


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


def entry_hash(entry: AuditEntry, key: AuditKey | None = None) -> str:
    """The hash ``entry`` should carry, recomputed from its content."""
    return (key or DEVELOPMENT_KEY).row_hash(_content(entry))


def chain_entry(
    head: ChainHead | None, draft: AuditDraft, key: AuditKey | None = None
) -> AuditEntry:
    """The next entry after ``head`` (``None``: the chain is empty), keyed with ``key``
    (None: :data:`DEVELOPMENT_KEY`)."""
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
            key=key,
        ),
    )


def keyed_marker(
    head: ChainHead, key: AuditKey, at: datetime, previous_key_id: str | None = None
) -> AuditDraft:
    """The row that seals rows written before the key (storage appends it before the
    first keyed row of such a chain): keyed itself, it fixes their head.
    ``previous_key_id``: the development key's id when those rows were made with it."""
    details: dict[str, JsonValue] = {
        "key_id": key.key_id,
        "legacy_rows": head.seq,
        "legacy_head": head.hash,
    }
    if previous_key_id is not None:
        details["previous_key_id"] = previous_key_id
    return AuditDraft(
        at=at, actor=SYSTEM_ACTOR, action=KEYED_ACTION, request_id=None, details=details
    )


def is_public_hash(content: bytes, row_hash: str, key: AuditKey) -> bool:
    """Whether ``row_hash`` is one anyone can compute: the plain SHA-256 of rows from
    before the key, or (verifying under a real key) the public development key's."""
    if hmac.compare_digest(hashlib.sha256(content).hexdigest(), row_hash):
        return True
    return not key.development and hmac.compare_digest(DEVELOPMENT_KEY.row_hash(content), row_hash)


# --------------------------------------------------------------------------- checkpoints


CHECKPOINT_PREFIX = "atmt-checkpoint:v1:"
_CHECKPOINT = re.compile(
    r"atmt-checkpoint:v1:(\d{1,18}):([0-9a-f]{64}):(\d{8}T\d{6}Z):([0-9a-f]{12}):([0-9a-f]{64})"
)
_CHECKPOINT_TIME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "row ``seq`` of the trail had hash ``head`` at ``at``", kept
    outside the database (chat, e-mail, log, paper). Text form::

        atmt-checkpoint:v1:<seq>:<head>:<yyyymmddThhmmssZ>:<key id>:<mac>
    """

    seq: int
    head: str
    at: datetime  # UTC, whole seconds
    key_id: str
    mac: str

    @property
    def body(self) -> str:
        return (
            f"{CHECKPOINT_PREFIX}{self.seq}:{self.head}:"
            f"{self.at.astimezone(UTC).strftime(_CHECKPOINT_TIME)}:{self.key_id}"
        )

    @property
    def text(self) -> str:
        return f"{self.body}:{self.mac}"

    @property
    def when(self) -> str:
        """The time for people: ``2026-03-02 08:30:00 UTC``."""
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def __str__(self) -> str:
        return self.text


def sign_checkpoint(key: AuditKey, seq: int, head: str, at: datetime) -> Checkpoint:
    moment = at.astimezone(UTC).replace(microsecond=0)
    unsigned = Checkpoint(seq, head, moment, key.key_id, "")
    return replace(unsigned, mac=key.checkpoint_mac(unsigned.body))


def parse_checkpoints(text: str) -> list[Checkpoint]:
    """Every checkpoint in ``text`` (a pasted message, a log export, a file), in order.
    Markdown escapes (``\\-``) and line breaks inside a checkpoint are ignored."""
    flat = re.sub(r"[\\\s\u200b]", "", text)
    found: list[Checkpoint] = []
    for match in _CHECKPOINT.finditer(flat):
        seq, head, when, key_id, mac = match.groups()
        at = datetime.strptime(when, _CHECKPOINT_TIME).replace(tzinfo=UTC)
        found.append(Checkpoint(int(seq), head, at, key_id, mac))
    return found


def checkpoint_problem(checkpoint: Checkpoint, key: AuditKey) -> str | None:
    """Why ``checkpoint`` cannot be trusted under ``key`` (None: it can)."""
    if checkpoint.key_id != key.key_id:
        return (
            f"the checkpoint of {checkpoint.when} was signed with audit key "
            f"{checkpoint.key_id}, not with this key {key.key_id}"
        )
    if not hmac.compare_digest(checkpoint.mac, key.checkpoint_mac(checkpoint.body)):
        return f"the checkpoint of {checkpoint.when} has a bad signature (altered text?)"
    return None


# --------------------------------------------------------------------------- verifying


def _fail(checked: int, position: int | None, reason: str, key: AuditKey) -> VerifyResult:
    return VerifyResult(False, checked, position, reason, key_id=key.key_id)


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    head: ChainHead | None = None,
    key: AuditKey | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> VerifyResult:
    """Check the chain in the order given (storage reads it by sequence number).

    ``key``: the audit key (None: the head's, else :data:`DEVELOPMENT_KEY`).
    ``head``, when given, is the stored chain head; it catches rows cut off the end
    unless the head was moved back too: ``checkpoints`` (signed elsewhere) catch that.
    The first bad row number is reported:

    * ``row N missing`` / ``row N out of order``: the sequence breaks at N;
    * ``row N content altered``: N does not match its own keyed hash;
    * ``row N altered``: N's hash differs from what row N+1 (or the head) recorded,
      or was computed without the key;
    * ``row N differs from the checkpoint`` / ``rows M..N were removed``: the trail no
      longer contains a checkpoint's row as it was.
    """
    if key is None:
        key = head.key if head is not None and head.key is not None else DEVELOPMENT_KEY
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint, key)
        if problem is not None:
            return _fail(0, None, problem, key)
    previous: AuditEntry | None = None
    position = 0
    legacy = 0  # rows before the key (public hashes), only as a sealed prefix
    keyed = False
    for entry in entries:
        position += 1
        if entry.seq != position:
            if entry.seq > position:
                reason = f"row {position} missing (found row {entry.seq} in its place)"
            else:
                reason = f"row {position} out of order (found row {entry.seq} in its place)"
            return _fail(position, position, reason, key)
        try:
            content = _content(entry)
        except (TypeError, ValueError) as error:
            return _fail(position, position, f"row {position} unreadable: {error}", key)
        if hmac.compare_digest(key.row_hash(content), entry.hash):
            if (
                legacy
                and not keyed
                and (entry.action != KEYED_ACTION or entry.details.get("legacy_rows") != legacy)
            ):
                return _fail(
                    position,
                    position,
                    f"row {position} follows unkeyed rows but is not the {KEYED_ACTION} "
                    "row that seals them",
                    key,
                )
            keyed = True
        elif is_public_hash(content, entry.hash, key):
            if keyed:
                return _fail(
                    position,
                    position,
                    f"row {position} altered (its hash was computed without the audit key)",
                    key,
                )
            legacy += 1
        else:
            if position == 1 and head is not None and head.key_id not in (None, key.key_id):
                return _fail(
                    position,
                    None,
                    f"the chain was written with audit key {head.key_id}, not with this "
                    f"key {key.key_id}: check ATMT_AUDIT_KEY",
                    key,
                )
            return _fail(position, position, f"row {position} content altered", key)
        expected_prev = GENESIS_HASH if previous is None else previous.hash
        if entry.prev_hash != expected_prev:
            # This row is intact (its own hash matches), so the previous row changed.
            bad = position - 1 if previous is not None else position
            return _fail(
                position,
                bad,
                f"row {bad} altered (its hash differs from the one row {position} recorded)",
                key,
            )
        for checkpoint in checkpoints:
            if checkpoint.seq == entry.seq and checkpoint.head != entry.hash:
                return _fail(
                    position,
                    position,
                    f"row {position} differs from the checkpoint of {checkpoint.when}: "
                    f"the trail was rewritten up to row {position}",
                    key,
                )
        previous = entry
    if legacy and not keyed:
        return _fail(
            position,
            1,
            f"rows 1..{legacy} are not keyed (written before ATMT_AUDIT_KEY); the next "
            "audit row seals them (e.g. `atmt-bot audit checkpoint`)",
            key,
        )
    last_seq = 0 if previous is None else previous.seq
    for checkpoint in sorted(checkpoints, key=lambda c: -c.seq):
        if checkpoint.seq > last_seq:
            return _fail(
                position,
                last_seq + 1,
                f"the trail ends at row {last_seq}, but the checkpoint of {checkpoint.when} "
                f"vouches for row {checkpoint.seq}: rows {last_seq + 1}..{checkpoint.seq} "
                "were removed",
                key,
            )
    if head is not None:
        if head.seq > last_seq:
            return _fail(position, last_seq + 1, f"rows {last_seq + 1}..{head.seq} missing", key)
        if head.seq < last_seq:
            return _fail(
                position, head.seq + 1, f"rows after {head.seq} were not appended by the chain", key
            )
        if previous is not None and previous.hash != head.hash:
            return _fail(
                position,
                previous.seq,
                f"row {previous.seq} altered (its hash differs from the chain head)",
                key,
            )
    notes: list[str] = []
    if key.development:
        notes.append(
            "keyed with the PUBLIC development key (ATMT_AUDIT_KEY is not set): "
            "anyone can recompute this chain"
        )
    if legacy:
        notes.append(
            f"rows 1..{legacy} were written before the audit key; keyed row {legacy + 1} seals them"
        )
    for checkpoint in checkpoints:
        notes.append(f"contains the checkpoint of {checkpoint.when} (row {checkpoint.seq})")
    return VerifyResult(True, position, notes=tuple(notes), key_id=key.key_id)


# ------------------------------------------------------------------------------ people


@dataclass(frozen=True)
class PersonBinding:
    """One ``people`` row as stored: the id, its e-mail (None: forgotten) and the keyed
    binding (or tombstone) storage wrote with it."""

    person_id: str
    email: str | None
    binding: str | None


def _refs(value: JsonValue) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith(PERSON_PREFIX):
            yield value[len(PERSON_PREFIX) :]
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)


def named_people(entries: Iterable[AuditEntry]) -> dict[str, int]:
    """person id -> the first row that names it (as actor or in its details)."""
    named: dict[str, int] = {}
    for entry in entries:
        for person_id in _refs(entry.actor):
            named.setdefault(person_id, entry.seq)
        for value in entry.details.values():
            for person_id in _refs(value):
                named.setdefault(person_id, entry.seq)
    return named


def binding_problem(person: PersonBinding, key: AuditKey) -> str | None:
    """Why this ``people`` row cannot be believed under ``key`` (None: it can)."""
    if person.email is None:
        expected = key.forgotten_binding(person.person_id)
        if person.binding is None or not hmac.compare_digest(person.binding, expected):
            return f"person {person.person_id} lost the e-mail outside retention"
        return None
    expected = key.person_binding(person.person_id, person.email)
    if person.binding is None or not hmac.compare_digest(person.binding, expected):
        return (
            f"person {person.person_id}: the e-mail in people is not the one bound to "
            "this id (people altered)"
        )
    return None


def verify_people(
    people: Iterable[PersonBinding], key: AuditKey, *, named: Mapping[str, int]
) -> VerifyResult | None:
    """A failed result if a person mapping was altered (an e-mail swapped, changed or
    blanked outside retention) or a person the chain names is missing; else None.
    ``named``: :func:`named_people` of the chain. The position is the first row that
    names the person, when one does."""
    known: set[str] = set()
    checked = 0
    for person in people:
        checked += 1
        known.add(person.person_id)
        problem = binding_problem(person, key)
        if problem is not None:
            return _fail(checked, named.get(person.person_id), problem, key)
    for person_id, row in sorted(named.items(), key=lambda item: item[1]):
        if person_id not in known:
            return _fail(
                checked, row, f"row {row} names person {person_id}, missing in people", key
            )
    return None


def verify_trail(
    entries: Sequence[AuditEntry],
    *,
    head: ChainHead | None,
    key: AuditKey,
    people: Iterable[PersonBinding] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> VerifyResult:
    """The chain (:func:`verify_chain`), then the people mapping it names."""
    result = verify_chain(entries, head=head, key=key, checkpoints=checkpoints)
    if not result.ok or people is None:
        return result
    failed = verify_people(people, key, named=named_people(entries))
    return failed if failed is not None else result


# --------------------------------------------------------------------- storage's extras


@runtime_checkable
class KeyedAuditLog(Protocol):
    """What an audit log keyed with :class:`AuditKey` offers beyond ``AuditLog``."""

    @property
    def key(self) -> AuditKey: ...

    async def last_checkpoint_at(self) -> datetime | None:
        """When the newest ``audit.checkpoint`` row was appended (None: never)."""
        ...


@runtime_checkable
class BoundPeople(Protocol):
    """A people registry whose rows carry keyed bindings."""

    async def bindings(self) -> list[PersonBinding]: ...
