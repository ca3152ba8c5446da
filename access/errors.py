"""Typed errors of the domain. Codes are stable; texts come from the bot's catalogs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from access.model import DecisionOutcome, RequestState

if TYPE_CHECKING:
    from access.policy import Violation


class AccessError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"


class AccessDenied(AccessError):
    """The actor may not do this. Always audited (``access.denied``) before it is raised.

    ``reason`` is one of: ``not_requester_for_municipality``, ``not_approver_in_area``,
    ``own_request``, ``own_access``, ``not_admin_in_area``, ``not_own_data``,
    ``not_visible``.
    """

    code = "access.denied"

    def __init__(
        self,
        actor: str,
        command: str,
        reason: str,
        *,
        request_id: str | None = None,
        target: str | None = None,
    ) -> None:
        self.actor = actor
        self.command = command
        self.reason = reason
        self.request_id = request_id
        self.target = target
        super().__init__(f"{actor} may not {command}: {reason}")


class NotFound(AccessError):
    code = "not_found"

    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident} not found")


class IllegalTransition(AccessError):
    """The request (or KEHA row) is not in a state that allows this command."""

    code = "transition.illegal"

    def __init__(self, request_id: str, state: str, command: str) -> None:
        self.request_id = request_id
        self.state = state
        self.command = command
        super().__init__(f"cannot {command} request {request_id} in state {state}")


class AlreadyDecided(IllegalTransition):
    """Someone decided first; the card can say who and when."""

    code = "transition.already_decided"

    def __init__(
        self,
        request_id: str,
        state: RequestState,
        command: str,
        *,
        decided_by: str,
        decided_at: datetime,
        outcome: DecisionOutcome,
    ) -> None:
        super().__init__(request_id, state.value, command)
        self.decided_by = decided_by
        self.decided_at = decided_at
        self.outcome = outcome
        self.args = (
            f"request {request_id} was already {outcome.value} by {decided_by} "
            f"at {decided_at.isoformat()}",
        )


class StaleRequest(AccessError):
    """The caller acted on an older version (e.g. a card shown before a resubmit)."""

    code = "transition.stale"

    def __init__(self, request_id: str, expected_version: int, current_version: int) -> None:
        self.request_id = request_id
        self.expected_version = expected_version
        self.current_version = current_version
        super().__init__(
            f"request {request_id} is at version {current_version}, not {expected_version}"
        )


class ConcurrentModification(AccessError):
    """Another transaction changed the same row first (compare-and-set lost); retry."""

    code = "transition.concurrent"

    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident} was changed concurrently")


class PolicyViolations(AccessError):
    """The input breaks one or more rules; ``violations`` lists all of them."""

    code = "policy.violations"

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__(", ".join(v.code for v in self.violations))


class IdempotencyKeyReused(AccessError):
    """The key was first used by another actor or for another command."""

    code = "idempotency.key_reused"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was used for another command")


class NothingToQueue(AccessError):
    """There is no approved request to hand to KEHA in this area."""

    code = "keha.nothing_to_queue"

    def __init__(self, area: str) -> None:
        self.area = area
        super().__init__(f"no approved requests to queue in {area}")


class MatterClosed(AccessError):
    """The misuse matter was already closed (by someone else, or by this actor before)."""

    code = "matter.closed"

    def __init__(
        self, matter_id: str, *, closed_by: str | None, closed_at: datetime | None, outcome: str
    ) -> None:
        self.matter_id = matter_id
        self.closed_by = closed_by
        self.closed_at = closed_at
        self.outcome = outcome
        super().__init__(f"misuse matter {matter_id} is already closed ({outcome})")
