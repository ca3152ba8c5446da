"""The button on a notification card does what it says when clicked, and the card
names people as people (their Teams name and where they act), not by address."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector, Recorded
from fakes.notify_support import (
    ADMIN,
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    Person,
    draft,
    execute,
    invoke_card,
    wait_until,
)
from fakes.teams import message

from access.model import RequestChanges, RevokeReason
from bot.app import RUNTIME
from dialogs.cards.grants import ACK_CARD
from dialogs.cards.request_form import FORM_CARD
from storage.outbox_queue import OutboxQueue

SETTINGS = {"notifier_enabled": True, "notifier_interval": 0.05, "notify_backoff": 0.01}
PKS = "pohjoinen-keski-suomi"
NAMES = {
    MANAGER: "Maija Esihenkilö",
    APPROVER_A: "Aino Yhteyshenkilö",
    APPROVER_B: "Dana Deputy",
    WORKER: "Aino Esimerkki",
    ADMIN: "Pekka Pääkäyttäjä",
}


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


class Chat:
    def __init__(
        self, http: aiohttp.ClientSession, server: TestServer, connector: FakeConnector
    ) -> None:
        self.http, self.server, self.connector = http, server, connector

    async def introduce(self, person: Person) -> None:
        self.connector.add_member(
            person.user_id, userPrincipalName=person.email, name=NAMES[person]
        )
        status, _ = await post_activity(
            self.http, self.server, _from(self.connector.service_url, person, "apua")
        )
        assert status == 200

    def notice(self, person: Person, template: str) -> Recorded:
        """The person's notification of ``template``."""
        found = [
            r
            for r in self.connector.sent(person.conversation_id)
            if f":{template}:" in str((r.body.get("channelData") or {}).get("atmtNotification"))
        ]
        assert len(found) == 1, (person.name, template, len(found))
        return found[0]

    async def click(self, person: Person, recorded: Recorded) -> list[dict[str, Any]]:
        """Click the card's one button (``Action.Submit``); the cards the bot answered."""
        [button] = card_of(recorded.body)["actions"]
        assert button["type"] == "Action.Submit"
        before = len(self.connector.sent(person.conversation_id))
        activity = _from(
            self.connector.service_url,
            person,
            value=button["data"],
            reply_to_id=recorded.answered_id,
        )
        status, body = await post_activity(self.http, self.server, activity)
        assert status == 200, body
        answers = self.connector.sent(person.conversation_id)[before:]
        return [card_of(r.body) for r in answers if r.body.get("attachments")]


async def test_each_button_opens_what_the_notification_invites(
    db_url: str, start_bot: Any, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, **SETTINGS))
    runtime = server.app[RUNTIME]
    chat = Chat(http, server, connector)
    for person in NAMES:
        await chat.introduce(person)
    service = runtime.service
    queue = OutboxQueue(runtime.engine)

    async def settle() -> None:
        async def delivered() -> bool:
            counts = await queue.counts()
            return counts.get("pending", 0) + counts.get("sending", 0) == 0

        await wait_until(delivered, within=30)

    request = await service.requests.submit(
        MANAGER.email, draft(service.clock.today()), idempotency_key="b-1"
    )
    await settle()
    # The worker is told who asked: the manager's Teams name and municipality.
    told = _shown(card_of(chat.notice(WORKER, "request.submitted").body))
    assert "Maija Esihenkilö, Laukaa" in told and MANAGER.email not in told

    question = "Mihin tehtäviin käyttöoikeutta tarvitaan?"
    await service.requests.return_with_question(
        APPROVER_A.email, request.id, question, idempotency_key="b-2"
    )
    await settle()
    returned = chat.notice(MANAGER, "request.returned")
    said = _shown(card_of(returned.body))
    assert "Aino Yhteyshenkilö, Pohjoisen Keski-Suomen työllisyysalue" in said
    assert request.number in said
    # "Answer the question": the request's form, prefilled, with the question.
    [form] = await chat.click(MANAGER, returned)
    assert question in _shown(form)
    assert FORM_CARD in str(form) and "Ohjaamon asiakasohjaus" in str(form)  # prefilled

    await service.requests.resubmit(
        MANAGER.email,
        request.id,
        RequestChanges(
            justification="Ohjaamon asiakasohjaus ja uraohjaus",
            answer="Uraohjaus kuuluu tehtävään.",
        ),
        idempotency_key="b-3",
    )
    await service.requests.approve(APPROVER_A.email, request.id, idempotency_key="b-4")
    await settle()
    # The requester's "Open the request": the request's details and history.
    [details] = await chat.click(MANAGER, chat.notice(MANAGER, "request.approved"))
    assert request.number in _shown(details) and "atmt_card" in str(details)
    # The admin's "Open the KEHA batches": the area's KEHA hand-off.
    approved_admin = chat.notice(ADMIN, "request.approved")
    assert "attention" not in str(card_of(approved_admin.body))  # a grant is not urgent
    [keha] = await chat.click(ADMIN, approved_admin)
    assert request.number in _shown(keha)

    batch = await service.handoff.queue_for_keha(ADMIN.email, PKS, idempotency_key="b-5")
    await service.handoff.mark_sent(ADMIN.email, batch.id, idempotency_key="b-6")
    [row] = await service.queries.list_keha_rows(ADMIN.email, PKS)
    opened = await service.handoff.confirm_row(ADMIN.email, row.id, idempotency_key="b-7")
    await settle()
    # The worker's "Acknowledge the data-protection terms": their access with the terms.
    [mine] = await chat.click(WORKER, chat.notice(WORKER, "grant.opened"))
    assert ACK_CARD in str(mine)

    assert opened.grant_id is not None
    revocation = await service.requests.revoke_by_municipality(
        MANAGER.email, opened.grant_id, RevokeReason.TASKS_CHANGED, idempotency_key="b-8"
    )
    await settle()
    # Urgent for the admin, who must act on KEHA; the worker is told plainly.
    urgent = card_of(chat.notice(ADMIN, "revoke.requested").body)
    assert urgent["body"][0]["style"] == "attention"
    assert "KIIREELLINEN" in _shown(urgent)
    plain = card_of(chat.notice(WORKER, "revoke.requested").body)
    assert "attention" not in str(plain) and "BRÅDSKANDE" not in _shown(plain).upper()
    # The approver's "Open the request" opens the removal's card in place.
    to_approver = card_of(chat.notice(APPROVER_A, "revoke.requested").body)
    [button] = to_approver["actions"]
    assert button["type"] == "Action.Execute"
    card = await invoke_card(
        http,
        server,
        execute(connector.service_url, APPROVER_A, button["verb"], button["data"]),
    )
    assert revocation.request is not None  # effective today: on its way to KEHA
    assert revocation.request.number in _shown(card)
