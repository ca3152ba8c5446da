"""Limits on what a user may send in one message turn.

The router checks a message turn's content before any command, dialog or card handler
sees it:

* typed text longer than :data:`MAX_TEXT_CHARS` gets a localized "too long" answer;
* an ``Action.Submit`` value whose card marker or action is not a string (our cards
  only ever send strings there) is a forged or broken card: it gets the "card not
  valid" answer.

Either way nothing else runs, so nothing is stored. :func:`text_without_mention`
removes the bot's @mention like botbuilder does, but survives malformed ``entities`` or
a missing ``recipient`` (botbuilder raises there, which would fail the turn).
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from dialogs import activity_fields as fields

__all__ = ["MAX_TEXT_CHARS", "Refusal", "refusal_for", "text_without_mention"]

log = logging.getLogger(__name__)

#: Longer typed messages are refused. No command or answer of the bot needs more:
#: the longest free texts (justification, reason) are 2 000 characters.
MAX_TEXT_CHARS = 4000

#: Keys of a card value that our cards fill with strings only.
_STRING_KEYS = ("atmt_card", "atmt_action", "atmt_command", "verb")

Refusal = tuple[str, dict[str, Any]]


def refusal_for(text: object, value: object) -> Refusal | None:
    """The catalog key and parameters of the answer refusing this turn, or None."""
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        return "hardening.text_too_long", {"max_length": MAX_TEXT_CHARS, "length": len(text)}
    if isinstance(value, dict):
        for key in _STRING_KEYS:
            if key in value and not isinstance(value[key], str | None):
                return "hardening.card_invalid", {}
    return None


def text_without_mention(activity: Activity) -> str | None:
    """The typed text without the bot's @mention; the raw text if the mention
    entities are malformed."""
    typed = fields.text(activity)
    if not typed:
        return None
    try:
        text: str | None = TurnContext.remove_recipient_mention(activity)
    except Exception as error:  # malformed entities or recipient: keep the raw text
        log.info(
            "mention entities unreadable",
            extra={"event": "mention_unreadable", "error_type": type(error).__name__},
        )
        return typed
    return text


