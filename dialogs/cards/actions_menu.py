"""Buttons for the manager's and worker's actions, for the welcome and help cards.

Each button sends ``{"atmt_command": name}``, which the handler routes exactly like the
typed word ("uusi", "ny", "new" ...).
"""

from __future__ import annotations

from typing import Any

from dialogs.cards.base import command_button
from dialogs.commands import Command
from dialogs.i18n import Messages

__all__ = ["MENU", "actions_menu"]

MENU: tuple[Command, ...] = (
    Command.NEW,
    Command.CHANGE,
    Command.REVOKE,
    Command.MY_REQUESTS,
    Command.MY_ACCESS,
)


def actions_menu(m: Messages) -> dict[str, Any]:
    """An ActionSet with one button per available action."""
    return {
        "type": "ActionSet",
        "actions": [
            command_button(m.t(f"manager.button.{command.value}"), command.value)
            for command in MENU
        ],
    }
