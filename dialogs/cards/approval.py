"""The approver's card (Universal Actions) and the list of pending requests.

Pure functions from an :class:`ApprovalView` (the request as stored, its last
decision, the worker's earlier grants, what changed since a question) to Adaptive
Card 1.5 dicts. Buttons are ``Action.Execute`` with a ``verb`` and
``{"request_id", "version"}``; Reject and Return open an ``Action.ShowCard`` whose
required ``Input.Text`` travels with its ``Action.Execute``. While the request is
pending the card has a ``refresh`` (verb ``refresh``) for the approvers' Teams user
ids, so each of them sees the live state when the card is shown. A decided card
shows the outcome, who decided and when, and no buttons; someone who may not decide
gets the same facts read-only.

People (the requester, who decided) are named by their Teams display name and where
they act, with the e-mail (:func:`dialogs.people.card_person`), from the view's
``names``; the e-mail alone for someone whose name the bot never learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from access.directory import Directory
from access.model import AccessRequest, Decision, DecisionOutcome, Grant, RequestState
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import plain
from dialogs.cards.status import badge, error_line
from dialogs.i18n import Messages
from dialogs.people import card_person
from dialogs.violations import code_name

__all__ = [
    "APPROVAL_CARD",
    "VERBS",
    "VERB_APPROVE",
    "VERB_LIST",
    "VERB_OPEN",
    "VERB_REFRESH",
    "VERB_REJECT",
    "VERB_RETURN",
    "VERB_STOP",
    "VERB_STOP_CONFIRM",
    "ApprovalView",
    "Change",
    "approval_card",
    "approvals_list_card",
    "message_card",
    "outcome_line",
    "request_person",
]

APPROVAL_CARD = "approval"
VERB_APPROVE = "atmt.approve"
VERB_REJECT = "atmt.reject"
VERB_RETURN = "atmt.return"
VERB_REFRESH = "atmt.refresh"
VERB_OPEN = "atmt.open"
VERB_LIST = "atmt.list"
VERB_STOP = "atmt.stop"  # the stop form sent: reason and note -> the confirmation
VERB_STOP_CONFIRM = "atmt.stop.confirm"  # the confirmation: stop it
VERBS = frozenset(
    {
        VERB_APPROVE,
        VERB_REJECT,
        VERB_RETURN,
        VERB_REFRESH,
        VERB_OPEN,
        VERB_LIST,
        VERB_STOP,
        VERB_STOP_CONFIRM,
    }
)
TEXT_MAX = 2000
LIST_MAX = 20
MAX_USER_IDS = 60  # Teams refreshes automatically for at most 60 users


@dataclass(frozen=True)
class Change:
    """One field that differs from the version the approvers saw before."""

    field: str  # service_areas | level | start | end | worker_name | worker_job_title
    # | justification | confirmations
    old: str  # raw value: codes comma-separated, ISO dates, text
    new: str


@dataclass(frozen=True)
class ApprovalView:
    request: AccessRequest
    decision: Decision | None = None  # the last decision (approve/reject/return)
    earlier_grants: tuple[Grant, ...] = ()
    changes: tuple[Change, ...] = ()
    question: str | None = None  # the question answered by a resubmit
    answer: str | None = None  # the requester's answer to it
    grant_changes: tuple[Change, ...] = ()  # a change request: the grant now -> asked
    can_decide: bool = False
    readonly_reason: str | None = None  # authz denial reason
    notice: str | None = None  # shown on top (already decided, stale, error)
    notice_is_error: bool = False
    input_error: str | None = None  # "reason" | "question" | "note": show that form open
    user_ids: tuple[str, ...] = field(default_factory=tuple)
    # Approved, not yet confirmed by KEHA, and the reader is an approver of its area who
    # may stop it: the reasons (codes) offered, in this order; empty: no stop button.
    stop_reasons: tuple[str, ...] = ()
    stop_values: tuple[str, str] = ("", "")  # the form's reason and note, kept on an error
    confirm_stop: bool = False  # ask "stop it?" for ``stop_values``
    # Teams display names of the people the card names (requester, decider), by
    # lower-case e-mail; someone missing is shown by e-mail.
    names: Mapping[str, str] = field(default_factory=dict)


def _date(m: Messages, value: date | None) -> str:
    return m.format_date(value) if value is not None else "–"


def _areas(m: Messages, directory: Directory, codes: Sequence[str]) -> str:
    return ", ".join(code_name(m, directory, "service_area", c) for c in codes) or "–"


def _change_value(m: Messages, directory: Directory, name: str, raw: str) -> str:
    if name == "service_areas":
        return _areas(m, directory, [c for c in raw.split(",") if c])
    if name == "level":
        return code_name(m, directory, "level", raw) if raw else "–"
    if name in ("start", "end"):
        try:
            return m.format_date(date.fromisoformat(raw))
        except ValueError:
            return "–"
    if name == "confirmations":
        codes = [c for c in raw.split(",") if c]
        return ", ".join(code_name(m, directory, "requirement", c) for c in codes) or "–"
    return plain(raw, limit=300) or "–"


def _change_items(m: Messages, directory: Directory, changes: Sequence[Change]) -> list[Any]:
    return [
        text(
            m.t(
                "approval.changes.item",
                field=m.t(f"approval.fact.{change.field}"),
                old=_change_value(m, directory, change.field, change.old),
                new=_change_value(m, directory, change.field, change.new),
            )
        )
        for change in changes
    ]


def _fact(m: Messages, key: str, value: str) -> dict[str, str]:
    return {"title": m.t(key), "value": value}


def request_person(
    m: Messages,
    directory: Directory,
    request: AccessRequest,
    email: str,
    names: Mapping[str, str],
) -> str:
    """Someone a card about ``request`` names (its requester, who decided), escaped:
    "Maija Esimerkki, Laukaa (manager@laukaa.example.fi)", or the e-mail."""
    params = {"municipality": request.municipality, "area": request.area}
    return plain(card_person(m, directory, email, params, names), limit=800)


def outcome_line(
    m: Messages,
    directory: Directory,
    request: AccessRequest,
    decision: Decision | None,
    names: Mapping[str, str] | None = None,
) -> str:
    """ "Approved by X on 1.2.2026 at 9.05" and the like, for a request not pending;
    X by name (``names``: display names by lower-case e-mail) or e-mail."""
    if request.state in (RequestState.STOPPING, RequestState.STOPPED):
        # Approved, then stopped before KEHA opened it: say so, not "approved".
        return m.t(
            "approval.outcome.stopping"
            if request.state is RequestState.STOPPING
            else "approval.outcome.stopped",
            when=m.format_datetime(request.updated_at),
            reason=m.t(f"manager.revoke_reason.{request.revoke_reason.value}")
            if request.revoke_reason is not None
            else "–",
        )
    if decision is not None and request.state is not RequestState.PENDING:
        who = request_person(m, directory, request, decision.actor, names or {})
        when = m.format_datetime(decision.at)
        if decision.outcome is DecisionOutcome.RETURNED and request.state is RequestState.RETURNED:
            return m.t(
                "approval.outcome.returned",
                who=who,
                when=when,
                text=plain(decision.text, limit=TEXT_MAX),
            )
        if decision.outcome is DecisionOutcome.APPROVED:
            return m.t("approval.outcome.approved", who=who, when=when)
        if decision.outcome is DecisionOutcome.REJECTED:
            return m.t(
                "approval.outcome.rejected",
                who=who,
                when=when,
                text=plain(decision.text, limit=TEXT_MAX),
            )
    when = m.format_datetime(request.updated_at)
    if request.state is RequestState.CANCELLED:
        return m.t("approval.outcome.cancelled", when=when)
    if request.state is RequestState.EXPIRED:
        return m.t("approval.outcome.expired", when=when)
    return m.t("approval.outcome.other", state=m.t(f"manager.state.{request.state.value}"))


def _facts(
    m: Messages, directory: Directory, request: AccessRequest, names: Mapping[str, str]
) -> dict[str, Any]:
    municipality = directory.municipality(request.municipality)
    worker = f"{plain(request.worker.name, limit=200)} ({plain(request.worker.email, limit=320)})"
    facts = [
        _fact(m, "approval.fact.worker", worker),
        _fact(m, "approval.fact.job_title", plain(request.worker.job_title, limit=200)),
        _fact(
            m,
            "approval.fact.municipality",
            plain(municipality.name if municipality else request.municipality, limit=100),
        ),
        _fact(m, "approval.fact.kind", code_name(m, directory, "kind", request.kind.value)),
        _fact(m, "approval.fact.service_areas", _areas(m, directory, request.service_areas)),
        _fact(
            m,
            "approval.fact.level",
            code_name(m, directory, "level", request.level) if request.level else "–",
        ),
        _fact(
            m,
            "approval.fact.period",
            m.t("approval.period", start=_date(m, request.start), end=_date(m, request.end)),
        ),
        _fact(
            m,
            "approval.fact.requester",
            request_person(m, directory, request, request.requester, names),
        ),
        _fact(m, "approval.fact.submitted", m.format_datetime(request.created_at)),
    ]
    return {"type": "FactSet", "facts": facts}


def _heading(value: str) -> dict[str, Any]:
    block = text(value, weight="Bolder")
    block["spacing"] = "Medium"
    return block


def _notice(value: str, *, error: bool) -> dict[str, Any]:
    if error:
        return error_line(value)
    return {"type": "Container", "style": "emphasis", "items": [text(value, weight="Bolder")]}


def _execute(m: Messages, label_key: str, verb: str, request: AccessRequest) -> dict[str, Any]:
    return {
        "type": "Action.Execute",
        "title": m.t(label_key),
        "verb": verb,
        "data": {"atmt_card": APPROVAL_CARD, "request_id": request.id, "version": request.version},
    }


def _text_form(
    m: Messages,
    *,
    input_id: str,
    label_key: str,
    send_key: str,
    verb: str,
    request: AccessRequest,
    error: bool,
) -> dict[str, Any]:
    field_input: dict[str, Any] = {
        "type": "Input.Text",
        "id": input_id,
        "label": m.t(label_key),
        "isMultiline": True,
        "isRequired": True,
        "maxLength": TEXT_MAX,
        "errorMessage": m.t(f"{label_key}.error"),
    }
    body: list[dict[str, Any]] = [field_input]
    if error:
        body.append(error_line(m.t(f"{label_key}.error")))
    send = _execute(m, send_key, verb, request)
    send["associatedInputs"] = "auto"
    return {"type": "AdaptiveCard", "body": body, "actions": [send]}


def _decide_actions(m: Messages, view: ApprovalView) -> list[dict[str, Any]]:
    request = view.request
    return [
        _execute(m, "approval.action.approve", VERB_APPROVE, request)
        | {"style": "positive", "associatedInputs": "none"},
        {
            "type": "Action.ShowCard",
            "title": m.t("approval.action.reject"),
            "card": _text_form(
                m,
                input_id="reason",
                label_key="approval.field.reason",
                send_key="approval.action.send_reject",
                verb=VERB_REJECT,
                request=request,
                error=view.input_error == "reason",
            ),
        },
        {
            "type": "Action.ShowCard",
            "title": m.t("approval.action.return"),
            "card": _text_form(
                m,
                input_id="question",
                label_key="approval.field.question",
                send_key="approval.action.send_return",
                verb=VERB_RETURN,
                request=request,
                error=view.input_error == "question",
            ),
        },
    ]


def _stop_form(m: Messages, view: ApprovalView) -> dict[str, Any]:
    """Stop before KEHA opens it: the reason (the area's stop reasons) and a note
    (required for misuse); Continue asks for a confirmation first."""
    reason, note = view.stop_values
    choice: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": "stop_reason",
        "label": m.t("approval.stop.reason"),
        "style": "expanded",
        "isRequired": True,
        "errorMessage": m.t("approval.stop.reason.error"),
        "choices": [
            {"title": m.t(f"manager.revoke_reason.{code}"), "value": code}
            for code in view.stop_reasons
        ],
    }
    if reason in view.stop_reasons:
        choice["value"] = reason
    note_input: dict[str, Any] = {
        "type": "Input.Text",
        "id": "stop_note",
        "label": m.t("approval.stop.note"),
        "isMultiline": True,
        "maxLength": TEXT_MAX,
    }
    if note:
        note_input["value"] = note
    body: list[dict[str, Any]] = [
        text(m.t("approval.stop.explain"), subtle=True),
        choice,
        note_input,
    ]
    if view.input_error in ("stop_reason", "note") and view.notice:
        body.append(error_line(view.notice))
    send = _execute(m, "approval.stop.continue", VERB_STOP, view.request)
    send["associatedInputs"] = "auto"
    return {"type": "AdaptiveCard", "body": body, "actions": [send]}


def _stop_actions(m: Messages, view: ApprovalView) -> list[dict[str, Any]]:
    return [
        {
            "type": "Action.ShowCard",
            "title": m.t("approval.action.stop"),
            "card": _stop_form(m, view),
        }
    ]


def _confirm_stop(m: Messages, view: ApprovalView) -> tuple[list[Any], list[dict[str, Any]]]:
    """The question "stop it?" with what will happen, and its two buttons."""
    request = view.request
    reason, note = view.stop_values
    what = {
        RequestState.SENT_TO_KEHA: "approval.stop.confirm.sent",
        RequestState.QUEUED_FOR_KEHA: "approval.stop.confirm.queued",
    }.get(request.state, "approval.stop.confirm.approved")
    items: list[Any] = [
        text(m.t("approval.stop.confirm.title", number=request.number), weight="Bolder"),
        text(m.t(what)),
        text(m.t("approval.stop.confirm.reason", reason=m.t(f"manager.revoke_reason.{reason}"))),
    ]
    if note:
        items.append(text(m.t("approval.stop.confirm.note", note=plain(note, limit=TEXT_MAX))))
    box = {"type": "Container", "style": "warning", "items": items}
    stop = _execute(m, "approval.stop.confirm.yes", VERB_STOP_CONFIRM, request)
    stop["data"] |= {"stop_reason": reason, "stop_note": note}
    stop["associatedInputs"] = "none"
    keep = _execute(m, "approval.stop.confirm.no", VERB_REFRESH, request)
    keep["associatedInputs"] = "none"
    return [box], [stop, keep]


def approval_card(m: Messages, directory: Directory, view: ApprovalView) -> Card:
    """The approver's card in the state ``view`` describes."""
    request = view.request
    body: list[dict[str, Any]] = [
        title(m.t("approval.title", number=request.number)),
    ]
    if view.notice:
        body.append(_notice(view.notice, error=view.notice_is_error))
    pending = request.state is RequestState.PENDING
    if pending and view.can_decide:
        body.append(badge("pending", m.t("approval.pending")))
    elif not pending:
        body.append(
            badge(
                request.state.value, outcome_line(m, directory, request, view.decision, view.names)
            )
        )
    if pending and not view.can_decide:
        reason_key = f"approval.readonly.{view.readonly_reason or 'not_approver_in_area'}"
        if not m.has(reason_key):
            reason_key = "approval.readonly.not_approver_in_area"
        body.append(text(m.t("approval.readonly", reason=m.t(reason_key)), subtle=True))
    if view.answer:
        # The requester's answer first: it is what the approver asked for.
        body.append(_heading(m.t("approval.answer.title")))
        if view.question:
            body.append(
                text(m.t("approval.answer.question", question=plain(view.question, limit=500)))
            )
        body.append(text(m.t("approval.answer.text", answer=plain(view.answer, limit=TEXT_MAX))))
    if view.changes or view.question:
        body.append(_heading(m.t("approval.changes.title")))
        if view.question and not view.answer:
            body.append(
                text(m.t("approval.changes.question", question=plain(view.question, limit=500)))
            )
        body.extend(_change_items(m, directory, view.changes))
        if not view.changes:
            body.append(text(m.t("approval.changes.none"), subtle=True))
    if view.grant_changes:
        body.append(_heading(m.t("approval.change.title")))
        body.extend(_change_items(m, directory, view.grant_changes))
    body.append(_facts(m, directory, request, view.names))
    body.append(_heading(m.t("approval.justification")))
    body.append(text(plain(request.justification or "–", limit=TEXT_MAX)))
    body.append(_heading(m.t("approval.confirmations")))
    if request.confirmations:
        for code in sorted(request.confirmations):
            body.append(
                text(
                    m.t(
                        "approval.confirmation.item",
                        text=code_name(m, directory, "requirement", code),
                    )
                )
            )
    else:
        body.append(text(m.t("approval.confirmations.none"), subtle=True))
    body.append(_heading(m.t("approval.grants.title")))
    if view.earlier_grants:
        for grant in view.earlier_grants:
            body.append(
                text(
                    m.t(
                        "approval.grants.item",
                        areas=_areas(m, directory, grant.service_areas),
                        level=code_name(m, directory, "level", grant.level),
                        start=_date(m, grant.start),
                        end=_date(m, grant.end),
                        state=code_name(m, directory, "grant_state", grant.state.value),
                    )
                )
            )
    else:
        body.append(text(m.t("approval.grants.none"), subtle=True))
    actions: list[dict[str, Any]] | None = None
    if pending and view.can_decide:
        actions = _decide_actions(m, view)
    elif view.stop_reasons and view.confirm_stop:
        question, actions = _confirm_stop(m, view)
        body[1:1] = question  # under the title: it is what the approver answers now
    elif view.stop_reasons:
        actions = _stop_actions(m, view)
    result = card(body, actions)
    if pending and view.user_ids:
        result["refresh"] = {
            "action": {
                "type": "Action.Execute",
                "title": m.t("approval.action.refresh"),
                "verb": VERB_REFRESH,
                "data": {
                    "atmt_card": APPROVAL_CARD,
                    "request_id": request.id,
                    "version": request.version,
                },
            },
            "userIds": list(view.user_ids[:MAX_USER_IDS]),
        }
    return result


def approvals_list_card(
    m: Messages, directory: Directory, requests: Sequence[AccessRequest]
) -> Card:
    """The pending requests of the approver's areas, oldest first, each openable."""
    body: list[dict[str, Any]] = [title(m.t("approval.list.title"))]
    if not requests:
        body.append(text(m.t("approval.list.none")))
        return card(body)
    ordered = sorted(requests, key=lambda r: (r.created_at, r.number))
    shown = ordered[:LIST_MAX]
    body.append(text(m.n("approval.list.count", len(ordered))))
    for request in shown:
        municipality = directory.municipality(request.municipality)
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text(
                        m.t(
                            "approval.list.row",
                            number=request.number,
                            worker=plain(request.worker.name, limit=200),
                            municipality=plain(
                                municipality.name if municipality else request.municipality,
                                limit=100,
                            ),
                            kind=code_name(m, directory, "kind", request.kind.value),
                        )
                    ),
                    text(
                        m.t(
                            "approval.list.row_detail",
                            submitted=m.format_datetime(request.created_at),
                        ),
                        subtle=True,
                    ),
                    {
                        "type": "ActionSet",
                        "actions": [
                            {
                                "type": "Action.Execute",
                                "title": m.t("approval.action.open"),
                                "verb": VERB_OPEN,
                                "data": {
                                    "atmt_card": APPROVAL_CARD,
                                    "request_id": request.id,
                                    "version": request.version,
                                },
                            }
                        ],
                    },
                ],
            }
        )
    if len(ordered) > len(shown):
        body.append(
            text(
                m.n("approval.list.more", len(ordered) - len(shown), shown=len(shown)),
                subtle=True,
            )
        )
    return card(body)


def message_card(m: Messages, value: str) -> Card:
    """A card with one message (an invoke must answer with a card)."""
    return card([text(value, weight="Bolder")])
