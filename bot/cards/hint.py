"""Short answers: the hint for text the bot did not understand, and 'coming soon'."""

from __future__ import annotations

from bot.cards.base import Card, card, command_button, text
from bot.i18n import Messages


def hint_card(m: Messages) -> Card:
    return card([text(m.t("hint.text"))], [command_button(m.t("action.help"), "help")])


def coming_soon_card(m: Messages, command_word: str) -> Card:
    return card(
        [text(m.t("coming.text", command=command_word))],
        [command_button(m.t("action.help"), "help")],
    )
