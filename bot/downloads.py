"""Short-lived, single-use signed download links served by the bot (``GET /downloads/{token}``).

Teams bots cannot attach arbitrary files to a message; the chat therefore shows an
``Action.OpenUrl`` button with a link that

* is signed (HMAC-SHA256) over what it serves, the requesting user's id, a random link
  id and an expiry (at most ``LINK_SECONDS``, ten minutes), so it cannot be edited;
* works **once**: the first request claims the link id in the database
  (:class:`access.ports.UsedLinks`, ``storage.download_links``), so every later
  request, in any bot process, gets 410;
* is a **bearer link** until then: whoever holds it (a forwarded message, a proxy
  log) gets the file, which is why it is short-lived, single-use and served over
  ``https`` only (the base URL must be https, or http to a loopback host: the
  constructor refuses anything else, and ``atmt-bot run`` refuses to start without
  ``ATMT_PUBLIC_URL`` when it listens on a non-loopback address);
* names the user by their Teams user key (never an e-mail in a URL); the route looks
  the e-mail up and asks the service again whether that user may see the object, so a
  link of an admin who lost the role stops working at once;
* is answered with ``Cache-Control: no-store`` and a download file name.

A bad, expired, used or foreign link gets 403/410 with a short JSON body, never a 500.

The signing key is ``ATMT_DOWNLOAD_KEY`` (several bot processes must share it), else
it is derived from ``MicrosoftAppPassword``, else (local anonymous mode) it is random
per process. ``ATMT_PUBLIC_URL`` is the bot's public base URL for links (default
``http://HOST:PORT``). Both are settings (:class:`bot.config.Settings`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from access.errors import AccessDenied, AccessError, NotFound
from access.ports import UsedLinks
from bot.config import Settings, is_loopback_host
from dialogs.downloads import Claim, Served

__all__ = [
    "LINK_SECONDS",
    "Claim",
    "DownloadSigner",
    "MemoryUsedLinks",
    "Served",
    "download_route",
]

log = logging.getLogger(__name__)

LINK_SECONDS = 600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(configured: str, app_password: str) -> bytes:
    if configured:
        return hashlib.sha256(configured.encode("utf-8")).digest()
    if app_password:
        return hashlib.sha256(b"atmt-download:" + app_password.encode("utf-8")).digest()
    return secrets.token_bytes(32)


class MemoryUsedLinks:
    """:class:`access.ports.UsedLinks` in this process only (tests, a signer made
    without the database); the app uses ``storage.download_links.SqlUsedLinks``."""

    def __init__(self) -> None:
        self._used: dict[str, datetime] = {}

    async def use(self, link_id: str, expires_at: datetime, now: datetime) -> bool:
        for stale in [k for k, until in self._used.items() if until < now]:
            del self._used[stale]
        if link_id in self._used:
            return False
        self._used[link_id] = expires_at
        return True


def is_allowed_base_url(url: str) -> bool:
    """``https://``, or ``http://`` to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


class DownloadSigner:
    def __init__(
        self,
        key: bytes,
        *,
        base_url: str,
        clock: Callable[[], float] = time.time,
        ttl: int = LINK_SECONDS,
        used: UsedLinks | None = None,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the download key must have at least 16 bytes")
        if not is_allowed_base_url(base_url):
            raise ValueError(
                "download links need an https:// base URL (http:// only to a loopback "
                "host): set ATMT_PUBLIC_URL"
            )
        if not 0 < ttl <= LINK_SECONDS:
            raise ValueError(f"a download link lives at most {LINK_SECONDS} seconds")
        self._key = key
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.ttl = ttl
        self.used: UsedLinks = used if used is not None else MemoryUsedLinks()

    @classmethod
    def from_settings(cls, settings: Settings, used: UsedLinks | None = None) -> DownloadSigner:
        return cls(
            _key(settings.download_key, settings.app_password),
            base_url=settings.download_base_url,
            used=used,
        )

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def token(self, kind: str, ident: str, fmt: str, user_key: str, locale: str) -> str:
        document = {
            "n": secrets.token_urlsafe(12),  # the link's id: each link works once
            "k": kind,
            "i": ident,
            "f": fmt,
            "u": user_key,
            "l": locale,
            "e": int(self._clock()) + self.ttl,
        }
        payload = _b64(json.dumps(document, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def url(self, kind: str, ident: str, fmt: str, user_key: str, locale: str) -> str:
        return f"{self.base_url}/downloads/{self.token(kind, ident, fmt, user_key, locale)}"

    def verify(self, token: str) -> Claim | str | None:
        """The claim; ``None`` for a bad signature or shape; ``"expired"``."""
        found = self._decode(token)
        return found[0] if isinstance(found, tuple) else found

    async def redeem(self, token: str) -> Claim | str | None:
        """Like :meth:`verify`, and uses the link up: ``"used"`` after its first use."""
        found = self._decode(token)
        if not isinstance(found, tuple):
            return found
        claim, link_id = found
        now = self._clock()
        if not await self.used.use(
            link_id,
            datetime.fromtimestamp(claim.expires, UTC),
            datetime.fromtimestamp(now, UTC),
        ):
            return "used"
        return claim

    def _decode(self, token: str) -> tuple[Claim, str] | str | None:
        payload, _, mac = token.partition(".")
        if not payload or not mac or len(token) > 4096:
            return None
        if not hmac.compare_digest(self._mac(payload), mac):
            return None
        try:
            document = json.loads(_unb64(payload))
            link_id = str(document["n"])
            claim = Claim(
                kind=str(document["k"]),
                ident=str(document["i"]),
                fmt=str(document["f"]),
                user_key=str(document["u"]),
                locale=str(document["l"]),
                expires=int(document["e"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        now = self._clock()
        if not link_id or len(link_id) > 64 or claim.expires > now + LINK_SECONDS + 60:
            return None  # not one of ours: no id, or longer-lived than any link we make
        if claim.expires < now:
            return "expired"
        return claim, link_id


Producer = Callable[[Claim, str], Awaitable[Served]]
"""Makes the file for a verified claim and the user's e-mail (raises AccessDenied ...)."""

EmailOf = Callable[[str], Awaitable[str | None]]


def download_route(
    signer: Callable[[], DownloadSigner | None],
    email_of: Callable[[], EmailOf | None],
    producer: Callable[[], Producer | None],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The ``GET /downloads/{token}`` handler (the getters read the running app)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        current, lookup, produce = signer(), email_of(), producer()
        if current is None or lookup is None or produce is None:
            return web.json_response({"error": "starting"}, status=503)
        claim = await current.redeem(request.match_info.get("token", ""))
        if claim == "expired":
            return web.json_response({"error": "the link has expired"}, status=410)
        if claim == "used":
            return web.json_response({"error": "the link has already been used"}, status=410)
        if not isinstance(claim, Claim):
            return web.json_response({"error": "invalid link"}, status=403)
        email = await lookup(claim.user_key)
        if email is None:
            return web.json_response({"error": "invalid link"}, status=403)
        try:
            served = await produce(claim, email)
        except AccessDenied:
            return web.json_response({"error": "not allowed"}, status=403)
        except NotFound:
            return web.json_response({"error": "not found"}, status=404)
        except (AccessError, ValueError) as error:
            log.info(
                "download refused",
                extra={"event": "download_refused", "reason": type(error).__name__},
            )
            return web.json_response({"error": "not available"}, status=404)
        headers: dict[str, Any] = {
            "Content-Disposition": f'attachment; filename="{served.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(body=served.body, content_type=served.content_type, headers=headers)

    return handle
