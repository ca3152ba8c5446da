"""Cards about grants: pick one (change, revoke), the revoke form, its summary and
receipt, and the worker's "my access" view with the data-protection acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import literal, plain
from dialogs.cards.request_form import FieldError, attention
from dialogs.cards.status import badge
from dialogs.i18n import Messages

__all__ = [
    "ACK_CARD",
    "AREA_REVOKE_REASONS",
    "GRANT_PICK_CARD",
    "PICK_LIMIT",
    "REVOKE_FORM_CARD",
    "REVOKE_REASONS",
    "REVOKE_SUMMARY_CARD",
    "GrantLine",
    "RevokeFormOptions",
    "acknowledged_card",
    "grant_pick_card",
    "my_access_card",
    "revoke_form_card",
    "revoke_scheduled_card",
    "revoke_sent_card",
    "revoke_summary_card",
]

GRANT_PICK_CARD = "grant_pick"
REVOKE_FORM_CARD = "revoke_form"
REVOKE_SUMMARY_CARD = "revoke_summary"
ACK_CARD = "access_ack"
PICK_LIMIT = 5  # more grants than this: search by name first
SEARCH_MAX = 100
REVOKE_REASONS = ("employment_ended", "tasks_changed", "other")  # the municipality (002 §5)
# the area (002 §4: the task ended, misuse; 002 §10: the agreement breached)
AREA_REVOKE_REASONS = ("task_ended", "employment_ended", "misuse", "agreement_breach", "other")
NOTE_MAX = 2000


@dataclass(frozen=True)
class RevokeFormOptions:
    """What the removal form offers: the reasons of who removes (the municipality or
    the area) and the range of the effective date (ISO dates)."""

    reasons: tuple[str, ...] = REVOKE_REASONS
    by_area: bool = False
    earliest: str = ""
    latest: str = ""


@dataclass(frozen=True)
class GrantLine:
    """A grant as shown: id and a one-line description (plain text)."""

    id: str
    label: str


def _data(card_name: str, instance: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"atmt_card": card_name, "atmt_instance": instance, "atmt_action": action, **extra}


def grant_pick_card(
    m: Messages,
    purpose: str,
    lines: Sequence[GrantLine],
    *,
    total: int,
    search: str,
    instance: str,
    errors: Sequence[FieldError] = (),
) -> Card:
    """``purpose``: ``change`` or ``revoke``. With more than :data:`PICK_LIMIT`
    grants the card has a search by worker name; ``lines`` are the matches."""
    body: list[dict[str, Any]] = [
        title(m.t(f"manager.pick.title.{purpose}")),
        text(m.n("manager.pick.count", total), subtle=True),
    ]
    actions: list[dict[str, Any]] = []
    body.extend(attention(e.text) for e in errors)
    if total > PICK_LIMIT:
        body.append(
            {
                "type": "Input.Text",
                "id": "search",
                "label": m.t("manager.field.search"),
                "placeholder": m.t("manager.field.search.placeholder"),
                "maxLength": SEARCH_MAX,
                "value": search,
            }
        )
        actions.append(
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.search"),
                "data": _data(GRANT_PICK_CARD, instance, "search"),
            }
        )
        if search and not lines:
            body.append(text(m.t("manager.pick.no_match")))
    if lines:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "grant_id",
                "label": m.t("manager.field.grant"),
                "style": "expanded",
                "choices": [{"title": literal(line.label), "value": line.id} for line in lines],
                "value": lines[0].id if len(lines) == 1 else "",
            }
        )
        actions.insert(
            0,
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.choose"),
                "style": "positive",
                "data": _data(GRANT_PICK_CARD, instance, "choose"),
            },
        )
    actions.append(
        {
            "type": "Action.Submit",
            "title": m.t("manager.action.cancel"),
            "associatedInputs": "none",
            "data": _data(GRANT_PICK_CARD, instance, "cancel"),
        }
    )
    return card(body, actions)


def revoke_form_card(
    m: Messages,
    grant_facts: Sequence[tuple[str, str]],
    values: dict[str, str],
    errors: Sequence[FieldError],
    *,
    instance: str,
    options: RevokeFormOptions | None = None,
) -> Card:
    """The removal form: the reason (a required choice), a note (required for "other",
    and for "misuse" when the area removes) and the effective date between
    ``options.earliest`` and ``options.latest``."""
    options = options or RevokeFormOptions()

    def under(name: str) -> list[dict[str, Any]]:
        return [attention(e.text) for e in errors if e.field == name]

    body: list[dict[str, Any]] = [
        title(m.t("manager.revoke.title")),
        text(m.t(f"manager.revoke.intro{'_area' if options.by_area else ''}"), subtle=True),
        {"type": "FactSet", "facts": [{"title": k, "value": plain(v)} for k, v in grant_facts]},
    ]
    body.extend(attention(e.text) for e in errors if e.field not in ("reason", "note", "effective"))
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": "reason",
            "label": m.t("manager.field.reason"),
            "style": "expanded",
            "isRequired": True,
            "errorMessage": m.t("manager.field.reason.error"),
            "choices": [
                {"title": m.t(f"manager.revoke_reason.{code}"), "value": code}
                for code in options.reasons
            ],
            "value": values.get("reason", ""),
        }
    )
    body.extend(under("reason"))
    body.append(
        {
            "type": "Input.Text",
            "id": "note",
            "label": m.t("manager.field.note"),
            "placeholder": m.t(
                "manager.field.note.placeholder_area"
                if options.by_area
                else "manager.field.note.placeholder"
            ),
            "isMultiline": True,
            "maxLength": NOTE_MAX,
            "value": values.get("note", ""),
        }
    )
    body.extend(under("note"))
    effective: dict[str, Any] = {
        "type": "Input.Date",
        "id": "effective",
        "label": m.t("manager.field.effective"),
        "isRequired": True,
        "errorMessage": m.t("manager.field.effective.error"),
        "value": values.get("effective", ""),
    }
    if options.earliest:
        effective["min"] = options.earliest
    if options.latest:
        effective["max"] = options.latest
    body.append(effective)
    body.append(text(m.t("manager.field.effective.hint"), subtle=True))
    body.extend(under("effective"))
    return card(
        body,
        [
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.continue"),
                "style": "positive",
                "data": _data(REVOKE_FORM_CARD, instance, "submit"),
            },
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.cancel"),
                "associatedInputs": "none",
                "data": _data(REVOKE_FORM_CARD, instance, "cancel"),
            },
        ],
    )


def revoke_summary_card(
    m: Messages,
    facts: Sequence[tuple[str, str]],
    *,
    instance: str,
    revision: int,
    intro: str,
) -> Card:
    """``intro`` says what Confirm does with this effective date (at once, or the
    access ends on that day)."""

    def button(action: str, label: str, style: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "Action.Submit",
            "title": label,
            "data": _data(REVOKE_SUMMARY_CARD, instance, action, atmt_revision=revision),
        }
        if style:
            element["style"] = style
        return element

    return card(
        [
            title(m.t("manager.revoke.summary_title")),
            text(intro),
            {"type": "FactSet", "facts": [{"title": k, "value": plain(v)} for k, v in facts]},
        ],
        [
            button("confirm", m.t("manager.action.confirm_revoke"), "destructive"),
            button("edit", m.t("manager.action.edit")),
            button("cancel", m.t("manager.action.cancel")),
        ],
    )


def revoke_sent_card(
    m: Messages,
    number: str,
    state_label: str,
    facts: Sequence[tuple[str, str]],
    *,
    next_text: str | None = None,
) -> Card:
    """The receipt of a removal sent at once (``next_text``: what happens next)."""
    return card(
        [
            title(m.t("manager.revoke.sent_title", number=number)),
            {
                "type": "FactSet",
                "facts": [
                    {"title": m.t("manager.fact.number"), "value": number},
                    {"title": m.t("manager.fact.state"), "value": state_label},
                ]
                + [{"title": k, "value": plain(v)} for k, v in facts],
            },
            text(next_text or m.t("manager.revoke.next")),
        ]
    )


def revoke_scheduled_card(m: Messages, effective: str, facts: Sequence[tuple[str, str]]) -> Card:
    """The receipt of a removal dated in the future: the access ends on ``effective``."""
    return card(
        [
            title(m.t("manager.revoke.scheduled_title", effective=effective)),
            {"type": "FactSet", "facts": [{"title": k, "value": plain(v)} for k, v in facts]},
            text(m.t("manager.revoke.scheduled_next", effective=effective)),
        ]
    )


def my_access_card(
    m: Messages,
    grants: Sequence[tuple[str, Sequence[tuple[str, str]], str | None]],
    requests: Sequence[Sequence[tuple[str, str]]],
    *,
    notice: str | None = None,
) -> Card:
    """``grants``: (heading, facts, grant id to acknowledge or None); ``requests``:
    facts of each open request about the worker; ``notice``: what just happened (the
    acknowledgement), shown on top."""
    body: list[dict[str, Any]] = [title(m.t("manager.my_access.title"))]
    if notice:
        body.append(badge("confirmed", notice))
    actions: list[dict[str, Any]] = []
    if not grants and not requests:
        body.append(text(m.t("manager.my_access.none")))
    if grants:
        body.append(text(m.t("manager.my_access.grants"), weight="Bolder"))
    for heading, facts, ack_id in grants:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    text(plain(heading), weight="Bolder"),
                    {
                        "type": "FactSet",
                        "facts": [{"title": k, "value": plain(v)} for k, v in facts],
                    },
                ],
            }
        )
        if ack_id is not None:
            body.append(text(m.t("manager.my_access.ack_needed"), subtle=True))
            actions.append(
                {
                    "type": "Action.ShowCard",
                    "title": m.t("manager.action.read_terms"),
                    "card": acknowledgement_card(m, ack_id),
                }
            )
    if requests:
        body.append(text(m.t("manager.my_access.requests"), weight="Bolder"))
    for facts in requests:
        body.append(
            {
                "type": "FactSet",
                "separator": True,
                "facts": [{"title": k, "value": plain(v)} for k, v in facts],
            }
        )
    return card(body, actions or None)


def acknowledgement_card(m: Messages, grant_id: str) -> Card:
    """The data-protection terms and the button that records the acknowledgement."""
    inner = card(
        [
            title(m.t("manager.ack.title")),
            text(m.t("manager.ack.terms")),
            {
                "type": "Input.Toggle",
                "id": f"ack_{grant_id[:32]}",
                "label": m.t("manager.ack.label"),
                "title": m.t("manager.ack.toggle"),
                "valueOn": "true",
                "valueOff": "false",
                "isRequired": True,
                "errorMessage": m.t("manager.ack.error"),
                "wrap": True,
            },
        ],
        [
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.acknowledge"),
                "style": "positive",
                "data": {"atmt_card": ACK_CARD, "atmt_action": "ack", "grant_id": grant_id},
            }
        ],
    )
    inner.pop("$schema", None)
    inner.pop("msteams", None)
    return inner


def acknowledged_card(m: Messages, when: str) -> Card:
    return card([title(m.t("manager.ack.title")), text(m.t("manager.ack.done", when=when))])
