"""botbuilder-dialogs conversations, one module per conversation.

Dialogs read the user's texts from the turn: the handler puts the
:class:`dialogs.i18n.Messages` of the turn into ``turn_context.turn_state`` under
:data:`MESSAGES_KEY` before any dialog runs (see :func:`messages_of`). Cards and
catalogs come from ``dialogs.cards`` / ``dialogs.i18n``, leaf modules with no framework code.
"""

from dialogs.turn import MESSAGES_KEY, messages_of, set_messages

__all__ = ["MESSAGES_KEY", "messages_of", "set_messages"]
