"""Reaching a person in Teams who has no 1:1 chat with the bot yet.

The notifier knows a recipient by e-mail only. When ``conversation_refs`` holds no
1:1 chat for that address (the person installed the app in a team, was added to one,
wrote in a channel, or never met the bot), :meth:`PersonalChats.open` tries, in
order:

1. **Who**: the person's row (Teams user id, Entra object id, tenant), else, with
   ``ATMT_GRAPH_USER_LOOKUP``, Graph ``GET /users/{upn}`` in the Graph app's tenant.
   A 1:1 chat stored under that object id without the e-mail (a person who installed
   the app before installs resolved e-mails) gets the e-mail and is used as it is.
2. **Where**: the service URL and the bot's account of the person's row, else of the
   newest reference of anyone in the tenant (a tenant has one Teams service; only
   service URLs that came with a validated token are ever stored).
3. **Open** the 1:1 chat (``POST {serviceUrl}/v3/conversations`` with the member's id
   and the tenant, :meth:`bot.delivery.TeamsSender.open_personal_chat`), store it as
   the person's reference and hand it back: this message and every later one go there.
4. When Teams refuses (403/404: the app is installed neither for them nor in a team
   of theirs) or nothing says where or who they are, and ``ATMT_TEAMS_CATALOG_APP_ID``
   is set: **install the app** for them through Graph (``POST
   /users/{id}/teamwork/installedApps``). Teams then sends the bot an
   ``installationUpdate`` in the new 1:1 chat, which ``bot.identity`` stores; the
   notifier tries again after the back-off (at least :data:`INSTALL_SETTLE_SECONDS`
   within ``ATMT_NOTIFY_BACKOFF_MAX``) and finds it, or opens the chat, which now
   succeeds.
5. Otherwise the reason, and the notifier falls back to e-mail, then the dead letter.

Retryable failures (429, 5xx, time-outs of Teams or Graph) ask for another attempt
with the usual back-off. Logs carry user keys, never e-mails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from access.ports import ConversationRefs, StoredConversationRef
from bot.delivery import DeliveryError, TeamsSender
from bot.graph import GraphClient, GraphError

__all__ = ["INSTALL_SETTLE_SECONDS", "Opening", "PersonalChats"]

log = logging.getLogger(__name__)

#: After installing the app for someone, Teams needs a moment before the bot hears of
#: it: the next attempt waits at least this long (never beyond ATMT_NOTIFY_BACKOFF_MAX).
INSTALL_SETTLE_SECONDS = 15.0


@dataclass(frozen=True)
class Opening:
    """What :meth:`PersonalChats.open` achieved.

    ``ref``: the person's new 1:1 chat, send there now. Else ``wait``: try again
    later (after ``retry_after`` at least), or give up on Teams; ``reason`` says why,
    without personal data (it becomes the outbox row's ``last_error``)."""

    ref: StoredConversationRef | None = None
    wait: bool = False
    retry_after: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class _Person:
    user_key: str
    tenant_id: str
    aad_object_id: str
    member_id: str  # the Teams user id when known, else the Entra object id
    row: StoredConversationRef | None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _person_of(row: StoredConversationRef | None) -> _Person | None:
    """Who the person of a stored row is, from the row alone."""
    if row is None:
        return None
    tenant_part, _, aad_part = row.user_key.partition(":")
    user = row.reference.get("user")
    user = user if isinstance(user, dict) else {}
    tenant = _text(row.tenant_id) or _text(tenant_part)
    aad = _text(user.get("aadObjectId")) or _text(aad_part)
    if tenant is None or aad is None:
        return None
    return _Person(row.user_key, tenant, aad, _text(user.get("id")) or aad, row)


class PersonalChats:
    """Opens the 1:1 chat of the bot and a person who has none stored (see above)."""

    def __init__(
        self,
        *,
        refs: ConversationRefs,
        sender: TeamsSender,
        graph: GraphClient | None = None,
        user_lookup: bool = False,
        catalog_app_id: str = "",
        graph_tenant: str = "",
        settle_seconds: float = INSTALL_SETTLE_SECONDS,
    ) -> None:
        self.refs = refs
        self.sender = sender
        self.graph = graph
        self._lookup = user_lookup and graph is not None
        self._catalog_app_id = catalog_app_id if graph is not None else ""
        self._graph_tenant = graph_tenant
        self._settle = settle_seconds

    async def open(self, email: str, row: StoredConversationRef | None) -> Opening:
        """Reach ``email`` (whose stored row, if any, is ``row``, not a 1:1 chat)."""
        person = _person_of(row)
        why = "no conversation with the bot"
        if person is None and self._lookup and self._graph_tenant:
            try:
                found = await self._find(email)
            except GraphError as error:
                if error.retryable:
                    return Opening(
                        wait=True, retry_after=error.retry_after, reason=f"graph: {error}"
                    )
                why = f"{why}; graph: {error}"
            else:
                if isinstance(found, StoredConversationRef):
                    return Opening(ref=found)
                person = found
        if person is not None:
            opened = await self._open_chat(person, email)
            if isinstance(opened, Opening):
                return opened
            why = opened
        return await self._install(person, email, why)

    # -------------------------------------------------------------- steps

    async def _find(self, email: str) -> StoredConversationRef | _Person | None:
        """The person with this UPN in the Graph app's tenant (their stored 1:1 chat
        when there is one), None when Graph knows nobody by it."""
        assert self.graph is not None
        aad = await self.graph.find_user(email)
        if aad is None:
            return None
        tenant = self._graph_tenant
        key = f"{tenant.strip().lower()}:{aad.strip().lower()}"
        row = await self.refs.get(key)
        if row is not None and row.personal:
            await self.refs.set_email(key, email)
            log.info("person found by e-mail", extra={"event": "person_found", "user_key": key})
            return await self.refs.get(key) or row
        return _person_of(row) or _Person(key, tenant, aad, aad, None)

    async def _open_chat(self, person: _Person, email: str) -> Opening | str:
        """The opened chat, an Opening to wait, or why Teams could not open one."""
        install = person.row.reference if person.row is not None else {}
        if not _text(install.get("serviceUrl")) or not isinstance(install.get("bot"), dict):
            newest = await self.refs.newest_in_tenant(person.tenant_id)
            install = newest.reference if newest is not None else {}
        service_url = _text(install.get("serviceUrl"))
        bot = install.get("bot")
        if service_url is None or not isinstance(bot, dict):
            return "no Teams install known in the tenant"
        channel_id = _text(install.get("channelId")) or "msteams"
        try:
            conversation_id = await self.sender.open_personal_chat(
                service_url=service_url,
                bot=bot,
                member_id=person.member_id,
                tenant_id=person.tenant_id,
                channel_id=channel_id,
            )
        except DeliveryError as error:
            if error.retryable:
                return Opening(
                    wait=True,
                    retry_after=error.retry_after,
                    reason=f"teams: opening a chat: {error}",
                )
            return f"teams: no chat opened ({error})"
        reference = {
            "bot": bot,
            "channelId": channel_id,
            "conversation": {
                "id": conversation_id,
                "conversationType": "personal",
                "tenantId": person.tenant_id,
            },
            "serviceUrl": service_url,
            "user": {"id": person.member_id, "aadObjectId": person.aad_object_id},
        }
        await self.refs.save(
            user_key=person.user_key, reference=reference, tenant_id=person.tenant_id, email=email
        )
        log.info(
            "personal chat opened", extra={"event": "chat_opened", "user_key": person.user_key}
        )
        stored = await self.refs.get(person.user_key)
        if stored is not None and stored.personal:
            return Opening(ref=stored)
        row = person.row
        return Opening(
            ref=StoredConversationRef(
                user_key=person.user_key,
                email=email,
                tenant_id=person.tenant_id,
                reference=reference,
                locale=row.locale if row is not None else None,
                updated_at=datetime.now(UTC),
                chosen_locale=row.chosen_locale if row is not None else None,
            )
        )

    async def _install(self, person: _Person | None, email: str, why: str) -> Opening:
        """Install the app for the person through Graph, where configured."""
        if not self._catalog_app_id or self.graph is None:
            return Opening(reason=why)
        target = person.aad_object_id if person is not None else email
        try:
            installed = await self.graph.install_app(target, self._catalog_app_id)
        except GraphError as error:
            if error.retryable:
                return Opening(
                    wait=True, retry_after=error.retry_after, reason=f"{why}; graph: {error}"
                )
            return Opening(reason=f"{why}; app not installed: {error}")
        log.info(
            "app installed for a person" if installed else "app was installed already",
            extra={
                "event": "app_installed" if installed else "app_already_installed",
                "user_key": person.user_key if person is not None else None,
            },
        )
        return Opening(
            wait=True,
            retry_after=self._settle,
            reason=f"{why}; app installed for them, waiting for Teams",
        )
