"""Who is talking: e-mail from the connector's member API, cached in conversation_refs."""

from __future__ import annotations

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity
from fakes.connector import FakeConnector, Fault
from fakes.teams import TENANT_ID, message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.identity import IdentityResolver, tenant_of, user_key_of
from storage.conversation_refs import ConversationRefRepository

AAD = "00000000-0000-0000-0000-000000000001"
AAD2 = "00000000-0000-0000-0000-000000000002"
KEY = f"{TENANT_ID}:{AAD}"  # people are keyed by tenant and Entra object id


class _Lookup:
    """Stands in for TeamsInfo.get_member, backed by the fake connector's table."""

    def __init__(self, connector: FakeConnector) -> None:
        self.connector = connector
        self.calls = 0

    async def __call__(self, turn_context: TurnContext, member_id: str) -> Any:
        self.calls += 1
        import aiohttp

        url = (
            f"{self.connector.service_url}v3/conversations/"
            f"{turn_context.activity.conversation.id}/members/{member_id}"
        )
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            if response.status != 200:
                raise RuntimeError(response.status)
            data = await response.json()

        class Member:
            email = data.get("email")
            user_principal_name = data.get("userPrincipalName")

        return Member()


def _context(activity: dict[str, Any]) -> TurnContext:
    return TurnContext(object(), Activity().deserialize(activity))  # type: ignore[arg-type]


