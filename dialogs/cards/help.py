"""The help card: what this person can do, by role (``dialogs.menus``)."""

from __future__ import annotations

from typing import Any

from dialogs.cards.actions_menu import actions_menu, no_role, section_heading
from dialogs.cards.base import Card, card, command_button, text, title
from dialogs.commands import Command
from dialogs.i18n import Messages
from dialogs.menus import EVERYONE, Menu

# Every command, for someone whose roles are unknown (their e-mail could not be found):
# the request life cycle first, then the tools.
HELP_ORDER: tuple[Command, ...] = (
    Command.NEW,
    Command.CHANGE,
    Command.REVOKE,
    Command.MY_REQUESTS,
    Command.APPROVALS,
    Command.KEHA,
    Command.MY_DATA,
    Command.MY_ACCESS,
    Command.REPORT,
    Command.REVIEW,
    Command.MISUSE,
    Command.DIRECTORY,
    Command.PRIVACY,
    Command.LANGUAGE,
    Command.HELP,
    Command.CANCEL,
)


def _row(m: Messages, command: Command) -> dict[str, Any]:
    description = m.t(f"help.cmd.{command.value}")
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        "columns": [
            {
                "type": "Column",
                "width": "auto",
                "items": [text(m.word(f"command.{command.value}"), weight="Bolder")],
            },
            {
                "type": "Column",
                "width": "stretch",
                "items": [text(description)],
            },
        ],
    }


def help_card(m: Messages, menu: Menu | None = None) -> Card:
    """``menu``: the person's roles, one section each, then what everyone can do;
    ``None`` (roles unknown): every command."""
    body: list[dict[str, Any]] = [title(m.t("help.title")), text(m.t("help.intro"))]
    if menu is None:
        body.extend(_row(m, command) for command in HELP_ORDER)
    else:
        for section in menu.sections:
            body.append(section_heading(m, section))
            body.extend(_row(m, command) for command in section.commands)
            if section.commands:
                body.extend(actions_menu(m, section.commands))
        if not menu.has_role:
            body.append(no_role(m))
        everyone = text(m.t("menu.section.everyone"), weight="Bolder")
        everyone["spacing"] = "Medium"
        body.append(everyone)
        body.extend(_row(m, command) for command in EVERYONE if command not in menu.commands)
    return card(body, [command_button(m.t("action.language"), Command.LANGUAGE.value)])
