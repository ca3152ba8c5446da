"""The rules of DOMAIN.md as pure functions returning typed violations.

Each rule is a function of plain values that returns a list of :class:`Violation`
(empty when the rule holds). :func:`check_request` runs every rule that applies and
returns *all* violations at once, so a form can show every error at its field. The
codes and their parameters are stable and documented in ``docs/domain-rules.md``;
the texts live in the bot's catalogs.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, timedelta

from access.addresses import EMAIL_MAX, normalize_email
from access.directory import Area, Directory, Municipality
from access.model import (
    LIVE_GRANT_STATES,
    OPEN_STATES,
    AccessRequest,
    Grant,
    GrantState,
    RequestDraft,
    RequestKind,
    RevokeReason,
)

NAME_MAX = 200
JOB_TITLE_MAX = 200
JUSTIFICATION_MAX = 2000
DECISION_TEXT_MAX = 2000

VIOLATION_CODES: frozenset[str] = frozenset(
    {
        "municipality.unknown",
        "matter.grant_still_active",
        "municipality.no_agreement",
        "municipality.agreement_ended",
        "municipality.no_processing_agreement",
        "municipality.email_domains_missing",
        "service_area.missing",
        "service_area.not_allowed",
        "level.missing",
        "level.unknown",
        "level.not_allowed",
        "dates.start_missing",
        "dates.end_missing",
        "dates.start_in_past",
        "dates.end_before_start",
        "dates.too_long",
        "dates.after_agreement_end",
        "confirmation.missing",
        "worker.email_invalid",
        "worker.email_not_municipal",
        "text.required",
        "text.too_long",
        "text.forbidden_characters",
        "grant.duplicate",
        "grant.not_found",
        "grant.not_active",
        "grant.request_open",
        "change.no_difference",
        "revoke.reason_invalid",
        "revoke.effective_invalid",
        "revoke.effective_too_far_back",
        "revoke.effective_before_start",
        "revoke.effective_after_end",
    }
)
"""Every code a :class:`Violation` can carry (documented in docs/domain-rules.md)."""

NAME_FORBIDDEN: frozenset[str] = frozenset("<>[]{}*_#|`\\~")
"""Characters a worker's name or job title may not contain: Markdown and HTML control
characters, which would format (or break) every card and message that shows the name."""

NAME_PATTERN = r"^[^<>\[\]{}*_#|`\\~]+$"
"""The same rule as a regular expression, for form inputs that check it client side."""

_EMAIL = re.compile(
    r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)


@dataclass(frozen=True, eq=True)
class Violation:
    """One broken rule. ``field`` names the input (``RequestDraft`` field name)."""

    code: str
    field: str | None
    params: Mapping[str, str | int] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class PolicyContext:
    """What the rules need to know beyond the draft, gathered by the service.

    ``grants``: the worker's grants in the area (any state; live ones count).
    ``requests``: open requests about the worker in the area or about ``grant``.
    ``exclude_request_id``: the request being resubmitted (it does not conflict with
    itself).
    """

    today: date
    grant: Grant | None = None
    grants: Sequence[Grant] = ()
    requests: Sequence[AccessRequest] = ()
    exclude_request_id: str | None = None


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


# ----------------------------------------------------------------------------- rules


def check_municipality(code: str, directory: Directory, today: date) -> list[Violation]:
    """Rule 1: only municipalities with a service agreement (000 Ratkaisuehdotus and
    täydentävä päätösehdotus; 002 §1, §4) that has not ended (002 §9), and with the
    processing agreement where the area asks for one (002 §6)."""
    municipality = directory.municipality(code)
    if municipality is None:
        return [Violation("municipality.unknown", "municipality", {"municipality": code})]
    named = {"municipality": code, "municipality_name": municipality.name}
    if not municipality.contracted:
        return [Violation("municipality.no_agreement", "municipality", named)]
    if municipality.agreement_ends is not None and municipality.agreement_ends <= today:
        return [
            Violation(
                "municipality.agreement_ended",
                "municipality",
                {**named, "agreement_ends": municipality.agreement_ends.isoformat()},
            )
        ]
    area = directory.area_of(code)
    return check_processing_agreement(municipality, area, today) if area is not None else []


def check_processing_agreement(
    municipality: Municipality, area: Area, today: date
) -> list[Violation]:
    """002 §6: a written GDPR art. 28 agreement on processing personal data (JYSE/JIT
    2025 terms) between the area and the municipality, where the area's
    ``municipality_requires`` names it. One signed later than today is not yet one."""
    if "processing_agreement" not in area.municipality_requires:
        return []
    signed = municipality.processing_agreement
    if signed is not None and signed <= today:
        return []
    return [
        Violation(
            "municipality.no_processing_agreement",
            "municipality",
            {"municipality": municipality.code, "municipality_name": municipality.name},
        )
    ]


def check_worker_employer(email: str, municipality: Municipality) -> list[Violation]:
    """Rule 1: the worker is the municipality's own employee (380/2023 §125.3; 000
    Tausta; 002 §4). The bot cannot see employment records: the work e-mail must be in
    one of the municipality's ``email_domains``, exactly (no subdomains). Without any
    domains in the directory nothing can be checked, and the request is refused."""
    named = {"municipality": municipality.code, "municipality_name": municipality.name}
    if not municipality.email_domains:
        return [Violation("municipality.email_domains_missing", "municipality", named)]
    if municipality.employs(email):
        return []
    return [
        Violation(
            "worker.email_not_municipal",
            "worker_email",
            {**named, "domains": ", ".join(municipality.email_domains)},
        )
    ]


def check_service_areas(codes: Sequence[str], area: Area) -> list[Violation]:
    """Rules 2-3: the worker's tasks are stated and allowed in the area (000, 002 §3)."""
    if not codes:
        return [Violation("service_area.missing", "service_areas", {"area": area.code})]
    return [
        Violation(
            "service_area.not_allowed", "service_areas", {"service_area": c, "area": area.code}
        )
        for c in dict.fromkeys(codes)
        if c not in area.service_areas
    ]


