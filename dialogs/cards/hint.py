"""The hint for text the bot did not understand."""

from __future__ import annotations

from dialogs.cards.base import Card, card, command_button, text
from dialogs.i18n import Messages


def hint_card(m: Messages) -> Card:
    return card([text(m.t("hint.text"))], [command_button(m.t("action.help"), "help")])

