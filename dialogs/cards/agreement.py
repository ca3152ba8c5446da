"""The agreement card: an authority admin or approver records a municipality's notice of
termination (002 §9) or the dissolution of its agreement for breach (002 §10)."""

from __future__ import annotations

from typing import Any

from access.directory import Area
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.keha import CARD
from dialogs.cards.markup import literal
from dialogs.i18n import Messages

__all__ = ["agreement_card"]

REASON_MAX = 2000


def agreement_card(m: Messages, area: Area) -> Card:
    """A form: the municipality (contracted ones), notice or dissolution, the reason."""
    municipalities = [
        {"title": literal(x.name, limit=100), "value": x.code}
        for x in area.municipalities
        if x.contracted
    ]
    body: list[dict[str, Any]] = [
        title(m.t("agreement.card.title")),
        text(area.name.get(m.locale), subtle=True),
        text(m.t("agreement.card.intro")),
        {
            "type": "Input.ChoiceSet",
            "id": "municipality",
            "label": m.t("agreement.field.municipality"),
            "isRequired": True,
            "errorMessage": m.t("agreement.field.municipality"),
            "choices": municipalities,
        },
        {
            "type": "Input.ChoiceSet",
            "id": "what",
            "label": m.t("agreement.field.what"),
            "style": "expanded",
            "isRequired": True,
            "errorMessage": m.t("agreement.field.what"),
            "value": "terminate",
            "choices": [
                {
                    "title": m.t("agreement.what.terminate", months=area.termination_notice_months),
                    "value": "terminate",
                },
                {"title": m.t("agreement.what.dissolve"), "value": "dissolve"},
            ],
        },
        {
            "type": "Input.Text",
            "id": "reason",
            "label": m.t("agreement.field.reason"),
            "isMultiline": True,
            "isRequired": True,
            "maxLength": REASON_MAX,
            "errorMessage": m.t("agreement.reason_required"),
        },
    ]
    actions = [
        {
            "type": "Action.Submit",
            "title": m.t("agreement.action.record"),
            "data": {"atmt_card": CARD, "op": "agreement", "area": area.code},
        }
    ]
    return card(body, actions)
