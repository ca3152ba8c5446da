"""Who may talk to the bot: Bot Framework tokens, the tenant allow-list, a rate limit.

``/api/messages`` (see :mod:`bot.app`) runs these in order; each refusal is a 4xx,
never a 500:

1. :func:`create_authentication` -> 401 for any token it cannot verify.
2. :meth:`RequestGuard.check`: tenant not on ``ATMT_ALLOWED_TENANTS`` -> 403;
   sender over ``ATMT_USER_RATE_PER_MINUTE`` -> 429 with ``Retry-After``.

Tokens (when ``MicrosoftAppId`` is set)
---------------------------------------
Validation is botbuilder's own (``JwtTokenExtractor``: signature with a key from
the OpenID metadata's JWKS, RS256/384/512 only, ``exp``/``nbf`` with 5 minutes'
leeway, the key's channel endorsements; then ``iss`` = ``https://api.botframework.com``,
``aud`` = our app id, ``serviceurl`` claim = the activity's ``serviceUrl``). Built
with botbuilder's parameterized factory so the channel metadata URL is
``ATMT_OPENID_METADATA_URL`` (Bot Framework's own by default), with three changes:

* **Channel tokens only.** Teams sends tokens issued by the Bot Framework channel
  service. Emulator tokens (Entra-issued, no audience check in botbuilder) and
  skill tokens are refused before any key is fetched, as are headers that are not
  ``Bearer <JWT>``, tokens without a key id and tokens without ``exp`` (which
  botbuilder would accept forever). The Bot Framework Emulator therefore works in anonymous mode
  only (no app id), like the Agents Playground.
* **Non-blocking key fetch.** botbuilder's ``_OpenIdMetadata`` fetches the metadata
  with blocking ``requests`` and no timeout, on the event loop (botbuilder-python
  issue #2230). :func:`install_openid_metadata` puts an :class:`OpenIdMetadata`
  (aiohttp, timeout, refresh every 24 h and on an unknown key id at most every
  5 minutes, one fetch at a time) into ``JwtTokenExtractor.metadataCache`` for the
  configured URL; botbuilder looks keys up there and still does the validation.
* **Cached outbound credentials.** botbuilder builds new ``MicrosoftAppCredentials``
  (a new MSAL app with an empty token cache) for every turn, so every reply asked
  Entra for a new token; :class:`CachingCredentialsFactory` reuses them per
  (app id, scope, authority), so MSAL's cache works.

Outbound tokens in tests
------------------------
Replies go to the connector with ``Authorization: Bearer <token>`` obtained by a
``ServiceClientCredentialsFactory`` (default: botbuilder's, MSAL against Entra,
from ``MicrosoftAppPassword``). Tests pass their own factory:
``create_app(settings, auth=create_authentication(settings, credentials_factory=f))``
(``tests/fakes/auth.py`` has one that hands out a fixed token without a network);
the factory's ``is_valid_app_id`` is also the audience check, so a substitute must
keep it honest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from aiohttp import web
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConfiguration,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    BotFrameworkAuthenticationFactory,
    ClaimsIdentity,
    ConnectorFactory,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from jwt.algorithms import RSAAlgorithm
from msrest.authentication import Authentication

from bot.config import Settings
from bot.identity import user_key_of
from bot.ratelimit import RateLimiter
from dialogs import activity_fields as fields

__all__ = [
    "CHANNEL_TOKEN_ISSUER",
    "CachingCredentialsFactory",
    "ChannelTokenAuthentication",
    "OpenIdMetadata",
    "RequestGuard",
    "create_authentication",
    "forget_openid_metadata",
    "install_openid_metadata",
]

log = logging.getLogger(__name__)

CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
METADATA_TIMEOUT_SECONDS = 10.0
METADATA_MAX_AGE_SECONDS = 24 * 3600.0
UNKNOWN_KEY_REFRESH_SECONDS = 300.0


def create_authentication(
    settings: Settings,
    *,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> BotFrameworkAuthentication:
    """Bot Framework authentication for ``settings``.

    Anonymous mode (no app id): botbuilder's default, which accepts requests without
    an ``Authorization`` header. Otherwise :class:`ChannelTokenAuthentication` over
    botbuilder's public-cloud parameters with the channel metadata URL from
    ``settings.openid_metadata_url``. ``credentials_factory``: how outbound tokens
    are obtained (default: botbuilder's, from the settings).
    """
    config = settings.botframework_config()
    if settings.anonymous:
        return ConfigurationBotFrameworkAuthentication(config)
    factory = CachingCredentialsFactory(
        credentials_factory or ConfigurationServiceClientCredentialFactory(config)
    )
    install_openid_metadata(settings.openid_metadata_url)
    inner = BotFrameworkAuthenticationFactory.create(
        validate_authority=True,
        to_channel_from_bot_login_url=AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX,
        to_channel_from_bot_oauth_scope=AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        to_bot_from_channel_token_issuer=CHANNEL_TOKEN_ISSUER,
        oauth_url=AuthenticationConstants.OAUTH_URL,
        to_bot_from_channel_open_id_metadata_url=settings.openid_metadata_url,
        to_bot_from_emulator_open_id_metadata_url=(
            AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        ),
        caller_id=CallerIdConstants.public_azure_channel,
        credential_factory=factory,
        auth_configuration=AuthenticationConfiguration(),
    )
    return ChannelTokenAuthentication(inner)


# ------------------------------------------------------------------ tokens


def channel_bearer_token(auth_header: str | None) -> str:
    """The JWT of a ``Bearer`` header issued by the Bot Framework channel service.

    Raises ``PermissionError`` for anything else (no header, another scheme, not a
    JWT, another issuer). Nothing here is verified yet; botbuilder does that.
    """
    if not auth_header:
        raise PermissionError("no Authorization header")
    parts = auth_header.split(" ")
    if len(parts) != 2 or parts[0] != "Bearer" or parts[1].count(".") != 2:
        raise PermissionError("Authorization is not 'Bearer <JWT>'")
    token = parts[1]
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise PermissionError("the token is not a JWT") from error
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise PermissionError("the token names no signing key")
    if claims.get("iss") != CHANNEL_TOKEN_ISSUER:
        raise PermissionError("the token was not issued by the Bot Framework channel")
    if not isinstance(claims.get("exp"), int | float):
        # PyJWT checks ``exp`` only when present; botbuilder does not require it.
        raise PermissionError("the token has no expiry")
    return token


class ChannelTokenAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Refuses everything but channel tokens, then lets botbuilder validate them."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        token = channel_bearer_token(auth_header)
        return await self._inner.authenticate_request(activity, f"Bearer {token}")

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        token = channel_bearer_token(auth_header)
        return await self._inner.authenticate_streaming_request(
            f"Bearer {token}", channel_id_header
        )

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        token = channel_bearer_token(auth_header)
        return await self._inner.authenticate_channel_request(f"Bearer {token}")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())


class CachingCredentialsFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """Reuses the credentials ``inner`` creates, per (app id, scope, authority)."""

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self.inner = inner
        self._cache: dict[tuple[str, str, str, bool], Authentication] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self.inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self.inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        credentials = self._cache.get(key)
        if credentials is None:
            credentials = await self.inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            self._cache[key] = credentials
        return credentials


# ---------------------------------------------------------------- metadata


@dataclass(frozen=True)
class SigningKey:
    """What ``JwtTokenExtractor`` reads from its metadata: key and endorsements."""

    public_key: Any
    endorsements: list[str]


def is_allowed_metadata_url(url: str) -> bool:
    """``https://``, or ``http://`` to a loopback host (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")


class OpenIdMetadata:
    """Signing keys from an OpenID configuration's ``jwks_uri``, fetched with aiohttp.

    Drop-in for botbuilder's ``_OpenIdMetadata`` (``await get(kid)``). Keys are
    loaded on first use and after 24 hours; an unknown key id triggers a reload at
    most every :data:`UNKNOWN_KEY_REFRESH_SECONDS`. A failed reload keeps the keys
    already known. Unknown keys and unreachable metadata raise (-> 401).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = METADATA_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not is_allowed_metadata_url(url):
            raise ValueError("the OpenID metadata URL must be https (http only to loopback)")
        self.url = url
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self, key_id: str | None) -> SigningKey:
        if not key_id:
            raise PermissionError("the token names no signing key")
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at > METADATA_MAX_AGE_SECONDS:
            await self._refresh(since=now, keep_old=self._loaded_at is not None)
        key = self._keys.get(key_id)
        if key is None and (
            self._attempted_at is None or now - self._attempted_at > UNKNOWN_KEY_REFRESH_SECONDS
        ):
            await self._refresh(since=now, keep_old=True)
            key = self._keys.get(key_id)
        if key is None:
            raise PermissionError("unknown signing key")
        return key

    async def _refresh(self, *, since: float, keep_old: bool) -> None:
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self._attempted_at is not None and self._attempted_at >= since:
                return  # someone refreshed while we waited
            try:
                self._keys = await self._fetch()
                self._loaded_at = self._clock()
            except Exception as error:
                log.warning(
                    "OpenID metadata not available",
                    extra={"event": "openid_metadata_failed", "error_type": type(error).__name__},
                )
                if not (keep_old and self._keys):
                    raise PermissionError("OpenID metadata not available") from error
            finally:
                self._attempted_at = self._clock()

    async def _fetch(self) -> dict[str, SigningKey]:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            configuration = await _get_json(session, self.url)
            jwks_uri = configuration.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not is_allowed_metadata_url(jwks_uri):
                raise ValueError("the OpenID metadata has no usable jwks_uri")
            jwks = await _get_json(session, jwks_uri)
        keys: dict[str, SigningKey] = {}
        raw_keys = jwks.get("keys")
        for raw in raw_keys if isinstance(raw_keys, list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
                continue
            if raw.get("kty") != "RSA":
                continue
            try:
                public_key = RSAAlgorithm.from_jwk(json.dumps(raw))
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
            endorsements = raw.get("endorsements")
            keys[raw["kid"]] = SigningKey(
                public_key,
                [e for e in endorsements if isinstance(e, str)]
                if isinstance(endorsements, list)
                else [],
            )
        if not keys:
            raise ValueError("the JWKS has no usable RSA keys")
        return keys


async def _get_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url, allow_redirects=False) as response:
        response.raise_for_status()
        body = await response.json(content_type=None)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def install_openid_metadata(url: str) -> OpenIdMetadata:
    """Make botbuilder's ``JwtTokenExtractor`` use :class:`OpenIdMetadata` for ``url``.

    ``JwtTokenExtractor.metadataCache`` (a class attribute, keyed by URL) is where
    botbuilder 4.17 looks its metadata objects up; one object per URL per process.
    """
    cache: dict[str, Any] = JwtTokenExtractor.metadataCache
    existing = cache.get(url)
    if isinstance(existing, OpenIdMetadata):
        return existing
    metadata = OpenIdMetadata(url)
    cache[url] = metadata
    return metadata


def forget_openid_metadata(url: str) -> None:
    """Drop the cached keys of ``url`` (tests, or to force a reload)."""
    JwtTokenExtractor.metadataCache.pop(url, None)


# ------------------------------------------------------- tenants and rates


def tenant_ids_of(activity: Activity) -> set[str]:
    """Every tenant id the activity claims (``conversation.tenantId``,
    ``channelData.tenant.id``), lower case (:func:`dialogs.activity_fields.tenant_ids`)."""
    return fields.tenant_ids(activity)


class RequestGuard:
    """Tenant allow-list (403) and per-user rate limit (429) for authenticated activities."""

    def __init__(
        self,
        *,
        allowed_tenants: frozenset[str] | set[str] | tuple[str, ...] = (),
        rate_per_minute: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_tenants = frozenset(t.strip().lower() for t in allowed_tenants if t.strip())
        self.limiter = (
            RateLimiter.per_minute(rate_per_minute, clock=clock) if rate_per_minute > 0 else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestGuard:
        return cls(
            allowed_tenants=settings.accepted_tenants,  # "*" and the single-tenant default
            rate_per_minute=settings.user_rate_per_minute,
        )

    def check(self, activity: Activity) -> web.Response | None:
        """``None`` to go on, else the response to answer with."""
        tenants = tenant_ids_of(activity)
        if self.allowed_tenants and (not tenants or not tenants <= self.allowed_tenants):
            log.warning(
                "tenant not allowed",
                extra=_log_ids(activity)
                | {
                    "event": "tenant_refused",
                    "tenant_id": ",".join(sorted(tenants)) or None,
                    "status": 403,
                },
            )
            return web.json_response({"error": "tenant not allowed"}, status=403)
        if self.limiter is None:
            return None
        key = (min(tenants, default=""), fields.sender_id(activity) or "")
        wait = self.limiter.take(key)
        if wait <= 0.0:
            return None
        if self.limiter.first_refusal(key):
            log.warning(
                "user over the request rate",
                extra=_log_ids(activity)
                | {
                    "event": "rate_limited",
                    "tenant_id": key[0] or None,
                    "user_key": user_key_of(activity),
                    "status": 429,
                },
            )
        return web.json_response(
            {"error": "too many requests"},
            status=429,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


def _log_ids(activity: Activity) -> dict[str, Any]:
    return fields.log_ids(activity)
