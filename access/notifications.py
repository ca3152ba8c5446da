"""Every notification the domain writes: one registry of templates.

A notification is an outbox row for one recipient: ``template`` names the event,
``audience`` the recipient's role, and the bot's catalogs hold one text per
``template.audience`` (``Notification.catalog_key``). Parameters are plain values
(codes, e-mails, ISO dates), so every text can be localised and re-rendered.

:data:`TEMPLATES` is the one table: for each template its audiences, who they are for
the subject the notification is about (a request, a grant, a municipality, a KEHA
batch) and the builder of its parameters. :meth:`access.runner.CommandRunner.emit`
writes the rows from it. Adding a notification means a row here and its texts in the
catalogs (``tests/unit/test_notification_templates.py`` lists them all). The request
lifecycle's templates are described in ``docs/domain-rules.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from access.directory import Area, Directory, Municipality
from access.model import AccessRequest, Audience, Grant, MisuseMatter, ParamValue, Worker
from access.ports import HELSINKI

__all__ = [
    "TEMPLATES",
    "BatchNotice",
    "GrantEnding",
    "MatterNotice",
    "MunicipalityNotice",
    "Template",
    "grant_params",
    "request_params",
    "request_people",
]

R, W, AP, AD = Audience.REQUESTER, Audience.WORKER, Audience.APPROVER, Audience.ADMIN

S = TypeVar("S")


# ----------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class MunicipalityNotice:
    """A notification about a municipality (its access review, its ending agreement)."""

    area: Area
    municipality: Municipality
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class BatchNotice:
    """A notification about a KEHA batch of an area (sent on ``start``)."""

    area: Area
    batch_id: str
    start: date


@dataclass(frozen=True)
class GrantEnding:
    """A revoke dated in the future: the grant now ends on its (new) end date.
    ``requester`` is told as the requester: the municipal manager who recorded it, or
    the grant's original requester when the area did."""

    grant: Grant
    requester: str


@dataclass(frozen=True)
class MatterNotice:
    """A notification about a misuse matter (its closing) and the grant it is about."""

    matter: MisuseMatter
    grant: Grant


# --------------------------------------------------------------------------- parameters


def _subject_params(
    directory: Directory,
    *,
    worker: Worker,
    municipality: str,
    area: str,
    service_areas: Sequence[str],
    level: str,
    start: date | None,
    end: date | None,
) -> dict[str, ParamValue]:
    """The worker, where and what: the part of the parameters requests and grants share."""
    found = directory.municipality(municipality)
    return {
        "worker_name": worker.name,
        "worker_email": worker.email,
        "worker_job_title": worker.job_title,
        "municipality": municipality,
        "municipality_name": found.name if found is not None else municipality,
        "area": area,
        "service_areas": ",".join(service_areas),
        "level": level,
        "start": start.isoformat() if start else "",
        "end": end.isoformat() if end else "",
    }


def request_params(
    request: AccessRequest, directory: Directory, actor: str
) -> dict[str, ParamValue]:
    """Parameters of every notification about a request."""
    return {
        "request_id": request.id,
        "number": request.number,
        "version": request.version,
        "kind": request.kind.value,
        "state": request.state.value,
        **_subject_params(
            directory,
            worker=request.worker,
            municipality=request.municipality,
            area=request.area,
            service_areas=request.service_areas,
            level=request.level,
            start=request.start,
            end=request.end,
        ),
        "urgent": request.urgent,
        "requester": request.requester,
        "actor": actor,
        "grant_id": request.grant_id or "",
        "revoke_reason": request.revoke_reason.value if request.revoke_reason else "",
        "effective": request.effective.isoformat() if request.effective else "",
    }


def grant_params(
    grant: Grant, directory: Directory, actor: str, *, urgent: bool = False
) -> dict[str, ParamValue]:
    """Parameters of a notification about a grant (the names of :func:`request_params`;
    ``request_id`` is the grant's original request)."""
    return {
        "request_id": grant.origin_request_id,
        "number": "",
        "kind": "grant",
        "state": grant.state.value,
        **_subject_params(
            directory,
            worker=grant.worker,
            municipality=grant.municipality,
            area=grant.area,
            service_areas=grant.service_areas,
            level=grant.level,
            start=grant.start,
            end=grant.end,
        ),
        "urgent": urgent,
        "requester": grant.requested_by,
        "actor": actor,
        "grant_id": grant.id,
        "revoke_reason": "",
    }


def _ending_params(
    notice: GrantEnding, directory: Directory, actor: str
) -> dict[str, ParamValue]:
    return {**grant_params(notice.grant, directory, actor), "requester": notice.requester}


def _urgent_grant_params(grant: Grant, directory: Directory, actor: str) -> dict[str, ParamValue]:
    return grant_params(grant, directory, actor, urgent=True)


