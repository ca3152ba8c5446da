"""Microsoft Graph for the notifier: e-mail through ``sendMail`` (the fallback), and
for reaching people in Teams (``bot.reach``) a user's object id by their UPN and the
app's installation for a user.

The token comes from ``msal.ConfidentialClientApplication.acquire_token_for_client``
(scope ``https://graph.microsoft.com/.default``, client credentials of an app with
the ``Mail.Send`` application permission). msal is synchronous (``requests``), so
every msal call runs in a worker thread (``asyncio.to_thread``) and never blocks the
event loop; msal caches the token until shortly before it expires.

The authority and the Graph base URL come from the settings, so tests point them at
a local fake (``tests/fakes/graph.py``); ``ATMT_GRAPH_CA_BUNDLE`` lets that fake use a
test certificate. Messages are plain text (``contentType: Text``): nothing a user
typed can turn into HTML, and since mail clients turn URLs and host names in plain
text into links, the body goes through :func:`access.text.defang_links` (none of our
own texts has a link). Each message carries the notification's idempotency key as
the internet header ``x-atmt-notification`` so a duplicate can be recognised.

:class:`GraphClient` holds the token and makes the Teams-side calls
(:meth:`GraphClient.find_user`: ``GET /users/{upn}?$select=id,userPrincipalName``,
permission ``User.ReadBasic.All``; :meth:`GraphClient.install_app`: ``POST
/users/{id}/teamwork/installedApps``, permission
``TeamsAppInstallation.ReadWriteForUser.All``); :class:`GraphMailer` is one that
also sends mail, so a process has one msal app and one token cache.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import msal
import requests

from access.text import defang_links
from bot.config import Settings

__all__ = ["GRAPH_SCOPE", "GraphClient", "GraphError", "GraphMailer", "MailMessage"]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class GraphError(Exception):
    """A failed token request or ``sendMail``; ``retryable`` for 429/5xx/time-outs."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 412, 429) or self.status >= 500


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str
    idempotency_key: str


