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
