"""Who may do what, as pure functions of the directory's roles.

Each function returns ``None`` when allowed, else the denial reason code that the
service puts into :class:`access.errors.AccessDenied` and the audit row.
"""

from __future__ import annotations

from access.directory import Roles
from access.model import AccessRequest


def may_request(roles: Roles, municipality: str) -> str | None:
    """A requester acts only for their own municipalities."""
    return None if municipality in roles.requester_for else "not_requester_for_municipality"


def may_decide(roles: Roles, actor: str, request: AccessRequest) -> str | None:
    """An approver or deputy decides only in their own area, never on a request they
    made, and never on their own access."""
    if request.area not in roles.decides_in:
        return "not_approver_in_area"
    if actor in (request.requester, request.created_by):
        return "own_request"
    if actor == request.worker.email:
        return "own_access"
    return None


def may_revoke_for_misuse(roles: Roles, actor: str, area: str, worker_email: str) -> str | None:
    if area not in roles.decides_in:
        return "not_approver_in_area"
    if actor == worker_email:
        return "own_access"
    return None


def may_administer(roles: Roles, area: str) -> str | None:
    """An authority admin acts only in their own area."""
    return None if area in roles.admin_in else "not_admin_in_area"


def may_view(roles: Roles, actor: str, request: AccessRequest) -> str | None:
    """Requesters see their municipalities' requests, staff their area's, a worker their
    own."""
    if request.municipality in roles.requester_for:
        return None
    if request.area in roles.decides_in or request.area in roles.admin_in:
        return None
    if actor in (request.worker.email, request.requester, request.created_by):
        return None
    return "not_visible"
