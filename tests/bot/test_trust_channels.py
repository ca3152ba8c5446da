"""Only Teams may say who someone is.

Every attack here is sent over real HTTP to the real app, with a channel token signed
by :class:`fakes.auth.FakeOpenId` (a valid token: the attacker holds one for Web Chat
or Direct Line, which are enabled on an Azure Bot by default), and checked by what
changed afterwards: the request's state, the conversation references, the bot state,
the rate-limit budget of the real user and what the attacker's "connector" received.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.auth import FakeCredentialsFactory, FakeOpenId, new_signing_key
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.notify_support import APPROVER_A, MANAGER, Person, draft, execute
from fakes.teams import TENANT_ID, conversation_update, installation_update, message
from sqlalchemy import select

from access.model import RequestState
from bot.app import RUNTIME
from bot.auth import create_authentication
from bot.config import Settings
from bot.logging_setup import JsonFormatter
from dialogs.cards.approval import APPROVAL_CARD, VERB_APPROVE
from dialogs.i18n import Translator
from storage.conversation_refs import ConversationRefRepository
from storage.db import create_engine, create_session_factory
from storage.models import BotState, ConversationRef

APP_ID = "00000000-0000-0000-0000-0000000000b1"
OTHER_TENANT = "00000000-0000-0000-0000-0000000000ee"
T = Translator.load()


def _settings(db_url: str, metadata_url: str, **overrides: Any) -> Settings:
    return make_settings(
        db_url,
        app_id=APP_ID,
        app_password="not-a-real-secret",
        app_tenant_id=TENANT_ID,  # MicrosoftAppType is SingleTenant (the default)
        openid_metadata_url=metadata_url,
        **overrides,
    )


@pytest.fixture
async def openid() -> AsyncIterator[FakeOpenId]:
    # Bot Framework's signing keys are endorsed for every channel it runs.
    key = new_signing_key(endorsements=("msteams", "webchat", "directline", "emulator"))
    async with FakeOpenId(keys=[key]) as fake:
        yield fake


@dataclass
class Bot:
    server: TestServer
    openid: FakeOpenId
    http: aiohttp.ClientSession

    async def post(self, activity: dict[str, Any]) -> tuple[int, bytes]:
        """POST with a valid channel token for the activity's serviceUrl."""
        token = self.openid.mint(aud=APP_ID, serviceurl=activity["serviceUrl"])
        return await post_activity(
            self.http, self.server, activity, headers={"Authorization": f"Bearer {token}"}
        )


async def _bot(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    **overrides: Any,
) -> Bot:
    settings = _settings(db_url, openid.metadata_url, **overrides)
    auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
    return Bot(await start_bot(settings, auth=auth), openid, http)


def _teams_message(connector: FakeConnector, person: Person, text: str) -> dict[str, Any]:
    return message(
        connector.service_url,
        text,
        locale=person.locale,
        conversation_id=person.conversation_id,
        user_id=person.user_id,
        aad_object_id=person.aad,
    )


async def _rows(db_url: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(user key, serviceUrl) of every conversation reference; every bot state key."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            refs = await connection.execute(
                select(ConversationRef.user_key, ConversationRef.reference)
            )
            found = [(key, json.loads(doc)["serviceUrl"]) for key, doc in refs]
            states = [key for (key,) in await connection.execute(select(BotState.key))]
        return sorted(found), sorted(states)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------ channels


