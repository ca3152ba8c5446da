"""The misuse report card (seed 002 §7, §10): which grant, what was seen,
and for an approver of the grant's area a toggle to revoke it at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from access.misuse import NOTE_MAX
from access.model import Grant
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import literal
from dialogs.i18n import Messages

__all__ = ["MISUSE_CARD", "misuse_card"]

MISUSE_CARD = "misuse"
MAX_CHOICES = 200


def misuse_card(m: Messages, grants: Sequence[Grant], *, may_revoke: bool) -> Card:
    choices = [
        {
            "title": m.t(
                "misuse.card.grant",
                worker_name=literal(g.worker.name, limit=200),
                worker_email=literal(g.worker.email, limit=320),
                end=m.format_date(g.end),
            ),
            "value": g.id,
        }
        for g in list(grants)[:MAX_CHOICES]
    ]
    body: list[dict[str, Any]] = [
        title(m.t("misuse.card.title")),
        text(m.t("misuse.card.intro")),
        {
            "type": "Input.ChoiceSet",
            "id": "grant_id",
            "label": m.t("misuse.card.grant_label"),
            "isRequired": True,
            "errorMessage": m.t("misuse.card.grant_error"),
            "choices": choices,
        },
        {
            "type": "Input.Text",
            "id": "note",
            "label": m.t("misuse.card.note_label"),
            "isMultiline": True,
            "maxLength": NOTE_MAX,
            "isRequired": True,
            "errorMessage": m.t("misuse.card.note_error"),
        },
    ]
    if may_revoke:
        body.append(
            {
                "type": "Input.Toggle",
                "id": "revoke_now",
                "title": m.t("misuse.card.revoke_now"),
                "label": m.t("misuse.card.revoke_label"),
                "value": "false",
                "valueOn": "true",
                "valueOff": "false",
            }
        )
    actions = [
        {
            "type": "Action.Submit",
            "title": m.t("misuse.card.submit"),
            "data": {"atmt_card": MISUSE_CARD},
        }
    ]
    return card(body, actions)
