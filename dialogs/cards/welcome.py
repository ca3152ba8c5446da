"""The welcome card sent when the bot is installed: what the bot is, and what this
person can do here by role (``dialogs.menus``)."""

from __future__ import annotations

from typing import Any

from dialogs.cards.actions_menu import actions_menu, no_role, section_heading
from dialogs.cards.base import Card, card, command_button, text, title
from dialogs.i18n import Messages
from dialogs.menus import Menu


def welcome_card(m: Messages, menu: Menu | None = None) -> Card:
    """``menu``: the person's roles; ``None`` when nobody in particular is greeted (a
    team or group chat) or the person could not be identified."""
    body: list[dict[str, Any]] = [title(m.t("welcome.title")), text(m.t("welcome.body"))]
    if menu is not None:
        for section in menu.sections:
            body.append(section_heading(m, section))
            if section.commands:
                body.extend(actions_menu(m, section.commands))
        if not menu.has_role:
            body.append(no_role(m))
    body.append(text(m.t("welcome.next")))
    return card(
        body,
        [
            command_button(m.t("action.help"), "help"),
            command_button(m.t("action.language"), "language"),
        ],
    )
