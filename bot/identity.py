"""Who is talking: a stable user key, the tenant, and the work e-mail.

Teams activities carry ``from.id`` (a channel-specific id) and ``from.aadObjectId``
(the Entra object id) but no e-mail. The directory (``Directory.roles_of``) is keyed
by e-mail, so the e-mail is resolved once and cached:

1. ``user_key`` = ``"<tenant id>:<aadObjectId>"`` (lower case; :func:`user_key_of`).
   An activity without both names nobody: there is no fallback to ``from.id``, which
   a sender on another channel chooses itself (``bot.trust`` refuses such senders).
   The tenant is part of the key, so a user of another tenant whose object id
   collides (or is made to) never reads or overwrites this tenant's row
   (docs/decisions.md, "Trust").
2. Every turn saves the conversation reference under that key
   (:meth:`IdentityResolver.remember`; the stored e-mail is kept).
3. :meth:`IdentityResolver.resolve` returns the cached e-mail from
   ``conversation_refs``; on a miss it asks the Bot Connector
   (``TeamsInfo.get_member`` -> ``GET {serviceUrl}/v3/conversations/{id}/members/{from.id}``),
   takes the ``userPrincipalName`` (its domain is a verified domain of the tenant),
   lower-cases it and caches it. The free-form ``email`` (Entra's ``mail``) is never
   used: a tenant admin can set it to anyone's address. A failed lookup (connector
   error, another channel) gives ``email=None`` and is retried on a later turn; it
   never fails the turn.
4. Within one turn the result is memoized in ``turn_state``.
5. Only a 1:1 chat is kept as a person's reference. A turn in a team channel or a
   group chat records who the person is (user id, Entra object id, tenant, the
   service URL, the bot's account) without that conversation
   (:meth:`ConversationRefs.save_member`), so a notification meant for one person
   never goes to a channel; the notifier opens a 1:1 chat instead (``bot.reach``).
6. People are reachable before they write (:meth:`IdentityResolver.remember_installation`,
   :meth:`IdentityResolver.remember_members`): on an install in personal scope the
   installer's e-mail is looked up; when the bot is installed in a team or group chat
   its roster (``TeamsInfo.get_paged_members``, with each ``userPrincipalName``) is
   recorded, and so is every member added later. Guests (``#EXT#`` UPNs, which match
   nobody in the directory) and other tenants' accounts are left out.

For performance, the reference and the e-mail are also remembered in the
process for :data:`REFRESH_SECONDS`. A turn whose reference is the one this process
last stored (same service URL, conversation, tenant, user, bot, locale, chosen
language: everything but the incoming activity's id) does not write the row again,
and a known e-mail is not read again. After that time the row is written (and
``updated_at`` refreshed) anyway, so a row another process or an erasure removed comes
back within minutes; the caches hold at most :data:`CACHE_SIZE` users each.

The e-mail is never logged; logs carry the user key (a pseudonymous object id).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity

from access.addresses import normalize_email
from access.ports import ConversationRefs
from dialogs import activity_fields as fields
from dialogs.connector_errors import connector_failure
from dialogs.turn import CALLER_KEY, Caller

__all__ = [
    "CACHE_SIZE",
    "MAX_USER_KEY_CHARS",
    "REFRESH_SECONDS",
    "IdentityResolver",
    "is_personal",
    "tenant_of",
    "user_key_of",
]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 300.0
CACHE_SIZE = 10_000

MemberLookup = Callable[[TurnContext, str], Awaitable[Any]]
#: ``TeamsInfo.get_paged_members(turn_context, continuation_token, page_size)``
RosterPage = Callable[[TurnContext, str | None, int], Awaitable[Any]]

#: A roster is read in pages of this size (Teams allows up to 500), at most
#: :data:`ROSTER_PAGES` of them when the bot is installed in a team or group chat.
ROSTER_PAGE_SIZE = 200
ROSTER_PAGES = 25
#: Members of one ``membersAdded`` looked up at most (a real one names a few).
ADDED_MEMBERS = 50


#: The longest user key the storage takes (``conversation_refs.user_key``).
MAX_USER_KEY_CHARS = 255


def user_key_of(activity: Activity) -> str | None:
    """``"<tenant>:<aadObjectId>"`` in lower case; None without both (or too long)."""
    aad = fields.sender_aad_object_id(activity)
    tenant = tenant_of(activity)
    if not isinstance(aad, str) or not aad.strip() or not tenant or not tenant.strip():
        return None
    key = f"{tenant.strip().lower()}:{aad.strip().lower()}"
    return key if len(key) <= MAX_USER_KEY_CHARS else None


def tenant_of(activity: Activity) -> str | None:
    """The tenant the activity names (:func:`dialogs.activity_fields.tenant_id`)."""
    return fields.tenant_id(activity)


def is_personal(activity: Activity) -> bool:
    """Whether the activity's conversation is a 1:1 chat of the bot and one person."""
    conversation = fields.conversation(activity)
    if conversation is None or conversation.is_group:
        return False
    return conversation.conversation_type in (None, "", "personal")


