"""People who only installed the app are reachable, and so are people the bot never met.

Nobody types in these tests: Teams' install events (``installationUpdate``,
``conversationUpdate``) are all the bot hears of people. The fake connector checks
what the bot asks of it (the body of ``POST /v3/conversations``, the bearer token
where the bot has an app id) and answers as Teams does: a 1:1 chat only with a member
for whom the app is installed (personally or in a team of theirs), 403 otherwise,
404 for someone it does not know. The fake Graph checks its token, the user look-up's
``$select`` and the installation's body. Steps (``bot.reach``): the stored 1:1 chat;
else the chat opened with the Bot Connector; else the app installed through Graph and
the row tried again; else e-mail; else the dead letter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.auth import OUTBOUND_TOKEN, FakeCredentialsFactory, FakeOpenId, new_signing_key
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector, Fault, Recorded
from fakes.graph import FakeGraph
from fakes.notify_support import (
    ADMIN,
    APPROVER_A,
    APPROVER_B,
    MANAGER,
    WORKER,
    Person,
    activity_card,
    delivered_text,
    draft,
    install_in_team,
    install_personally,
    notification_keys,
    teams_member,
    wait_until,
)
from fakes.teams import BOT_ID, TENANT_ID, conversation_update, installation_update, message

from bot.app import RUNTIME, Runtime
from bot.auth import create_authentication
from storage.conversation_refs import ConversationRefRepository
from storage.db import create_session_factory
from storage.outbox_queue import OutboxQueue

APP_ID = "00000000-0000-0000-0000-0000000000b1"
TEAM = "19:pks-area@thread.tacv2"
BASE = {
    "notifier_enabled": True,
    "notifier_interval": 0.05,
    "notify_backoff": 0.01,
    "notify_backoff_max": 0.05,
    "notify_teams_attempts": 3,
    "notify_timeout": 3.0,
}


def key(person: Person) -> str:
    return f"{TENANT_ID}:{person.aad}"


def refs_of(runtime: Runtime) -> ConversationRefRepository:
    assert runtime.engine is not None
    return ConversationRefRepository(create_session_factory(runtime.engine))


async def all_handled(runtime: Runtime) -> None:
    assert runtime.engine is not None
    queue = OutboxQueue(runtime.engine)

    async def done() -> bool:
        counts = await queue.counts()
        return counts.get("pending", 0) + counts.get("sending", 0) == 0

    await wait_until(done, within=30)


def opened(connector: FakeConnector) -> list[Recorded]:
    """The bot's requests to open a conversation, answered or not."""
    return [r for r in connector.requests if r.kind == "conversations"]


def check_opening(request: Recorded, member_id: str, *, token: str | None) -> None:
    """What Teams needs to open a 1:1 chat: one member, not a group, the bot, the tenant."""
    assert request.method == "POST"
    body = request.body
    assert body["isGroup"] is False
    assert body["members"] == [{"id": member_id}]
    assert body["bot"]["id"] == BOT_ID
    assert body["channelData"] == {"tenant": {"id": TENANT_ID}}
    if token is not None:
        assert request.headers["Authorization"] == f"Bearer {token}"


# --------------------------------------------------------------- a bot with an app id


@pytest.fixture
async def openid() -> AsyncIterator[FakeOpenId]:
    async with FakeOpenId(keys=[new_signing_key(endorsements=("msteams",))]) as fake:
        yield fake


@dataclass
class SignedBot:
    """The bot with an app id: Teams' requests carry a channel token."""

    server: TestServer
    openid: FakeOpenId
    http: aiohttp.ClientSession

    async def post(self, activity: dict[str, Any]) -> tuple[int, bytes]:
        token = self.openid.mint(aud=APP_ID, serviceurl=activity["serviceUrl"])
        return await post_activity(
            self.http, self.server, activity, headers={"Authorization": f"Bearer {token}"}
        )


# ------------------------------------------------------------------------ acceptance


