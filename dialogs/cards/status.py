"""What every card shares to be readable by everyone: status badges, error lines, the
spoken summary (``speak``) and the colour palette the cards may use.

Colour is never the only signal: a badge is an icon, a word and a coloured box; an error
is a warning sign, a bold sentence and a coloured box, right under its field.

The palette (docs/decisions.md, "Card colours and contrast"): Teams renders the Adaptive
Card colour names with the foreground colours of its host config (light and dark theme,
below). ``good`` and ``warning`` text fails WCAG AA (4.5:1) on the light theme's white
and ``attention`` text fails on the dark theme's background, so no card colours *text*
with them. Cards colour text only with ``Default`` or ``Accent`` and show a state as a
container in the state's style (a light tinted box with the default dark text, which
passes in both themes). tests/unit/test_card_contrast.py computes the ratios.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

__all__ = [
    "BADGE_STYLES",
    "CONTAINER_BACKGROUNDS",
    "ICONS",
    "TEAMS_TEXT_COLOURS",
    "TEXT_COLOURS",
    "badge",
    "error_line",
    "live_refresh",
    "speech_of",
    "state_badge",
]

# Teams' foreground colours of the Adaptive Card colour names, and the backgrounds text
# stands on (Microsoft's Teams host configs, microsoft-teams-light.json / -dark.json of
# the AdaptiveCards repository; "#AARRGGBB" where the host config has an alpha).
TEAMS_TEXT_COLOURS: Mapping[str, Mapping[str, str]] = {
    "light": {
        "background": "#FFFFFF",
        "emphasis": "#F9F8F7",
        "default": "#252424",
        "subtle": "#BF252424",
        "accent": "#6264A7",
        "good": "#92C353",
        "warning": "#F8D22A",
        "attention": "#C4314B",
    },
    "dark": {
        "background": "#2D2C2C",
        "emphasis": "#292828",
        "default": "#FFFFFF",
        "subtle": "#BFFFFFFF",
        "accent": "#A6A7DC",
        "good": "#92C353",
        "warning": "#F8D22A",
        "attention": "#D74654",
    },
}
# Container styles: (background, default text colour) per theme.
CONTAINER_BACKGROUNDS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "light": {
        "good": ("#CCFFCC", "#252424"),
        "attention": ("#FFC5B2", "#252424"),
        "warning": ("#FFE2B2", "#252424"),
        "accent": ("#C7DEF9", "#252424"),
        "emphasis": ("#F9F8F7", "#252424"),
    },
    "dark": {
        "good": ("#CCFFCC", "#201F1F"),
        "attention": ("#FFC5B2", "#201F1F"),
        "warning": ("#FFE2B2", "#201F1F"),
        "accent": ("#C7DEF9", "#201F1F"),
        "emphasis": ("#292828", "#FFFFFF"),
    },
}
# The colour names cards may give text: they pass AA in both themes.
TEXT_COLOURS = frozenset({"default", "accent"})

# State code -> (container style, icon). Request, grant and KEHA batch states.
BADGE_STYLES: Mapping[str, str] = {
    "pending": "accent",
    "returned": "warning",
    "approved": "good",
    "queued_for_keha": "good",
    "sent_to_keha": "good",
    "done": "good",
    "rejected": "attention",
    "cancelled": "emphasis",
    "expired": "attention",
    "stopping": "warning",  # stopped after it was sent: a cancellation goes to KEHA
    "stopped": "emphasis",
    "active": "good",
    "revoking": "warning",
    "removed": "emphasis",
    "queued": "accent",
    "sent": "warning",
    "confirmed": "good",
    "error": "attention",
    "urgent": "attention",  # a notification the admin must act on at once (KEHA)
}
ICONS: Mapping[str, str] = {
    "pending": "◷",
    "returned": "↩",
    "approved": "✔",
    "queued_for_keha": "✔",
    "sent_to_keha": "➜",
    "done": "✔",
    "rejected": "✖",
    "cancelled": "⊘",
    "expired": "⊘",
    "stopping": "◷",
    "stopped": "⊘",
    "active": "✔",
    "revoking": "◷",
    "removed": "⊘",
    "queued": "◷",
    "sent": "➜",
    "confirmed": "✔",
    "error": "⚠",
    "urgent": "⚠",
}
SPEAK_MAX = 400
MAX_REFRESH_USERS = 60  # Teams refreshes automatically for at most 60 listed users
# Markdown marks mean nothing spoken (and typed text must not format anything anywhere).
_MARKS = re.compile(r"[\\`*_{}\[\]()#|~>]")


def badge(state: str, label: str, *, detail: str | None = None) -> dict[str, Any]:
    """A state as a box of the state's style with an icon and the state's word (and an
    optional line under it, e.g. who decided and when)."""
    return _boxed(BADGE_STYLES.get(state, "emphasis"), ICONS.get(state, "ℹ"), label, detail)


def _boxed(style: str, icon: str, label: str, detail: str | None = None) -> dict[str, Any]:
    """A box of ``style``: the icon in a narrow column, the words beside it (so the
    words stay one text of their own, for people and for tests finding them)."""
    words: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": label, "weight": "Bolder", "wrap": True}
    ]
    if detail:
        words.append({"type": "TextBlock", "text": detail, "wrap": True, "spacing": "Small"})
    return {
        "type": "Container",
        "style": style,
        "spacing": "Small",
        "items": [
            {
                "type": "ColumnSet",
                "columns": [
                    {
                        "type": "Column",
                        "width": "auto",
                        "items": [{"type": "TextBlock", "text": icon, "weight": "Bolder"}],
                    },
                    {"type": "Column", "width": "stretch", "items": words},
                ],
            }
        ],
    }


def state_badge(state: str, label: str) -> dict[str, Any]:
    """The badge of a request, grant or batch state (``label`` in the reader's words)."""
    return badge(state, label)


def error_line(value: str) -> dict[str, Any]:
    """A problem found by the server, shown right under its field: a warning sign and a
    bold sentence in an attention box (``value`` is Markdown-safe already)."""
    return _boxed("attention", ICONS["error"], value)


def _texts(elements: Iterable[Any]) -> Iterable[str]:
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "TextBlock" and isinstance(element.get("text"), str):
            yield element["text"]
        elif kind == "FactSet":
            for fact in element.get("facts", [])[:4]:
                if isinstance(fact, dict):
                    yield f"{fact.get('title', '')}: {fact.get('value', '')}"
        elif kind in ("Container", "Column"):
            yield from _texts(element.get("items", []))
        elif kind == "ColumnSet":
            yield from _texts(element.get("columns", []))


def speech_of(body: Iterable[Any], *, limit: int = 4) -> str:
    """What a screen reader or a speaker says for a card: its first ``limit`` texts
    (title, state, the first facts) as plain sentences, safe inside SSML."""
    parts: list[str] = []
    for raw in _texts(body):
        plain_text = " ".join(_MARKS.sub("", raw).split())
        if plain_text in ICONS.values():
            continue
        if plain_text:
            parts.append(plain_text.rstrip(".") + ".")
        if len(parts) >= limit:
            break
    spoken = " ".join(parts)
    if len(spoken) > SPEAK_MAX:
        spoken = spoken[: SPEAK_MAX - 1] + "…"
    return escape(spoken)


def live_refresh(
    verb: str, data: Mapping[str, Any], user_ids: Iterable[str], *, title: str
) -> dict[str, Any]:
    """The ``refresh`` of a card that shows an object's present state (Teams Universal
    Actions): when one of ``user_ids`` sees the card, Teams sends ``verb`` with
    ``data`` as an ``adaptiveCard/action`` invoke and shows the card the bot answers.
    ``title`` is the label of the manual refresh others get."""
    ids = list(dict.fromkeys(u for u in user_ids if u))[:MAX_REFRESH_USERS]
    return {
        "action": {"type": "Action.Execute", "title": title, "verb": verb, "data": dict(data)},
        "userIds": ids,
    }
