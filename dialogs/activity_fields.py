"""Every field of an incoming activity the bot reads, in one module.

botbuilder-python's ``Activity`` is an msrest model with spellings of its own: ``from``
is ``from_property``; Teams' ``conversation.tenantId`` lands in the conversation's
``additional_properties`` (botbuilder maps ``tenant_id`` to ``tenantID``); ``channelData``
and ``value`` are whatever JSON was sent; ``entities`` are ``Entity`` objects whose
extra keys (``locale`` of ``clientInfo``) are in ``additional_properties``. The
Microsoft 365 Agents SDK's ``Activity`` is a pydantic model that spells some of these
differently. The host (``bot/``) and the conversations (``dialogs/``) read activities
only through these functions, so a port of the framework changes this module and its
tests, not the code that uses it (docs/decisions.md, "Porting to the Agents SDK").

Every function is total: a missing or malformed field gives ``None`` (or an empty
value), never an exception. Texts are returned as sent; callers normalise them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

__all__ = [
    "activity_id",
    "activity_type",
    "card_message_id",
    "card_value",
    "channel_id",
    "client_info_locales",
    "conversation",
    "conversation_id",
    "is_invoke",
    "is_message",
    "is_personal",
    "locale",
    "log_ids",
    "recipient",
    "recipient_id",
    "reference_fields",
    "sender",
    "sender_aad_object_id",
    "sender_id",
    "service_url",
    "tenant_id",
    "tenant_ids",
    "text",
    "value",
]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _sender(activity: Any) -> Any:
    return getattr(activity, "from_property", None)


def sender(activity: Any) -> Any:
    """The sender's channel account (``from``), or None."""
    return _sender(activity)


def recipient(activity: Any) -> Any:
    """The recipient's channel account (the bot, for an incoming activity), or None."""
    return getattr(activity, "recipient", None)


def conversation(activity: Any) -> Any:
    """The activity's conversation account, or None."""
    return getattr(activity, "conversation", None)


def activity_id(activity: Any) -> str | None:
    return _text(getattr(activity, "id", None))


def activity_type(activity: Any) -> str | None:
    """``message``, ``invoke``, ``conversationUpdate`` ..."""
    return _text(getattr(activity, "type", None))


def is_message(activity: Any) -> bool:
    return activity_type(activity) == "message"


def is_invoke(activity: Any) -> bool:
    return activity_type(activity) == "invoke"


def is_personal(activity: Any) -> bool:
    """Whether the activity's conversation is a 1:1 chat of the bot and one person."""
    found = conversation(activity)
    if found is None or getattr(found, "is_group", None):
        return False
    return getattr(found, "conversation_type", None) in (None, "", "personal")


def channel_id(activity: Any) -> str | None:
    return _text(getattr(activity, "channel_id", None))


def service_url(activity: Any) -> str | None:
    return _text(getattr(activity, "service_url", None))


def conversation_id(activity: Any) -> str | None:
    return _text(getattr(getattr(activity, "conversation", None), "id", None))


def sender_id(activity: Any) -> str | None:
    """``from.id``: channel-specific, chosen by the channel (never an identity alone)."""
    return _text(getattr(_sender(activity), "id", None))


def sender_aad_object_id(activity: Any) -> str | None:
    """``from.aadObjectId``: the sender's Entra object id."""
    return _text(getattr(_sender(activity), "aad_object_id", None))


def recipient_id(activity: Any) -> str | None:
    """``recipient.id``: the bot, on an incoming activity."""
    return _text(getattr(getattr(activity, "recipient", None), "id", None))


def _tenant_claims(activity: Any) -> list[str]:
    """``conversation.tenantId`` (either spelling), then ``channelData.tenant.id``."""
    found: list[str] = []
    conversation = getattr(activity, "conversation", None)
    if conversation is not None:
        extra = getattr(conversation, "additional_properties", None)
        extra = extra if isinstance(extra, dict) else {}
        found += [
            value
            for value in (getattr(conversation, "tenant_id", None), extra.get("tenantId"))
            if isinstance(value, str)
        ]
    data = getattr(activity, "channel_data", None)
    if isinstance(data, dict):
        tenant = data.get("tenant")
        if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
            found.append(tenant["id"])
    return found


def has_channel_data(activity: Any) -> bool:
    """Whether ``channelData`` is an object (Teams' own parser fails on anything else)."""
    return isinstance(getattr(activity, "channel_data", None), dict)


def tenant_id(activity: Any) -> str | None:
    """The first non-blank tenant id the activity names, as sent."""
    for value in _tenant_claims(activity):
        if value.strip():
            return value
    return None


def tenant_ids(activity: Any) -> set[str]:
    """Every tenant id the activity claims, lower case (more than one = they disagree)."""
    return {value.strip().lower() for value in _tenant_claims(activity)} - {""}


def locale(activity: Any) -> str | None:
    """The Teams client's ``locale`` of this activity."""
    return _text(getattr(activity, "locale", None))


def client_info_locales(activity: Any) -> list[str | None]:
    """``locale`` of every ``clientInfo`` entity (``None`` where it is no text)."""
    entities = getattr(activity, "entities", None)
    locales: list[str | None] = []
    for entity in entities if isinstance(entities, list) else []:
        entity_type = getattr(entity, "type", None)
        if entity_type is None and isinstance(entity, dict):
            entity_type = entity.get("type")
        if entity_type != "clientInfo":
            continue
        props = getattr(entity, "additional_properties", None) or (
            entity if isinstance(entity, dict) else {}
        )
        found = props.get("locale") if isinstance(props, dict) else None
        locales.append(_text(found))
    return locales


def text(activity: Any) -> str | None:
    """What the user typed (mention and all; see ``dialogs.input_limits``)."""
    return _text(getattr(activity, "text", None))


def value(activity: Any) -> Any:
    """``value`` as sent: a card submission's data, an invoke's payload."""
    return getattr(activity, "value", None)


def card_value(activity: Any) -> dict[str, Any] | None:
    """``value`` when it is an object (an ``Action.Submit``'s data), else ``None``."""
    found = value(activity)
    return found if isinstance(found, dict) else None


def card_message_id(activity: Any) -> str | None:
    """The message whose card button sent this activity (``replyToId``); the card is
    updated in place under that id."""
    return _text(getattr(activity, "reply_to_id", None))


def log_ids(activity: Any) -> dict[str, Any]:
    """The activity's own ids for a log line (no user or conversation id)."""
    return {
        "activity_id": activity_id(activity),
        "activity_type": activity_type(activity),
        "channel_id": channel_id(activity),
    }


def reference_fields(activity: Any) -> tuple[Hashable, ...]:
    """What a stored conversation reference of this activity depends on, except the
    activity's own id: equal tuples mean the stored reference is still current."""
    sender = _sender(activity)
    bot = getattr(activity, "recipient", None)
    conversation = getattr(activity, "conversation", None)
    return (
        service_url(activity),
        channel_id(activity),
        conversation_id(activity),
        getattr(conversation, "conversation_type", None),
        getattr(conversation, "is_group", None),
        getattr(conversation, "name", None),
        tenant_id(activity),
        sender_id(activity),
        getattr(sender, "name", None),
        sender_aad_object_id(activity),
        getattr(sender, "role", None),
        recipient_id(activity),
        getattr(bot, "name", None),
        locale(activity),
    )
