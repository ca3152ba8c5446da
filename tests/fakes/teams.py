"""Teams-shaped activities for tests (what Teams POSTs to ``/api/messages``)."""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["BOT_ID", "TENANT_ID", "conversation_update", "installation_update", "message"]

BOT_ID = "28:00000000-0000-0000-0000-00000000b07"
TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
_ids = itertools.count(1)


def _base(
    kind: str,
    service_url: str,
    *,
    conversation_id: str,
    user_id: str,
    aad_object_id: str | None,
    locale: str | None,
    conversation_type: str = "personal",
    team_id: str | None = None,
) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": user_id, "name": "Test User"}
    if aad_object_id:
        sender["aadObjectId"] = aad_object_id
    activity: dict[str, Any] = {
        "type": kind,
        "id": f"incoming-{next(_ids)}",
        "timestamp": "2026-01-15T08:00:00.000Z",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": sender,
        "recipient": {"id": BOT_ID, "name": "A-TMT bot"},
        "conversation": {
            "id": conversation_id,
            "conversationType": conversation_type,
            "tenantId": TENANT_ID,
        },
        "channelData": {"tenant": {"id": TENANT_ID}},
    }
    if conversation_type != "personal":
        activity["conversation"]["isGroup"] = True
    if team_id is not None:  # a team's channel: Teams names the team
        activity["channelData"]["team"] = {"id": team_id}
    if locale:
        activity["locale"] = locale
    return activity


def message(
    service_url: str,
    text: str | None = None,
    *,
    value: dict[str, Any] | None = None,
    reply_to_id: str | None = None,
    locale: str | None = "fi-FI",
    conversation_id: str = "a:conversation-1",
    user_id: str = "29:user-1",
    aad_object_id: str | None = "00000000-0000-0000-0000-000000000001",
    conversation_type: str = "personal",
    team_id: str | None = None,
) -> dict[str, Any]:
    activity = _base(
        "message",
        service_url,
        conversation_id=conversation_id,
        user_id=user_id,
        aad_object_id=aad_object_id,
        locale=locale,
        conversation_type=conversation_type,
        team_id=team_id,
    )
    if text is not None:
        activity["text"] = text
        activity["textFormat"] = "plain"
    if value is not None:
        activity["value"] = value
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


def conversation_update(
    service_url: str,
    *,
    members_added: list[str] | list[dict[str, Any]] | None = None,
    locale: str | None = "fi-FI",
    conversation_id: str = "a:conversation-1",
    user_id: str = "29:user-1",
    aad_object_id: str | None = "00000000-0000-0000-0000-000000000001",
    conversation_type: str = "personal",
    team_id: str | None = None,
) -> dict[str, Any]:
    """Members added (ids, or accounts as Teams sends them: ``id``, ``aadObjectId``)."""
    activity = _base(
        "conversationUpdate",
        service_url,
        conversation_id=conversation_id,
        user_id=user_id,
        aad_object_id=aad_object_id,
        locale=locale,
        conversation_type=conversation_type,
        team_id=team_id,
    )
    activity["membersAdded"] = [
        m if isinstance(m, dict) else {"id": m} for m in (members_added or [BOT_ID])
    ]
    activity["channelData"]["eventType"] = None
    return activity


def installation_update(
    service_url: str,
    action: str = "add",
    *,
    locale: str | None = "fi-FI",
    conversation_id: str = "a:conversation-1",
    user_id: str = "29:user-1",
    aad_object_id: str | None = "00000000-0000-0000-0000-000000000001",
    conversation_type: str = "personal",
    team_id: str | None = None,
) -> dict[str, Any]:
    activity = _base(
        "installationUpdate",
        service_url,
        conversation_id=conversation_id,
        user_id=user_id,
        aad_object_id=aad_object_id,
        locale=locale,
        conversation_type=conversation_type,
        team_id=team_id,
    )
    activity["action"] = action
    return activity
