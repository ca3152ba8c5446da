"""Every card is Adaptive Card 1.5 with known elements, unique input ids and labels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from review_card_samples import sample_misuse_card, sample_progress_card, sample_review_card

from bot.cards import (
    coming_soon_card,
    help_card,
    hint_card,
    language_card,
    language_chosen_card,
    welcome_card,
)
from bot.commands import COMING
from bot.i18n import LOCALES, Messages, Translator

ELEMENTS = {
    "TextBlock",
    "RichTextBlock",
    "Image",
    "ImageSet",
    "Media",
    "Container",
    "ColumnSet",
    "Column",
    "FactSet",
    "ActionSet",
    "Table",
    "TableRow",
    "TableCell",
}
INPUTS = {
    "Input.Text",
    "Input.Number",
    "Input.Date",
    "Input.Time",
    "Input.Toggle",
    "Input.ChoiceSet",
}
ACTIONS = {
    "Action.Submit",
    "Action.OpenUrl",
    "Action.ShowCard",
    "Action.ToggleVisibility",
    "Action.Execute",
}

CARDS: dict[str, Callable[[Messages], dict[str, Any]]] = {
    "welcome": welcome_card,
    "help": help_card,
    "hint": hint_card,
    "coming_soon": lambda m: coming_soon_card(m, m.word("command.new")),
    "language": lambda m: language_card(m, m.locale),
    "language_chosen": lambda m: language_chosen_card(m, "sv"),
    "review": sample_review_card,  # issue 8
    "review_progress": sample_progress_card,  # issue 8
    "misuse": sample_misuse_card,  # issue 8
}


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_is_valid_adaptive_card_1_5(name: str, locale: str) -> None:
    messages = Translator.load().get(locale)
    card = CARDS[name](messages)
    assert card["type"] == "AdaptiveCard"
    assert _version(card["version"]) <= (1, 5)
    nodes = list(_nodes(card["body"])) + list(_nodes(card.get("actions", [])))
    input_ids: list[str] = []
    for node in nodes:
        kind = node["type"]
        assert kind in ELEMENTS | INPUTS | ACTIONS, f"unknown element {kind}"
        if kind in INPUTS:
            input_ids.append(node["id"])
            assert node.get("label", "").strip(), f"input {node['id']} has no label"
            if node.get("isRequired"):
                assert node.get("errorMessage", "").strip()
        if kind == "TextBlock":
            assert node["text"].strip()
            assert "{" not in node["text"], "unfilled placeholder"
        if kind.startswith("Action."):
            assert node.get("title", "").strip()
    assert len(input_ids) == len(set(input_ids)), "input ids must be unique"


def test_help_card_lists_every_feature_and_marks_the_coming_ones() -> None:
    messages = Translator.load().get("fi")
    text = str(help_card(messages))
    for key in ("new", "change", "revoke", "my_requests", "approvals", "keha", "my_data"):
        assert messages.t(f"help.cmd.{key}") in text
    assert text.count(f"({messages.t('help.coming')})") == len(COMING)
