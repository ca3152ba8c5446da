"""The help card: what the bot does."""

from __future__ import annotations

from typing import Any

from dialogs.cards.actions_menu import actions_menu
from dialogs.cards.base import Card, card, command_button, text, title
from dialogs.commands import Command
from dialogs.i18n import Messages

# Order shown to the user: the request life cycle first, then the tools.
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


def help_card(m: Messages) -> Card:
    body: list[dict[str, Any]] = [title(m.t("help.title")), text(m.t("help.intro"))]
    body.extend(_row(m, command) for command in HELP_ORDER)
    body.append(actions_menu(m))
    return card(body, [command_button(m.t("action.language"), Command.LANGUAGE.value)])
