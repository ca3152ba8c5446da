"""Every card is Adaptive Card 1.5 with known elements, unique input ids and labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakes.card_checks import check_adaptive_card
from review_card_samples import sample_misuse_card, sample_progress_card, sample_review_card

from dialogs.cards import (
    help_card,
    hint_card,
    language_card,
    language_chosen_card,
    welcome_card,
)
from dialogs.i18n import LOCALES, Messages, Translator

CARDS: dict[str, Callable[[Messages], dict[str, Any]]] = {
    "welcome": welcome_card,
    "help": help_card,
    "hint": hint_card,
    "language": lambda m: language_card(m, m.locale),
    "language_chosen": lambda m: language_chosen_card(m, "sv"),
    "review": sample_review_card,
    "review_progress": sample_progress_card,
    "misuse": sample_misuse_card,
}






@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_is_valid_adaptive_card_1_5(name: str, locale: str) -> None:
    messages = Translator.load().get(locale)
    check_adaptive_card(CARDS[name](messages))


def test_help_card_lists_every_feature() -> None:
    messages = Translator.load().get("fi")
    text = str(help_card(messages))
    for key in ("new", "change", "revoke", "my_requests", "approvals", "keha", "my_data"):
        assert messages.t(f"help.cmd.{key}") in text
