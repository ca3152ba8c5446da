"""A manager (or worker) chatting with the real bot app over HTTP, for the issue-5 tests.

    chat = Chat(http, server, connector, email="manager@laukaa.example.fi", locale="sv-SE")
    card = await chat.say_card("ny")            # the form
    result = await chat.submit(card, {...})     # the inputs a user would fill in
    chat.messages / chat.clicks                 # what the user typed and clicked

Everything the bot sends or updates after a post is returned in order; a card update
(PUT) is how the form turns into the summary and the receipt.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestServer
from fakes.botapp import card_of, post_activity, texts
from fakes.connector import FakeConnector, Recorded
from fakes.teams import message

from access.model import AccessRequest, Grant, RequestDraft, RequestKind
from access.service import AccessService
from bot.app import RUNTIME

__all__ = [
    "APPROVER",
    "LAUKAA",
    "NOW",
    "TODAY",
    "Chat",
    "FixedClock",
    "inputs",
    "make_active_grant",
    "service_of",
]

HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=HELSINKI)
TODAY = NOW.date()
LAUKAA = "manager@laukaa.example.fi"
APPROVER = "contact@pks-area.example.fi"
ADMIN = "admin@pks-area.example.fi"
_users = itertools.count(1)
_keys = itertools.count(1)


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.astimezone(HELSINKI).date()

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def service_of(server: TestServer) -> AccessService:
    service = server.app[RUNTIME].service
    assert service is not None
    return service


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every input of a card (ShowCard cards included) by id."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and "id" in node:
                found[node["id"]] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Submit (nested ones too, selectActions included)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


class Chat:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        server: TestServer,
        connector: FakeConnector,
        *,
        email: str | None = LAUKAA,
        locale: str = "fi-FI",
        user_id: str | None = None,
        conversation_id: str | None = None,
    ) -> None:
        n = next(_users)
        self.http = http
        self.server = server
        self.connector = connector
        self.locale = locale
        self.user_id = user_id or f"29:manager-{n}"
        self.aad = f"00000000-0000-0000-0000-{n:012d}"
        self.conversation_id = conversation_id or f"a:manager-chat-{n}"
        if email is not None:
            connector.add_member(self.user_id, email=email, userPrincipalName=email)
        self.messages = 0  # texts the user typed
        self.clicks = 0  # card buttons the user pressed
        self.card_id: str | None = None  # the last card the bot sent

    def as_user(self, user_id: str, aad: str) -> Chat:
        """Another user in the same conversation (a group chat)."""
        other = Chat(
            self.http,
            self.server,
            self.connector,
            email=None,
            locale=self.locale,
            user_id=user_id,
            conversation_id=self.conversation_id,
        )
        other.aad = aad
        return other

    async def _post(self, activity: dict[str, Any]) -> list[Recorded]:
        before = len(self.connector.requests)
        status, _ = await post_activity(self.http, self.server, activity)
        assert status in (200, 201), status
        new = [
            r for r in self.connector.requests[before:] if r.kind == "activities" and r.status < 300
        ]
        for r in new:
            if r.method == "POST" and r.body.get("attachments"):
                self.card_id = r.answered_id
        return new

    async def say(self, text: str) -> list[Recorded]:
        self.messages += 1
        return await self._post(
            message(
                self.connector.service_url,
                text,
                locale=self.locale,
                conversation_id=self.conversation_id,
                user_id=self.user_id,
                aad_object_id=self.aad,
            )
        )

    async def click(self, value: dict[str, Any], reply_to_id: str | None = None) -> list[Recorded]:
        self.clicks += 1
        return await self._post(
            message(
                self.connector.service_url,
                None,
                value=value,
                reply_to_id=reply_to_id if reply_to_id is not None else self.card_id,
                locale=self.locale,
                conversation_id=self.conversation_id,
                user_id=self.user_id,
                aad_object_id=self.aad,
            )
        )

    async def press(
        self,
        card: dict[str, Any],
        title: str,
        fill: dict[str, str] | None = None,
        reply_to_id: str | None = None,
    ) -> list[Recorded]:
        """Press the button ``title``: its data plus the card's input values (as
        Teams sends them) with ``fill`` typed over them."""
        [action] = [a for a in actions(card) if a["title"] == title]
        value: dict[str, Any] = {}
        if action.get("associatedInputs") != "none":
            for input_id, element in inputs(card).items():
                current = element.get("value")
                if current not in (None, ""):
                    value[input_id] = current
        value.update(fill or {})
        value.update(action["data"])
        return await self.click(value, reply_to_id)


def only_card(recorded: list[Recorded]) -> dict[str, Any]:
    """The one card among the recorded activities (sent or updated)."""
    cards = [card_of(r.body) for r in recorded if r.body.get("attachments")]
    assert len(cards) == 1, [r.body for r in recorded]
    return cards[0]


def only_text(recorded: list[Recorded]) -> str:
    found = [r.body["text"] for r in recorded if r.body.get("text")]
    assert len(found) == 1, [r.body for r in recorded]
    return str(found[0])


def card_texts(recorded: list[Recorded]) -> list[str]:
    return texts(only_card(recorded))


async def make_active_grant(
    service: AccessService,
    *,
    name: str = "Aino Esimerkki",
    email: str = "aino.esimerkki@laukaa.example.fi",
    requester: str = LAUKAA,
    municipality: str = "laukaa",
    end: date | None = None,
) -> Grant:
    """Submit, approve and confirm at KEHA: an active grant."""
    n = next(_keys)
    request: AccessRequest = await service.requests.submit(
        requester,
        RequestDraft(
            kind=RequestKind.GRANT,
            municipality=municipality,
            worker_name=name,
            worker_email=email,
            worker_job_title="Ohjaaja",
            service_areas=("youth",),
            level="view",
            start=TODAY,
            end=end or TODAY + timedelta(days=180),
            justification="Ohjaamon asiakastyö",
            confirmations=frozenset({"customer_consent_form", "worker_agreement"}),
        ),
        idempotency_key=f"setup-submit-{n}",
    )
    await service.requests.approve(APPROVER, request.id, idempotency_key=f"setup-approve-{n}")
    batch = await service.handoff.queue_for_keha(
        ADMIN, request.area, idempotency_key=f"setup-queue-{n}", request_ids=[request.id]
    )
    await service.handoff.mark_sent(ADMIN, batch.id, idempotency_key=f"setup-sent-{n}")
    [row] = [r for r in batch.rows if r.request_id == request.id]
    done = await service.handoff.confirm_row(ADMIN, row.id, idempotency_key=f"setup-confirm-{n}")
    [grant] = [g for g in await service.queries.list_grants_for(requester) if g.id == done.grant_id]
    return grant
