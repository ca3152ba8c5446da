"""Safe display of user-entered text in card TextBlocks and facts.

TextBlocks render a Markdown subset in Teams: a worker name such as
``**Boss** [click](https://evil.example)`` would show bold text and a link. Every
text a user typed is passed through :func:`plain` before it goes into a TextBlock or
a FactSet value: Markdown characters are escaped with a backslash, HTML angle
brackets are replaced by look-alike characters, and overlong texts are shortened.

Teams also turns bare URLs and host names in a TextBlock into links, so
:func:`access.text.defang_links` shows them unclickable (``https[:]//evil[.]example``),
and bidirectional controls and zero-width characters are removed
(:func:`access.text.strip_invisible`): what one person typed never becomes a link or
reversed text in another person's card.
"""

from __future__ import annotations

import re

from access.text import defang_links, strip_invisible

__all__ = ["DISPLAY_MAX", "plain"]

DISPLAY_MAX = 2000
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(value: str, *, limit: int = DISPLAY_MAX) -> str:
    """``value`` as literal text for a Markdown TextBlock (never empty)."""
    text = strip_invisible(_CONTROL.sub("", value))
    if len(text) > limit:
        text = text[:limit] + "…"
    text = defang_links(text)
    text = text.replace("<", "‹").replace(">", "›")
    text = _MARKDOWN.sub(r"\\\1", text)
    return text if text.strip() else "–"
