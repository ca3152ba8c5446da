"""The checks every Adaptive Card the bot sends must pass, shared by the card tests.

Teams renders Adaptive Cards up to version 1.5; an unknown element is dropped or breaks
the card; an input without a label is unusable with a screen reader; duplicate input ids
lose values on submit; a leftover ``{placeholder}`` or catalog key means a text is not
from the catalogs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ELEMENTS = frozenset(
    {
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
)
INPUTS = frozenset(
    {"Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle", "Input.ChoiceSet"}
)
ACTIONS = frozenset(
    {
        "Action.Submit",
        "Action.OpenUrl",
        "Action.ShowCard",
        "Action.ToggleVisibility",
        "Action.Execute",
    }
)
CATALOG_PREFIXES = ("manager.", "violation.", "approval.", "authority.", "automation.")


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every typed node (element, input, action, nested card) below ``node``."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def check_adaptive_card(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Assert what every card must satisfy; return its nodes for further checks."""
    assert card["type"] == "AdaptiveCard"
    assert version(card["version"]) <= (1, 5)
    found = list(nodes({"body": card["body"], "actions": card.get("actions", [])}))
    input_ids: list[str] = []
    for node in found:
        kind = node["type"]
        if kind == "AdaptiveCard":  # the card of an Action.ShowCard (version optional)
            assert version(node.get("version", "1.5")) <= (1, 5)
            continue
        assert kind in ELEMENTS | INPUTS | ACTIONS, f"unknown element {kind}"
        if kind in INPUTS:
            input_ids.append(node["id"])
            assert node.get("label", "").strip(), f"input {node['id']} has no label"
            if node.get("isRequired"):
                assert node.get("errorMessage", "").strip()
        if kind == "TextBlock":
            assert node["text"].strip()
            assert "{" not in node["text"].replace("\\{", ""), f"unfilled: {node['text']}"
            assert not node["text"].startswith(CATALOG_PREFIXES), node["text"]
        if kind == "FactSet":
            assert all(f["title"].strip() and f["value"].strip() for f in node["facts"])
        if kind.startswith("Action."):
            assert node.get("title", "").strip()
            assert not node["title"].startswith(CATALOG_PREFIXES), node["title"]
    assert len(input_ids) == len(set(input_ids)), "input ids must be unique"
    return found


def _words(box: dict[str, Any]) -> tuple[str, list[str]] | None:
    """(icon, texts) of a status box of ``dialogs.cards.status`` (icon column, words)."""
    items = box.get("items") or []
    if box.get("type") != "Container" or len(items) != 1 or items[0].get("type") != "ColumnSet":
        return None
    columns = items[0].get("columns") or []
    if len(columns) != 2:
        return None
    icon = [i.get("text", "") for i in columns[0].get("items", [])]
    words = [i.get("text", "") for i in columns[1].get("items", [])]
    return (icon[0], words) if icon and words else None


def error_text(element: dict[str, Any]) -> str | None:
    """The text of a server-found error (an attention box with a warning sign), else None."""
    found = _words(element) if element.get("style") == "attention" else None
    return found[1][0] if found is not None and found[0] == "⚠" else None


def badges(card: Any) -> list[tuple[str, str, str]]:
    """(style, icon, first words) of every status box of a card, in order."""
    found: list[tuple[str, str, str]] = []
    for node in nodes(card):
        words = _words(node)
        if words is not None and "style" in node:
            found.append((node["style"], words[0], words[1][0]))
    return found