def check_level(level: str, directory: Directory, area: Area) -> list[Violation]:
    """Rule 2: the level of access is stated, known and allowed in the area."""
    if not level:
        return [Violation("level.missing", "level", {})]
    if level not in directory.access_levels:
        return [Violation("level.unknown", "level", {"level": level})]
    if level not in area.access_levels:
        return [Violation("level.not_allowed", "level", {"level": level, "area": area.code})]
    return []


def check_dates(
    start: date | None,
    end: date | None,
    *,
    today: date,
    area: Area,
    agreement_ends: date | None = None,
) -> list[Violation]:
    """Rule 2: a start and an end (never open-ended), within the area's limits."""
    out: list[Violation] = []
    if start is None:
        out.append(Violation("dates.start_missing", "start", {}))
    if end is None:
        out.append(Violation("dates.end_missing", "end", {}))
    if start is not None and start < today - timedelta(days=area.start_grace_days):
        out.append(Violation("dates.start_in_past", "start", {"grace_days": area.start_grace_days}))
    if start is None or end is None:
        return out
    if end < start:
        out.append(Violation("dates.end_before_start", "end", {"start": start.isoformat()}))
        return out
    latest = add_months(start, area.max_grant_months)
    if end > latest:
        out.append(
            Violation(
                "dates.too_long",
                "end",
                {"max_months": area.max_grant_months, "latest_end": latest.isoformat()},
            )
        )
    if agreement_ends is not None and end > agreement_ends:
        out.append(
            Violation(
                "dates.after_agreement_end",
                "end",
                {"agreement_ends": agreement_ends.isoformat()},
            )
        )
    return out


def check_confirmations(given: Iterable[str], area: Area) -> list[Violation]:
    """Rule 4: the requester confirms the area's preconditions (000 decision 4, 002 §4)."""
    have = set(given)
    return [
        Violation("confirmation.missing", "confirmations", {"confirmation": c})
        for c in sorted(area.requires)
        if c not in have
    ]


def check_worker_email(email: str) -> list[Violation]:
    """The worker is identified by a well-formed work e-mail."""
    value = email.strip()
    if not value:
        return [Violation("text.required", "worker_email", {})]
    if len(value) > EMAIL_MAX or not _EMAIL.match(value):
        return [Violation("worker.email_invalid", "worker_email", {})]
    return []


def check_name(field_name: str, value: str) -> list[Violation]:
    """A name or job title has no Markdown or HTML control characters."""
    if NAME_FORBIDDEN & set(value):
        return [Violation("text.forbidden_characters", field_name, {})]
    return []


def check_text(
    field_name: str, value: str, *, max_length: int, required: bool = True
) -> list[Violation]:
    """A free text is present (when required) and not longer than ``max_length``."""
    stripped = value.strip()
    if required and not stripped:
        return [Violation("text.required", field_name, {})]
    if len(stripped) > max_length:
        return [
            Violation(
                "text.too_long", field_name, {"max_length": max_length, "length": len(stripped)}
            )
        ]
    return []


