"""A fake Bot Framework connector (the ``serviceUrl`` side of Teams) for tests.

Run it on 127.0.0.1 and put its :attr:`FakeConnector.service_url` into the activities
you POST to the bot; everything the bot sends comes here and is recorded.

    async with FakeConnector(
        members={"29:user-1": {"userPrincipalName": "manager@laukaa.example.fi"}}
    ) as fc:
        ... POST an activity with serviceUrl=fc.service_url to the bot ...
        [sent] = await fc.wait_for_activities(1)
        assert sent.body["attachments"][0]["content"]["type"] == "AdaptiveCard"

Routes (Bot Connector REST API v3):

* ``POST /v3/conversations`` -> ``{"id": "a:1on1-N"}``: opens the 1:1 chat of the bot
  and one member, as Teams does. CHECKS the body (``isGroup`` false, a ``bot.id``,
  exactly one member by Teams user id or ``aadObjectId``, the tenant in
  ``channelData.tenant.id``, agreeing with any ``tenantId``/``tenantID``): a bad one
  is 400. A member unknown to :attr:`members` is 404; one for whom the app is not
  installed (:meth:`FakeConnector.install`: in personal scope or a team of theirs)
  403; otherwise the same chat id for the same person every time. Every opened chat
  is in :attr:`chats`.
* ``POST /v3/conversations/{cid}/activities`` -> ``{"id": "activity-N"}`` (send)
* ``POST /v3/conversations/{cid}/activities/{aid}`` (reply; ``reply_to_id`` = aid)
* ``PUT /v3/conversations/{cid}/activities/{aid}`` (update), ``DELETE`` (delete)
* ``GET /v3/conversations/{cid}/members/{mid}`` -> the member from :attr:`members`
  (looked up by ``mid``; ``id`` filled in), else 404 ``MemberNotFoundInConversation``.
  The bot takes the e-mail from ``userPrincipalName`` (Teams also sends ``email``,
  which the bot ignores).
* ``GET /v3/conversations/{cid}/members`` -> every member
* ``GET /v3/conversations/{cid}/pagedmembers?pageSize=N&continuationToken=T`` -> the
  members of :attr:`rosters` ``[cid]`` (default: every member), ``pageSize`` a page

With :attr:`token` set, every request must carry ``Authorization: Bearer <token>``
(what the bot's credentials hand out, ``fakes.auth.OUTBOUND_TOKEN``), else 401.

Faults on a schedule: :meth:`FakeConnector.fail_next` queues :class:`Fault` s for a
route kind (``"activities"``, ``"members"``, ``"conversations"``); each request of that
kind takes the next one: an HTTP status (429 with ``Retry-After``, 500 ...) and/or a
hang (sleep before answering, e.g. longer than the client's timeout).
Faulted requests are in :attr:`requests` but not in :attr:`activities`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["FakeConnector", "Fault", "Recorded"]


@dataclass(frozen=True)
class Fault:
    """One scheduled misbehaviour: wait ``hang`` seconds, then answer ``status``.

    ``status=None`` with a ``hang`` answers normally after the delay.
    """

    status: int | None = 500
    retry_after: float | None = None
    hang: float = 0.0
    body: Mapping[str, Any] | None = None


@dataclass
class Recorded:
    """One request the connector received."""

    method: str
    kind: str  # "activities" | "members" | "conversations"
    conversation_id: str | None
    activity_id: str | None  # the id in the path (reply target / updated activity)
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    answered_id: str | None = None  # the id the connector gave a sent activity

    @property
    def reply_to_id(self) -> str | None:
        return self.activity_id if self.method == "POST" else None


@dataclass
class FakeConnector:
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    host: str = "127.0.0.1"  # another address: a "connector" that is not on loopback
    token: str | None = None  # the bearer token every request must carry, if set
    requests: list[Recorded] = field(default_factory=list)
    installed: set[str] = field(default_factory=set)  # member ids the app is installed for
    rosters: dict[str, list[str]] = field(default_factory=dict)  # conversation -> member ids
    chats: dict[str, str] = field(default_factory=dict)  # member id -> their 1:1 chat id
    _faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None
    _changed: asyncio.Condition | None = None

    # ------------------------------------------------------------------ life

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._activity)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._activity)
        app.router.add_get("/v3/conversations/{cid}/members/{mid}", self._member)
        app.router.add_get("/v3/conversations/{cid}/members", self._member_list)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._paged_members)
        self._changed = asyncio.Condition()
        self._server = TestServer(app, host=self.host)
        await self._server.start_server()
        return self.service_url

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeConnector:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def service_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake connector is not running")
        return str(self._server.make_url("/"))

    # -------------------------------------------------------------- control

    def fail_next(self, *faults: Fault, kind: str = "activities") -> None:
        """Queue faults for the next requests of ``kind``."""
        self._faults[kind].extend(faults)

    def recover(self, kind: str = "activities") -> None:
        """Drop the faults still queued for ``kind``: the outage is over."""
        self._faults[kind].clear()

    def add_member(self, member_id: str, **account: Any) -> None:
        self.members[member_id] = dict(account)

    def install(self, member_id: str) -> None:
        """The app is now installed for this member (personally or in a team of theirs):
        the bot may open a 1:1 chat with them."""
        self.installed.add(member_id)

    def member_id_of(self, user: str) -> str | None:
        """The Teams user id of a member named by that id or by their Entra object id."""
        if user in self.members:
            return user
        for member_id, account in self.members.items():
            if str(account.get("aadObjectId", "")).lower() == user.lower():
                return member_id
        return None

    @property
    def activities(self) -> list[Recorded]:
        """Activities sent, replied, updated or deleted successfully, in order."""
        return [r for r in self.requests if r.kind == "activities" and r.status < 300]

    def sent(self, conversation_id: str | None = None) -> list[Recorded]:
        """Successful POSTs (sends and replies), optionally of one conversation."""
        return [
            r
            for r in self.activities
            if r.method == "POST" and conversation_id in (None, r.conversation_id)
        ]

    async def wait_for_activities(
        self, count: int, *, within: float = 10.0, conversation_id: str | None = None
    ) -> list[Recorded]:
        """Wait until ``count`` activities were POSTed; return them."""
        assert self._changed is not None
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.sent(conversation_id)) >= count)
        return self.sent(conversation_id)

    # ------------------------------------------------------------- handlers

    async def _record(
        self, request: web.Request, kind: str
    ) -> tuple[Recorded, web.Response | None]:
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = {"_invalid_json": True}
        recorded = Recorded(
            method=request.method,
            kind=kind,
            conversation_id=request.match_info.get("cid"),
            activity_id=request.match_info.get("aid"),
            body=body if isinstance(body, dict) else {"_body": body},
            headers=dict(request.headers),
        )
        fault = self._faults[kind].popleft() if self._faults[kind] else None
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            fault = Fault(status=401, body={"error": {"code": "Unauthorized", "message": "token"}})
        if fault is not None and fault.status is not None:
            recorded.status = fault.status
        self.requests.append(recorded)
        await self._notify()
        response: web.Response | None = None
        if fault is not None:
            if fault.hang:
                await asyncio.sleep(fault.hang)
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                payload = dict(fault.body or {"error": {"code": "Fault", "message": "scheduled"}})
                response = web.json_response(payload, status=fault.status, headers=headers)
        return recorded, response

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _activity(self, request: web.Request) -> web.Response:
        recorded, fault = await self._record(request, "activities")
        if fault is not None:
            return fault
        if request.method == "DELETE":
            return web.Response(status=200)
        if request.method == "PUT":
            return web.json_response({"id": recorded.activity_id})
        recorded.answered_id = f"activity-{next(self._ids)}"
        await self._notify()
        return web.json_response({"id": recorded.answered_id})

    def _answer(self, recorded: Recorded, status: int, code: str) -> web.Response:
        recorded.status = status
        return web.json_response({"error": {"code": code, "message": code}}, status=status)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        recorded, fault = await self._record(request, "conversations")
        if fault is not None:
            return fault
        body = recorded.body
        members = body.get("members")
        bot = body.get("bot")
        data = body.get("channelData")
        tenant = data.get("tenant", {}).get("id") if isinstance(data, dict) else None
        named = {body.get(k) for k in ("tenantId", "tenantID") if body.get(k) is not None}
        if (
            body.get("isGroup") is not False
            or not isinstance(bot, dict)
            or not bot.get("id")
            or not isinstance(members, list)
            or len(members) != 1
            or not isinstance(members[0], dict)
            or not isinstance(members[0].get("id"), str)
            or not isinstance(tenant, str)
            or not tenant
            or named - {tenant}
        ):
            return self._answer(recorded, 400, "BadArgument")
        member_id = self.member_id_of(members[0]["id"])
        if member_id is None:
            return self._answer(recorded, 404, "NotFound")
        if member_id not in self.installed:
            return self._answer(recorded, 403, "Forbidden")  # the app is not installed
        conversation_id = self.chats.get(member_id) or f"a:1on1-{next(self._ids)}"
        self.chats[member_id] = conversation_id
        recorded.conversation_id = conversation_id
        await self._notify()
        return web.json_response({"id": conversation_id, "activityId": None})

    def _account(self, member_id: str) -> dict[str, Any] | None:
        account = self.members.get(member_id)
        if account is None:
            return None
        return {"id": member_id, **account}

    async def _member(self, request: web.Request) -> web.Response:
        _recorded, fault = await self._record(request, "members")
        if fault is not None:
            return fault
        account = self._account(request.match_info["mid"])
        if account is None:
            return web.json_response(
                {"error": {"code": "MemberNotFoundInConversation", "message": "not found"}},
                status=404,
            )
        return web.json_response(account)

    async def _member_list(self, request: web.Request) -> web.Response:
        _recorded, fault = await self._record(request, "members")
        if fault is not None:
            return fault
        return web.json_response([self._account(mid) for mid in self.members])

    async def _paged_members(self, request: web.Request) -> web.Response:
        _recorded, fault = await self._record(request, "members")
        if fault is not None:
            return fault
        ids = self.rosters.get(request.match_info["cid"], list(self.members))
        size = int(request.query.get("pageSize", "50"))
        start = int(request.query.get("continuationToken", "0"))
        page = ids[start : start + size]
        answer: dict[str, Any] = {"members": [self._account(mid) for mid in page]}
        if start + size < len(ids):
            answer["continuationToken"] = str(start + size)
        return web.json_response(answer)
