"""Who may do what, as pure functions of the directory's roles.

Each function returns ``None`` when allowed, else the denial reason code that the
service puts into :class:`access.errors.AccessDenied` and the audit row
(:func:`access.runner.deny`). Every such check of the domain is here.
"""

from __future__ import annotations

from access.directory import Roles
from access.model import AccessRequest, Grant

# ------------------------------------------------------------------- requests, grants


def may_request(roles: Roles, municipality: str) -> str | None:
    """A requester acts only for their own municipalities."""
    return None if municipality in roles.requester_for else "not_requester_for_municipality"


def may_request_anywhere(roles: Roles) -> str | None:
    """A requester of some municipality (the subject is unknown, e.g. no such grant)."""
    return None if roles.requester_for else "not_requester_for_municipality"


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


def may_decide_anywhere(roles: Roles) -> str | None:
    """An approver or deputy of some area (the subject is unknown, e.g. no such grant)."""
    return None if roles.decides_in else "not_approver_in_area"


def may_revoke_for_area(roles: Roles, actor: str, area: str, worker_email: str) -> str | None:
    """The area's revoke (any reason it has, misuse included): an approver or deputy of
    the grant's area, never on their own access."""
    if area not in roles.decides_in:
        return "not_approver_in_area"
    if actor == worker_email:
        return "own_access"
    return None


def may_stop(roles: Roles, actor: str, request: AccessRequest) -> str | None:
    """An approved request not yet opened by KEHA is stopped by a requester of its
    municipality or by an approver (deputy) of its area - never about their own access."""
    if request.municipality in roles.requester_for:
        return None
    if request.area not in roles.decides_in:
        return "not_requester_for_municipality"
    if actor == request.worker.email:
        return "own_access"
    return None


def may_manage_agreement(roles: Roles, area: str) -> str | None:
    """A municipality's notice of termination or the dissolution of its agreement is
    recorded by an authority admin or an approver (deputy) of its area."""
    return None if area in roles.admin_in or area in roles.decides_in else "not_admin_in_area"


def may_report_misuse(roles: Roles, actor: str, grant: Grant) -> str | None:
    """A requester of the grant's municipality or an approver (deputy) of its area, not
    about their own access."""
    if grant.municipality not in roles.requester_for and grant.area not in roles.decides_in:
        return "not_visible"
    if actor == grant.worker.email:
        return "own_access"
    return None


def may_acknowledge(actor: str, grant: Grant) -> str | None:
    """Only the worker acknowledges the data-protection terms of their grant."""
    return None if actor == grant.worker.email else "not_own_data"


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


def may_see_data_of(actor: str, subject: str) -> str | None:
    """Everyone sees what is held about themselves (GDPR art. 15), nobody else's."""
    return None if subject == actor else "not_own_data"


# ------------------------------------------------------------------ authority admins


def may_administer(roles: Roles, area: str) -> str | None:
    """An authority admin acts only in their own area."""
    return None if area in roles.admin_in else "not_admin_in_area"


def may_administer_anywhere(roles: Roles) -> str | None:
    """An authority admin of some area (the whole audit chain; an unknown batch)."""
    return None if roles.admin_in else "not_admin_in_area"


def may_queue(request: AccessRequest, area: str) -> str | None:
    """A KEHA batch of an area takes only that area's requests."""
    return None if request.area == area else "not_admin_in_area"


def may_report(roles: Roles, area: str) -> str | None:
    """The area's aggregate reports: its authority admins and approvers (deputies)."""
    return None if area in roles.admin_in or area in roles.decides_in else "not_admin_in_area"


# ------------------------------------------------------------------------- reviews


def may_answer_review(roles: Roles, municipality: str) -> str | None:
    """A review is answered by the requesters of its municipality."""
    return None if municipality in roles.requester_for else "not_visible"


def may_follow_reviews(roles: Roles, area: str) -> str | None:
    """The progress of an area's reviews: its authority admins and approvers (deputies)."""
    return None if area in roles.admin_in or area in roles.decides_in else "not_visible"


# -------------------------------------------------------------------- misuse matters


def may_handle_matters(roles: Roles, area: str) -> str | None:
    """The misuse matters of an area are handled by its approvers and deputies."""
    return None if area in roles.decides_in else "not_approver_in_area"


def may_close_matter(roles: Roles, actor: str, grant: Grant) -> str | None:
    """An approver (deputy) of the grant's area closes a matter about it, never one
    about their own access."""
    if grant.area not in roles.decides_in:
        return "not_approver_in_area"
    if actor == grant.worker.email:
        return "own_access"
    return None
