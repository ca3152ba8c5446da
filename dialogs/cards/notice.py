"""A notification as a small card: what happened, and the button for what it invites.

Every notification of ``access.notifications.TEMPLATES`` is shown with
:func:`notice_card`; no template needs code of its own. The button comes from
:data:`NOTICE_ACTIONS` (``template.audience``, then ``template``), else from the
audience's default in :data:`AUDIENCE_ACTIONS`:

==============  =====================================================================
action          the button
==============  =====================================================================
open_request    the request: a requester gets its details (``my_requests`` with the
                request), an approver the request's card (``Action.Execute``
                ``atmt.open``); without a request, their list
answer           the returned request's form with the question (``my_requests``)
acknowledge      the worker's own access, with the terms to acknowledge (``my_access``)
my_access        the worker's own access and requests (``my_access``)
keha             the KEHA batches of the admin's area (``keha``)
change           a change request for a grant (``change``)
review           the access review (``review``)
misuse           the misuse card, where an approver may end the access and mark the
                 report handled (``misuse``)
approvals        the approver's pending requests (``approvals``)
==============  =====================================================================

Buttons send ``{"atmt_command": ...}`` (the router starts that conversation; with
``atmt_open`` the manager's requests open on that request) or, for approvers,
``Action.Execute`` as the approval card does. The request's id travels in the
button's data only; nothing a person reads shows an internal id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialogs.cards.approval import APPROVAL_CARD, VERB_OPEN
from dialogs.cards.base import Card, card, text
from dialogs.cards.status import badge
from dialogs.i18n import Messages

__all__ = [
    "AUDIENCE_ACTIONS",
    "NOTICE_ACTIONS",
    "notice_action",
    "notice_actions",
    "notice_card",
]

#: The button of a notification, by ``template.audience`` or ``template``.
NOTICE_ACTIONS: Mapping[str, str] = {
    "request.returned.requester": "answer",
    "request.submitted.worker": "my_access",
    "request.approved.worker": "my_access",
    "grant.opened.worker": "acknowledge",
    "grant.changed.worker": "acknowledge",
    "grant.expiring.requester": "change",
    "keha.unconfirmed": "keha",
    "review.requested.requester": "review",
    "review.reminder.requester": "review",
    "review.overdue.requester": "review",
    "misuse.reported.approver": "misuse",
    "agreement.notice.approver": "approvals",
    "agreement.ending.approver": "approvals",
    "review.overdue.approver": "approvals",
}

#: The button of any other notification, by its audience.
AUDIENCE_ACTIONS: Mapping[str, str] = {
    "requester": "open_request",
    "worker": "my_access",
    "approver": "open_request",
    "admin": "keha",
}

#: Commands behind the actions that are one command each, and their button's text.
_COMMANDS: Mapping[str, tuple[str, str]] = {
    "acknowledge": ("my_access", "notify.button.acknowledge"),
    "my_access": ("my_access", "notify.button.my_access"),
    "keha": ("keha", "notify.button.keha"),
    "change": ("change", "notify.button.change"),
    "review": ("review", "notify.button.review"),
    "misuse": ("misuse", "notify.button.misuse"),
    "approvals": ("approvals", "notify.button.approvals"),
}


def notice_action(template: str, audience: str) -> str:
    """The action a notification invites (a name of the table in this module)."""
    return (
        NOTICE_ACTIONS.get(f"{template}.{audience}")
        or NOTICE_ACTIONS.get(template)
        or AUDIENCE_ACTIONS.get(audience, "open_request")
    )


def _submit(label: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Action.Submit", "title": label, "data": data}


def notice_actions(
    m: Messages,
    template: str,
    audience: str,
    *,
    request_id: str | None,
    version: int = 0,
) -> list[dict[str, Any]]:
    """The button(s) of a notification card."""
    action = notice_action(template, audience)
    if action in _COMMANDS:
        command, label = _COMMANDS[action]
        return [_submit(m.t(label), {"atmt_command": command})]
    if action == "answer" and request_id:
        answer = {"atmt_command": "my_requests", "atmt_open": request_id, "atmt_answer": True}
        return [_submit(m.t("notify.button.answer"), answer)]
    if audience == "approver":
        if request_id:
            return [
                {
                    "type": "Action.Execute",
                    "title": m.t("notify.button.open_request"),
                    "verb": VERB_OPEN,
                    "data": {
                        "atmt_card": APPROVAL_CARD,
                        "request_id": request_id,
                        "version": version,
                    },
                }
            ]
        return [_submit(m.t("notify.button.approvals"), {"atmt_command": "approvals"})]
    if audience == "worker":
        return [_submit(m.t("notify.button.my_access"), {"atmt_command": "my_access"})]
    if audience == "admin":
        return [_submit(m.t("notify.button.keha"), {"atmt_command": "keha"})]
    data: dict[str, Any] = {"atmt_command": "my_requests"}
    if request_id:
        data["atmt_open"] = request_id
        return [_submit(m.t("notify.button.open_request"), data)]
    return [_submit(m.t("notify.button.my_requests"), data)]


def notice_card(
    heading: str,
    body: str,
    actions: list[dict[str, Any]],
    *,
    urgent: str | None = None,
) -> Card:
    """The card: an urgent mark (for whoever must act on KEHA), a heading, the text and
    the buttons."""
    blocks: list[dict[str, Any]] = []
    if urgent:
        blocks.append(badge("urgent", urgent))
    blocks.append(
        {"type": "TextBlock", "text": heading, "size": "Medium", "weight": "Bolder", "wrap": True}
    )
    blocks.append(text(body))
    return card(blocks, actions)
