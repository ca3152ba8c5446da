"""The language choice card of :mod:`dialogs.language` and its answered form."""

from __future__ import annotations

from dialogs.cards.base import Card, card, text, title
from dialogs.i18n import LOCALES, Messages

LANGUAGE_INPUT = "language"
LANGUAGE_CARD = "language"


def language_card(m: Messages, current: str) -> Card:
    return card(
        [
            title(m.t("language.title")),
            text(m.t("language.prompt")),
            text(m.t("language.current", language=m.language_name(current)), subtle=True),
            {
                "type": "Input.ChoiceSet",
                "id": LANGUAGE_INPUT,
                "label": m.t("language.label"),
                "style": "expanded",
                "isRequired": True,
                "errorMessage": m.t("language.required"),
                "value": current,
                "choices": [
                    {"title": m.language_name(locale), "value": locale} for locale in LOCALES
                ],
            },
        ],
        [
            {
                "type": "Action.Submit",
                "title": m.t("language.submit"),
                "data": {"atmt_card": LANGUAGE_CARD},
            }
        ],
    )


def language_chosen_card(m: Messages, chosen: str) -> Card:
    """Replaces the form once answered, so it cannot be submitted twice."""
    return card(
        [
            title(m.t("language.title")),
            text(m.t("language.chosen", language=m.language_name(chosen))),
        ]
    )
