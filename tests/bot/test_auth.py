"""Bot Framework authentication, tenant allow-list and per-user rate limit.

The bot validates tokens with botbuilder against a local OpenID metadata document
(:class:`fakes.auth.FakeOpenId`, own RSA keys) and replies with a token from
:class:`fakes.auth.FakeCredentialsFactory`; nothing leaves 127.0.0.1.
:data:`REFUSED` is the table of tokens that must get 401 (never 500).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import StartBot
from fakes.auth import OUTBOUND_TOKEN, FakeCredentialsFactory, FakeOpenId, new_signing_key
from fakes.botapp import make_settings, post_activity
from fakes.connector import FakeConnector
from fakes.teams import TENANT_ID, message

from bot.auth import (
    OpenIdMetadata,
    RequestGuard,
    create_authentication,
    forget_openid_metadata,
)
from bot.config import BOT_FRAMEWORK_OPENID_METADATA_URL, Settings
from bot.logging_setup import JsonFormatter
from bot.ratelimit import RateLimiter

APP_ID = "00000000-0000-0000-0000-0000000000b1"
OTHER_APP_ID = "00000000-0000-0000-0000-0000000000b2"
OTHER_TENANT = "00000000-0000-0000-0000-0000000000ee"
EMULATOR_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"


def auth_settings(db_url: str, metadata_url: str, **overrides: Any) -> Settings:
    return make_settings(
        db_url,
        app_id=APP_ID,
        app_password="not-a-real-secret",
        app_tenant_id=TENANT_ID,
        openid_metadata_url=metadata_url,
        **overrides,
    )


@pytest.fixture
async def openid() -> AsyncIterator[FakeOpenId]:
    async with FakeOpenId() as fake:
        yield fake


@dataclass
class AuthBot:
    server: TestServer
    credentials: FakeCredentialsFactory


@pytest.fixture
async def auth_bot(db_url: str, openid: FakeOpenId, start_bot: StartBot) -> AuthBot:
    settings = auth_settings(db_url, openid.metadata_url)
    credentials = FakeCredentialsFactory(APP_ID)
    auth = create_authentication(settings, credentials_factory=credentials)
    return AuthBot(await start_bot(settings, auth=auth), credentials)


# -------------------------------------------------------------- the good path


async def test_a_valid_channel_token_is_accepted_and_the_reply_carries_an_outbound_token(
    auth_bot: AuthBot, openid: FakeOpenId, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    for n in (1, 2):
        token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
        status, _ = await post_activity(
            http,
            auth_bot.server,
            message(connector.service_url, "apua"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status == 200
        sent = await connector.wait_for_activities(n)
        assert sent[-1].headers["Authorization"] == f"Bearer {OUTBOUND_TOKEN}"

    # One credential (one MSAL app and token cache in production) for both turns,
    # asked for the Bot Framework audience.
    assert auth_bot.credentials.created == [
        (APP_ID, "https://api.botframework.com", "https://login.microsoftonline.com/", True)
    ]
    assert openid.fetches == 1  # keys cached


def test_the_default_metadata_url_is_bot_frameworks() -> None:
    from botframework.connector.auth import AuthenticationConstants

    assert (
        BOT_FRAMEWORK_OPENID_METADATA_URL
        == AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )
    assert make_settings("sqlite:///x").openid_metadata_url == BOT_FRAMEWORK_OPENID_METADATA_URL


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://login.botframework.us/v1/.well-known/openidconfiguration", True),
        ("http://127.0.0.1:8080/.well-known/openidconfiguration", True),
        ("http://localhost/x", True),
        ("http://login.botframework.com/v1/.well-known/openidconfiguration", False),
        ("ftp://127.0.0.1/x", False),
        ("not a url", False),
    ],
)
def test_the_metadata_url_must_be_https_except_to_loopback(url: str, ok: bool) -> None:
    if ok:
        assert make_settings("sqlite:///x", openid_metadata_url=url).openid_metadata_url == url
    else:
        with pytest.raises(ValueError, match="https"):
            make_settings("sqlite:///x", openid_metadata_url=url)


# -------------------------------------------------------------- refused tokens

Header = Callable[[FakeOpenId, str], str | None]  # (openid, serviceUrl) -> Authorization


def _bearer(make: Callable[[FakeOpenId, str], str]) -> Header:
    return lambda openid, url: f"Bearer {make(openid, url)}"


def _tampered(openid: FakeOpenId, url: str) -> str:
    header, _payload, signature = openid.mint(aud=OTHER_APP_ID, serviceurl=url).split(".")
    _h, payload, _s = openid.mint(aud=APP_ID, serviceurl=url).split(".")
    return f"{header}.{payload}.{signature}"


REFUSED: dict[str, Header] = {
    "no header": lambda o, u: None,
    "empty header": lambda o, u: "",
    "Bearer without a token": lambda o, u: "Bearer",
    "Bearer with two spaces": lambda o, u: "Bearer  " + o.mint(aud=APP_ID, serviceurl=u),
    "Basic scheme": lambda o, u: "Basic dXNlcjpwYXNz",
    "malformed token": lambda o, u: "Bearer not.a.jwt",
    "not three segments": lambda o, u: "Bearer abc",
    "bad signature (another key, published kid)": _bearer(
        lambda o, u: o.mint(key=new_signing_key(o.keys[0].kid), aud=APP_ID, serviceurl=u)
    ),
    "tampered claims": _bearer(_tampered),
    "expired": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=u, exp=o.claims()["iat"] - 3600)),
    "no expiry": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=u, exp=None)),
    "not yet valid": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=u, nbf=o.claims()["exp"])),
    "wrong audience": _bearer(lambda o, u: o.mint(aud=OTHER_APP_ID, serviceurl=u)),
    "no audience": _bearer(lambda o, u: o.mint(aud=None, serviceurl=u)),
    "wrong issuer": _bearer(
        lambda o, u: o.mint(aud=APP_ID, serviceurl=u, iss="https://api.botframework.evil")
    ),
    "emulator issuer": _bearer(
        lambda o, u: o.mint(aud=APP_ID, serviceurl=u, iss=EMULATOR_ISSUER, appid=APP_ID, ver="1.0")
    ),
    "serviceUrl does not match the claim": _bearer(
        lambda o, u: o.mint(aud=APP_ID, serviceurl="https://smba.trafficmanager.net/emea/")
    ),
    "no serviceurl claim": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=None)),
    "unknown key id": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=u, kid="no-such-key")),
    "no key id": _bearer(lambda o, u: o.mint(aud=APP_ID, serviceurl=u, kid="")),
    "alg none": _bearer(lambda o, u: o.mint_unsigned(aud=APP_ID, serviceurl=u)),
    "HS256 with the public key": _bearer(
        lambda o, u: o.mint_hs256_with_public_key(aud=APP_ID, serviceurl=u)
    ),
}


async def _assert_refused(
    server: TestServer,
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    authorization: str | None,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, body = await post_activity(
        http, server, message(connector.service_url, "apua"), headers=headers
    )
    assert status == 401, body
    assert json.loads(body) == {"error": "unauthorized"}
    assert connector.requests == []


@pytest.mark.parametrize("case", list(REFUSED))
async def test_tokens_that_must_be_refused_get_401(
    auth_bot: AuthBot,
    openid: FakeOpenId,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    case: str,
) -> None:
    await _assert_refused(
        auth_bot.server, http, connector, REFUSED[case](openid, connector.service_url)
    )


async def test_a_key_not_endorsed_for_the_channel_is_refused(
    db_url: str, start_bot: StartBot, connector: FakeConnector, http: aiohttp.ClientSession
) -> None:
    webchat_only = new_signing_key(endorsements=("webchat",))
    async with FakeOpenId(keys=[webchat_only]) as openid:
        settings = auth_settings(db_url, openid.metadata_url)
        auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
        server = await start_bot(settings, auth=auth)
        token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
        await _assert_refused(server, http, connector, f"Bearer {token}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("outage", ["unreachable", "metadata 500"])
async def test_unavailable_metadata_is_401_not_500(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    outage: str,
) -> None:
    if outage == "unreachable":
        url = f"http://127.0.0.1:{_closed_port()}/.well-known/openidconfiguration"
    else:
        openid.status = 500
        url = openid.metadata_url
    settings = auth_settings(db_url, url)
    auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
    server = await start_bot(settings, auth=auth)
    try:
        token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
        await _assert_refused(server, http, connector, f"Bearer {token}")
    finally:
        forget_openid_metadata(url)


REFUSED_TOKEN_CASES = len(REFUSED) + 1 + 2  # + not endorsed + 2 metadata outages


def test_refused_token_count() -> None:
    """The number the closing note reports as "tokens refused"."""
    assert REFUSED_TOKEN_CASES == 25


# ---------------------------------------------------------- metadata refresh


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_metadata_refreshes_for_a_rotated_key_at_most_every_five_minutes(
    openid: FakeOpenId,
) -> None:
    clock = _Clock()
    metadata = OpenIdMetadata(openid.metadata_url, clock=clock)
    old = openid.keys[0]
    assert (await metadata.get(old.kid)).endorsements == ["msteams", "webchat"]
    new = new_signing_key()
    openid.keys.append(new)
    with pytest.raises(PermissionError, match="unknown signing key"):
        await metadata.get(new.kid)  # just loaded: no second fetch yet
    assert openid.fetches == 1
    clock.now += 301
    assert await metadata.get(new.kid)
    assert openid.fetches == 2
    # A failed daily refresh keeps the keys already known.
    openid.status = 500
    clock.now += 24 * 3600 + 1
    assert await metadata.get(old.kid)
    assert openid.fetches == 3


async def test_concurrent_first_requests_fetch_the_metadata_once(openid: FakeOpenId) -> None:
    metadata = OpenIdMetadata(openid.metadata_url)
    keys = await asyncio.gather(*(metadata.get(openid.keys[0].kid) for _ in range(20)))
    assert len(keys) == 20
    assert openid.fetches == 1


# ------------------------------------------------------------------ tenants


def test_allowed_tenants_are_parsed_from_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATMT_ALLOWED_TENANTS", f" {TENANT_ID.upper()}, ,{OTHER_TENANT},")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_tenants == (TENANT_ID, OTHER_TENANT)
    monkeypatch.setenv("ATMT_ALLOWED_TENANTS", "")
    assert Settings(_env_file=None).allowed_tenants == ()  # type: ignore[call-arg]


def _with_tenants(activity: dict[str, Any], conversation: str | None, data: str | None) -> None:
    activity["conversation"].pop("tenantId", None)
    activity.pop("channelData", None)
    if conversation is not None:
        activity["conversation"]["tenantId"] = conversation
    if data is not None:
        activity["channelData"] = {"tenant": {"id": data}}


@pytest.mark.parametrize(
    ("conversation", "data", "expected"),
    [
        (TENANT_ID, TENANT_ID, 200),
        (TENANT_ID.upper(), None, 200),
        (None, TENANT_ID, 200),
        (OTHER_TENANT, OTHER_TENANT, 403),
        (OTHER_TENANT, None, 403),
        (None, OTHER_TENANT, 403),
        (TENANT_ID, OTHER_TENANT, 403),  # the two fields disagree
        (None, None, 403),
    ],
)
async def test_tenant_allow_list(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    conversation: str | None,
    data: str | None,
    expected: int,
) -> None:
    server = await start_bot(make_settings(db_url, allowed_tenants=f"{TENANT_ID},{OTHER_APP_ID}"))
    activity = message(connector.service_url, "apua")
    _with_tenants(activity, conversation, data)
    with caplog.at_level(logging.INFO):
        status, body = await post_activity(http, server, activity)
    assert status == expected, body
    if expected == 200:
        await connector.wait_for_activities(1)
        return
    assert json.loads(body) == {"error": "tenant not allowed"}
    assert connector.requests == []
    [refused] = [r for r in caplog.records if getattr(r, "event", None) == "tenant_refused"]
    line = json.loads(JsonFormatter().format(refused))
    assert line["activity_id"] == activity["id"]
    assert line["status"] == 403
    assert line["tenant_id"] == (",".join(sorted({conversation or "", data or ""} - {""})) or None)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for personal in ("Test User", activity["from"]["id"], activity["from"]["aadObjectId"]):
        assert personal not in logged


async def test_tenant_allow_list_applies_after_authentication(
    db_url: str,
    openid: FakeOpenId,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    settings = auth_settings(db_url, openid.metadata_url, allowed_tenants=OTHER_TENANT)
    auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
    server = await start_bot(settings, auth=auth)
    activity = message(connector.service_url, "apua")
    # No token: 401 (the tenant is not even looked at).
    assert (await post_activity(http, server, activity))[0] == 401
    token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
    status, _ = await post_activity(
        http, server, activity, headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 403
    assert connector.requests == []


# --------------------------------------------------------------- rate limit


async def test_a_user_over_the_rate_gets_429_with_retry_after(
    db_url: str,
    start_bot: StartBot,
    connector: FakeConnector,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_bot(make_settings(db_url, user_rate_per_minute=3))
    statuses = []
    retry_after = []
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            async with http.post(
                server.make_url("/api/messages"), json=message(connector.service_url, "apua")
            ) as response:
                statuses.append(response.status)
                retry_after.append(response.headers.get("Retry-After"))
    assert statuses == [200, 200, 200, 429, 429]
    assert retry_after[3:] == ["20", "20"]  # 3 per minute: one every 20 s
    # Another user of the same tenant is not affected.
    other = message(connector.service_url, "apua", user_id="29:user-2", conversation_id="a:c2")
    assert (await post_activity(http, server, other))[0] == 200
    await connector.wait_for_activities(4)
    await asyncio.sleep(0.05)
    assert len(connector.sent()) == 4
    limited = [r for r in caplog.records if getattr(r, "event", None) == "rate_limited"]
    assert len(limited) == 1  # the start of the run, not every refusal
    assert "Test User" not in JsonFormatter().format(limited[0])


def test_token_bucket_refills_continuously() -> None:
    clock = _Clock()
    limiter = RateLimiter.per_minute(60, clock=clock)
    key = (TENANT_ID, "29:user-1")
    assert all(limiter.take(key) == 0.0 for _ in range(60))
    assert limiter.take(key) == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.take(key) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take(key) == 0.0
    clock.now += 3600
    assert all(limiter.take(key) == 0.0 for _ in range(60))  # capped at the burst
    assert limiter.take(key) > 0.0


def test_idle_buckets_are_dropped_when_there_are_too_many() -> None:
    clock = _Clock()
    limiter = RateLimiter.per_minute(60, clock=clock, max_keys=3)
    for n in range(3):
        limiter.take(("t", str(n)))
    clock.now += 60
    limiter.take(("t", "new"))
    assert list(limiter._buckets) == [("t", "new")]


def test_refusals_are_reported_once_per_run() -> None:
    clock = _Clock()
    limiter = RateLimiter.per_minute(1, clock=clock)
    key = (TENANT_ID, "29:user-1")
    assert limiter.take(key) == 0.0
    assert limiter.take(key) == pytest.approx(60.0)
    assert limiter.first_refusal(key) and not limiter.first_refusal(key)
    clock.now += 60
    assert limiter.take(key) == 0.0  # the run is over
    assert limiter.take(key) > 0.0 and limiter.first_refusal(key)


def test_the_request_guard_uses_the_delivery_rate_limiter() -> None:
    from bot import delivery

    guard = RequestGuard(rate_per_minute=30)
    assert type(guard.limiter) is RateLimiter is delivery.RateLimiter
    assert guard.limiter.rate == 0.5 and guard.limiter.burst == 30


def test_rate_zero_turns_the_limit_off() -> None:
    assert RequestGuard(rate_per_minute=0).limiter is None
    assert make_settings("sqlite:///x").user_rate_per_minute == 60
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        make_settings("sqlite:///x", user_rate_per_minute=-1)
