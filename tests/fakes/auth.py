"""Fake Bot Framework token service for tests: signing keys, OpenID metadata, tokens.

    async with FakeOpenId() as openid:
        settings = make_settings(db_url, app_id=APP_ID, app_password="x",
                                 app_tenant_id=TENANT_ID,
                                 openid_metadata_url=openid.metadata_url)
        auth = create_authentication(settings, credentials_factory=FakeCredentialsFactory(APP_ID))
        server = await start_bot(settings, auth=auth)
        token = openid.mint(aud=APP_ID, serviceurl=connector.service_url)
        ... POST with headers={"Authorization": f"Bearer {token}"} ...

* :class:`FakeOpenId` serves ``/<random>/.well-known/openidconfiguration`` and its
  ``jwks_uri`` on 127.0.0.1 (aiohttp, same event loop) with RSA keys generated per
  instance (``cryptography``); :meth:`FakeOpenId.mint` signs Bot Framework channel
  tokens (``iss=https://api.botframework.com``) with any claim overridden.
  On close it drops the bot's cached keys for its URL.
* :class:`FakeCredentialsFactory` replaces MSAL-against-Entra for the bot's outbound
  calls: it hands out :data:`OUTBOUND_TOKEN` and records what was asked for; its
  audience check is the real one (``is_valid_app_id`` = the configured app id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from botframework.connector.auth import AppCredentials, PasswordServiceClientCredentialFactory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.auth import CHANNEL_TOKEN_ISSUER, forget_openid_metadata

__all__ = [
    "OUTBOUND_TOKEN",
    "FakeCredentialsFactory",
    "FakeOpenId",
    "SigningKey",
    "b64url",
    "new_signing_key",
]

OUTBOUND_TOKEN = "fake-outbound-token-for-the-connector"


def b64url(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    endorsements: tuple[str, ...] = ("msteams", "webchat")

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256", endorsements=list(self.endorsements))
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_signing_key(kid: str | None = None, **kwargs: Any) -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid or f"kid-{uuid.uuid4().hex[:12]}", private_key, **kwargs)


@dataclass
class FakeOpenId:
    """OpenID configuration + JWKS on 127.0.0.1; mints channel tokens."""

    keys: list[SigningKey] = field(default_factory=lambda: [new_signing_key()])
    status: int = 200  # answer the metadata document with this (500 = outage)
    fetches: int = 0
    _prefix: str = field(default_factory=lambda: uuid.uuid4().hex)
    _server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(f"/{self._prefix}/.well-known/openidconfiguration", self._metadata)
        app.router.add_get(f"/{self._prefix}/keys", self._jwks)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self.metadata_url

    async def close(self) -> None:
        if self._server is not None:
            forget_openid_metadata(self.metadata_url)
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeOpenId:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _url(self, path: str) -> str:
        if self._server is None:
            raise RuntimeError("the fake OpenID server is not running")
        return str(self._server.make_url(f"/{self._prefix}/{path}"))

    @property
    def metadata_url(self) -> str:
        return self._url(".well-known/openidconfiguration")

    async def _metadata(self, _request: web.Request) -> web.Response:
        self.fetches += 1
        if self.status != 200:
            return web.json_response({"error": "down"}, status=self.status)
        return web.json_response(
            {
                "issuer": CHANNEL_TOKEN_ISSUER,
                "jwks_uri": self._url("keys"),
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.jwk() for key in self.keys]})

    # ---------------------------------------------------------------- tokens

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Channel token claims valid for 1 hour; ``None`` values remove a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": CHANNEL_TOKEN_ISSUER,
            "aud": "",
            "serviceurl": "",
            "nbf": now - 60,
            "iat": now - 60,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        *,
        key: SigningKey | None = None,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed with ``key`` (default: the first published key) and header
        ``kid`` (default: the key's; ``""`` = none)."""
        key = key or self.keys[0]
        header: dict[str, Any] = {"kid": key.kid if kid is None else kid}
        if header["kid"] == "":
            del header["kid"]
        header.update(headers or {})
        return jwt.encode(self.claims(**claims), key.private_key, algorithm="RS256", headers=header)

    def mint_hs256_with_public_key(self, **claims: Any) -> str:
        """Algorithm confusion: HS256 with the published public key as the secret."""
        key = self.keys[0]
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        signing_input = f"{b64url(header)}.{b64url(self.claims(**claims))}"
        mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    def mint_unsigned(self, **claims: Any) -> str:
        """``alg: none`` with an empty signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.keys[0].kid}
        return f"{b64url(header)}.{b64url(self.claims(**claims))}."


class _StaticCredentials(AppCredentials):
    def __init__(self, app_id: str, token: str, oauth_scope: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=oauth_scope)
        self._token = token

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._token


class FakeCredentialsFactory(PasswordServiceClientCredentialFactory):
    """Outbound credentials without Entra: a fixed bearer token, calls recorded."""

    def __init__(self, app_id: str, token: str = OUTBOUND_TOKEN) -> None:
        super().__init__(app_id, "unused", None)
        self.token = token
        self.created: list[tuple[str, str, str, bool]] = []

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        if not await self.is_valid_app_id(app_id):
            raise PermissionError("credentials asked for another app id")
        self.created.append((app_id, oauth_scope, login_endpoint, validate_authority))
        return _StaticCredentials(app_id, self.token, oauth_scope)