def _member_reference(activity: Activity, user_id: str, aad_object_id: str) -> dict[str, Any]:
    """Who a person is and where their tenant's Teams service is, without a
    conversation (enough to open a 1:1 chat with them)."""
    bot = fields.recipient(activity)
    return {
        "user": {"id": user_id, "aadObjectId": aad_object_id},
        "bot": {"id": bot.id, "name": bot.name} if bot is not None else None,
        "channelId": fields.channel_id(activity),
        "serviceUrl": fields.service_url(activity),
    }


def _roster_page(turn_context: TurnContext, token: str | None, size: int) -> Awaitable[Any]:
    return TeamsInfo.get_paged_members(turn_context, token, size)  # type: ignore[no-any-return]


def _email_of(member: Any) -> str | None:
    """The member's ``userPrincipalName`` (never the settable ``email``)."""
    value = getattr(member, "user_principal_name", None)
    if isinstance(value, str) and "@" in value:
        return normalize_email(value)
    return None


class _RecentValues:
    """A bounded, time-limited map of user key -> value (least recently used goes)."""

    def __init__(self, clock: Callable[[], float], ttl: float, size: int) -> None:
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._items: OrderedDict[str, tuple[Hashable, float]] = OrderedDict()

    def get(self, key: str) -> Hashable | None:
        found = self._items.get(key)
        if found is None:
            return None
        value, stored_at = found
        if self._clock() - stored_at >= self._ttl:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Hashable) -> None:
        self._items[key] = (value, self._clock())
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        self._items.pop(key, None)


def _reference_fingerprint(
    activity: Activity, locale: str | None, chosen_locale: str | None
) -> Hashable:
    """What a stored reference depends on, except the incoming activity's id."""
    return (*fields.reference_fields(activity), locale, chosen_locale)


