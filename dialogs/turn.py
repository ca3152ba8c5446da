"""Per-turn values the handler shares with dialogs."""

from __future__ import annotations

from botbuilder.core import TurnContext

from bot.i18n import Messages

MESSAGES_KEY = "atmt.messages"


def messages_of(turn_context: TurnContext) -> Messages:
    """The :class:`Messages` of the current turn (set by the handler)."""
    messages = turn_context.turn_state.get(MESSAGES_KEY)
    if not isinstance(messages, Messages):
        raise RuntimeError("the handler did not set the turn's messages")
    return messages


def set_messages(turn_context: TurnContext, messages: Messages) -> None:
    turn_context.turn_state[MESSAGES_KEY] = messages
