"""The domain model: requests, decisions, grants, KEHA rows, audit entries, notifications.

Plain frozen dataclasses and string enums, no framework. Every value that leaves the
domain (to storage, to the bot) is one of these; the service never mutates one, it
builds the next version with :func:`dataclasses.replace`.

Lifecycle (docs/architecture.md, ARCHITECTURE "Lifecycle"): a request is *submitted*
straight into ``pending`` (the submit is the event, recorded as ``request.submitted``),
so there is no separate ``submitted`` state to get stuck in::

    pending -> approved -> queued_for_keha -> sent_to_keha -> done
    pending -> rejected | returned | cancelled | expired
    returned -> pending (resubmit) | cancelled | expired
    approved -> cancelled   (only a change superseded by a revoke of its grant)
    approved | queued_for_keha -> stopped          (stopped before it reached KEHA)
    sent_to_keha -> stopping -> stopped            (an urgent cancellation row to KEHA,
                                                    confirmed like any row)

A revoke by the municipality, by an approver (for the reason the area has) or by the
system (grant end or agreement end) is created directly in ``approved``: it needs no
approval. A revoke whose effective date lies in the future creates no request yet: the
grant's end date becomes that day (with the reason), and the scheduled grant-end job
revokes it then (:class:`Revocation`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeAlias

from access.text import strip_invisible

JsonScalar: TypeAlias = str | int | bool | None
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
ParamValue: TypeAlias = str | int | bool | None

SYSTEM_ACTOR = "system"
"""Actor of scheduled transitions (expiry, grant end); never a person's e-mail."""


class RequestKind(enum.StrEnum):
    GRANT = "grant"  # a new worker gets access
    CHANGE = "change"  # service areas, level, end date or a corrected name / job title
    REVOKE = "revoke"  # an active grant ends


class RequestState(enum.StrEnum):
    PENDING = "pending"
    RETURNED = "returned"
    APPROVED = "approved"
    QUEUED_FOR_KEHA = "queued_for_keha"
    SENT_TO_KEHA = "sent_to_keha"
    DONE = "done"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    STOPPING = "stopping"  # sent to KEHA, then stopped: a cancellation row is on its way
    STOPPED = "stopped"  # approved, then stopped before KEHA opened (or changed) it


OPEN_STATES: frozenset[RequestState] = frozenset(
    {
        RequestState.PENDING,
        RequestState.RETURNED,
        RequestState.APPROVED,
        RequestState.QUEUED_FOR_KEHA,
        RequestState.SENT_TO_KEHA,
        RequestState.STOPPING,
    }
)
"""States in which a request is still on its way (not final)."""

STOPPABLE_STATES: frozenset[RequestState] = frozenset(
    {RequestState.APPROVED, RequestState.QUEUED_FOR_KEHA, RequestState.SENT_TO_KEHA}
)
"""Approved and not yet confirmed by KEHA: a grant or change request here can still be
stopped (002 §5 "välittömästi"): withdrawn from the queue, taken out of a batch not yet
sent, or cancelled with KEHA by an urgent row."""

AWAITING_DECISION: frozenset[RequestState] = frozenset(
    {RequestState.PENDING, RequestState.RETURNED}
)

FINAL_STATES: frozenset[RequestState] = frozenset(RequestState) - OPEN_STATES

TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset(
        {
            RequestState.APPROVED,
            RequestState.REJECTED,
            RequestState.RETURNED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        }
    ),
    RequestState.RETURNED: frozenset(
        {RequestState.PENDING, RequestState.CANCELLED, RequestState.EXPIRED}
    ),
    RequestState.APPROVED: frozenset(
        {RequestState.QUEUED_FOR_KEHA, RequestState.CANCELLED, RequestState.STOPPED}
    ),
    RequestState.QUEUED_FOR_KEHA: frozenset({RequestState.SENT_TO_KEHA, RequestState.STOPPED}),
    RequestState.SENT_TO_KEHA: frozenset({RequestState.DONE, RequestState.STOPPING}),
    RequestState.STOPPING: frozenset({RequestState.STOPPED}),
    RequestState.STOPPED: frozenset(),
    RequestState.DONE: frozenset(),
    RequestState.REJECTED: frozenset(),
    RequestState.CANCELLED: frozenset(),
    RequestState.EXPIRED: frozenset(),
}
"""Every allowed request transition; anything else is an ``IllegalTransition``."""


