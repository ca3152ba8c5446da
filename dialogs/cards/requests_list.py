"""The manager's request list (state badges) and one request's details with history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import plain
from dialogs.cards.status import state_badge
from dialogs.i18n import Messages

__all__ = [
    "DETAILS_CARD",
    "LIST_CARD",
    "RequestRow",
    "request_details_card",
    "requests_list_card",
    "state_badge",
]

LIST_CARD = "requests_list"
DETAILS_CARD = "request_details"


@dataclass(frozen=True)
class RequestRow:
    request_id: str
    number: str
    kind_label: str
    worker_name: str
    municipality_name: str
    state: str  # code
    state_label: str
    when: str  # formatted date of the last change


def requests_list_card(m: Messages, rows: Sequence[RequestRow], *, instance: str) -> Card:
    body: list[dict[str, Any]] = [
        title(m.t("manager.requests.title")),
        text(m.n("manager.requests.intro", len(rows)), subtle=True),
    ]
    for row in rows:
        details = {
            "type": "Action.Submit",
            "title": m.t("manager.action.details"),
            "data": {
                "atmt_card": LIST_CARD,
                "atmt_instance": instance,
                "atmt_action": "details",
                "request_id": row.request_id,
            },
        }
        body.append(
            {
                "type": "ColumnSet",
                "separator": True,
                "selectAction": details,
                "columns": [
                    {
                        "type": "Column",
                        "width": "stretch",
                        "items": [
                            text(
                                m.t(
                                    "manager.requests.row",
                                    number=row.number,
                                    kind=row.kind_label,
                                    name=plain(row.worker_name, limit=80),
                                ),
                                weight="Bolder",
                            ),
                            text(
                                m.t(
                                    "manager.requests.row_detail",
                                    municipality=row.municipality_name,
                                    when=row.when,
                                ),
                                subtle=True,
                            ),
                        ],
                    },
                    {
                        "type": "Column",
                        "width": "auto",
                        "items": [state_badge(row.state, row.state_label)],
                    },
                ],
            }
        )
        # The whole row is clickable, and a visible button says so (keyboard, touch).
        body.append(
            {
                "type": "ActionSet",
                "spacing": "Small",
                "actions": [
                    details | {"title": m.t("manager.action.details_of", number=row.number)}
                ],
            }
        )
    body.append(text(m.t("manager.requests.hint"), subtle=True))
    return card(
        body,
        [
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.close"),
                "data": {"atmt_card": LIST_CARD, "atmt_instance": instance, "atmt_action": "close"},
            }
        ],
    )


def request_details_card(
    m: Messages,
    *,
    heading: str,
    state: str,
    state_label: str,
    facts: Sequence[tuple[str, str]],
    history: Sequence[tuple[str, str, str]],
    question: str | None,
    can_cancel: bool,
    can_answer: bool,
    instance: str,
    request_id: str,
    version: int,
) -> Card:
    """``history``: (when, what, text) oldest first; texts typed by people are escaped."""

    def data(action: str) -> dict[str, Any]:
        return {
            "atmt_card": DETAILS_CARD,
            "atmt_instance": instance,
            "atmt_action": action,
            "request_id": request_id,
            "version": version,
        }

    body: list[dict[str, Any]] = [
        title(heading),
        state_badge(state, state_label),
        {"type": "FactSet", "facts": [{"title": k, "value": plain(v)} for k, v in facts]},
    ]
    if question:
        body.append(text(m.t("manager.form.question", question=plain(question)), weight="Bolder"))
    body.append(text(m.t("manager.details.history"), weight="Bolder"))
    body.append(
        {
            "type": "FactSet",
            "facts": [
                {"title": when, "value": what + (f" – {plain(note)}" if note else "")}
                for when, what, note in history
            ],
        }
    )
    actions: list[dict[str, Any]] = []
    if can_answer:
        actions.append(
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.answer"),
                "style": "positive",
                "data": data("answer"),
            }
        )
    if can_cancel:
        actions.append(
            {
                "type": "Action.ShowCard",
                "title": m.t("manager.action.cancel_request"),
                "card": {
                    "type": "AdaptiveCard",
                    "version": "1.5",
                    "body": [text(m.t("manager.details.cancel_confirm"))],
                    "actions": [
                        {
                            "type": "Action.Submit",
                            "title": m.t("manager.action.cancel_request_confirm"),
                            "style": "destructive",
                            "data": data("cancel_request"),
                        }
                    ],
                },
            }
        )
    actions.append(
        {"type": "Action.Submit", "title": m.t("manager.action.back"), "data": data("back")}
    )
    return card(body, actions)
