"""Adaptive Card 1.5 builders: pure functions from catalog texts to card dicts.

Every visible text comes from :class:`bot.i18n.Messages`. Buttons that stand for a
command send ``{"atmt_command": name}``; form cards send their inputs plus
``{"atmt_card": name}`` so the handler can tell a stale card from a live one.
"""

from bot.cards.help import help_card
from bot.cards.hint import coming_soon_card, hint_card
from bot.cards.language import language_card, language_chosen_card
from bot.cards.welcome import welcome_card

__all__ = [
    "coming_soon_card",
    "help_card",
    "hint_card",
    "language_card",
    "language_chosen_card",
    "welcome_card",
]