class GrantState(enum.StrEnum):
    ACTIVE = "active"
    REVOKING = "revoking"  # a revoke is on its way to KEHA
    REMOVED = "removed"  # KEHA confirmed the account closed


LIVE_GRANT_STATES: frozenset[GrantState] = frozenset({GrantState.ACTIVE, GrantState.REVOKING})


class GrantEventKind(enum.StrEnum):
    OPENED = "opened"
    CHANGED = "changed"
    ENDING = "ending"  # a revoke dated in the future set the end date (and its reason)
    REVOKING = "revoking"
    REMOVED = "removed"


class KehaRowState(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"  # an opening or change KEHA confirmed it did not carry out


class DecisionOutcome(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"  # a question back to the requester
    STOPPED = "stopped"  # an approver stopped it before KEHA opened it (text: the note)


class RevokeReason(enum.StrEnum):
    EMPLOYMENT_ENDED = "employment_ended"  # 002 §5 (municipality), 002 §4 (area)
    TASKS_CHANGED = "tasks_changed"  # 002 §5 (municipality)
    TASK_ENDED = "task_ended"  # 002 §4: "kun tehtävä kunnassa päättyy" (area)
    MISUSE = "misuse"  # 002 §4, §10 (area)
    AGREEMENT_BREACH = "agreement_breach"  # 002 §10: the agreement is breached (area)
    GRANT_ENDED = "grant_ended"  # the end date passed (system)
    AGREEMENT_ENDED = "agreement_ended"  # 002 §9 (system)
    AGREEMENT_DISSOLVED = "agreement_dissolved"  # 002 §10: dissolved for breach, at once
    WITHDRAWN = "withdrawn"  # the requester withdrew an approved request before KEHA
    OTHER = "other"


MUNICIPAL_REVOKE_REASONS: frozenset[RevokeReason] = frozenset(
    {RevokeReason.EMPLOYMENT_ENDED, RevokeReason.TASKS_CHANGED, RevokeReason.OTHER}
)
"""Reasons a municipality revokes for (002 §5)."""

AREA_REVOKE_REASONS: frozenset[RevokeReason] = frozenset(
    {
        RevokeReason.TASK_ENDED,
        RevokeReason.EMPLOYMENT_ENDED,
        RevokeReason.MISUSE,
        RevokeReason.AGREEMENT_BREACH,
        RevokeReason.OTHER,
    }
)
"""Reasons the area (an approver or deputy) revokes for (002 §4, §10)."""

AREA_NOTE_REQUIRED: frozenset[RevokeReason] = frozenset(
    {RevokeReason.MISUSE, RevokeReason.OTHER}
)
"""An area's revoke for these reasons needs a note saying what happened."""

MUNICIPAL_STOP_REASONS: frozenset[RevokeReason] = MUNICIPAL_REVOKE_REASONS | {
    RevokeReason.WITHDRAWN
}
"""Why a requester stops an approved request before KEHA opened it."""

AREA_STOP_REASONS: frozenset[RevokeReason] = AREA_REVOKE_REASONS
"""Why an approver stops it: the area's reasons for a removal, with the same notes
(:data:`AREA_NOTE_REQUIRED`)."""


class Audience(enum.StrEnum):
    """Whom a notification addresses; catalogs pick the text by template and audience."""

    REQUESTER = "requester"
    WORKER = "worker"
    APPROVER = "approver"
    ADMIN = "admin"


@dataclass(frozen=True)
class Worker:
    name: str
    email: str  # work e-mail, lower-cased; the worker's identity
    job_title: str
    municipality: str  # municipality code


@dataclass(frozen=True)
class RequestDraft:
    """What a requester fills in. Field names are the ``Violation.field`` names.

    For ``change`` the worker and municipality come from the grant (``grant_id``); a
    change may carry a corrected ``worker_name`` / ``worker_job_title`` (empty keeps the
    grant's; the e-mail is the worker's identity and is never corrected). For ``grant``
    the worker fields are required.
    """

    kind: RequestKind
    municipality: str = ""
    worker_name: str = ""
    worker_email: str = ""
    worker_job_title: str = ""
    service_areas: tuple[str, ...] = ()
    level: str = ""
    start: date | None = None
    end: date | None = None
    justification: str = ""
    confirmations: frozenset[str] = frozenset()
    grant_id: str | None = None

    def __post_init__(self) -> None:
        fields = ("worker_name", "worker_email", "worker_job_title", "justification")
        _strip_invisible_fields(self, fields)


@dataclass(frozen=True)
class RequestChanges:
    """Edits made when resubmitting a returned request; ``None`` keeps the value.

    ``answer`` is the requester's answer to the approver's question (required).
    """

    worker_name: str | None = None
    worker_job_title: str | None = None
    service_areas: tuple[str, ...] | None = None
    level: str | None = None
    start: date | None = None
    end: date | None = None
    justification: str | None = None
    confirmations: frozenset[str] | None = None
    answer: str = ""

    def __post_init__(self) -> None:
        _strip_invisible_fields(
            self, ("worker_name", "worker_job_title", "justification", "answer")
        )


def _strip_invisible_fields(draft: object, names: tuple[str, ...]) -> None:
    """Names, e-mails, job titles and texts lose bidirectional controls and zero-width
    characters however a draft is made (chat, command line, tests): access.text."""
    for name in names:
        value = getattr(draft, name)
        if isinstance(value, str):
            object.__setattr__(draft, name, strip_invisible(value))


@dataclass(frozen=True)
class AccessRequest:
    id: str
    number: str  # human-readable, "2026-000123"
    kind: RequestKind
    state: RequestState
    version: int  # compare-and-set; +1 on every transition
    worker: Worker
    municipality: str
    area: str
    service_areas: tuple[str, ...]
    level: str
    start: date | None
    end: date | None  # None only for a revoke
    justification: str  # for a revoke: the explanation
    confirmations: frozenset[str]
    requester: str  # the municipal contact kept informed
    created_by: str  # who made it (== requester unless an approver or the system did)
    created_at: datetime
    updated_at: datetime  # time of the last transition
    grant_id: str | None = None  # target of change/revoke; the new grant once a grant is done
    revoke_reason: RevokeReason | None = None
    urgent: bool = False
    question: str | None = None  # the open question while returned
    effective: date | None = None  # a revoke: the day the access ends (None before 0012)
    answer: str | None = None  # the requester's answer to the last question (resubmit)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Decision:
    id: str
    request_id: str
    outcome: DecisionOutcome
    actor: str
    at: datetime
    text: str  # reason (rejected), question (returned), note (misuse revoke) or ""
    request_version: int  # the version the decision was made on


@dataclass(frozen=True)
class GrantEvent:
    at: datetime
    event: GrantEventKind
    request_id: str
    service_areas: tuple[str, ...]
    level: str
    end: date | None


@dataclass(frozen=True)
class Grant:
    id: str
    worker: Worker
    municipality: str
    area: str
    service_areas: tuple[str, ...]
    level: str
    start: date
    end: date
    state: GrantState
    version: int
    origin_request_id: str
    requested_by: str  # municipal contact of the original request
    created_at: datetime
    updated_at: datetime
    history: tuple[GrantEvent, ...] = ()
    # A revoke dated in the future: ``end`` is its effective date, and the grant-end job
    # revokes the grant then for this reason (None: the end date is the requested one).
    end_reason: RevokeReason | None = None
    end_note: str = ""


@dataclass(frozen=True)
class Revocation:
    """What a revoke did. Effective today or earlier: ``request`` is the urgent revoke
    request on its way to KEHA (the grant is ``revoking``). Effective in the future:
    ``request`` is None, the grant stays active with ``end == effective`` and
    ``end_reason == reason``, and the grant-end job revokes it after that day."""

    grant: Grant
    reason: RevokeReason
    effective: date
    request: AccessRequest | None = None

    @property
    def scheduled(self) -> bool:
        return self.request is None


@dataclass(frozen=True)
class KehaBatch:
    id: str
    area: str
    created_by: str
    created_at: datetime
    sent_at: datetime | None = None
    sent_by: str | None = None
    rows: tuple[KehaRow, ...] = ()


@dataclass(frozen=True)
class KehaRow:
    """One change handed to KEHA: open, change or close one person's account."""

    id: str
    batch_id: str
    request_id: str
    request_number: str
    area: str
    municipality: str
    kind: RequestKind
    urgent: bool
    state: KehaRowState
    version: int
    worker: Worker
    service_areas: tuple[str, ...]
    level: str
    start: date | None
    end: date | None
    grant_id: str | None
    created_at: datetime
    approved_by: str | None = None  # None: a revoke that needed no approval
    approved_at: datetime | None = None
    revoke_reason: RevokeReason | None = None
    effective: date | None = None  # a close: the day the access ends
    sent_at: datetime | None = None
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    confirm_note: str | None = None  # what KEHA did differently, if anything
    cancels_row_id: str | None = None  # a cancellation: the sent row KEHA must not carry out

    @property
    def is_cancellation(self) -> bool:
        return self.cancels_row_id is not None


@dataclass(frozen=True)
class AuditDraft:
    """An audit row before it is chained (sequence number and hashes come at append)."""

    at: datetime
    actor: str
    action: str
    request_id: str | None
    details: Mapping[str, JsonValue]


@dataclass(frozen=True)
class AuditEntry:
    seq: int  # 1, 2, 3 ... (the row number); part of the hashed content
    at: datetime
    actor: str
    action: str
    request_id: str | None
    details: Mapping[str, JsonValue]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Notification:
    """An outbox row: one message to one person, written with the state change."""

    id: str
    request_id: str | None
    template: str  # e.g. "request.submitted"
    audience: Audience
    recipient: str  # work e-mail
    params: Mapping[str, ParamValue]
    idempotency_key: str  # unique; the dispatcher sends each key at most once
    created_at: datetime

    @property
    def catalog_key(self) -> str:
        """Key of the message text in the bot's catalogs: ``template.audience``."""
        return f"{self.template}.{self.audience.value}"


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    actor: str
    command: str
    created_at: datetime
    result: str | None = None  # reference to the first result, e.g. "request:<id>"


class MatterOutcome(enum.StrEnum):
    """How a misuse matter was closed (002 §7, §10)."""

    UNFOUNDED = "unfounded"  # no misuse found
    ACCESS_REVOKED = "access_revoked"  # the grant was revoked (the revoke flow did it)
    OTHER_MEASURES = "other_measures"  # guidance, a warning ...: the note says which


@dataclass(frozen=True)
class MisuseMatter:
    """A report of suspected misuse of a grant, kept as a matter until an approver (or
    deputy) of the area closes it with an outcome. While it is open, retention keeps
    every record of its grant (001 annex 6 §5: "except where a matter is pending").

    ``note`` (what the reporter saw) and ``closing_note`` live only here, never in the
    audit chain, so retention can empty them once the matter is closed and due."""

    id: str
    grant_id: str
    area: str
    municipality: str
    reported_by: str
    reported_at: datetime
    note: str
    version: int = 1
    outcome: MatterOutcome | None = None  # None: open
    closing_note: str = ""
    closed_by: str | None = None
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.outcome is None
