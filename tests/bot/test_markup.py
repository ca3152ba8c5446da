"""Markdown is escaped only where Teams renders Markdown (TextBlock text, facts).

Choice titles, input labels and action titles show text as it is: an escape there is
seen as a backslash (``ville\\.virtanen@laukaa\\.example\\.fi``).
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes.card_checks import nodes
from review_card_samples import AT, REVIEW, grant, sample_misuse_card, sample_review_card

from access.review import ReviewAnswer, ReviewItem
from dialogs.cards.grants import GrantLine, grant_pick_card
from dialogs.cards.markup import literal, plain
from dialogs.cards.review import review_card
from dialogs.i18n import LOCALES, Translator

EMAIL = "ville.virtanen@laukaa.example.fi"


def _not_markdown(card: dict[str, Any]) -> list[str]:
    """The texts of the card that Teams shows without Markdown."""
    out: list[str] = []
    for node in nodes(card):
        if node["type"] == "Input.ChoiceSet":
            out.extend(str(c["title"]) for c in node.get("choices", []))
        if node["type"].startswith(("Input.", "Action.")):
            out.extend(str(node[k]) for k in ("label", "title", "placeholder") if k in node)
    return out


def _markdown(card: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for node in nodes(card):
        if node["type"] == "TextBlock":
            out.append(node["text"])
        if node["type"] == "FactSet":
            out.extend(f"{f['title']} {f['value']}" for f in node["facts"])
    return out


def test_plain_escapes_and_literal_does_not() -> None:
    assert plain(EMAIL) == "ville\\.virtanen@laukaa\\.example\\.fi"
    assert literal(EMAIL) == EMAIL
    assert literal("**Boss** <b>\nx\x07") == "**Boss** ‹b› x"
    assert literal("   ") == "–" and literal("x" * 5, limit=3) == "xxx…"


@pytest.mark.parametrize("locale", LOCALES)
def test_choice_title_with_an_email_shows_no_backslashes(locale: str) -> None:
    card = sample_misuse_card(Translator.load().get(locale))
    titles = [t for t in _not_markdown(card) if "@" in t]
    assert titles and all("\\" not in t for t in titles), titles
    assert any("worker1@laukaa.example.fi" in t for t in titles)
    assert all("<" not in t for t in titles)  # angle brackets still become ‹ ›


@pytest.mark.parametrize("locale", LOCALES)
def test_review_labels_are_literal_and_answered_lines_escaped(locale: str) -> None:
    card = sample_review_card(Translator.load().get(locale))
    labels = [t for t in _not_markdown(card) if "Pomo" in t]
    assert labels == [labels[0]] and "**Pomo** [klikkaa](https[:]//evil[.]example)" in labels[0]
    assert "\\" not in labels[0]
    answered = [t for t in _markdown(card) if "Työntekijä1" in t]
    assert answered and "**" not in "".join(answered)


def test_pick_card_choice_title_is_one_clean_line() -> None:
    m = Translator.load().get("en")
    card = grant_pick_card(
        m, "change", [GrantLine("g1", f"Ville\n{EMAIL}")], total=1, search="", instance="i"
    )
    assert f"Ville {EMAIL}" in _not_markdown(card)


def test_markdown_fields_still_escape_user_text() -> None:
    answered = ReviewItem("rev1", "g2", ReviewAnswer.KEEP, "manager@laukaa.example.fi", AT)
    card = review_card(
        Translator.load().get("fi"), REVIEW, "Laukaa", [(grant(2, "**Pomo**"), answered)]
    )
    assert any("\\*\\*Pomo\\*\\*" in t for t in _markdown(card))
