"""Free-text commands in fi, sv and en, recognized from the ``command.*`` catalog keys.

Any language's word works whatever the user's locale ("apua", "hjälp" and "help" all
show the help card). Card buttons send ``{"atmt_command": "<name>"}`` instead of text.
"""

from __future__ import annotations

import re
from enum import StrEnum

from dialogs.i18n import Translator

__all__ = ["Command", "CommandRecognizer"]


class Command(StrEnum):
    HELP = "help"
    LANGUAGE = "language"
    CANCEL = "cancel"
    NEW = "new"
    CHANGE = "change"
    REVOKE = "revoke"
    MY_REQUESTS = "my_requests"
    APPROVALS = "approvals"
    KEHA = "keha"
    MY_DATA = "my_data"
    MY_ACCESS = "my_access"  # a worker's grants and requests
    PRIVACY = "privacy"  # the privacy statement in fi, sv and en
    DIRECTORY = "directory"  # an admin's view of their area's directory
    REPORT = "report"  # aggregate reports for admins and approvers
    REVIEW = "review"  # the access review: Keep / Revoke, progress
    MISUSE = "misuse"  # report suspected misuse of a grant



_NOISE = re.compile(r"[\s!?.,:;]+")


def _normalize(text: str) -> str:
    return _NOISE.sub(" ", text.casefold()).strip()


class CommandRecognizer:
    """Maps typed text to a :class:`Command` using every catalog's words."""

    def __init__(self, translator: Translator) -> None:
        self._words: dict[str, Command] = {}
        for command in Command:
            for messages in translator.all():
                for word in messages.words(f"command.{command.value}"):
                    self._words.setdefault(_normalize(word), command)

    def recognize(self, text: str | None) -> Command | None:
        if not text:
            return None
        return self._words.get(_normalize(text))

    @staticmethod
    def from_value(value: object) -> Command | None:
        """A command sent by a card button (``{"atmt_command": "help"}``)."""
        if isinstance(value, dict):
            name = value.get("atmt_command")
            if isinstance(name, str):
                try:
                    return Command(name)
                except ValueError:
                    return None
        return None
