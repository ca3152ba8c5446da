"""Retention: which personal data is due for pseudonymisation (seed 001 annex 6).

Personal data of a grant is kept for the directory's
``retention.personal_data_years_after_grant_end`` years (four in 001 annex 6) after
the grant ended (KEHA confirmed the account closed), then pseudonymised: names,
e-mails, job titles and free texts of the grant, its requests, their decisions, KEHA
rows and notifications are replaced by the person's pseudonymous id or emptied.
Requests that never became a grant (rejected, cancelled, expired) follow the same
period from their last change. A grant with an open misuse matter is held, with all
its requests and the matter, until the matter is closed (001 annex 6 §5: "except where
a matter is pending"); then the usual period applies. The audit chain names people
only by pseudonymous id (:data:`access.audit.PERSON_PREFIX`), so it is not touched and
still verifies.

Pure functions; storage does the writing (``RetentionStore``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from access.model import (
    AccessRequest,
    Grant,
    GrantEventKind,
    GrantState,
    RequestKind,
    RequestState,
)

ENDED_WITHOUT_GRANT: frozenset[RequestState] = frozenset(
    {RequestState.REJECTED, RequestState.CANCELLED, RequestState.EXPIRED}
)


def cutoff(now: datetime, years: int) -> datetime:
    """``now`` minus ``years`` calendar years (29 February -> 28 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def ended_at(grant: Grant) -> datetime | None:
    """When KEHA confirmed the grant removed (None: the grant has not ended)."""
    if grant.state is not GrantState.REMOVED:
        return None
    removed = [e.at for e in grant.history if e.event is GrantEventKind.REMOVED]
    return removed[-1] if removed else grant.updated_at


@dataclass(frozen=True)
class RetentionPlan:
    grant_ids: tuple[str, ...]
    request_ids: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.grant_ids and not self.request_ids


def plan(
    grants: Iterable[Grant],
    requests: Sequence[AccessRequest],
    *,
    before: datetime,
    held: Collection[str] = frozenset(),
) -> RetentionPlan:
    """Grants that ended before ``before`` with all their requests, and requests that
    ended without a grant before ``before``; grants in ``held`` (an open matter) and
    their requests are not due."""
    due_grants = sorted(
        g.id
        for g in grants
        if (end := ended_at(g)) is not None and end < before and g.id not in held
    )
    due = set(due_grants)
    origins = {g.id: g.origin_request_id for g in grants if g.id in due}
    request_ids: set[str] = set(origins.values())
    for request in requests:
        if request.grant_id in due or (
            request.grant_id is None
            and request.kind is RequestKind.GRANT
            and request.state in ENDED_WITHOUT_GRANT
            and request.updated_at < before
        ):
            request_ids.add(request.id)
    return RetentionPlan(tuple(due_grants), tuple(sorted(request_ids)))


@dataclass(frozen=True)
class RetentionResult:
    grants: int
    requests: int
    people_forgotten: int
    held: int = 0  # ended grants kept because a misuse matter about them is open
