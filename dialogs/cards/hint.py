"""The hint for text the bot did not understand, with this person's own commands."""

from __future__ import annotations

from typing import Any

from dialogs.cards.actions_menu import MAX_BUTTONS, actions_menu
from dialogs.cards.base import Card, card, command_button, text
from dialogs.i18n import Messages
from dialogs.menus import Menu


def hint_card(m: Messages, menu: Menu | None = None) -> Card:
    """``menu``: the person's roles (their commands as buttons); ``None``: unknown."""
    body: list[dict[str, Any]] = [text(m.t("hint.text"))]
    if menu is not None and menu.commands:
        body.extend(actions_menu(m, menu.commands[:MAX_BUTTONS]))
    return card(body, [command_button(m.t("action.help"), "help")])
