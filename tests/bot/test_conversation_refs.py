"""The conversation_refs repository on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.conversation_refs import ConversationRefRepository

REFERENCE = {"conversation": {"id": "a:conversation-1"}, "serviceUrl": "http://127.0.0.1:1/"}


async def test_save_is_an_upsert_that_keeps_the_email(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    refs = ConversationRefRepository(session_factory)
    assert await refs.get("user-1") is None
    assert not await refs.set_email("user-1", "x@example.fi")

    await refs.save(user_key="user-1", reference=REFERENCE, tenant_id="t", locale="fi-FI")
    assert await refs.set_email("user-1", " Worker@Example.fi ")
    moved = {**REFERENCE, "conversation": {"id": "a:conversation-2"}}
    await refs.save(user_key="user-1", reference=moved, locale=None)

    stored = await refs.get("user-1")
    assert stored is not None
    assert stored.email == "worker@example.fi"
    assert stored.reference["conversation"]["id"] == "a:conversation-2"
    assert stored.locale == "fi-FI"  # None keeps the last known
    assert stored.tenant_id == "t"
    assert (await refs.get_by_email("WORKER@example.fi")) == stored
    assert await refs.get_by_email("") is None
    assert await refs.get_by_email("nobody@example.fi") is None


async def test_email_given_on_save_is_stored_normalized(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    refs = ConversationRefRepository(session_factory)
    await refs.save(user_key="user-2", reference=REFERENCE, email="Contact@Kuopio-Area.example.fi")
    stored = await refs.get("user-2")
    assert stored is not None and stored.email == "contact@kuopio-area.example.fi"


async def test_chosen_locale_is_kept_apart_from_the_teams_locale(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    refs = ConversationRefRepository(session_factory)
    await refs.save(user_key="user-3", reference=REFERENCE, locale="fi-FI")
    stored = await refs.get("user-3")
    assert stored is not None and stored.chosen_locale is None
    await refs.save(user_key="user-3", reference=REFERENCE, locale="fi-FI", chosen_locale="sv")
    await refs.save(user_key="user-3", reference=REFERENCE, locale="en-GB")  # None keeps it
    await refs.set_email("user-3", "user3@example.fi")
    stored = await refs.get_by_email("user3@example.fi")
    assert stored is not None
    assert (stored.locale, stored.chosen_locale) == ("en-GB", "sv")


MEMBER = {"user": {"id": "29:b", "aadObjectId": "aad-b"}, "serviceUrl": "http://127.0.0.1:2/"}


async def test_a_person_met_in_a_team_never_replaces_their_own_chat(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """``save_member`` records who someone is; their 1:1 chat, once stored, stays."""
    refs = ConversationRefRepository(session_factory)
    await refs.save_member(
        user_key="t:aad-b", reference=MEMBER, tenant_id="t", email="B@Example.fi"
    )
    member = await refs.get("t:aad-b")
    assert member is not None and not member.personal
    assert member.email == "b@example.fi" and member.reference == MEMBER

    await refs.save(user_key="t:aad-b", reference=REFERENCE, locale="sv-FI")  # a 1:1 chat
    await refs.save_member(user_key="t:aad-b", reference=MEMBER, locale="fi-FI", chosen_locale="en")
    stored = await refs.get("t:aad-b")
    assert stored is not None and stored.personal
    assert stored.reference == REFERENCE  # kept
    assert stored.email == "b@example.fi" and stored.tenant_id == "t"
    assert (stored.locale, stored.chosen_locale) == ("fi-FI", "en")


async def test_an_address_prefers_a_personal_chat_and_a_tenant_has_a_newest_reference(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    refs = ConversationRefRepository(session_factory)
    assert await refs.newest_in_tenant("T") is None
    await refs.save(user_key="t:old", reference=REFERENCE, tenant_id="T", email="x@example.fi")
    await refs.save_member(user_key="t:new", reference=MEMBER, tenant_id="T", email="x@example.fi")
    found = await refs.get_by_email("x@example.fi")
    assert found is not None and found.user_key == "t:old"  # the 1:1 chat, though older
    newest = await refs.newest_in_tenant("t")  # tenant ids compared case-insensitively
    assert newest is not None and newest.user_key == "t:new"
    assert await refs.newest_in_tenant("other") is None
    assert await refs.newest_in_tenant("") is None
