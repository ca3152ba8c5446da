"""Short-lived signed download links served by the bot (``GET /downloads/{token}``).

Teams bots cannot attach arbitrary files to a message; the chat therefore shows an
``Action.OpenUrl`` button with a link that

* is signed (HMAC-SHA256) over what it serves, the requesting user's id and an expiry
  (``LINK_SECONDS``, ten minutes), so it cannot be edited or reused later;
* names the user by their Teams user key (never an e-mail in a URL); the route looks
  the e-mail up and asks the service again whether that user may see the object, so a
  link of an admin who lost the role stops working at once;
* is answered with ``Cache-Control: no-store`` and a download file name.

A bad, expired or foreign link gets 403/410 with a short JSON body, never a 500.

The signing key comes from ``ATMT_DOWNLOAD_KEY`` (several bot processes must share
it), else it is derived from ``MicrosoftAppPassword``, else (local anonymous mode) it
is random per process. ``ATMT_PUBLIC_URL`` is the bot's public base URL for links
(default ``http://HOST:PORT``). Both are settings (:class:`bot.config.Settings`).
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
from typing import TYPE_CHECKING, Any

from aiohttp import web

from access.errors import AccessDenied, AccessError, NotFound
from dialogs.downloads import Claim, Served

if TYPE_CHECKING:
    from bot.config import Settings

__all__ = ["LINK_SECONDS", "Claim", "DownloadSigner", "Served", "download_route"]

log = logging.getLogger(__name__)

LINK_SECONDS = 600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DownloadSigner:
    def __init__(
        self,
        key: bytes,
        *,
        base_url: str,
        clock: Callable[[], float] = time.time,
        ttl: int = LINK_SECONDS,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the download key must have at least 16 bytes")
        self._key = key
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadSigner:
        if settings.download_key:
            key = hashlib.sha256(settings.download_key.encode("utf-8")).digest()
        elif settings.app_password:
            key = hashlib.sha256(b"atmt-download:" + settings.app_password.encode("utf-8")).digest()
        else:
            key = secrets.token_bytes(32)
        base = settings.public_url or f"http://{settings.host}:{settings.port}"
        return cls(key, base_url=base)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def token(self, kind: str, ident: str, fmt: str, user_key: str, locale: str) -> str:
        document = {
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
        payload, _, mac = token.partition(".")
        if not payload or not mac or len(token) > 4096:
            return None
        if not hmac.compare_digest(self._mac(payload), mac):
            return None
        try:
            document = json.loads(_unb64(payload))
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
        if claim.expires < self._clock():
            return "expired"
        return claim


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
        claim = current.verify(request.match_info.get("token", ""))
        if claim == "expired":
            return web.json_response({"error": "the link has expired"}, status=410)
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
