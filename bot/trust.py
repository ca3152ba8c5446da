"""Who may speak to the bot, through which channel, and from where.

``/api/messages`` (:mod:`bot.app`) asks this module three things; every refusal is a
4xx with a JSON ``{"error": ...}`` body, answered before any bot state, conversation
reference or per-user rate-limit bucket is touched:

1. **Before authentication** (shape): an ``adaptiveCard/action`` invoke whose
   ``value.action`` is not an object -> 400 (:func:`invoke_problem`; botbuilder would
   fail the turn). Bidirectional controls and zero-width characters are removed from
   the activity's ``text`` and ``value`` (:func:`strip_invisible_texts`): every name,
   job title and free text a user types arrives there.
2. **A refused token** (:meth:`TrustGate.token_refused`): 401, logged without any id
   the caller chose (activity, conversation, user or channel ids are the caller's
   until the token is verified). Refusals are counted per source address
   (``ATMT_BAD_TOKEN_RATE_PER_MINUTE``, :class:`bot.ratelimit.RateLimiter`); beyond
   the budget they are answered 429 with ``Retry-After`` and not logged again until
   the address calms down. A valid token is never refused by this count: behind a
   reverse proxy every request has the proxy's address.
3. **After authentication** (:meth:`TrustGate.check`):

   * the channel must be in ``ATMT_ALLOWED_CHANNELS`` (default ``msteams``) -> else
     403. A Web Chat or Direct Line sender holds a valid channel token but chooses
     ``from.id``, ``from.aadObjectId`` and ``channelData.tenant`` itself; only Teams
     vouches for them. Anonymous mode also accepts :data:`PLAYGROUND_CHANNEL`.
   * anonymous mode (no ``MicrosoftAppId``, nothing verified): the ``serviceUrl``
     must be a loopback URL -> else 403. Otherwise any caller could name itself the
     "connector", be believed about who the user is, receive the replies (cards,
     download links) and make the bot send requests wherever it likes.
   * the two tenant fields (``conversation.tenantId``, ``channelData.tenant.id``)
     must not disagree -> else 403: the tenant is half of the user key.
   * an invoke must name its sender by tenant and Entra object id
     (:func:`bot.identity.user_key_of`) -> else 403. A message without them gets a
     localized refusal instead (:func:`identified_only`); nothing falls back to
     ``from.id``. Install and conversation updates (the welcome) need no user.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.schema import Activity

from access.text import strip_invisible
from bot.auth import tenant_ids_of
from bot.config import Settings, is_loopback_url
from bot.identity import user_key_of
from bot.ratelimit import RateLimiter
from dialogs import activity_fields as fields
from dialogs.i18n import Translator

__all__ = [
    "PLAYGROUND_CHANNEL",
    "TRUST",
    "TrustGate",
    "identified_only",
    "invoke_problem",
    "strip_invisible_texts",
]

log = logging.getLogger(__name__)

#: The channel id Microsoft 365 Agents Playground sends (its default, and what
#: ``make run`` and the browser tests pass with ``--channel-id msteams``).
PLAYGROUND_CHANNEL = "msteams"

#: Addresses remembered as "over the budget" (a flood's first refusal is logged).
_MAX_FLOODING = 10_000


def _refusal(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


def invoke_problem(body: dict[str, Any]) -> str | None:
    """Why an ``adaptiveCard/action`` invoke cannot be handled (400), or None."""
    if body.get("type") != "invoke" or body.get("name") != "adaptiveCard/action":
        return None
    value = body.get("value")
    if not isinstance(value, dict):
        return None  # no value: botbuilder answers 400 itself
    if value.get("action") is not None and not isinstance(value["action"], dict):
        return "the invoke's value.action must be an object"
    return None


def strip_invisible_texts(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``text`` and every string in its ``value`` (card inputs)
    without bidirectional controls and zero-width characters."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return strip_invisible(value)
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    if "text" not in body and "value" not in body:
        return body
    return {key: clean(value) if key in ("text", "value") else value for key, value in body.items()}


class TrustGate:
    """Channel allow-list, anonymous mode's loopback connector, identified senders,
    and the per-address count of refused tokens."""

    def __init__(
        self,
        *,
        channels: frozenset[str] | set[str] | tuple[str, ...],
        anonymous: bool,
        bad_token_rate_per_minute: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        allowed = {c.strip().lower() for c in channels if c.strip()}
        if anonymous:
            allowed.add(PLAYGROUND_CHANNEL)
        self.channels = frozenset(allowed)
        self.anonymous = anonymous
        per_minute = bad_token_rate_per_minute
        self.bad_tokens = (
            RateLimiter(per_minute / 60.0, burst=per_minute, clock=clock)
            if per_minute > 0
            else None
        )
        self._flooding: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustGate:
        return cls(
            channels=settings.allowed_channels,
            anonymous=settings.anonymous,
            bad_token_rate_per_minute=settings.bad_token_rate_per_minute,
        )

    # ------------------------------------------------------------ refused tokens

    def token_refused(self, source: str | None, error: BaseException) -> web.Response:
        """The answer to a request whose token was refused: 401, or 429 when its source
        address has been refused more than the budget allows."""
        address = source or "unknown"
        if self.bad_tokens is not None and not self.bad_tokens.try_acquire(address):
            wait = max(1, math.ceil(self.bad_tokens.wait_time(address)))
            if address not in self._flooding:
                if len(self._flooding) >= _MAX_FLOODING:
                    self._flooding.clear()
                self._flooding.add(address)
                log.warning(
                    "refused tokens over the rate",
                    extra={"event": "unauthorized_rate_limited", "status": 429},
                )
            return web.json_response(
                {"error": "too many requests"}, status=429, headers={"Retry-After": str(wait)}
            )
        self._flooding.discard(address)
        # Nothing the caller chose (activity, conversation, user, channel ids) is logged.
        log.warning(
            "unauthorized request",
            extra={"event": "unauthorized", "error_type": type(error).__name__, "status": 401},
        )
        return _refusal(401, "unauthorized")

    # --------------------------------------------------- authenticated activities

    def check(self, activity: Activity) -> web.Response | None:
        """``None`` to go on, else the refusal (403)."""
        channel = (fields.channel_id(activity) or "").strip().lower()
        if channel not in self.channels:
            log.warning(
                "channel not allowed",
                extra={"event": "channel_refused", "channel_id": channel[:64], "status": 403},
            )
            return _refusal(403, "channel not allowed")
        if self.anonymous and not is_loopback_url(fields.service_url(activity)):
            log.warning(
                "serviceUrl not allowed in anonymous mode",
                extra={"event": "service_url_refused", "status": 403},
            )
            return _refusal(403, "serviceUrl not allowed: anonymous mode answers loopback only")
        tenants = tenant_ids_of(activity)
        if len(tenants) > 1:
            log.warning(
                "tenant ids disagree",
                extra=fields.log_ids(activity)
                | {
                    "event": "tenant_refused",
                    "tenant_id": ",".join(sorted(tenants)),
                    "status": 403,
                },
            )
            return _refusal(403, "tenant not allowed")
        if fields.is_invoke(activity) and user_key_of(activity) is None:
            log.info(
                "sender without tenant and Entra object id",
                extra={"event": "sender_unidentified", "status": 403},
            )
            return _refusal(403, "the sender has no Entra object id and tenant")
        return None


TurnHandler = Callable[[TurnContext], Awaitable[None]]


def identified_only(on_turn: TurnHandler, translator: Translator) -> TurnHandler:
    """``on_turn`` for messages whose sender has a tenant and an Entra object id; any
    other message is answered with a localized refusal and nothing else happens (no
    state, no conversation reference, no member lookup)."""

    async def turn(turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if fields.is_message(activity) and user_key_of(activity) is None:
            log.info(
                "sender without tenant and Entra object id",
                extra={"event": "sender_unidentified", "activity_type": "message"},
            )
            messages = translator.get(fields.locale(activity))
            await turn_context.send_activity(messages.t("hardening.no_object_id"))
            return
        await on_turn(turn_context)

    return turn


TRUST = web.AppKey("atmt_trust", TrustGate)
