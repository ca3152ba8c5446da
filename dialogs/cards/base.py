"""Small helpers shared by the card builders (Adaptive Cards 1.5, Teams' ceiling)."""

from __future__ import annotations

from typing import Any

from dialogs.cards.status import speech_of

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

Card = dict[str, Any]


def card(
    body: list[dict[str, Any]],
    actions: list[dict[str, Any]] | None = None,
    *,
    speak: str | None = None,
) -> Card:
    """A card; ``speak`` (what a screen reader or speaker says) defaults to the card's
    first texts (:func:`dialogs.cards.status.speech_of`)."""
    result: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        result["actions"] = actions
    spoken = speak if speak is not None else speech_of(body)
    if spoken:
        result["speak"] = spoken
    # Full width in Teams, so lists do not wrap into a narrow column.
    result["msteams"] = {"width": "Full"}
    return result


def title(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "size": "Large", "weight": "Bolder", "wrap": True}


def text(value: str, *, subtle: bool = False, weight: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": value, "wrap": True}
    if subtle:
        block["isSubtle"] = True
    if weight:
        block["weight"] = weight
    return block


def command_button(label: str, command: str) -> dict[str, Any]:
    return {"type": "Action.Submit", "title": label, "data": {"atmt_command": command}}