def _matter_params(notice: MatterNotice, directory: Directory, actor: str) -> dict[str, ParamValue]:
    """The grant's parameters, the outcome code and the day of the report (no note: the
    texts of a matter stay in its record)."""
    matter = notice.matter
    return {
        **grant_params(notice.grant, directory, actor),
        "outcome": matter.outcome.value if matter.outcome is not None else "",
        "reported_on": matter.reported_at.astimezone(HELSINKI).date().isoformat(),
    }


def _municipality_params(
    notice: MunicipalityNotice, directory: Directory, actor: str
) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {
        "area": notice.area.code,
        "municipality": notice.municipality.code,
        "municipality_name": notice.municipality.name,
    }
    if notice.start is not None:
        params["start"] = notice.start.isoformat()
    params.update(
        {
            "end": notice.end.isoformat() if notice.end else "",
            "actor": actor,
            "urgent": False,
        }
    )
    return params


def _batch_params(notice: BatchNotice, directory: Directory, actor: str) -> dict[str, ParamValue]:
    return {
        "area": notice.area.code,
        "batch_id": notice.batch_id,
        "start": notice.start.isoformat(),
        "actor": actor,
        "urgent": False,
    }


# --------------------------------------------------------------------------- recipients


def _unique(people: Sequence[str]) -> tuple[str, ...]:
    """E-mails in a stable order, without repeats or empty values."""
    return tuple(dict.fromkeys(p for p in people if p and "@" in p))


def request_people(
    audience: Audience, request: AccessRequest, directory: Directory
) -> tuple[str, ...]:
    """The request's requester and worker, the area's approvers (and its deputies unless
    ``notify_deputies: false``) and its authority admins."""
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
    return _unique(people)


def _pending_approvers(
    audience: Audience, request: AccessRequest, directory: Directory
) -> tuple[str, ...]:
    """A reminder of a pending request: the area's approvers (not the deputies)."""
    area = directory.area(request.area)
    return _unique(area.approvers if area is not None else ())


def _escalation_people(
    audience: Audience, request: AccessRequest, directory: Directory
) -> tuple[str, ...]:
    """An escalated pending request: the area's deputies and approvers."""
    area = directory.area(request.area)
    return _unique(area.deputies + area.approvers if area is not None else ())


def _grant_people(audience: Audience, grant: Grant, directory: Directory) -> tuple[str, ...]:
    """Who asked for the grant, and its worker."""
    if audience is Audience.REQUESTER:
        return _unique((grant.requested_by,))
    if audience is Audience.WORKER:
        return _unique((grant.worker.email,))
    return ()


def _ending_people(
    audience: Audience, notice: GrantEnding, directory: Directory
) -> tuple[str, ...]:
    """Who recorded the ending (or the grant's requester), the worker, the area's
    approvers (and deputies unless ``notify_deputies: false``)."""
    if audience is Audience.REQUESTER:
        return _unique((notice.requester,))
    if audience is Audience.WORKER:
        return _unique((notice.grant.worker.email,))
    if audience is Audience.APPROVER:
        area = directory.area(notice.grant.area)
        with_deputies = area.notify_deputies if area is not None else True
        return _unique(directory.approvers_of(notice.grant.area, with_deputies=with_deputies))
    return ()


def _grant_contacts(audience: Audience, grant: Grant, directory: Directory) -> tuple[str, ...]:
    """Both contacts of a grant: its municipality's requesters, its area's approvers and
    deputies; and its area's authority admins."""
    if audience is Audience.REQUESTER:
        municipality = directory.municipality(grant.municipality)
        return _unique(municipality.requesters if municipality is not None else ())
    if audience is Audience.APPROVER:
        return _unique(directory.approvers_of(grant.area))
    if audience is Audience.ADMIN:
        area = directory.area(grant.area)
        return _unique(area.authority_admins if area is not None else ())
    return ()


def _matter_people(
    audience: Audience, notice: MatterNotice, directory: Directory
) -> tuple[str, ...]:
    """The reporter (the ``requester`` audience: the one who asked for the matter, be
    they a municipal manager or an area contact) and the area's authority admins."""
    if audience is Audience.REQUESTER:
        return _unique((notice.matter.reported_by,))
    if audience is Audience.ADMIN:
        area = directory.area(notice.matter.area)
        return _unique(area.authority_admins if area is not None else ())
    return ()


def _municipality_contacts(
    audience: Audience, notice: MunicipalityNotice, directory: Directory
) -> tuple[str, ...]:
    """The municipality's requesters, the area's approvers and deputies."""
    if audience is Audience.REQUESTER:
        return _unique(notice.municipality.requesters)
    if audience is Audience.APPROVER:
        return _unique(directory.approvers_of(notice.area.code))
    return ()


def _agreement_people(
    audience: Audience, notice: MunicipalityNotice, directory: Directory
) -> tuple[str, ...]:
    """The municipality's requesters, the area's approvers and deputies, and its
    authority admins (who hand the resulting removals to KEHA)."""
    if audience is Audience.ADMIN:
        return _unique(notice.area.authority_admins)
    return _municipality_contacts(audience, notice, directory)


