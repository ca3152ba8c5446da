"""A Bot Connector for benchmarks: answers at once, keeps little, enforces Teams limits.

Unlike ``tests/fakes/connector.py`` it keeps no request log (a benchmark sends
hundreds of thousands of activities); per conversation it keeps only the last card
the bot sent or updated (the harness reads it to click its buttons) and counters.

Limits (``limits=True``), as Teams documents them for proactive messages: at most
:data:`PER_CONVERSATION_PER_SECOND` sends per conversation and
:data:`PER_TENANT_PER_SECOND` per tenant in any one-second window; a send over a
limit is refused with ``429`` and ``Retry-After`` (seconds until the window frees)
and is not delivered. Every delivered message is fingerprinted (conversation + the
notification's idempotency key in ``channelData.atmtNotification``, else the text
and attachments) so that a message delivered twice is counted.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["PER_CONVERSATION_PER_SECOND", "PER_TENANT_PER_SECOND", "BenchConnector"]

PER_CONVERSATION_PER_SECOND = 7
PER_TENANT_PER_SECOND = 50
WINDOW_SECONDS = 1.0


@dataclass
class LastCard:
    activity_id: str
    content: dict[str, Any]


@dataclass
class BenchConnector:
    """An aiohttp Bot Connector on 127.0.0.1; :attr:`service_url` after :meth:`start`."""

    member_email: Callable[[str], str] = lambda _member_id: "manager@kuopio.example.fi"
    limits: bool = False
    clock: Callable[[], float] = time.monotonic
    last_card: dict[str, LastCard] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)  # per conversation
    delivered: Counter[str] = field(default_factory=Counter)  # per fingerprint
    refused: int = 0
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    _url: str | None = None

    async def start(self) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}/"
        return self._url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BenchConnector:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def service_url(self) -> str:
        if self._url is None:
            raise RuntimeError("the connector is not running")
        return self._url

    # ------------------------------------------------------------------ reading

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.delivered.values() if count > 1)

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    def reset(self) -> None:
        self.last_card.clear()
        self.sent.clear()
        self.delivered.clear()
        self.refused = 0
        self._windows.clear()

    # ------------------------------------------------------------------- limits

    def _retry_after(self, key: str, limit: int, now: float) -> float | None:
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) >= limit:
            return window[0] + WINDOW_SECONDS - now
        return None

    def _admit(self, conversation_id: str, tenant: str) -> float | None:
        """``None`` when the send is within the limits (and counts it), else the wait."""
        now = self.clock()
        conversation_key = f"c:{conversation_id}"
        tenant_key = f"t:{tenant}"
        waits = [
            wait
            for wait in (
                self._retry_after(conversation_key, PER_CONVERSATION_PER_SECOND, now),
                self._retry_after(tenant_key, PER_TENANT_PER_SECOND, now),
            )
            if wait is not None
        ]
        if waits:
            return max(waits)
        self._windows[conversation_key].append(now)
        self._windows[tenant_key].append(now)
        return None

    # ----------------------------------------------------------------- handlers

    @staticmethod
    def _tenant(body: dict[str, Any]) -> str:
        conversation = body.get("conversation")
        if isinstance(conversation, dict) and isinstance(conversation.get("tenantId"), str):
            return str(conversation["tenantId"])
        data = body.get("channelData")
        if isinstance(data, dict) and isinstance(data.get("tenant"), dict):
            return str(data["tenant"].get("id"))
        return "-"

    def _remember_card(self, cid: str, activity_id: str, body: dict[str, Any]) -> None:
        for attachment in body.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("content"), dict):
                self.last_card[cid] = LastCard(activity_id, attachment["content"])

    async def _send(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        body = await request.json()
        if self.limits:
            wait = self._admit(cid, self._tenant(body))
            if wait is not None:
                self.refused += 1
                return web.json_response(
                    {"error": {"code": "TooManyRequests", "message": "rate limited"}},
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        activity_id = f"activity-{next(self._ids)}"
        self.sent[cid] += 1
        if self.limits:  # the notifier benchmark counts duplicates; turns need not
            data = body.get("channelData")
            key = data.get("atmtNotification") if isinstance(data, dict) else None
            fingerprint = json.dumps(
                [cid, key] if key else [cid, body.get("text"), body.get("attachments")],
                sort_keys=True,
                default=str,
            )
            self.delivered[hashlib.sha256(fingerprint.encode()).hexdigest()] += 1
        self._remember_card(cid, activity_id, body)
        return web.json_response({"id": activity_id})

    async def _update(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        aid = request.match_info["aid"]
        self._remember_card(cid, aid, await request.json())
        return web.json_response({"id": aid})

    async def _delete(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _create(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": f"conv-{next(self._ids)}", "activityId": None})

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["mid"]
        email = self.member_email(member_id)  # the bot reads the UPN, as Teams sends both
        return web.json_response(
            {"id": member_id, "name": "Testi Käyttäjä", "email": email, "userPrincipalName": email}
        )