async def test_email_is_looked_up_once_then_cached(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with FakeConnector() as connector:
        connector.add_member("29:user-1", userPrincipalName="Manager@Laukaa.example.fi")
        refs = ConversationRefRepository(session_factory)
        lookup = _Lookup(connector)
        resolver = IdentityResolver(refs, member_lookup=lookup)

        first = _context(message(connector.service_url, "apua"))
        await resolver.remember(first, locale="fi-FI")
        identity = await resolver.resolve(first)
        assert identity is not None
        assert identity.email == "manager@laukaa.example.fi"
        assert identity.user_key == KEY
        assert await resolver.resolve(first) is identity  # memoized in the turn

        second = _context(message(connector.service_url, "apua"))
        await resolver.remember(second)  # keeps the cached e-mail
        again = await resolver.resolve(second)
        assert again is not None and again.email == "manager@laukaa.example.fi"
        assert lookup.calls == 1

        stored = await refs.get(KEY)
        assert stored is not None
        assert stored.reference["conversation"]["id"] == "a:conversation-1"
        assert stored.reference["serviceUrl"] == connector.service_url
        assert stored.locale == "fi-FI"
        assert stored.tenant_id == "00000000-0000-0000-0000-0000000000aa"
        by_mail = await refs.get_by_email("MANAGER@laukaa.example.fi ")
        assert by_mail is not None and by_mail.user_key == stored.user_key


async def test_failed_lookup_is_not_fatal_and_retried_later(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with FakeConnector() as connector:
        refs = ConversationRefRepository(session_factory)
        lookup = _Lookup(connector)
        resolver = IdentityResolver(refs, member_lookup=lookup)
        connector.fail_next(Fault(status=500), kind="members")

        context = _context(message(connector.service_url, "apua"))
        await resolver.remember(context)
        identity = await resolver.resolve(context)
        assert identity is not None and identity.email is None

        connector.add_member("29:user-1", userPrincipalName="deputy@pks-area.example.fi")
        later = _context(message(connector.service_url, "apua"))
        identity = await resolver.resolve(later)
        assert identity is not None and identity.email == "deputy@pks-area.example.fi"
        assert lookup.calls == 2


async def test_a_changed_chosen_language_is_written_at_once(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    refs = ConversationRefRepository(session_factory)
    saves: list[str | None] = []
    save = refs.save

    async def counting_save(**kwargs: Any) -> None:
        saves.append(kwargs.get("chosen_locale"))
        await save(**kwargs)

    refs.save = counting_save  # type: ignore[method-assign]
    resolver = IdentityResolver(refs, member_lookup=_Lookup(FakeConnector()))
    url = "http://127.0.0.1:1/"
    await resolver.remember(_context(message(url, "apua")), locale="fi-FI")
    await resolver.remember(_context(message(url, "kieli")), locale="fi-FI")
    assert saves == [None]  # the same reference: not written again
    await resolver.remember(_context(message(url, "sv")), locale="fi-FI", chosen_locale="sv")
    await resolver.remember(_context(message(url, "hej")), locale="fi-FI", chosen_locale="sv")
    assert saves == [None, "sv"]
    stored = await refs.get(KEY)
    assert stored is not None and (stored.locale, stored.chosen_locale) == ("fi-FI", "sv")


def test_user_key_and_tenant() -> None:
    with_aad = Activity().deserialize(message("http://127.0.0.1:1/", "x"))
    assert user_key_of(with_aad) == KEY
    assert tenant_of(with_aad) == "00000000-0000-0000-0000-0000000000aa"
    # No object id or no tenant: nobody (never from.id, which another channel's sender
    # chooses itself).
    without = Activity().deserialize(message("http://127.0.0.1:1/", "x", aad_object_id=None))
    assert user_key_of(without) is None
    body = message("http://127.0.0.1:1/", "x")
    del body["channelData"], body["conversation"]["tenantId"]
    assert user_key_of(Activity().deserialize(body)) is None
    # Keys are lower case; the tenant of conversation.tenantId counts like channelData's.
    body = message("http://127.0.0.1:1/", "x", aad_object_id=AAD.upper())
    del body["channelData"]
    body["conversation"]["tenantId"] = TENANT_ID.upper()
    assert user_key_of(Activity().deserialize(body)) == KEY
    # Another tenant, the same object id: another person.
    other = message("http://127.0.0.1:1/", "x")
    other["channelData"]["tenant"]["id"] = other["conversation"]["tenantId"] = "t-2"
    assert user_key_of(Activity().deserialize(other)) == f"t-2:{AAD}"


async def test_the_email_is_the_user_principal_name_never_the_settable_email(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A tenant admin can set the ``mail`` attribute (Teams' ``email``) to anything, for
    example the approver's address; the UPN's domain is verified by the tenant."""
    async with FakeConnector() as connector:
        connector.add_member(
            "29:user-1",
            email="contact@pks-area.example.fi",  # the approver's address
            userPrincipalName="Mallory@Evil.example",
        )
        resolver = IdentityResolver(ConversationRefRepository(session_factory), _Lookup(connector))
        context = _context(message(connector.service_url, "apua"))
        await resolver.remember(context)
        identity = await resolver.resolve(context)
        assert identity is not None and identity.email == "mallory@evil.example"

        connector.add_member("29:user-2", email="contact@pks-area.example.fi")  # no UPN
        second = _context(
            message(connector.service_url, "apua", user_id="29:user-2", aad_object_id=AAD2)
        )
        identity = await resolver.resolve(second)
        assert identity is not None and identity.email is None


class _Roster:
    """Stands in for TeamsInfo.get_paged_members: pages of two, recording the calls."""

    def __init__(self, members: list[dict[str, Any]]) -> None:
        self.members = members
        self.calls: list[tuple[str | None, int]] = []

    async def __call__(self, _turn_context: TurnContext, token: str | None, size: int) -> Any:
        from botbuilder.schema.teams import TeamsPagedMembersResult

        self.calls.append((token, size))
        start = int(token or 0)
        page = TeamsPagedMembersResult().deserialize({"members": self.members[start : start + 2]})
        page.continuation_token = str(start + 2) if start + 2 < len(self.members) else None
        return page


def _in_team(activity: dict[str, Any]) -> dict[str, Any]:
    activity["conversation"].update(
        {"id": "19:team@thread.tacv2", "conversationType": "channel", "isGroup": True}
    )
    activity["channelData"]["team"] = {"id": "19:team@thread.tacv2"}
    return activity


async def test_an_install_in_a_team_records_its_roster_without_guests_or_strangers(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Ids and the UPN of each member, no conversation: never the team's channel."""

    def member(n: int, **extra: Any) -> dict[str, Any]:
        return {
            "id": f"29:m{n}",
            "aadObjectId": f"AAD-{n}",
            "userPrincipalName": f"M{n}@Laukaa.example.fi",
            "email": "contact@pks-area.example.fi",  # settable: never used
            "name": f"Member {n}",
            "tenantId": TENANT_ID,
            **extra,
        }

    roster = _Roster(
        [
            member(1),
            member(2, userPrincipalName="guest_x.example#EXT#@laukaa.onmicrosoft.com"),
            member(3, userRole="guest"),
            member(4, tenantId="another-tenant"),
            {"id": "28:00000000-0000-0000-0000-00000000b07", "name": "the bot itself"},
            member(5),
        ]
    )
    refs = ConversationRefRepository(session_factory)
    resolver = IdentityResolver(refs, _Lookup(FakeConnector()), roster=roster)
    context = _context(_in_team(message("http://127.0.0.1:1/", "x")))
    assert await resolver.remember_installation(context)
    assert roster.calls == [(None, 200), ("2", 200), ("4", 200)]

    found = {n: await refs.get(f"{TENANT_ID}:aad-{n}") for n in range(1, 6)}
    assert {n for n, row in found.items() if row is not None} == {1, 5}
    one = found[1]
    assert one is not None and not one.personal and one.email == "m1@laukaa.example.fi"
    assert one.reference == {
        "user": {"id": "29:m1", "aadObjectId": "AAD-1"},
        "bot": {"id": "28:00000000-0000-0000-0000-00000000b07", "name": "A-TMT bot"},
        "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:1/",
    }
    assert "Member 1" not in str(one.reference)  # ids only


async def test_a_turn_in_a_channel_never_becomes_the_persons_reference(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A notification meant for one person must not go to a channel: a channel or
    group chat turn records who is speaking, and a stored 1:1 chat stays."""
    refs = ConversationRefRepository(session_factory)
    resolver = IdentityResolver(refs, _Lookup(FakeConnector()))
    url = "http://127.0.0.1:1/"
    await resolver.remember(_context(_in_team(message(url, "x"))), locale="fi-FI")
    stored = await refs.get(KEY)
    assert stored is not None and not stored.personal
    assert "conversation" not in stored.reference

    await resolver.remember(_context(message(url, "apua")), locale="fi-FI")  # 1:1 chat
    await resolver.remember(_context(_in_team(message(url, "y"))), locale="sv-FI")
    stored = await refs.get(KEY)
    assert stored is not None and stored.personal
    assert stored.reference["conversation"]["id"] == "a:conversation-1"
    assert stored.locale == "sv-FI"


async def test_a_roster_the_connector_cannot_give_is_no_failure(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def broken(_turn_context: TurnContext, _token: str | None, _size: int) -> Any:
        raise RuntimeError("connector down")

    resolver = IdentityResolver(
        ConversationRefRepository(session_factory), _Lookup(FakeConnector()), roster=broken
    )
    context = _context(_in_team(message("http://127.0.0.1:1/", "x")))
    assert not await resolver.remember_installation(context)  # asked again on the next event