def _batch_admins(audience: Audience, notice: BatchNotice, directory: Directory) -> tuple[str, ...]:
    return _unique(notice.area.authority_admins) if audience is Audience.ADMIN else ()


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Template(Generic[S]):
    """One notification: its audiences, who each of them is for the subject, and the
    parameters every recipient's row gets (the command may add its own)."""

    audiences: tuple[Audience, ...]
    people: Callable[[Audience, S, Directory], Sequence[str]]
    params: Callable[[S, Directory, str], dict[str, ParamValue]]


def _request(*audiences: Audience) -> Template[AccessRequest]:
    return Template(audiences, request_people, request_params)


TEMPLATES: Mapping[str, Template[Any]] = {
    # ---- the request lifecycle (access.requests, access.handoff, access.jobs)
    # grant/change request made (pending): the requester's receipt, the worker is told
    # a request was made for them, the approvers get the request to decide.
    "request.submitted": _request(R, W, AP),
    "request.resubmitted": _request(R, AP),  # returned -> pending, after edits
    # by the requester, or superseded by a revoke; the worker's text is neutral and
    # reads right for any request that ends before it is carried out
    "request.cancelled": _request(R, W, AP),
    "request.returned": _request(R),  # a question to the requester
    "request.approved": _request(R, W, AD),  # admins: work waiting for the KEHA hand-off
    "request.rejected": _request(R, W),  # the worker: neutral, without the reason
    "request.expired": _request(R, W),  # no decision within the area's pending limit
    # Internal hand-off steps: the admin who took them saw them in chat, the requester
    # hears of the outcome (opened, changed, removed); no one is sent a message.
    "request.queued": _request(),  # in a KEHA batch
    "request.sent_to_keha": _request(),
    "grant.opened": _request(R, W),  # KEHA confirmed: the account is open
    "grant.changed": _request(R, W),  # KEHA confirmed a change
    "grant.removed": _request(R, W),  # KEHA confirmed the account closed
    "revoke.requested": _request(R, W, AP, AD),  # by the municipality: no approval, urgent
    "revoke.misuse": _request(R, W, AD),  # by an approver (002 §4, §10), urgent
    # by an approver for another reason the area has (002 §4, §10), urgent
    "revoke.area": _request(R, W, AD),
    # by the system: grant end date (or a revoke dated for that day) or agreement end
    "revoke.due": _request(R, W, AD),
    # a revoke dated in the future: the grant ends that day, then revoke.due
    "revoke.scheduled": Template((R, W, AP), _ending_people, _ending_params),
    # approved, not yet opened by KEHA, stopped: withdrawn from the queue or taken out of
    # a batch not yet sent (access.handoff.stop_before_open); the worker in neutral words
    "request.stopped": _request(R, W, AP, AD),
    # stopped after it was sent to KEHA: an urgent cancellation row waits for a batch
    "request.stopping": _request(R, W, AP, AD),
    # KEHA confirmed the cancellation: nothing was opened or changed
    "request.stop_confirmed": _request(R, AP),
    # ---- the scheduler (access.automation)
    # pending one working day: the approvers
    "request.reminder": Template((AP,), _pending_approvers, request_params),
    # pending three working days: deputies and approvers
    "request.escalated": Template((AP,), _escalation_people, request_params),
    # a grant ends soon (30 and 7 days before, per area)
    "grant.expiring": Template((R, W), _grant_people, grant_params),
    # a batch sent to KEHA is not confirmed after N days
    "keha.unconfirmed": Template((AD,), _batch_admins, _batch_params),
    # the municipality's notice period began
    "agreement.notice": Template((R, AP), _municipality_contacts, _municipality_params),
    # a month before the agreement ends
    "agreement.ending": Template((R, AP), _municipality_contacts, _municipality_params),
    # ---- the agreement's life, recorded in chat (access.agreements)
    # notice of termination given (002 §9): the agreement ends after the notice period
    "agreement.terminated": Template((R, AP, AD), _agreement_people, _municipality_params),
    # dissolved for breach (002 §10): every grant removed at once
    "agreement.dissolved": Template((R, AP, AD), _agreement_people, _municipality_params),
    # ---- the access review (access.review)
    # a review started: answer Keep / Revoke per worker
    "review.requested": Template((R,), _municipality_contacts, _municipality_params),
    # unanswered after review_reminder_days
    "review.reminder": Template((R,), _municipality_contacts, _municipality_params),
    # unanswered after twice that: the approvers are told
    "review.overdue": Template((R, AP), _municipality_contacts, _municipality_params),
    # ---- misuse matters (access.misuse)
    # a report: both contacts (the note) and the area's admins (no note), urgent
    "misuse.reported": Template((R, AP, AD), _grant_contacts, _urgent_grant_params),
    # closed with an outcome: the reporter (as "requester", whatever their role) and
    # the area's admins
    "misuse.closed": Template((R, AD), _matter_people, _matter_params),
}
"""Every notification template; catalog keys are ``template.audience``."""
