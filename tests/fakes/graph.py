"""A fake Microsoft identity platform + Microsoft Graph ``sendMail`` for tests.

One HTTPS server on 127.0.0.1 (msal accepts only https authorities) with a
self-signed certificate made at start-up; :attr:`FakeGraph.ca_file` is the file to
trust (``ATMT_GRAPH_CA_BUNDLE``).

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` -- the tenant's endpoints;
* ``POST /{tenant}/oauth2/v2.0/token`` -- client credentials: checks
  ``grant_type=client_credentials``, the client id and secret and the scope
  ``https://graph.microsoft.com/.default``; answers a fresh random token;
* ``POST /v1.0/users/{sender}/sendMail`` -- CHECKS the bearer token (one it issued,
  not expired) and the payload (subject, a text body, exactly one recipient), then
  records the message (202). A wrong token -> 401, a bad payload -> 400.

* ``GET /v1.0/users/{upn}?$select=id,userPrincipalName`` -- CHECKS the token and the
  ``$select``; the user of :attr:`FakeGraph.users` (UPN -> object id), else 404;
* ``POST /v1.0/users/{id or upn}/teamwork/installedApps`` -- CHECKS the token and the
  body (exactly ``teamsApp@odata.bind`` = this Graph's
  ``/v1.0/appCatalogs/teamsApps/{catalog_app_id}``), 404 for an unknown user, 409 when
  installed already, else 201; records the object id in :attr:`installs` and calls
  :attr:`on_install` with it (a test's Teams: it tells the bot of the installation).

``fail_next(status, ...)`` makes the next sendMail answers fail (e.g. 503),
``fail_installs(status, ...)`` the next installations, ``fail_lookups(...)`` the next
user look-ups.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import secrets
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["FakeGraph", "SentMail"]

SCOPE = "https://graph.microsoft.com/.default"
CATALOG_APP_ID = "0b3a1f5e-7c2d-4e8f-9a6b-1c2d3e4f5a6b"


@dataclass
class SentMail:
    sender: str
    token: str
    message: dict[str, Any]

    @property
    def to(self) -> list[str]:
        return [r["emailAddress"]["address"] for r in self.message["toRecipients"]]

    @property
    def subject(self) -> str:
        return str(self.message["subject"])

    @property
    def body(self) -> str:
        return str(self.message["body"]["content"])

    @property
    def idempotency_key(self) -> str | None:
        for header in self.message.get("internetMessageHeaders", []):
            if header.get("name") == "x-atmt-notification":
                return str(header.get("value"))
        return None


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "fake-graph.pem"
    key_file = directory / "fake-graph.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class FakeGraph:
    directory: Path
    tenant: str = "00000000-0000-0000-0000-0000000000aa"
    client_id: str = "11111111-2222-3333-4444-555555555555"
    client_secret: str = "fake-secret"
    tokens: dict[str, dt.datetime] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    sent: list[SentMail] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _server: TestServer | None = None
    ca_file: Path | None = None
    users: dict[str, str] = field(default_factory=dict)  # UPN (lower case) -> object id
    catalog_app_id: str = CATALOG_APP_ID
    lookups: list[str] = field(default_factory=list)  # the UPNs looked up
    installs: list[str] = field(default_factory=list)  # object ids the app was installed for
    install_requests: list[str] = field(default_factory=list)  # every user asked for
    on_install: Callable[[str], Coroutine[Any, Any, None]] | None = None
    _install_failures: list[int] = field(default_factory=list)
    _lookup_failures: list[int] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _bots: list[TestServer] = field(default_factory=list)

    async def __aenter__(self) -> FakeGraph:
        cert_file, key_file = _certificate(self.directory)
        self.ca_file = cert_file
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/v1.0/users/{sender}/sendMail", self._send_mail)
        app.router.add_get("/v1.0/users/{user}", self._user)
        app.router.add_post("/v1.0/users/{user}/teamwork/installedApps", self._install)
        self._server = TestServer(app, host="127.0.0.1", scheme="https")
        await self._server.start_server(ssl=context)
        return self

    def serves(self, bot: TestServer) -> TestServer:
        """``bot`` talks to this fake: it is stopped before the fake is, so that none of
        its background calls (installations, mail) opens a connection to a closing
        server, left half-open and found unclosed by a later test."""
        self._bots.append(bot)
        return bot

    async def __aexit__(self, *_exc: object) -> None:
        for task in self._tasks:
            await task  # an installation the bot was told of (a failure shows here)
        for bot in reversed(self._bots):
            await bot.close()
        if self._server is not None:
            await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.port}"

    def settings(self, sender: str = "a-tmt-bot@example.fi") -> dict[str, Any]:
        """Settings overrides that point the bot at this fake."""
        return {
            "mail_sender": sender,
            "graph_tenant_id": self.tenant,
            "graph_client_id": self.client_id,
            "graph_client_secret": self.client_secret,
            "graph_authority": self.base_url,
            "graph_url": self.base_url,
            "graph_ca_bundle": self.ca_file,
        }

    def teams_settings(self) -> dict[str, Any]:
        """Settings overrides that also look people up and install the app here."""
        return {"graph_user_lookup": True, "teams_catalog_app_id": self.catalog_app_id}

    def fail_next(self, *statuses: int) -> None:
        self._failures.extend(statuses)

    def fail_installs(self, *statuses: int) -> None:
        self._install_failures.extend(statuses)

    def fail_lookups(self, *statuses: int) -> None:
        self._lookup_failures.extend(statuses)

    # ------------------------------------------------------------- routes

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant != self.tenant:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        base = f"{self.base_url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("scope", "").split() != [SCOPE]:
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3600, "access_token": token}
        )

    async def _send_mail(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        expires = self.tokens.get(token)
        if expires is None or expires < dt.datetime.now(dt.UTC):
            self.rejected.append((401, "token"))
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        if self._failures:
            status = self._failures.pop(0)
            self.rejected.append((status, "scheduled"))
            return web.json_response(
                {"error": {"code": "Fault"}}, status=status, headers={"Retry-After": "0"}
            )
        try:
            payload = await request.json()
            message = payload["message"]
            recipients = message["toRecipients"]
            ok = (
                isinstance(message["subject"], str)
                and message["subject"].strip()
                and message["body"]["contentType"] == "Text"
                and isinstance(message["body"]["content"], str)
                and message["body"]["content"].strip()
                and len(recipients) == 1
                and "@" in recipients[0]["emailAddress"]["address"]
            )
        except (ValueError, KeyError, TypeError, IndexError):
            ok = False
        if not ok:
            self.rejected.append((400, "payload"))
            return web.json_response({"error": {"code": "ErrorInvalidRequest"}}, status=400)
        self.sent.append(SentMail(request.match_info["sender"], token, message))
        return web.Response(status=202)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        expires = self.tokens.get(token)
        if expires is None or expires < dt.datetime.now(dt.UTC):
            self.rejected.append((401, "token"))
            return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
        return None

    def _object_id(self, user: str) -> str | None:
        """The object id of a user named by object id or UPN."""
        if user.lower() in self.users:
            return self.users[user.lower()]
        return user if user in self.users.values() else None

    async def _user(self, request: web.Request) -> web.Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        if request.query.get("$select") != "id,userPrincipalName":
            self.rejected.append((400, "select"))
            return web.json_response({"error": {"code": "BadRequest"}}, status=400)
        upn = request.match_info["user"].lower()
        self.lookups.append(upn)
        if self._lookup_failures:
            status = self._lookup_failures.pop(0)
            self.rejected.append((status, "scheduled"))
            return web.json_response({"error": {"code": "Fault"}}, status=status)
        object_id = self.users.get(upn)
        if object_id is None:
            return web.json_response({"error": {"code": "Request_ResourceNotFound"}}, status=404)
        return web.json_response({"id": object_id, "userPrincipalName": upn})

    async def _install(self, request: web.Request) -> web.Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        self.install_requests.append(request.match_info["user"])
        bind = f"{self.base_url}/v1.0/appCatalogs/teamsApps/{self.catalog_app_id}"
        if payload != {"teamsApp@odata.bind": bind}:
            self.rejected.append((400, "install payload"))
            return web.json_response({"error": {"code": "BadRequest"}}, status=400)
        if self._install_failures:
            status = self._install_failures.pop(0)
            self.rejected.append((status, "scheduled"))
            return web.json_response({"error": {"code": "Fault"}}, status=status)
        object_id = self._object_id(request.match_info["user"])
        if object_id is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        if object_id in self.installs:
            return web.json_response({"error": {"code": "Conflict"}}, status=409)
        self.installs.append(object_id)
        if self.on_install is not None:  # Teams tells the bot a little later
            self._tasks.append(asyncio.get_running_loop().create_task(self.on_install(object_id)))
        return web.json_response({"id": f"installation-{len(self.installs)}"}, status=201)