class IdentityResolver:
    """Saves conversation references and resolves a user's e-mail (cached)."""

    def __init__(
        self,
        refs: ConversationRefs,
        member_lookup: MemberLookup = TeamsInfo.get_member,
        *,
        roster: RosterPage = _roster_page,
        clock: Callable[[], float] = time.monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._refs = refs
        self._lookup = member_lookup
        self._roster = roster
        self._stored = _RecentValues(clock, refresh_seconds, cache_size)
        self._emails = _RecentValues(clock, refresh_seconds, cache_size)

    async def remember(
        self,
        turn_context: TurnContext,
        *,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None:
        """Upsert this turn's conversation reference with the Teams ``locale`` and the
        language the user chose with the bot (keeps a cached e-mail)."""
        activity = turn_context.activity
        key = user_key_of(activity)
        if key is None or not fields.conversation_id(activity) or not fields.service_url(activity):
            return
        fingerprint = _reference_fingerprint(activity, locale, chosen_locale)
        if email is None and self._stored.get(key) == fingerprint:
            return  # this process stored this very reference a moment ago
        self._stored.forget(key)
        sender = fields.sender(activity)
        if is_personal(activity):
            reference = TurnContext.get_conversation_reference(activity)
            await self._refs.save(
                user_key=key,
                reference=reference.serialize(),
                tenant_id=tenant_of(activity),
                locale=locale,
                email=email,
                chosen_locale=chosen_locale,
            )
        elif sender is not None and sender.id and sender.aad_object_id:
            # A channel or group chat: never the person's reference (see 5. above).
            await self._refs.save_member(
                user_key=key,
                reference=_member_reference(activity, sender.id, sender.aad_object_id),
                tenant_id=tenant_of(activity),
                locale=locale,
                email=email,
                chosen_locale=chosen_locale,
            )
        self._stored.put(key, fingerprint)

    async def remember_installation(self, turn_context: TurnContext) -> bool:
        """The bot was installed in this conversation: keep everyone it reaches
        reachable (personal scope: the installer's e-mail; a team or group chat: its
        roster). False when the connector could not tell (try again on the next
        install event); a connector failure is logged, never raised."""
        activity = turn_context.activity
        if is_personal(activity):
            caller = await self.resolve(turn_context)
            return caller is not None and caller.email is not None
        tenant = tenant_of(activity)
        if not tenant or not fields.service_url(activity) or fields.conversation(activity) is None:
            return False
        token: str | None = None
        try:
            for _ in range(ROSTER_PAGES):
                page = await self._roster(turn_context, token, ROSTER_PAGE_SIZE)
                for member in getattr(page, "members", None) or []:
                    await self._remember_member(activity, tenant, member)
                found = getattr(page, "continuation_token", None)
                token = found if isinstance(found, str) and found else None
                if token is None:
                    return True
        except Exception as error:  # connector down, not Teams, the database ...
            log.warning(
                "roster lookup failed",
                extra={"event": "roster_lookup_failed", "error_type": type(error).__name__},
            )
            return False
        log.warning("roster longer than read", extra={"event": "roster_truncated"})
        return True

    async def remember_members(self, turn_context: TurnContext, members: Sequence[Any]) -> None:
        """People added to this conversation (not the bot): in a team or group chat
        each is looked up (``userPrincipalName``) and recorded; in a 1:1 chat only the
        sender can be added, whose e-mail is resolved. Failures are logged, never
        raised."""
        activity = turn_context.activity
        sender = fields.sender(activity)
        if is_personal(activity):
            if sender is not None and any(getattr(m, "id", None) == sender.id for m in members):
                await self.resolve(turn_context)
            return
        tenant = tenant_of(activity)
        bot_id = fields.recipient(activity).id if fields.recipient(activity) is not None else None
        if not tenant or not fields.service_url(activity):
            return
        for added in list(members)[:ADDED_MEMBERS]:
            member_id = getattr(added, "id", None)
            if not isinstance(member_id, str) or not member_id or member_id == bot_id:
                continue
            try:
                member = await self._lookup(turn_context, member_id)
            except Exception as error:  # the ids Teams sent are still worth keeping
                log.warning(
                    "member lookup failed",
                    extra={"event": "member_lookup_failed", "error_type": type(error).__name__},
                )
                member = added
            try:
                await self._remember_member(activity, tenant, member)
            except Exception as error:
                log.warning(
                    "member not recorded",
                    extra={"event": "member_not_recorded", "error_type": type(error).__name__},
                )

    async def _remember_member(self, activity: Activity, tenant: str, member: Any) -> None:
        """Record one member of a team or group chat (ids and UPN e-mail only)."""
        member_id = getattr(member, "id", None)
        aad = getattr(member, "aad_object_id", None)
        if not isinstance(member_id, str) or not isinstance(aad, str) or not aad.strip():
            return
        if fields.recipient(activity) is not None and member_id == fields.recipient(activity).id:
            return
        upn = getattr(member, "user_principal_name", None)
        if (isinstance(upn, str) and "#ext#" in upn.lower()) or getattr(
            member, "user_role", None
        ) == "guest":
            return  # a guest: matches nobody in the directory
        own_tenant = getattr(member, "tenant_id", None)
        if isinstance(own_tenant, str) and own_tenant.strip().lower() != tenant.strip().lower():
            return
        key = f"{tenant.strip().lower()}:{aad.strip().lower()}"
        if len(key) > MAX_USER_KEY_CHARS:
            return
        email = _email_of(member)
        await self._refs.save_member(
            user_key=key,
            reference=_member_reference(activity, member_id, aad.strip()),
            tenant_id=tenant,
            email=email,
        )
        if email is not None:
            self._emails.put(key, email)

    async def resolve(self, turn_context: TurnContext) -> Caller | None:
        """The sender's identity with the e-mail when it can be found."""
        cached = turn_context.turn_state.get(CALLER_KEY)
        if isinstance(cached, Caller):
            return cached
        activity = turn_context.activity
        key = user_key_of(activity)
        if key is None:
            return None
        sender_id = fields.sender_id(activity)
        known = self._emails.get(key)
        email = known if isinstance(known, str) else None
        if email is None:
            stored = await self._refs.get(key)
            email = stored.email if stored is not None else None
        if email is None and sender_id:
            email = await self._lookup_email(turn_context, sender_id, key)
        if email is not None:
            self._emails.put(key, email)
        identity = Caller(
            user_key=key,
            aad_object_id=fields.sender_aad_object_id(activity),
            tenant_id=tenant_of(activity),
            email=email,
        )
        turn_context.turn_state[CALLER_KEY] = identity
        return identity

    async def _lookup_email(
        self, turn_context: TurnContext, member_id: str, key: str
    ) -> str | None:
        try:
            member = await self._lookup(turn_context, member_id)
        except Exception as error:  # connector down, not Teams, unknown member ...
            log.warning(
                "member lookup failed",
                extra={
                    "event": "member_lookup_failed",
                    "user_key": key,
                    "error_type": type(error).__name__,
                }
                | connector_failure(error).log_fields(),
            )
            return None
        email = _email_of(member)
        if email is not None and not await self._refs.set_email(key, email):
            await self.remember(turn_context, email=email)
        return email
