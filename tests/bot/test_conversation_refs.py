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