def check_duplicate(
    worker_email: str,
    area_code: str,
    grants: Sequence[Grant],
    requests: Sequence[AccessRequest],
    *,
    exclude_request_id: str | None = None,
) -> list[Violation]:
    """Rule 2: one personal grant per worker and area; a second needs no new grant.

    A live (active or revoking) grant or an open grant request for the same worker in
    the same area blocks a new grant request.
    """
    who = normalize_email(worker_email)
    for grant in grants:
        if (
            grant.worker.email == who
            and grant.area == area_code
            and grant.state in LIVE_GRANT_STATES
        ):
            return [
                Violation(
                    "grant.duplicate",
                    "worker_email",
                    {"existing_kind": "grant", "existing": grant.id, "state": grant.state.value},
                )
            ]
    for request in requests:
        if (
            request.id != exclude_request_id
            and request.kind is RequestKind.GRANT
            and request.worker.email == who
            and request.area == area_code
            and request.state in OPEN_STATES
        ):
            return [
                Violation(
                    "grant.duplicate",
                    "worker_email",
                    {
                        "existing_kind": "request",
                        "existing": request.number,
                        "state": request.state.value,
                    },
                )
            ]
    return []


def check_grant_target(
    grant: Grant | None,
    grant_id: str | None,
    requests: Sequence[AccessRequest],
    *,
    exclude_request_id: str | None = None,
) -> list[Violation]:
    """Rule 5: a change or revoke needs an active grant without another change on its way."""
    if grant is None:
        return [Violation("grant.not_found", "grant_id", {"grant_id": grant_id or ""})]
    if grant.state is not GrantState.ACTIVE:
        return [Violation("grant.not_active", "grant_id", {"state": grant.state.value})]
    for request in requests:
        if (
            request.id != exclude_request_id
            and request.grant_id == grant.id
            and request.kind in (RequestKind.CHANGE, RequestKind.REVOKE)
            and request.state in OPEN_STATES
        ):
            return [
                Violation(
                    "grant.request_open",
                    "grant_id",
                    {"existing": request.number, "state": request.state.value},
                )
            ]
    return []


def check_change_differs(draft: RequestDraft, grant: Grant) -> list[Violation]:
    """A change request must change something: service areas, level, end date, or
    correct the worker's name or job title (an empty name or title keeps the grant's)."""
    if (
        sorted(set(draft.service_areas)) == sorted(grant.service_areas)
        and draft.level == grant.level
        and draft.end == grant.end
        and (draft.worker_name or grant.worker.name) == grant.worker.name
        and (draft.worker_job_title or grant.worker.job_title) == grant.worker.job_title
    ):
        return [Violation("change.no_difference", None, {})]
    return []


# ---------------------------------------------------------------------------- composites


def check_request(draft: RequestDraft, directory: Directory, ctx: PolicyContext) -> list[Violation]:
    """Every rule that applies to a grant or change request; all violations at once."""
    if draft.kind is RequestKind.REVOKE:
        raise ValueError("use check_revoke for revoke requests")
    out: list[Violation] = []
    grant = ctx.grant
    if draft.kind is RequestKind.CHANGE:
        out += check_grant_target(
            grant, draft.grant_id, ctx.requests, exclude_request_id=ctx.exclude_request_id
        )
        if grant is None:
            return out
        municipality_code = grant.municipality
        # A correction of the name or job title (the e-mail is the identity: never).
        for name, limit in (("worker_name", NAME_MAX), ("worker_job_title", JOB_TITLE_MAX)):
            value = getattr(draft, name)
            out += check_text(name, value, max_length=limit, required=False)
            out += check_name(name, value)
    else:
        municipality_code = draft.municipality
        out += check_text("worker_name", draft.worker_name, max_length=NAME_MAX)
        out += check_name("worker_name", draft.worker_name)
        out += check_worker_email(draft.worker_email)
        out += check_text("worker_job_title", draft.worker_job_title, max_length=JOB_TITLE_MAX)
        out += check_name("worker_job_title", draft.worker_job_title)
    out += check_text("justification", draft.justification, max_length=JUSTIFICATION_MAX)
    out += check_municipality(municipality_code, directory, ctx.today)
    municipality = directory.municipality(municipality_code)
    area = directory.area_of(municipality_code)
    if area is None or municipality is None:
        return out
    if (
        draft.kind is RequestKind.GRANT
        and not any(v.field == "worker_email" for v in out)
        and not any(v.field == "municipality" for v in out)
    ):
        out += check_worker_employer(draft.worker_email, municipality)
    out += check_service_areas(draft.service_areas, area)
    out += check_level(draft.level, directory, area)
    out += check_dates(
        draft.start,
        draft.end,
        today=ctx.today,
        area=area,
        agreement_ends=municipality.agreement_ends,
    )
    out += check_confirmations(draft.confirmations, area)
    if draft.kind is RequestKind.GRANT and not any(v.field == "worker_email" for v in out):
        out += check_duplicate(
            draft.worker_email,
            area.code,
            ctx.grants,
            ctx.requests,
            exclude_request_id=ctx.exclude_request_id,
        )
    if draft.kind is RequestKind.CHANGE and grant is not None:
        out += check_change_differs(draft, grant)
    return out