async def test_a_web_chat_sender_with_the_approvers_object_id_cannot_approve_nor_touch_anything(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seen: a Web Chat activity whose ``from.id`` is the approver's AAD object id
    approved a pending request as the approver, overwrote the approver's conversation
    reference (so the next notification went to Web Chat) and got past the tenant
    allow-list with a chosen ``channelData.tenant.id``."""
    bot = await _bot(db_url, openid, start_bot, http, user_rate_per_minute=2)
    runtime = bot.server.app[RUNTIME]
    connector.add_member(APPROVER_A.user_id, userPrincipalName=APPROVER_A.email)
    assert (await bot.post(_teams_message(connector, APPROVER_A, "apua")))[0] == 200
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="wc-submit"
    )
    before = await _rows(db_url)
    data = {"atmt_card": APPROVAL_CARD, "request_id": request.id, "version": request.version}

    async with FakeConnector() as webchat:  # the Web Chat service the attacker talks to
        approve = execute(webchat.service_url, APPROVER_A, VERB_APPROVE, data)
        text = message(webchat.service_url, "hyväksynnät")
        for attack in (approve, text, dict(text, type="conversationUpdate")):
            attack["channelId"] = "webchat"
            attack["conversation"] = {"id": "webchat-conversation-1", "tenantId": TENANT_ID}
            attack["channelData"] = {"tenant": {"id": TENANT_ID}}  # chosen too
        approve["from"] = {"id": APPROVER_A.aad, "name": "Aino Hyväksyjä"}
        # The same from.id as the approver in Teams: the approver's rate-limit bucket.
        text["from"] = {"id": APPROVER_A.user_id, "aadObjectId": APPROVER_A.aad}
        with caplog.at_level(logging.INFO):
            for attack in (approve, text, text, text):
                status, body = await bot.post(attack)
                assert status == 403, body
                assert json.loads(body) == {"error": "channel not allowed"}
        assert webchat.requests == []

    stored = await runtime.service.queries.get_request(MANAGER.email, request.id)
    assert stored.request.state is RequestState.PENDING
    assert await _rows(db_url) == before  # no reference, no bot state written
    assert before[0] == [(f"{TENANT_ID}:{APPROVER_A.aad}", connector.service_url)]
    # The approver's own budget (2 a minute, one used) was not spent by the attacker.
    assert (await bot.post(_teams_message(connector, APPROVER_A, "apua")))[0] == 200
    [refused] = [r for r in caplog.records if getattr(r, "event", None) == "channel_refused"][:1]
    assert json.loads(JsonFormatter().format(refused))["channel_id"] == "webchat"


@pytest.mark.parametrize(
    ("allowed", "channel", "expected"),
    [
        (None, "msteams", 200),
        (None, "directline", 403),
        (None, "emulator", 403),
        ("msteams,directline", "directline", 200),
        ("directline", "msteams", 403),
    ],
)
async def test_only_the_channels_of_atmt_allowed_channels_are_accepted(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    allowed: str | None,
    channel: str,
    expected: int,
) -> None:
    overrides = {} if allowed is None else {"allowed_channels": allowed}
    bot = await _bot(db_url, openid, start_bot, http, **overrides)
    activity = message(connector.service_url, "apua")
    activity["channelId"] = channel
    assert (await bot.post(activity))[0] == expected
    if expected == 403:
        assert connector.requests == []


def test_the_channel_setting_defaults_to_teams_and_is_never_empty() -> None:
    assert make_settings("sqlite:///x").allowed_channels == ("msteams",)
    settings = make_settings("sqlite:///x", allowed_channels=" MSTeams, directline ,")
    assert settings.allowed_channels == ("directline", "msteams")
    with pytest.raises(ValueError, match="at least one channel"):
        make_settings("sqlite:///x", allowed_channels=" , ")


async def test_anonymous_mode_takes_the_playgrounds_channel_whatever_is_configured(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """Agents Playground sends ``msteams`` (its default; ``make run`` and the browser
    tests pass ``--channel-id msteams``): anonymous mode always accepts it; with an app
    id only ``ATMT_ALLOWED_CHANNELS`` counts (see the test above)."""
    server = await start_bot(make_settings(db_url, allowed_channels="directline"))
    assert (await post_activity(http, server, message(connector.service_url, "apua")))[0] == 200
    webchat = message(connector.service_url, "apua")
    webchat["channelId"] = "webchat"
    assert (await post_activity(http, server, webchat))[0] == 403


# ------------------------------------------------------------ tenant + object id


async def test_a_user_of_another_tenant_with_a_colliding_object_id_is_another_person(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    """Keys are (tenant, object id): in a multi-tenant bot that accepts every tenant, a
    Teams user of another tenant whose object id equals the approver's gets a row of
    their own and the e-mail their own tenant gives them; they never read or
    overwrite the approver's row."""
    bot = await _bot(db_url, openid, start_bot, http, app_type="MultiTenant")
    runtime = bot.server.app[RUNTIME]
    connector.add_member(APPROVER_A.user_id, userPrincipalName=APPROVER_A.email)
    assert (await bot.post(_teams_message(connector, APPROVER_A, "apua")))[0] == 200
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="tn-submit"
    )
    data = {"atmt_card": APPROVAL_CARD, "request_id": request.id, "version": request.version}

    async with FakeConnector() as other_teams:
        other_teams.add_member("29:mallory", userPrincipalName="mallory@other.example")
        mallory = Person("mallory", "mallory@other.example", "29:mallory", APPROVER_A.aad, "fi-FI")
        approve = execute(other_teams.service_url, mallory, VERB_APPROVE, data)
        approve["conversation"]["tenantId"] = OTHER_TENANT
        approve["channelData"] = {"tenant": {"id": OTHER_TENANT}}
        status, body = await bot.post(approve)
        assert status == 200, body  # a card: not allowed to decide
        assert json.loads(body)["type"] == "application/vnd.microsoft.card.adaptive"

    stored = await runtime.service.queries.get_request(MANAGER.email, request.id)
    assert stored.request.state is RequestState.PENDING
    refs = ConversationRefRepository(create_session_factory(runtime.engine))
    approver = await refs.get(f"{TENANT_ID}:{APPROVER_A.aad}")
    assert approver is not None and approver.email == APPROVER_A.email
    assert approver.reference["serviceUrl"] == connector.service_url
    other = await refs.get(f"{OTHER_TENANT}:{APPROVER_A.aad}")
    assert other is not None and other.email == "mallory@other.example"


