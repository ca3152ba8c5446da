"""Limits on what a user may send in one turn (issue 11, hostile input).

The HTTP layer already refuses bodies over ``ATMT_MAX_BODY_BYTES`` (413), activities
without a type, ``serviceUrl``, conversation, sender or channel (400), and users over
``ATMT_USER_RATE_PER_MINUTE`` (429). This module checks a message turn's content before
any command, dialog or card handler sees it:

* typed text longer than :data:`MAX_TEXT_CHARS` gets a localized "too long" answer;
* an ``Action.Submit`` value whose card marker or action is not a string (our cards
  only ever send strings there) is a forged or broken card: it gets the "card not
  valid" answer.

Either way nothing else runs, so nothing is stored.

:func:`clean_json` runs on every incoming body first: NUL characters, which
PostgreSQL cannot store in text or JSON, are removed, and lone UTF-16 surrogates
(legal as JSON escapes, not encodable as UTF-8) become U+FFFD; JSON nested deeper than
:data:`MAX_JSON_DEPTH` is refused. :func:`text_without_mention`
removes the bot's @mention like botbuilder does, but survives malformed ``entities``
or a missing ``recipient`` (botbuilder raises there, which would fail the turn).
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity

__all__ = [
    "MAX_ID_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_LOCALE_CHARS",
    "MAX_TENANT_CHARS",
    "MAX_TEXT_CHARS",
    "Refusal",
    "TooDeep",
    "clean_json",
    "id_problem",
    "refusal_for",
    "text_without_mention",
    "tidy_locale",
]

log = logging.getLogger(__name__)

#: Longer typed messages are refused. No command or answer of the bot needs more:
#: the longest free texts (justification, reason) are 2 000 characters.
MAX_TEXT_CHARS = 4000

#: Deeper incoming JSON is refused (400). Teams activities nest a few levels; card
#: values are flat.
MAX_JSON_DEPTH = 64

#: Longer channel, user (``from.id``, ``aadObjectId``) or conversation ids are refused
#: (400): they make the bot state's storage keys (at most 1 024 characters) and the
#: conversation reference's user key (255). Teams ids are under 200.
MAX_ID_CHARS = 255

#: Tenant ids (GUIDs, 36 characters) longer than this are refused (400).
MAX_TENANT_CHARS = 64

#: A locale longer than this (BCP 47 tags are short) or not a string is dropped.
MAX_LOCALE_CHARS = 35

#: Keys of a card value that our cards fill with strings only.
_STRING_KEYS = ("atmt_card", "atmt_action", "atmt_command", "verb")

Refusal = tuple[str, dict[str, Any]]


def refusal_for(text: object, value: object) -> Refusal | None:
    """The catalog key and parameters of the answer refusing this turn, or None."""
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        return "hardening.text_too_long", {"max_length": MAX_TEXT_CHARS, "length": len(text)}
    if isinstance(value, dict):
        for key in _STRING_KEYS:
            if key in value and not isinstance(value[key], str | None):
                return "hardening.card_invalid", {}
    return None


def text_without_mention(activity: Activity) -> str | None:
    """The typed text without the bot's @mention; the raw text if the mention
    entities are malformed."""
    if not activity.text:
        return None
    try:
        text: str | None = TurnContext.remove_recipient_mention(activity)
    except Exception as error:  # malformed entities or recipient: keep the raw text
        log.info(
            "mention entities unreadable",
            extra={"event": "mention_unreadable", "error_type": type(error).__name__},
        )
        return str(activity.text)
    return text


class TooDeep(ValueError):
    """The JSON nests deeper than :data:`MAX_JSON_DEPTH`."""


def _clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def clean_json(value: Any, depth: int = 0) -> Any:
    """``value`` (parsed JSON) with storable strings; raises :class:`TooDeep`."""
    if depth > MAX_JSON_DEPTH:
        raise TooDeep(depth)
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(k): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


def _too_long(value: object, limit: int, *, required: bool) -> bool:
    if value is None:
        return required
    return not isinstance(value, str) or len(value) > limit


def id_problem(body: dict[str, Any]) -> str | None:
    """Why the activity's ids cannot be stored, or None (``body`` has passed the
    basic shape checks: ``from``, ``conversation`` are objects)."""
    sender = body.get("from") or {}
    conversation = body.get("conversation") or {}
    for value in (body.get("channelId"), sender.get("id"), conversation.get("id")):
        if _too_long(value, MAX_ID_CHARS, required=True):
            return "the activity's ids are too long"
    if _too_long(sender.get("aadObjectId"), MAX_ID_CHARS, required=False):
        return "the activity's ids are too long"
    data = body.get("channelData")
    tenant = data.get("tenant") if isinstance(data, dict) else None
    tenant_ids = [conversation.get("tenantId")]
    if isinstance(tenant, dict):
        tenant_ids.append(tenant.get("id"))
    if any(_too_long(t, MAX_TENANT_CHARS, required=False) for t in tenant_ids):
        return "the activity's tenant id is not valid"
    return None


def tidy_locale(body: Any) -> Any:
    """Drop a ``locale`` that is not a short string (the bot then uses the user's
    choice, the area's default or ``ATMT_DEFAULT_LOCALE``)."""
    if isinstance(body, dict) and _too_long(body.get("locale"), MAX_LOCALE_CHARS, required=False):
        body = {k: v for k, v in body.items() if k != "locale"}
    return body