class GraphClient:
    """Client-credentials calls to Microsoft Graph; one instance per process."""

    def __init__(self, settings: Settings) -> None:
        self._client_id = settings.graph_client_id or settings.app_id
        self._secret = settings.graph_client_secret or settings.app_password
        tenant = settings.graph_tenant_id or settings.app_tenant_id
        self._authority = f"{settings.graph_authority}/{tenant}"
        self._graph_url = settings.graph_url
        self._timeout = settings.notify_timeout
        self._ca_bundle = str(settings.graph_ca_bundle) if settings.graph_ca_bundle else None
        self._app: msal.ConfidentialClientApplication | None = None
        self._http_client: requests.Session | None = None
        self._app_lock = asyncio.Lock()

    def _build_app(self) -> msal.ConfidentialClientApplication:
        http_client = requests.Session()  # ours, so that close() can close it
        # A per-request ``verify``: a session-wide one loses to REQUESTS_CA_BUNDLE.
        http_client.request = functools.partial(  # type: ignore[method-assign]
            http_client.request,
            timeout=self._timeout,
            verify=self._ca_bundle if self._ca_bundle else True,
        )
        self._http_client = http_client
        return msal.ConfidentialClientApplication(
            self._client_id,
            client_credential=self._secret,
            authority=self._authority,
            # A configured authority is used as is: no instance discovery on the
            # internet (sovereign clouds and the test fake work the same way).
            instance_discovery=False,
            http_client=http_client,
            timeout=self._timeout,
        )

    async def _token(self) -> str:
        async with self._app_lock:
            if self._app is None:
                try:
                    self._app = await asyncio.to_thread(self._build_app)
                except Exception as error:  # authority unreachable, bad document ...
                    raise GraphError(f"token authority: {type(error).__name__}") from error
        app = self._app
        assert app is not None  # built above, under the lock
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                app.acquire_token_for_client, scopes=[GRAPH_SCOPE]
            )
        except Exception as error:
            raise GraphError(f"token request: {type(error).__name__}") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            code = result.get("error") if isinstance(result, dict) else None
            # invalid_client / unauthorized_client will not get better by retrying
            status = 401 if code in ("invalid_client", "unauthorized_client") else None
            raise GraphError(f"no token: {code or 'unknown error'}", status=status)
        return token

    async def close(self) -> None:
        """Close msal's HTTP connections (on shut-down)."""
        client, self._http_client, self._app = self._http_client, None, None
        if client is not None:
            await asyncio.to_thread(client.close)

    def _ssl(self) -> ssl.SSLContext | bool:
        if self._ca_bundle:
            return ssl.create_default_context(cafile=self._ca_bundle)
        return True

    async def _call(
        self, method: str, path: str, *, payload: dict[str, Any] | None = None
    ) -> tuple[int, Any, float | None]:
        """One Graph request: (status, JSON body or None, Retry-After)."""
        token = await self._token()
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(
                    method,
                    f"{self._graph_url}/v1.0{path}",
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=self._ssl(),
                ) as response,
            ):
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body, _retry_after(response.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as error:
            raise GraphError(f"{method} {path.split('/')[1]}: {type(error).__name__}") from None

    async def find_user(self, upn: str) -> str | None:
        """The Entra object id of the user whose ``userPrincipalName`` is ``upn``; None
        when there is none. Raises :class:`GraphError`."""
        status, body, retry_after = await self._call(
            "GET", f"/users/{quote(upn, safe='@')}?$select=id,userPrincipalName"
        )
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise GraphError(f"users answered {status}", status=status, retry_after=retry_after)
        found, name = body.get("id"), body.get("userPrincipalName")
        # Only the user asked for: never someone an alternative address leads to.
        if not isinstance(found, str) or not found or not isinstance(name, str):
            return None
        return found if name.strip().lower() == upn.strip().lower() else None

    async def install_app(self, user: str, catalog_app_id: str) -> bool:
        """Install the Teams app ``catalog_app_id`` for ``user`` (object id or UPN);
        True when installed now, False when it already was. Raises :class:`GraphError`."""
        status, _body, retry_after = await self._call(
            "POST",
            f"/users/{quote(user, safe='@')}/teamwork/installedApps",
            payload={
                "teamsApp@odata.bind": (
                    f"{self._graph_url}/v1.0/appCatalogs/teamsApps/{quote(catalog_app_id)}"
                )
            },
        )
        if status == 409:  # Conflict: installed already
            return False
        if 200 <= status < 300:
            return True
        raise GraphError(f"installedApps answered {status}", status=status, retry_after=retry_after)


class GraphMailer(GraphClient):
    """Sends mail as ``settings.mail_sender``; one instance per process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sender = settings.mail_sender

    async def send(self, message: MailMessage) -> None:
        """Send one message; raises :class:`GraphError`."""
        token = await self._token()
        url = f"{self._graph_url}/v1.0/users/{quote(self.sender, safe='@')}/sendMail"
        payload = {
            "message": {
                "subject": message.subject,
                "body": {"contentType": "Text", "content": defang_links(message.body)},
                "toRecipients": [{"emailAddress": {"address": message.to}}],
                "internetMessageHeaders": [
                    {"name": "x-atmt-notification", "value": message.idempotency_key[:900]}
                ],
            },
            "saveToSentItems": False,
        }
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    url,
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=self._ssl(),
                ) as response,
            ):
                if response.status == 202 or 200 <= response.status < 300:
                    return
                retry_after = _retry_after(response.headers.get("Retry-After"))
                raise GraphError(
                    f"sendMail answered {response.status}",
                    status=response.status,
                    retry_after=retry_after,
                )
        except GraphError:
            raise
        except (TimeoutError, aiohttp.ClientError) as error:
            raise GraphError(f"sendMail: {type(error).__name__}") from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