@pytest.mark.parametrize(
    ("allowed", "tenant", "expected"),
    [
        (None, TENANT_ID, 200),  # SingleTenant: the app's own tenant only
        (None, OTHER_TENANT, 403),
        ("*", OTHER_TENANT, 200),  # every tenant only when asked for
        (OTHER_TENANT, OTHER_TENANT, 200),
        (OTHER_TENANT, TENANT_ID, 403),
    ],
)
async def test_a_single_tenant_bot_accepts_its_own_tenant_unless_told_otherwise(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    allowed: str | None,
    tenant: str,
    expected: int,
) -> None:
    overrides = {} if allowed is None else {"allowed_tenants": allowed}
    bot = await _bot(db_url, openid, start_bot, http, **overrides)
    activity = message(connector.service_url, "apua")
    activity["conversation"]["tenantId"] = tenant
    activity["channelData"]["tenant"]["id"] = tenant
    status, body = await bot.post(activity)
    assert status == expected, body
    if expected == 403:
        assert json.loads(body) == {"error": "tenant not allowed"}
        assert connector.requests == []


def test_accepted_tenants_by_app_type() -> None:
    single = {"app_id": APP_ID, "app_password": "x", "app_tenant_id": TENANT_ID.upper()}
    assert make_settings("sqlite:///x", **single).accepted_tenants == (TENANT_ID,)
    msi = single | {"app_type": "UserAssignedMSI"}
    assert make_settings("sqlite:///x", **msi).accepted_tenants == (TENANT_ID,)
    assert make_settings("sqlite:///x", **single, allowed_tenants="*").accepted_tenants == ()
    multi = single | {"app_type": "MultiTenant"}
    assert make_settings("sqlite:///x", **multi).accepted_tenants == ()
    assert make_settings("sqlite:///x").accepted_tenants == ()  # anonymous, local


# ------------------------------------------------------- no aadObjectId: refused


@pytest.mark.parametrize(("locale", "lang"), [("fi-FI", "fi"), ("sv-SE", "sv"), ("en-US", "en")])
async def test_a_teams_message_without_an_object_id_gets_a_clear_refusal_and_nothing_else(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    locale: str,
    lang: str,
) -> None:
    """Never a fallback to ``from.id``: no reference, no state, no member look-up."""
    bot = await _bot(db_url, openid, start_bot, http)
    connector.add_member("29:user-1", userPrincipalName=APPROVER_A.email)
    activity = message(connector.service_url, "hyväksynnät", locale=locale, aad_object_id=None)
    assert (await bot.post(activity))[0] == 200
    [sent] = connector.sent()
    assert sent.body["text"] == T.get(lang).t("hardening.no_object_id")
    assert [r.kind for r in connector.requests] == ["activities"]
    assert await _rows(db_url) == ([], [])


async def test_an_invoke_without_an_object_id_is_a_clean_403(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    bot = await _bot(db_url, openid, start_bot, http)
    runtime = bot.server.app[RUNTIME]
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="na-submit"
    )
    data = {"atmt_card": APPROVAL_CARD, "request_id": request.id, "version": request.version}
    invoke = execute(connector.service_url, APPROVER_A, VERB_APPROVE, data)
    del invoke["from"]["aadObjectId"]
    invoke["from"]["id"] = APPROVER_A.aad
    status, body = await bot.post(invoke)
    assert status == 403
    assert json.loads(body) == {"error": "the sender has no Entra object id and tenant"}
    assert connector.requests == []
    stored = await runtime.service.queries.get_request(MANAGER.email, request.id)
    assert stored.request.state is RequestState.PENDING


async def test_the_welcome_needs_no_user_object_id(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    bot = await _bot(db_url, openid, start_bot, http)
    url = connector.service_url
    assert (await bot.post(installation_update(url, aad_object_id=None)))[0] == 200
    assert (await bot.post(conversation_update(url, aad_object_id=None)))[0] == 200
    [welcome] = connector.sent()
    assert welcome.body["attachments"][0]["content"]["body"][0]["text"] == T.get("fi").t(
        "welcome.title"
    )


# ----------------------------------------------------- e-mail from the UPN only


async def test_the_settable_email_attribute_never_makes_someone_the_approver(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    """A tenant admin can set anyone's ``mail`` (Teams' ``email``) to the approver's
    address; the bot takes the ``userPrincipalName``, whose domain the tenant verified."""
    bot = await _bot(db_url, openid, start_bot, http)
    runtime = bot.server.app[RUNTIME]
    connector.add_member(
        "29:mallory", email=APPROVER_A.email, userPrincipalName="mallory@laukaa.example.fi"
    )
    mallory = Person("mallory", "mallory@laukaa.example.fi", "29:mallory", MANAGER.aad, "fi-FI")
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="upn-submit"
    )
    data = {"atmt_card": APPROVAL_CARD, "request_id": request.id, "version": request.version}
    status, _ = await bot.post(execute(connector.service_url, mallory, VERB_APPROVE, data))
    assert status == 200
    stored = await runtime.service.queries.get_request(MANAGER.email, request.id)
    assert stored.request.state is RequestState.PENDING
    refs = ConversationRefRepository(create_session_factory(runtime.engine))
    row = await refs.get(f"{TENANT_ID}:{MANAGER.aad}")
    assert row is not None and row.email == "mallory@laukaa.example.fi"
