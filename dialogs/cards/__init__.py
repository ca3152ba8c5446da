"""Adaptive Card 1.5 builders: pure functions from catalog texts to card dicts.

Every visible text comes from :class:`dialogs.i18n.Messages`. Buttons that stand for a
command send ``{"atmt_command": name}``; form cards send their inputs plus
``{"atmt_card": name}`` so the handler can tell a stale card from a live one.
"""

from dialogs.cards.help import help_card
from dialogs.cards.hint import hint_card
from dialogs.cards.language import language_card, language_chosen_card
from dialogs.cards.welcome import welcome_card

__all__ = [
    "help_card",
    "hint_card",
    "language_card",
    "language_chosen_card",
    "welcome_card",
]
