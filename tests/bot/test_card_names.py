"""Request cards name people as people: the approver's card shows the requester by
their Teams name and municipality with the e-mail, and the decided card and the
manager's request history show who decided the same way (names learned from Teams)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector, Recorded
from fakes.notify_support import (
    APPROVER_A,
    MANAGER,
    Person,
    draft,
    execute,
    invoke_card,
    wait_until,
)
from fakes.teams import message

from bot.app import RUNTIME
from dialogs.cards.approval import VERB_APPROVE
from storage.outbox_queue import OutboxQueue

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}
NAMES = {MANAGER: "Maija Esihenkilö", APPROVER_A: "Aino Yhteyshenkilö"}
AREA_FI = "Pohjoisen Keski-Suomen työllisyysalue"


def _from(server_url: str, person: Person, text: str | None = None, **extra: Any) -> Any:
    activity = message(
        server_url,
        text,
        locale=person.locale,
        conversation_id=person.conversation_id,
        user_id=person.user_id,
        aad_object_id=person.aad,
        **extra,
    )
    activity["from"]["name"] = NAMES[person]  # Teams sends the display name every turn
    return activity


def _shown(card: dict[str, Any]) -> str:
    return "\n".join(re.sub(r"\\(.)", r"\1", t) for t in texts(card))


def _facts(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, value) of every fact of the card, unescaped."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    found.append((fact["title"], re.sub(r"\\(.)", r"\1", fact["value"])))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def _notice(connector: FakeConnector, person: Person, template: str) -> Recorded:
    found = [
        r
        for r in connector.sent(person.conversation_id)
        if f":{template}:" in str((r.body.get("channelData") or {}).get("atmtNotification"))
    ]
    assert len(found) == 1, (person.name, template, len(found))
    return found[0]


async def _introduce(
    http: aiohttp.ClientSession, server: TestServer, connector: FakeConnector, person: Person
) -> None:
    connector.add_member(person.user_id, userPrincipalName=person.email, name=NAMES[person])
    status, _ = await post_activity(http, server, _from(connector.service_url, person, "apua"))
    assert status == 200


async def test_approver_card_names_the_requester_and_the_history_names_the_approver(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    for person in NAMES:
        await _introduce(http, server, connector, person)
    service = runtime.service
    queue = OutboxQueue(runtime.engine)

    async def settle() -> None:
        async def delivered() -> bool:
            counts = await queue.counts()
            return counts.get("pending", 0) + counts.get("sending", 0) == 0

        await wait_until(delivered, within=30)

    request = await service.requests.submit(
        MANAGER.email, draft(service.clock.today()), idempotency_key="n-1"
    )
    await settle()
    # The approver's card, sent by the notifier: the requester by name and municipality.
    card = card_of(_notice(connector, APPROVER_A, "request.submitted").body)
    requester = ("Hakija", "Maija Esihenkilö, Laukaa (manager@laukaa.example.fi)")
    assert requester in _facts(card)

    # Approving on the card: the card the dialog answers names the approver.
    [approve] = [a for a in card["actions"] if a.get("verb") == VERB_APPROVE]
    click = execute(connector.service_url, APPROVER_A, VERB_APPROVE, approve["data"])
    click["from"]["name"] = NAMES[APPROVER_A]
    decided = await invoke_card(http, server, click)
    assert f"Aino Yhteyshenkilö, {AREA_FI} (contact@pks-area.example.fi)" in _shown(decided)
    assert requester in _facts(decided)

    # The manager opens the request from the notification: the history names both.
    await settle()
    approved = _notice(connector, MANAGER, "request.approved")
    [button] = card_of(approved.body)["actions"]
    before = len(connector.sent(MANAGER.conversation_id))
    status, _ = await post_activity(
        http,
        server,
        _from(
            connector.service_url,
            MANAGER,
            value=button["data"],
            reply_to_id=approved.answered_id,
        ),
    )
    assert status == 200
    answers = connector.sent(MANAGER.conversation_id)[before:]
    [details] = [card_of(r.body) for r in answers if r.body.get("attachments")]
    history = "\n".join(value for _, value in _facts(details))
    assert request.number in _shown(details)
    assert "Maija Esihenkilö, Laukaa (manager@laukaa.example.fi)" in history
    assert f"Aino Yhteyshenkilö, {AREA_FI} (contact@pks-area.example.fi)" in history
