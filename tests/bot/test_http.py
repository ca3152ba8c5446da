"""The real app over real HTTP, replying to a fake Bot Connector."""

from __future__ import annotations

import base64
import json
import logging

import aiohttp
import pytest
from botbuilder.core import MemoryStorage
from conftest import StartBot
from fakes.botapp import card_of, make_settings, post_activity, texts
from fakes.connector import FakeConnector
from fakes.teams import BOT_ID, conversation_update, installation_update, message

from dialogs.i18n import Translator

T = Translator.load()


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("apua", "fi-FI", "fi"),
        ("ohje", "fi-FI", "fi"),
        ("hjälp", "sv-SE", "sv"),
        ("help", "en-US", "en"),
        ("Apua!", "fi-FI", "fi"),
    ],
)
async def test_help_card_reaches_the_connector_in_the_users_language(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    text: str,
    locale: str,
    expected: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    status, _ = await post_activity(
        http, server, message(connector.service_url, text, locale=locale)
    )
    assert status == 200

    [sent] = await connector.wait_for_activities(1)
    assert sent.conversation_id == "a:conversation-1"
    assert sent.body["type"] == "message"
    assert sent.body["recipient"]["id"] == "29:user-1"
    card = card_of(sent.body)
    assert card["version"] == "1.5"
    shown = texts(card)
    assert shown[0] == T.get(expected).t("help.title")
    assert T.get(expected).t("help.cmd.new") in " ".join(shown)


@pytest.mark.parametrize("locale", ["fi-FI", "sv-FI", "en-GB"])
async def test_welcome_card_on_install_is_sent_once(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    locale: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    # Teams sends both on install; the user is greeted once.
    assert (await post_activity(http, server, installation_update(url, locale=locale)))[0] == 200
    assert (await post_activity(http, server, conversation_update(url, locale=locale)))[0] == 200

    [sent] = connector.sent()
    assert texts(card_of(sent.body))[0] == T.get(locale).t("welcome.title")


async def test_welcome_on_conversation_update_when_the_bot_is_added(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, conversation_update(url, members_added=["29:someone-else"]))
    assert connector.sent() == []  # another member joined: no greeting

    await post_activity(http, server, conversation_update(url, members_added=[BOT_ID]))
    [sent] = connector.sent()
    assert texts(card_of(sent.body))[0] == T.get("fi").t("welcome.title")
    # One look-up of the person's e-mail (their roles choose the welcome's sections),
    # not repeated by the host's remembering the installation.
    assert [r.kind for r in connector.requests] == ["members", "activities"]


async def test_a_conversation_update_without_channel_data_is_answered_without_failing(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Teams always sends channelData; a malformed or forged update without it (which
    botbuilder's Teams dispatch cannot read) is handled by its members alone."""
    server = await start_bot(make_settings(db_url))
    for data in (None, "junk", []):
        update = conversation_update(connector.service_url, members_added=["29:someone-else"])
        update["channelData"] = data
        status, _ = await post_activity(http, server, update)
        assert status == 200
    assert connector.sent() == []  # another member joined: no greeting
    assert [r for r in caplog.records if getattr(r, "event", None) == "turn_failed"] == []


async def test_reinstall_greets_again(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    url = connector.service_url
    await post_activity(http, server, installation_update(url, "add"))
    await post_activity(http, server, installation_update(url, "remove"))
    await post_activity(http, server, installation_update(url, "add"))
    assert len(connector.sent()) == 2


@pytest.mark.parametrize(
    ("locale", "expected"), [("fi-FI", "fi"), ("sv-SE", "sv"), ("en-US", "en")]
)
async def test_unknown_text_gets_a_short_hint(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    locale: str,
    expected: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    await post_activity(http, server, message(connector.service_url, "mitä kuuluu", locale=locale))
    [sent] = connector.sent()
    assert texts(card_of(sent.body)) == [T.get(expected).t("hint.text")]


async def test_unsupported_locale_falls_back_to_the_area_default_then_finnish(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    connector.add_member("29:user-1", userPrincipalName="manager@laukaa.example.fi")
    await post_activity(http, server, message(connector.service_url, "help", locale="de-DE"))
    [sent] = connector.sent()
    assert texts(card_of(sent.body))[0] == T.get("fi").t("help.title")
    # the e-mail was looked up on the connector to find the area, then cached
    await post_activity(http, server, message(connector.service_url, "help", locale="de-DE"))
    assert [r.kind for r in connector.requests].count("members") == 1
    [lookup] = [r for r in connector.requests if r.kind == "members"]
    assert lookup.method == "GET"


async def test_card_button_sends_a_command(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, None, value={"atmt_command": "help"})
    await post_activity(http, server, activity)
    [sent] = connector.sent()
    assert texts(card_of(sent.body))[0] == T.get("fi").t("help.title")


# --------------------------------------------------------------- hardening


async def test_malformed_json_is_400(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    status, body = await post_activity(
        http,
        server,
        None,
        data=b'{"type": "message",',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert json.loads(body) == {"error": "the body is not valid JSON"}
    status, _ = await post_activity(
        http, server, None, data=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert status == 400


async def test_wrong_content_type_is_415(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    payload = json.dumps(message(connector.service_url, "apua")).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, _ = await post_activity(
            http, server, None, data=payload, headers={"Content-Type": content_type}
        )
        assert status == 415
    assert connector.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"text": "apua"},  # no type
        {"type": ""},
        {"type": 7},
        [],
        "message",
        0,
        False,
        {"type": "message", "serviceUrl": "file:///etc/passwd", "conversation": {"id": "x"}},
        {"type": "message", "serviceUrl": "http://127.0.0.1:9/"},  # no conversation
        {
            "type": "message",
            "serviceUrl": "http://127.0.0.1:9/",
            "conversation": {"id": "x"},
            "from": "x",
        },
    ],
)
async def test_activity_without_type_or_not_an_object_is_400(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession, body: object
) -> None:
    server = await start_bot(make_settings(db_url))
    status, response = await post_activity(
        http, server, None, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert "error" in json.loads(response)


async def test_body_over_the_limit_is_413(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url, max_body_bytes=4096))
    big = message(connector.service_url, "x" * 5000)
    status, _ = await post_activity(http, server, big)
    assert status == 413
    assert connector.requests == []
    status, _ = await post_activity(http, server, message(connector.service_url, "apua"))
    assert status == 200


def _unsigned_token(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer abc",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b.c",
        f"Bearer {_unsigned_token({'aud': 'x'})}",  # no issuer: KeyError inside botbuilder
        "garbage with spaces",
    ],
)
async def test_bad_authorization_with_an_app_id_is_401(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    authorization: str | None,
) -> None:
    settings = make_settings(
        db_url,
        app_id="00000000-0000-0000-0000-0000000000b1",
        app_password="not-a-real-secret",
        app_tenant_id="00000000-0000-0000-0000-0000000000aa",
    )
    server = await start_bot(settings)
    headers = {} if authorization is None else {"Authorization": authorization}
    status, body = await post_activity(
        http, server, message(connector.service_url, "apua"), headers=headers
    )
    assert status == 401
    assert json.loads(body) == {"error": "unauthorized"}
    assert connector.requests == []


async def test_malformed_authorization_in_anonymous_mode_is_401_too(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    status, _ = await post_activity(
        http, server, message(connector.service_url, "apua"), headers={"Authorization": "Bearer x"}
    )
    assert status == 401


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        # Every Action.Execute gets a card (an unknown verb -> "card not in use").
        ({"type": "Action.Execute", "verb": "refresh", "data": {}}, 200),
        ({"type": "x"}, 400),  # botbuilder's own error body holds an Exception
    ],
)
async def test_invoke_responses_are_json_never_500(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    action: dict[str, object],
    expected: int,
) -> None:
    server = await start_bot(make_settings(db_url))
    invoke = message(connector.service_url, None)
    invoke.update(type="invoke", name="adaptiveCard/action", value={"action": action})
    status, body = await post_activity(http, server, invoke)
    assert status == expected
    if body:
        json.loads(body)


async def test_a_failing_turn_tells_the_user_in_their_language_and_logs_ids_only(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenStorage(MemoryStorage):  # type: ignore[misc]
        async def write(self, changes: object) -> None:
            raise KeyError("manager@laukaa.example.fi")

    server = await start_bot(make_settings(db_url), storage=BrokenStorage())
    with caplog.at_level(logging.INFO):
        status, _ = await post_activity(
            http, server, message(connector.service_url, "hjälp", locale="sv-SE")
        )
    assert status == 200  # the turn failed, the request did not
    _help_reply, error_reply = connector.sent()
    assert error_reply.body["text"] == T.get("sv").t("error.generic")
    [failure] = [r for r in caplog.records if r.getMessage() == "turn failed"]
    assert failure.__dict__["conversation_id"] == "a:conversation-1"
    from bot.logging_setup import JsonFormatter

    line = JsonFormatter().format(failure)
    assert "example.fi" not in line
    assert json.loads(line)["error_type"] == "KeyError"


async def test_healthz_and_readyz(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    async with http.get(server.make_url("/healthz")) as response:
        assert response.status == 200
    async with http.get(server.make_url("/readyz")) as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


async def test_turns_over_the_concurrency_limit_wait_their_turn_and_all_get_answers(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    """ATMT_MAX_CONCURRENT_TURNS=2: six users at once are answered two at a time."""
    import asyncio
    import time

    from fakes.connector import Fault

    server = await start_bot(make_settings(db_url, max_concurrent_turns=2))
    connector.fail_next(*[Fault(status=None, hang=0.3) for _ in range(6)])
    users = [
        message(
            connector.service_url,
            "apua",
            conversation_id=f"a:conversation-{n}",
            user_id=f"29:user-{n}",
            aad_object_id=f"00000000-0000-0000-0000-00000000010{n}",
        )
        for n in range(6)
    ]
    started = time.perf_counter()
    results = await asyncio.gather(*(post_activity(http, server, u) for u in users))
    elapsed = time.perf_counter() - started

    assert [status for status, _ in results] == [200] * 6
    sent = await connector.wait_for_activities(6)
    assert sorted(a.conversation_id for a in sent) == [f"a:conversation-{n}" for n in range(6)]
    assert elapsed >= 0.85  # three rounds of two replies, each held 0.3 s by Teams
