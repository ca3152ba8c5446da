"""The welcome card sent when the bot is installed."""

from __future__ import annotations

from dialogs.cards.actions_menu import actions_menu
from dialogs.cards.base import Card, card, command_button, text, title
from dialogs.i18n import Messages


def welcome_card(m: Messages) -> Card:
    return card(
        [
            title(m.t("welcome.title")),
            text(m.t("welcome.body")),
            text(m.t("welcome.next")),
            actions_menu(m),
        ],
        [
            command_button(m.t("action.help"), "help"),
            command_button(m.t("action.language"), "language"),
        ],
    )
