"""The misuse cards (seed 002 §7, §10): the report card (which grant, what was seen,
and for an approver of the grant's area a toggle to revoke it at once) and the
approver's card of open reports, to mark one handled with its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from access.misuse import NOTE_MAX, OpenMatter
from access.model import Grant, MatterOutcome
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import literal, plain
from dialogs.i18n import Messages

__all__ = ["MATTERS_CARD", "MISUSE_CARD", "matters_card", "misuse_card"]

MISUSE_CARD = "misuse"
MATTERS_CARD = "misuse_matters"
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


def matters_card(m: Messages, matters: Sequence[OpenMatter]) -> Card:
    """The open reports of the approver's areas, oldest first, and a form to mark one
    handled: which report, the outcome, a note."""
    shown = list(matters)[:MAX_CHOICES]
    body: list[dict[str, Any]] = [
        title(m.t("misuse.matters.title")),
        text(m.t("misuse.matters.intro")),
    ]
    for item in shown:
        body.append(
            text(
                m.t(
                    "misuse.matters.item",
                    reported_on=m.format_datetime(item.matter.reported_at),
                    worker_name=plain(item.grant.worker.name, limit=200),
                    municipality_name=plain(item.municipality_name, limit=100),
                    reporter=plain(item.matter.reported_by, limit=320),
                    note=plain(item.matter.note, limit=NOTE_MAX),
                )
            )
        )
    body += [
        {
            "type": "Input.ChoiceSet",
            "id": "matter_id",
            "label": m.t("misuse.matters.matter_label"),
            "isRequired": True,
            "errorMessage": m.t("misuse.matters.matter_error"),
            "choices": [
                {
                    "title": literal(
                        f"{m.format_datetime(item.matter.reported_at)}: {item.grant.worker.name}",
                        limit=250,
                    ),
                    "value": item.matter.id,
                }
                for item in shown
            ],
        },
        {
            "type": "Input.ChoiceSet",
            "id": "outcome",
            "label": m.t("misuse.matters.outcome_label"),
            "isRequired": True,
            "errorMessage": m.t("misuse.matters.outcome_error"),
            "choices": [
                {"title": m.t(f"misuse.outcome.{o.value}"), "value": o.value} for o in MatterOutcome
            ],
        },
        {
            "type": "Input.Text",
            "id": "note",
            "label": m.t("misuse.matters.note_label"),
            "isMultiline": True,
            "maxLength": NOTE_MAX,
        },
    ]
    actions = [
        {
            "type": "Action.Submit",
            "title": m.t("misuse.matters.submit"),
            "data": {"atmt_card": MATTERS_CARD},
        }
    ]
    return card(body, actions)
