"""Safe display of user-entered text in cards.

Teams renders a Markdown subset in TextBlock ``text`` and in FactSet titles and values
(Microsoft Learn, "Format cards in Teams"): a worker name such as
``**Boss** [click](https://evil.example)`` would show bold text and a link there. Every
text a user typed goes through :func:`plain` before it goes into a TextBlock or a fact:
Markdown characters are escaped with a backslash, HTML angle brackets are replaced by
look-alike characters, and overlong texts are shortened.

Every other text field is shown as it is: choice titles of an ``Input.ChoiceSet``, the
title of an ``Input.Toggle`` or an action, input labels, values, placeholders and error
messages. A backslash escape would be shown there literally
(``ville\\.virtanen@laukaa\\.example\\.fi``), so those get :func:`literal`: the same
cleaning and shortening, without the escapes.

Teams also turns bare URLs and host names in a TextBlock into links, so
:func:`access.text.defang_links` shows them unclickable (``https[:]//evil[.]example``),
and bidirectional controls and zero-width characters are removed
(:func:`access.text.strip_invisible`): what one person typed never becomes a link or
reversed text in another person's card.
"""

from __future__ import annotations

import re

from access.text import defang_links, strip_invisible

__all__ = ["DISPLAY_MAX", "literal", "plain"]

DISPLAY_MAX = 2000
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _clean(value: str, limit: int) -> str:
    text = strip_invisible(_CONTROL.sub("", value))
    if len(text) > limit:
        text = text[:limit] + "…"
    text = defang_links(text)
    return text.replace("<", "‹").replace(">", "›")


def plain(value: str, *, limit: int = DISPLAY_MAX) -> str:
    """``value`` as literal text for a Markdown TextBlock or fact (never empty)."""
    text = _MARKDOWN.sub(r"\\\1", _clean(value, limit))
    return text if text.strip() else "–"


def literal(value: str, *, limit: int = DISPLAY_MAX) -> str:
    """``value`` for a field that is not Markdown (a choice title, an action title, an
    input's label or value): cleaned, on one line, shortened, never empty; no escapes."""
    text = _LINE_BREAKS.sub(" ", _clean(value, limit))
    return text if text.strip() else "–"