def check_revoke(
    grant: Grant | None, grant_id: str, note: str, *, note_required: bool = False
) -> list[Violation]:
    """A revoke needs a live grant that is not already being revoked."""
    out = check_grant_target(grant, grant_id, ())
    out += check_text("note", note, max_length=DECISION_TEXT_MAX, required=note_required)
    return out


def earliest_effective(start: date, end: date, today: date, backdate_days: int) -> date:
    """The earliest effective date of a removal of the grant ``start``..``end``: the
    area's ``revoke_backdate_days`` back from today, never before the grant began (the
    date picker's minimum). A grant whose own end lies further back than that can
    still be removed on that end: the day was agreed at approval, it is not a backdating."""
    return min(max(today - timedelta(days=backdate_days), start), end)


def check_effective(
    start: date, end: date, effective: date, today: date, backdate_days: int
) -> list[Violation]:
    """A removal of the grant ``start``..``end`` takes effect on a day between the grant's
    start and its end, at most ``backdate_days`` back from today (a past day: the real
    end, such as the day employment ended), today, or a future day."""
    if effective < start:
        began = {"start": start.isoformat()}
        return [Violation("revoke.effective_before_start", "effective", began)]
    earliest = earliest_effective(start, end, today, backdate_days)
    if effective < earliest:
        return [
            Violation(
                "revoke.effective_too_far_back",
                "effective",
                {"backdate_days": backdate_days, "earliest": earliest.isoformat()},
            )
        ]
    if effective > end:
        return [Violation("revoke.effective_after_end", "effective", {"end": end.isoformat()})]
    return []


def parse_effective(value: object) -> tuple[date | None, list[Violation]]:
    """An effective date typed or picked as text (``YYYY-MM-DD``); anything else is
    ``revoke.effective_invalid``."""
    if isinstance(value, date):
        return value, []
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]), []
        except ValueError:
            pass
    return None, [Violation("revoke.effective_invalid", "effective", {})]


def check_decision_text(field_name: str, value: str) -> list[Violation]:
    """A rejection reason or a return question is required and bounded."""
    return check_text(field_name, value, max_length=DECISION_TEXT_MAX, required=True)


def check_answer(value: str) -> list[Violation]:
    """The requester's answer to an approver's question is required and bounded."""
    return check_text("answer", value, max_length=DECISION_TEXT_MAX, required=True)
def lapse_reason(request: AccessRequest, directory: Directory, today: date) -> RevokeReason | None:
    """Why an approved grant or change request may no longer go to KEHA: its
    municipality's agreement has ended (002 §9, or it is no longer contracted) or the
    end date it asks for has passed. None: it may go. A revoke never lapses."""
    if request.kind is RequestKind.REVOKE:
        return None
    if check_municipality(request.municipality, directory, today):
        return RevokeReason.AGREEMENT_ENDED
    if request.end is not None and request.end < today:
        return RevokeReason.GRANT_ENDED
    return None


def check_still_grantable(
    municipality_code: str,
    directory: Directory,
    today: date,
    *,
    worker_email: str | None = None,
) -> list[Violation]:
    """At approval: the municipality still has its agreements (one may have ended, or the
    directory changed, since the request was made) and, for a new worker
    (``worker_email``), the address is still one of the municipality's own."""
    out = check_municipality(municipality_code, directory, today)
    municipality = directory.municipality(municipality_code)
    if worker_email is not None and municipality is not None and not out:
        out += check_worker_employer(worker_email, municipality)
    return out
