"""Which notifications each transition implies, and their parameters.

A notification is an outbox row for one recipient: ``template`` names the event,
``audience`` the recipient's role, and the bot's catalogs hold one text per
``template.audience`` (``Notification.catalog_key``). Parameters are plain values
(codes, e-mails, ISO dates), so every text can be localised and re-rendered.
The full list is in ``docs/domain-rules.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from access.directory import Directory
from access.model import AccessRequest, Audience, ParamValue

R, W, AP, AD = Audience.REQUESTER, Audience.WORKER, Audience.APPROVER, Audience.ADMIN

TEMPLATES: Mapping[str, tuple[Audience, ...]] = {
    # grant/change request made (pending): the requester's receipt, the worker is told
    # a request was made for them, the approvers get the request to decide.
    "request.submitted": (R, W, AP),
    "request.resubmitted": (R, AP),  # returned -> pending, after edits
    "request.cancelled": (R, AP),  # by the requester, or superseded by a revoke
    "request.returned": (R,),  # a question to the requester
    "request.approved": (R, W, AD),  # admins: work waiting for the KEHA hand-off
    "request.rejected": (R,),
    "request.expired": (R,),  # no decision within the area's pending limit
    "request.queued": (R,),  # in a KEHA batch
    "request.sent_to_keha": (R,),
    "grant.opened": (R, W),  # KEHA confirmed: the account is open
    "grant.changed": (R, W),  # KEHA confirmed a change
    "grant.removed": (R, W),  # KEHA confirmed the account closed
    "revoke.requested": (R, W, AP, AD),  # by the municipality: no approval, urgent
    "revoke.misuse": (R, W, AD),  # by an approver (002 §4, §10), urgent
    "revoke.due": (R, W, AD),  # by the system: grant end date or agreement end
}


def recipients(audience: Audience, request: AccessRequest, directory: Directory) -> tuple[str, ...]:
    """E-mails of ``audience`` for ``request``, in a stable order, without repeats."""
    if audience is Audience.REQUESTER:
        people: tuple[str, ...] = (request.requester,)
    elif audience is Audience.WORKER:
        people = (request.worker.email,)
    elif audience is Audience.APPROVER:
        area = directory.area(request.area)
        with_deputies = area.notify_deputies if area is not None else True
        people = directory.approvers_of(request.area, with_deputies=with_deputies)
    else:
        area = directory.area(request.area)
        people = area.authority_admins if area is not None else ()
    return tuple(dict.fromkeys(p for p in people if p and "@" in p))


def base_params(request: AccessRequest, directory: Directory, actor: str) -> dict[str, ParamValue]:
    """Parameters every template gets."""
    municipality = directory.municipality(request.municipality)
    return {
        "request_id": request.id,
        "number": request.number,
        "kind": request.kind.value,
        "state": request.state.value,
        "worker_name": request.worker.name,
        "worker_email": request.worker.email,
        "worker_job_title": request.worker.job_title,
        "municipality": request.municipality,
        "municipality_name": municipality.name
        if municipality is not None
        else request.municipality,
        "area": request.area,
        "service_areas": ",".join(request.service_areas),
        "level": request.level,
        "start": request.start.isoformat() if request.start else "",
        "end": request.end.isoformat() if request.end else "",
        "urgent": request.urgent,
        "requester": request.requester,
        "actor": actor,
        "grant_id": request.grant_id or "",
        "revoke_reason": request.revoke_reason.value if request.revoke_reason else "",
    }