async def test_five_people_who_only_installed_the_app_get_their_notifications_in_teams(
    db_url: str,
    start_bot: StartBot,
    openid: FakeOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The manager, the worker and the admin install the app personally; the area's
    contact installs it in the area's team, where the deputy also is. Nobody says a
    word. A request is filed: the contact and the deputy get the card, the worker the
    message, in Teams; the approval reaches the admin there too. No dead letters."""
    caplog.set_level(logging.DEBUG, logger="bot")
    connector.token = OUTBOUND_TOKEN  # every request to the connector carries it
    settings = make_settings(
        db_url,
        app_id=APP_ID,
        app_password="not-a-real-secret",
        app_tenant_id=TENANT_ID,
        openid_metadata_url=openid.metadata_url,
        **BASE,
    )
    auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
    bot = SignedBot(await start_bot(settings, auth=auth), openid, http)
    runtime = bot.server.app[RUNTIME]
    for person in (MANAGER, WORKER, ADMIN):
        await install_personally(bot.post, connector, person)
    await install_in_team(bot.post, connector, APPROVER_A, [APPROVER_B], team_id=TEAM)
    welcomed = len(connector.sent())
    assert welcomed == 4  # once per installation: three personal chats, one team

    refs = refs_of(runtime)
    for person in (MANAGER, WORKER, ADMIN, APPROVER_A, APPROVER_B):
        row = await refs.get_by_email(person.email)
        assert row is not None and row.user_key == key(person)
        assert row.personal is (person in (MANAGER, WORKER, ADMIN))
    assert connector.chats == {
        p.user_id: p.conversation_id for p in (MANAGER, WORKER, ADMIN)
    }  # nothing opened yet

    assert runtime.service is not None
    request = await runtime.service.requests.submit(
        MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="installed-only"
    )
    await all_handled(runtime)

    # The contact and the deputy: a 1:1 chat opened for each with the Bot Connector
    # (the team's service URL, their Teams user id, the tenant), the card sent there.
    openings = opened(connector)
    assert [r.status for r in openings] == [200, 200]
    assert sorted(r.body["members"][0]["id"] for r in openings) == sorted(
        [APPROVER_A.user_id, APPROVER_B.user_id]
    )
    for recording in openings:
        check_opening(recording, recording.body["members"][0]["id"], token=OUTBOUND_TOKEN)
    for approver in (APPROVER_A, APPROVER_B):
        chat = connector.chats[approver.user_id]
        [card_message] = connector.sent(chat)
        card = activity_card(card_message)
        assert card is not None and card["type"] == "AdaptiveCard"
        assert card_message.headers["Authorization"] == f"Bearer {OUTBOUND_TOKEN}"
        stored = await refs.get(key(approver))  # kept for the next message
        assert stored is not None and stored.personal
        assert stored.reference["conversation"]["id"] == chat
        assert stored.email == approver.email
    # The worker, in the chat of their own install (Swedish: their Teams client).
    [to_worker] = connector.sent(WORKER.conversation_id)[1:]
    assert "Behörighet till kunddatasystemet A-TMT har sökts" in delivered_text(to_worker)

    # The contact approves: the admin hears of it in Teams, the worker too; the
    # contact's chat is used as stored (no new conversation opened).
    await runtime.service.requests.approve(
        APPROVER_A.email, request.id, idempotency_key="installed-only-approve"
    )
    await all_handled(runtime)
    assert len(opened(connector)) == 2
    [to_admin] = connector.sent(ADMIN.conversation_id)[1:]
    assert f"Hakemus {request.number} (Aino Esimerkki" in delivered_text(to_admin)
    assert len(connector.sent(WORKER.conversation_id)) == 3

    assert runtime.engine is not None
    queue = OutboxQueue(runtime.engine)
    assert await queue.dead() == []
    keys = notification_keys(connector.sent()[welcomed:])
    assert len(keys) == len(set(keys)) == 6  # 2 cards, worker x2, manager, admin
    # The bot's log names people by user key only.
    events = {getattr(r, "event", None) for r in caplog.records}
    assert "chat_opened" in events
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for person in (MANAGER, WORKER, ADMIN, APPROVER_A, APPROVER_B):
        assert person.email not in logged


# ------------------------------------------------------- a known person, no 1:1 chat


async def test_a_member_added_to_a_team_is_reached_in_a_chat_opened_once(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """The deputy joins the area's team after the bot was installed there: the bot
    records them (member lookup: their UPN); their first notification opens the 1:1
    chat, which is stored and used for the next one; a message in the channel later
    does not replace it."""
    server = await start_bot(make_settings(db_url, **BASE))
    runtime = server.app[RUNTIME]

    async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
        return await post_activity(http, server, activity)

    await install_in_team(post, connector, APPROVER_A, [], team_id=TEAM)
    teams_member(connector, APPROVER_B)
    connector.install(APPROVER_B.user_id)
    joined = conversation_update(
        connector.service_url,
        members_added=[{"id": APPROVER_B.user_id, "aadObjectId": APPROVER_B.aad}],
        conversation_id=TEAM,
        user_id=APPROVER_A.user_id,
        aad_object_id=APPROVER_A.aad,
        conversation_type="channel",
        team_id=TEAM,
    )
    assert (await post(joined))[0] == 200
    refs = refs_of(runtime)
    row = await refs.get(key(APPROVER_B))
    assert row is not None and not row.personal and row.email == APPROVER_B.email
    assert "conversation" not in row.reference  # never the team's channel
    assert row.reference["serviceUrl"] == connector.service_url

    assert runtime.service is not None
    today = runtime.service.clock.today()
    await runtime.service.requests.submit(MANAGER.email, draft(today), idempotency_key="first")
    await all_handled(runtime)
    [opening] = [r for r in opened(connector) if r.body["members"][0]["id"] == APPROVER_B.user_id]
    check_opening(opening, APPROVER_B.user_id, token=None)
    chat = connector.chats[APPROVER_B.user_id]
    assert len(connector.sent(chat)) == 1
    stored = await refs.get(key(APPROVER_B))
    assert stored is not None and stored.personal
    assert stored.reference["conversation"]["id"] == chat

    # B writes in the team's channel: still known, the 1:1 chat stays theirs.
    in_channel = message(
        connector.service_url,
        "apua",
        conversation_id=TEAM,
        user_id=APPROVER_B.user_id,
        aad_object_id=APPROVER_B.aad,
        conversation_type="channel",
        team_id=TEAM,
    )
    assert (await post(in_channel))[0] == 200
    after = await refs.get(key(APPROVER_B))
    assert after is not None and after.personal
    assert after.reference["conversation"]["id"] == chat

    second = draft(today, worker_name="Eino Esimerkki", worker_email="eino@laukaa.example.fi")
    await runtime.service.requests.submit(MANAGER.email, second, idempotency_key="second")
    await all_handled(runtime)
    assert len(opened(connector)) == 2  # A's and B's: then the stored chats were used
    assert len(connector.sent(chat)) == 2
    assert notification_keys(connector.sent(TEAM)) == []  # none ever went to the channel


async def test_someone_the_bot_never_met_is_found_in_graph_and_reached_in_teams(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """The worker never had an event with the bot (the app reached them through an
    admin's setup policy before this version). With ``ATMT_GRAPH_USER_LOOKUP`` the
    bot finds their object id by UPN (a look-up that fails with 503 is retried),
    opens the chat with it through the tenant's service URL and sends no e-mail."""
    async with FakeGraph(tmp_path) as graph:
        graph.users[WORKER.email] = WORKER.aad
        graph.fail_lookups(503)
        settings = make_settings(db_url, **BASE, **graph.settings(), graph_user_lookup=True)
        server = graph.serves(await start_bot(settings))
        runtime = server.app[RUNTIME]

        async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
            return await post_activity(http, server, activity)

        await install_personally(post, connector, MANAGER)  # the tenant's service URL
        teams_member(connector, WORKER)
        connector.install(WORKER.user_id)
        assert runtime.service is not None
        await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="graph-found"
        )
        await all_handled(runtime)
        # Each recipient without a row looked up; whoever met the 503 was asked again.
        assert set(graph.lookups) == {WORKER.email, APPROVER_A.email, APPROVER_B.email}
        assert len(graph.lookups) == 4 and graph.rejected == [(503, "scheduled")]
        # No e-mail to the worker: Teams reached them (the approvers are unknown to Graph
        # and to Teams here: they got e-mail).
        assert sorted(m.to[0] for m in graph.sent) == sorted([APPROVER_A.email, APPROVER_B.email])
        [opening] = [r for r in opened(connector) if r.body["members"][0]["id"] == WORKER.aad]
        check_opening(opening, WORKER.aad, token=None)  # by Entra object id
        chat = connector.chats[WORKER.user_id]
        assert "Behörighet" not in delivered_text(connector.sent(chat)[0])  # Finnish: area default
        assert "Sinulle on haettu" in delivered_text(connector.sent(chat)[0])
        stored = await refs_of(runtime).get(key(WORKER))
        assert stored is not None and stored.personal and stored.email == WORKER.email


# ------------------------------------------------ Teams refuses: install, e-mail, dead


async def test_when_teams_will_not_open_a_chat_the_app_is_installed_and_they_get_it_later(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """The worker has the app nowhere: opening a chat is refused (403). With
    ``ATMT_TEAMS_CATALOG_APP_ID`` the bot installs it for them through Graph; Teams
    then tells the bot (``installationUpdate`` in the worker's new 1:1 chat) and the
    retried notification arrives there. No e-mail."""
    async with FakeGraph(tmp_path) as graph:
        graph.users[WORKER.email] = WORKER.aad
        settings = make_settings(db_url, **BASE, **graph.settings(), **graph.teams_settings())
        server = graph.serves(await start_bot(settings))
        runtime = server.app[RUNTIME]

        async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
            return await post_activity(http, server, activity)

        async def teams_installs(object_id: str) -> None:
            assert object_id == WORKER.aad
            connector.install(WORKER.user_id)
            connector.chats[WORKER.user_id] = WORKER.conversation_id
            status, _ = await post(
                installation_update(
                    connector.service_url,
                    locale=WORKER.locale,
                    conversation_id=WORKER.conversation_id,
                    user_id=WORKER.user_id,
                    aad_object_id=WORKER.aad,
                )
            )
            assert status == 200

        graph.on_install = teams_installs
        await install_personally(post, connector, MANAGER)
        teams_member(connector, WORKER)  # in the tenant, the app not installed for them
        assert runtime.service is not None
        request = await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="install"
        )
        await all_handled(runtime)
        assert graph.installs == [WORKER.aad]  # the approvers are unknown to Graph: 404
        worker_openings = [r for r in opened(connector) if r.body["members"][0]["id"] == WORKER.aad]
        assert worker_openings[0].status == 403
        assert WORKER.email not in [m.to[0] for m in graph.sent]
        [note] = [r for r in connector.sent(WORKER.conversation_id) if notification_keys([r])]
        key_ = f"{request.id}:1:request.submitted:worker:{WORKER.email}"
        assert notification_keys([note]) == [key_]
        # In Swedish when Teams' installationUpdate (with the locale) came first; in the
        # area's Finnish when the retry opened the chat before it did.
        assert any(
            text in delivered_text(note)
            for text in ("Behörighet till kunddatasystemet A-TMT", "Sinulle on haettu A-TMT")
        )
        assert runtime.engine is not None
        assert await OutboxQueue(runtime.engine).dead() == []


async def test_a_chat_teams_refuses_falls_back_to_email_without_an_app_catalog_id(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """The deputy is known from the team's roster, but the bot was removed from the
    team since: Teams refuses the chat (403, and 404 for someone it does not know).
    Without an app catalog id nothing is installed: e-mail, at once."""
    async with FakeGraph(tmp_path) as graph:
        server = graph.serves(await start_bot(make_settings(db_url, **BASE, **graph.settings())))
        runtime = server.app[RUNTIME]

        async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
            return await post_activity(http, server, activity)

        await install_in_team(post, connector, APPROVER_A, [APPROVER_B], team_id=TEAM)
        connector.installed.clear()  # the bot is no longer in the team
        del connector.members[APPROVER_A.user_id]  # and A left the organisation
        assert runtime.service is not None
        await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="refused"
        )
        await all_handled(runtime)

    statuses = {r.body["members"][0]["id"]: r.status for r in opened(connector)}
    assert statuses == {APPROVER_A.user_id: 404, APPROVER_B.user_id: 403}
    assert sorted(m.to[0] for m in graph.sent) == sorted(
        [APPROVER_A.email, APPROVER_B.email, WORKER.email]
    )
    assert graph.installs == []


async def test_when_nothing_works_email_then_the_dead_letter(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """The deputy installed the app in a team it has been removed from since: Teams
    refuses the chat (after a 503, retried), the installation is refused (the
    permission is missing: 403) and every e-mail fails: a dead letter that says why."""
    async with FakeGraph(tmp_path) as graph:
        graph.users[APPROVER_B.email] = APPROVER_B.aad
        graph.fail_installs(*([403] * 20))
        graph.fail_next(*([500] * 20))
        settings = make_settings(
            db_url,
            **(BASE | {"notify_max_attempts": 4, "notify_teams_attempts": 4}),
            **graph.settings(),
            **graph.teams_settings(),
        )
        server = graph.serves(await start_bot(settings))
        runtime = server.app[RUNTIME]

        async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
            return await post_activity(http, server, activity)

        await install_in_team(post, connector, APPROVER_B, [], team_id=TEAM)
        connector.installed.clear()  # the app was removed from the team since
        connector.fail_next(Fault(status=503), kind="conversations")  # retried first
        assert runtime.service is not None
        await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="nothing"
        )
        assert runtime.engine is not None
        queue = OutboxQueue(runtime.engine)

        async def b_dead() -> bool:
            return any(item.recipient == APPROVER_B.email for item in await queue.dead())

        await wait_until(b_dead, within=30)
        [dead] = [item for item in await queue.dead() if item.recipient == APPROVER_B.email]
        error = dead.last_error or ""
        assert "teams: no chat opened (connector answered 403)" in error
        assert "app not installed: installedApps answered 403" in error
        assert "e-mail: sendMail answered 500" in error
        assert APPROVER_B.email not in error and APPROVER_B.aad not in error
        assert graph.installs == []
        # Only B is known to Teams (the others, unknown to Graph too, died the same way).
        assert [r.body["members"][0]["id"] for r in opened(connector)] == [APPROVER_B.user_id] * 4
        assert [r.status for r in opened(connector)] == [503, 403, 403, 403]


async def test_the_app_is_never_installed_again_for_someone_who_removed_it(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """The worker installed the app, then removed it: their 1:1 chat stays stored,
    Teams refuses it (403) and the e-mail goes out; no installation is attempted for
    them (the step is only for people without a chat of their own)."""
    async with FakeGraph(tmp_path) as graph:
        graph.users[WORKER.email] = WORKER.aad
        settings = make_settings(
            db_url, **BASE, **graph.settings(), teams_catalog_app_id=graph.catalog_app_id
        )
        server = graph.serves(await start_bot(settings))
        runtime = server.app[RUNTIME]

        async def post(activity: dict[str, Any]) -> tuple[int, bytes]:
            return await post_activity(http, server, activity)

        await install_personally(post, connector, WORKER)
        removed = installation_update(
            connector.service_url,
            "remove",
            locale=WORKER.locale,
            conversation_id=WORKER.conversation_id,
            user_id=WORKER.user_id,
            aad_object_id=WORKER.aad,
        )
        assert (await post(removed))[0] == 200
        connector.installed.discard(WORKER.user_id)
        connector.fail_next(Fault(status=403))  # the only Teams send: the worker's
        assert runtime.service is not None
        await runtime.service.requests.submit(
            MANAGER.email, draft(runtime.service.clock.today()), idempotency_key="removed"
        )
        await all_handled(runtime)

    assert WORKER.email in [m.to[0] for m in graph.sent]
    assert WORKER.aad not in graph.install_requests
    assert WORKER.email not in graph.install_requests
    assert graph.installs == []
    assert [r.status for r in connector.sent(WORKER.conversation_id)] == [200]  # the welcome


async def test_the_install_events_of_a_personal_chat_keep_the_welcome_once_and_find_the_email(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    """Both install events greet once; the installer's e-mail (their UPN) is looked up
    once; a failing member lookup on the first event is tried again on the second."""
    server = await start_bot(make_settings(db_url))
    runtime = server.app[RUNTIME]
    teams_member(connector, WORKER)
    connector.fail_next(Fault(status=403), kind="members")  # msrest retries a 5xx itself
    common: dict[str, Any] = {
        "locale": WORKER.locale,
        "conversation_id": WORKER.conversation_id,
        "user_id": WORKER.user_id,
        "aad_object_id": WORKER.aad,
    }
    url = connector.service_url
    assert (await post_activity(http, server, installation_update(url, **common)))[0] == 200
    row = await refs_of(runtime).get(key(WORKER))
    assert row is not None and row.personal and row.email is None
    added = conversation_update(url, members_added=[BOT_ID], **common)
    assert (await post_activity(http, server, added))[0] == 200
    assert len(connector.sent()) == 1  # welcomed once
    row = await refs_of(runtime).get(key(WORKER))
    assert row is not None and row.email == WORKER.email
    lookups = [r for r in connector.requests if r.kind == "members"]
    assert [r.status for r in lookups] == [403, 200]
