"""The limits behind the fuzzing test, one by one, as a user would notice them."""

from __future__ import annotations

import json

import aiohttp
import pytest
from conftest import StartBot
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.teams import message

from dialogs.i18n import Translator
from dialogs.input_limits import MAX_TEXT_CHARS

T = Translator.load()


@pytest.mark.parametrize(("locale", "lang"), [("fi-FI", "fi"), ("sv-SE", "sv"), ("en-US", "en")])
async def test_a_100_kb_message_gets_a_localized_too_long_answer(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    locale: str,
    lang: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    text = "uusi " + "a" * 100_000  # 100 KB, starting with a command word
    status, _ = await post_activity(
        http, server, message(connector.service_url, text, locale=locale)
    )
    assert status == 200
    [sent] = connector.sent()
    expected = T.get(lang).t("hardening.text_too_long", max_length=MAX_TEXT_CHARS, length=len(text))
    assert sent.body["text"] == expected
    assert str(MAX_TEXT_CHARS) in expected.replace("\u00a0", "").replace(" ", "")


async def test_text_at_the_limit_is_still_handled(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    text = "x" * MAX_TEXT_CHARS
    await post_activity(http, server, message(connector.service_url, text))
    [sent] = connector.sent()
    assert sent.body.get("text") != T.get("fi").t(
        "hardening.text_too_long", max_length=MAX_TEXT_CHARS, length=len(text)
    )
    assert sent.body.get("attachments")  # the usual hint card


@pytest.mark.parametrize(
    "value",
    [
        {"atmt_card": ["request_form"]},
        {"atmt_card": {"x": 1}},
        {"atmt_card": "approval", "atmt_action": [1, 2]},
        {"atmt_command": {"help": True}},
    ],
)
async def test_a_forged_card_value_is_refused_politely(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    value: dict[str, object],
) -> None:
    server = await start_bot(make_settings(db_url))
    status, _ = await post_activity(
        http, server, message(connector.service_url, None, value=value, reply_to_id="a-1")
    )
    assert status == 200
    [sent] = connector.sent()
    assert sent.body["text"] == T.get("fi").t("hardening.card_invalid")


def _json_error(nested: bytes) -> str:
    """The bot's answer to a body nested this deep: Python's json gives up below 5 000
    levels up to 3.12 ("not valid JSON"); 3.13's reads them and the depth check answers."""
    try:
        json.loads(nested)
    except RecursionError:
        return "the body is not valid JSON"
    return "the body is nested too deeply"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "the body is not valid JSON"),
        (
            b'{"type": "message", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
            _json_error(b"[" * 5_000 + b"]" * 5_000),
        ),
    ],
)
async def test_json_nested_thousands_deep_is_400(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    body: bytes,
    error: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    status, answer = await post_activity(
        http, server, None, data=body, headers={"Content-Type": "application/json"}
    )
    assert (status, json.loads(answer)) == (400, {"error": error})
    async with http.get(server.make_url("/healthz")) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("drop", "error"),
    [("from", "the activity has no from.id"), ("channelId", "the activity has no channelId")],
)
async def test_an_activity_without_sender_or_channel_is_400(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    drop: str,
    error: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, "apua")
    del activity[drop]
    status, answer = await post_activity(http, server, activity)
    assert (status, json.loads(answer)) == (400, {"error": error})
    assert connector.requests == []


async def test_an_invoke_whose_value_is_not_an_object_is_400(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, None)
    activity.update(type="invoke", name="adaptiveCard/action", value=[1, {"verb": "x"}])
    status, answer = await post_activity(http, server, activity)
    assert (status, json.loads(answer)) == (400, {"error": "the invoke's value must be an object"})
    assert connector.requests == []


async def test_malformed_mention_entities_do_not_fail_the_turn(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, "<at>A-TMT</at> apua")
    activity["entities"] = [{"type": "mention", "mentioned": None, "text": None}]
    status, _ = await post_activity(http, server, activity)
    assert status == 200
    [sent] = connector.sent()
    assert sent.body.get("text") != T.get("fi").t("error.generic")
    assert sent.body.get("attachments")  # a card (help or hint), not the error message


async def test_json_nested_a_hundred_deep_is_400(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, "apua")
    nested: object = "x"
    for _ in range(100):
        nested = [nested]
    activity["value"] = {"deep": nested}
    status, answer = await post_activity(http, server, activity)
    assert (status, json.loads(answer)) == (400, {"error": "the body is nested too deeply"})


async def test_nul_characters_and_lone_surrogates_are_cleaned_not_fatal(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    # PostgreSQL cannot store NUL in text or JSON; a lone surrogate is not UTF-8. Both
    # arrive here in the sender's name (stored with the conversation reference) and text.
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, "ap\x00ua")
    activity["from"]["name"] = "Testi\x00 \ud800Käyttäjä"
    body = json.dumps(activity).encode()  # \\u0000 and \\ud800 escapes
    status, _ = await post_activity(
        http, server, None, data=body, headers={"Content-Type": "application/json"}
    )
    assert status == 200
    [sent] = connector.sent()
    assert sent.body.get("attachments")  # the help card: "apua" with the NUL removed
    assert sent.body.get("text") != T.get("fi").t("error.generic")


@pytest.mark.parametrize("where", ["from", "conversation", "channelId", "aadObjectId"])
async def test_ids_too_long_for_the_state_storage_are_400(
    db_url: str,
    connector: FakeConnector,
    start_bot: StartBot,
    http: aiohttp.ClientSession,
    where: str,
) -> None:
    server = await start_bot(make_settings(db_url))
    activity = message(connector.service_url, "apua")
    if where == "channelId":
        activity["channelId"] = "m" * 256
    elif where == "aadObjectId":
        activity["from"]["aadObjectId"] = "0" * 256
    else:
        activity[where]["id"] = "29:" + "x" * 253
    status, answer = await post_activity(http, server, activity)
    assert (status, json.loads(answer)) == (400, {"error": "the activity's ids are too long"})


async def test_a_tenant_id_that_is_not_a_short_string_is_400(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    for where in ("conversation", "channelData"):
        activity = message(connector.service_url, "apua")
        if where == "conversation":
            activity["conversation"]["tenantId"] = "t" * 65
        else:
            activity["channelData"] = {"tenant": {"id": ["not", "a", "string"]}}
        status, answer = await post_activity(http, server, activity)
        assert (status, json.loads(answer)) == (
            400,
            {"error": "the activity's tenant id is not valid"},
        )


async def test_a_junk_locale_is_ignored(
    db_url: str, connector: FakeConnector, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    for locale in ("fi-" + "x" * 40, 17):
        activity = message(connector.service_url, "apua")
        activity["locale"] = locale
        status, _ = await post_activity(http, server, activity)
        assert status == 200
    sent = connector.sent()
    assert len(sent) == 2 and all(s.body.get("attachments") for s in sent)  # help cards
