"""The role sections of the welcome, help and hint cards (``dialogs.menus``).

Each button sends ``{"atmt_command": name}``, which the router handles exactly like the
typed word ("uusi", "ny", "new" ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dialogs.cards.base import command_button, text
from dialogs.commands import Command
from dialogs.i18n import Messages
from dialogs.menus import Role, Section

__all__ = ["MAX_BUTTONS", "actions_menu", "no_role", "section_heading"]

MAX_BUTTONS = 5  # of one ActionSet: Teams refuses a card with more (maxActions)


def actions_menu(m: Messages, commands: Iterable[Command]) -> list[dict[str, Any]]:
    """One button per command, in ActionSets of at most :data:`MAX_BUTTONS`."""
    buttons = [
        command_button(m.t(f"menu.button.{command.value}"), command.value)
        for command in commands
    ]
    return [
        {"type": "ActionSet", "actions": buttons[start : start + MAX_BUTTONS]}
        for start in range(0, len(buttons), MAX_BUTTONS)
    ]


def section_heading(m: Messages, section: Section) -> dict[str, Any]:
    """The role and where it is held: "Municipal manager: Laukaa"."""
    if section.role is Role.WORKER:
        label = m.t("menu.section.worker")
    else:
        label = m.t(f"menu.section.{section.role.value}", places=", ".join(section.places))
    block = text(label, weight="Bolder")
    block["spacing"] = "Medium"
    return block


def no_role(m: Messages) -> dict[str, Any]:
    """For someone with no role: whom to ask."""
    return text(m.t("menu.no_role"))
