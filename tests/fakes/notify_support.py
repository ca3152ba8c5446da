"""Helpers for the approval and notification tests: people, invokes, drafts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from fakes.botapp import post_activity
from fakes.connector import FakeConnector, Recorded
from fakes.teams import BOT_ID, TENANT_ID, conversation_update, installation_update, message

from access.model import RequestDraft, RequestKind

__all__ = [
    "ADMIN",
    "APPROVER_A",
    "APPROVER_B",
    "MANAGER",
    "WORKER",
    "Person",
    "Post",
    "activity_card",
    "delivered_text",
    "draft",
    "execute",
    "install_in_team",
    "install_personally",
    "introduce",
    "invoke_card",
    "notification_keys",
    "teams_member",
    "wait_until",
]

#: POSTs an activity to the bot (with whatever token the test's bot needs).
Post = Callable[[dict[str, Any]], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    user_id: str
    aad: str
    locale: str

    @property
    def conversation_id(self) -> str:
        return f"a:personal-{self.name}"


MANAGER = Person(
    "manager",
    "manager@laukaa.example.fi",
    "29:manager",
    "00000000-0000-0000-0000-0000000000a1",
    "fi-FI",
)
APPROVER_A = Person(
    "approver-a",
    "contact@pks-area.example.fi",
    "29:approver-a",
    "00000000-0000-0000-0000-0000000000a2",
    "fi-FI",
)
APPROVER_B = Person(
    "approver-b",
    "deputy@pks-area.example.fi",
    "29:approver-b",
    "00000000-0000-0000-0000-0000000000a3",
    "en-GB",
)
WORKER = Person(
    "worker",
    "aino.esimerkki@laukaa.example.fi",
    "29:worker",
    "00000000-0000-0000-0000-0000000000a4",
    "sv-FI",
)


ADMIN = Person(
    "admin",
    "admin@pks-area.example.fi",
    "29:admin",
    "00000000-0000-0000-0000-0000000000a5",
    "fi-FI",
)


def teams_member(connector: FakeConnector, person: Person) -> None:
    """The person as the connector's member API describes them (the bot takes the
    ``userPrincipalName``)."""
    connector.add_member(
        person.user_id,
        email=person.email,
        userPrincipalName=person.email,
        name=person.name,
        aadObjectId=person.aad,
        tenantId=TENANT_ID,
    )


async def install_personally(post: Post, connector: FakeConnector, person: Person) -> None:
    """The app is installed for the person (by them or for them): Teams sends
    ``installationUpdate`` and ``conversationUpdate`` (the bot added) in their 1:1
    chat. Nobody types."""
    teams_member(connector, person)
    connector.install(person.user_id)
    connector.chats[person.user_id] = person.conversation_id  # the chat Teams made
    common: dict[str, Any] = {
        "locale": person.locale,
        "conversation_id": person.conversation_id,
        "user_id": person.user_id,
        "aad_object_id": person.aad,
    }
    for activity in (
        installation_update(connector.service_url, **common),
        conversation_update(connector.service_url, members_added=[BOT_ID], **common),
    ):
        status, body = await post(activity)
        assert status == 200, body


async def install_in_team(
    post: Post,
    connector: FakeConnector,
    installer: Person,
    members: Sequence[Person],
    *,
    team_id: str = "19:area-team@thread.tacv2",
) -> None:
    """``installer`` adds the app to a team of ``installer`` and ``members``: Teams
    sends ``installationUpdate`` and ``conversationUpdate`` (the bot added) in the
    team's General channel (whose id is the team's). Nobody types."""
    for person in (installer, *members):
        teams_member(connector, person)
        connector.install(person.user_id)  # a team's bot may open a chat with its members
    connector.rosters[team_id] = [p.user_id for p in (installer, *members)]
    common: dict[str, Any] = {
        "locale": installer.locale,
        "conversation_id": team_id,
        "user_id": installer.user_id,
        "aad_object_id": installer.aad,
        "conversation_type": "channel",
        "team_id": team_id,
    }
    for activity in (
        installation_update(connector.service_url, **common),
        conversation_update(connector.service_url, members_added=[BOT_ID], **common),
    ):
        status, body = await post(activity)
        assert status == 200, body


async def introduce(
    http: aiohttp.ClientSession, server: TestServer, connector: FakeConnector, person: Person
) -> None:
    """The person writes to the bot first (stores the conversation reference + e-mail)."""
    connector.add_member(
        person.user_id, email=person.email, userPrincipalName=person.email, name=person.name
    )
    status, _ = await post_activity(
        http,
        server,
        message(
            connector.service_url,
            "apua",
            locale=person.locale,
            conversation_id=person.conversation_id,
            user_id=person.user_id,
            aad_object_id=person.aad,
        ),
    )
    assert status == 200


def execute(
    service_url: str,
    person: Person,
    verb: str,
    data: dict[str, Any],
    *,
    trigger: str = "manual",
) -> dict[str, Any]:
    """An ``adaptiveCard/action`` invoke as Teams sends it for ``Action.Execute``."""
    activity = message(
        service_url,
        locale=person.locale,
        conversation_id=person.conversation_id,
        user_id=person.user_id,
        aad_object_id=person.aad,
    )
    activity["type"] = "invoke"
    activity["name"] = "adaptiveCard/action"
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "trigger": trigger,
    }
    return activity


async def invoke_card(
    http: aiohttp.ClientSession, server: TestServer, activity: dict[str, Any]
) -> dict[str, Any]:
    """POST an invoke; the card of the answer (asserting the Universal Actions shape)."""
    status, body = await post_activity(http, server, activity)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["statusCode"] == 200
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = answer["value"]
    assert card["type"] == "AdaptiveCard"
    return card


def activity_card(recorded: Recorded) -> dict[str, Any] | None:
    attachments = recorded.body.get("attachments") or []
    if not attachments:
        return None
    content: dict[str, Any] = attachments[0]["content"]
    return content


def delivered_text(recorded: Recorded) -> str:
    """What the person reads in a delivered message: its text, or the texts of its
    card (a notification is a card: heading, text, button)."""
    text = recorded.body.get("text")
    if isinstance(text, str) and text:
        return text
    card = activity_card(recorded) or {}
    return "\n".join(
        b["text"]
        for b in card.get("body", [])
        if isinstance(b, dict) and b.get("type") == "TextBlock"
    )


def notification_keys(recorded: list[Recorded]) -> list[str]:
    """The idempotency keys of the proactive notifications among ``recorded``."""
    keys: list[str] = []
    for r in recorded:
        data = r.body.get("channelData")
        if isinstance(data, dict) and isinstance(data.get("atmtNotification"), str):
            keys.append(data["atmtNotification"])
    return keys


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 20.0, step: float = 0.05
) -> None:
    async with asyncio.timeout(within):
        for _ in iter(int, 1):  # until check() holds (polling the database)
            if await check():
                return
            await asyncio.sleep(step)


def draft(today: date, **changes: Any) -> RequestDraft:
    base = RequestDraft(
        kind=RequestKind.GRANT,
        municipality="laukaa",
        worker_name="Aino Esimerkki",
        worker_email=WORKER.email,
        worker_job_title="Työllisyyskoordinaattori",
        service_areas=("youth", "guidance"),
        level="view",
        start=today,
        end=today + timedelta(days=180),
        justification="Ohjaamon asiakasohjaus",
        confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
    )
    return replace(base, **changes)


async def seed_conversations(
    engine: Any, connector: FakeConnector, emails: Sequence[str], *, locale: str = "fi-FI"
) -> None:
    """Store a personal-chat conversation reference for each e-mail, as if each person
    had written to the bot, with the fake connector as their Teams service."""
    from fakes.teams import BOT_ID, TENANT_ID

    from storage.conversation_refs import ConversationRefRepository
    from storage.db import create_session_factory

    refs = ConversationRefRepository(create_session_factory(engine))
    for n, email in enumerate(emails):
        await refs.save(
            user_key=f"aad-{n}",
            reference={
                "user": {"id": f"29:user-{n}"},
                "bot": {"id": BOT_ID},
                "conversation": {"id": f"a:chat-{n}", "tenantId": TENANT_ID},
                "channelId": "msteams",
                "serviceUrl": connector.service_url,
            },
            tenant_id=TENANT_ID,
            locale=locale,
            email=email,
        )
