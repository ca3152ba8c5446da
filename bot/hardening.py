"""Hostile-input limits on an incoming activity body, before botbuilder sees it.

The HTTP layer refuses bodies over ``ATMT_MAX_BODY_BYTES`` (413), activities without a
type, ``serviceUrl``, conversation, sender or channel (400), and users over
``ATMT_USER_RATE_PER_MINUTE`` (429). :func:`clean_json` runs on every incoming body
first: NUL characters, which PostgreSQL cannot store in text or JSON, are removed, and
lone UTF-16 surrogates (legal as JSON escapes, not encodable as UTF-8) become U+FFFD;
JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused. :func:`id_problem` refuses
ids that do not fit the storage. What a message may contain (its length, the values of
a card) is the conversations' business: ``dialogs.input_limits``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_ID_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_LOCALE_CHARS",
    "MAX_TENANT_CHARS",
    "TooDeep",
    "clean_json",
    "id_problem",
    "tidy_locale",
]

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
