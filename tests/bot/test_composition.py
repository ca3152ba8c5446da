"""The composition root builds each service once, on one directory, clock and id source."""

from __future__ import annotations

from dataclasses import replace

from botbuilder.core import MemoryStorage
from botbuilder.integration.aiohttp import CloudAdapter
from fakes.botapp import make_settings
from fakes.manager_chat import FixedClock
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.directory import current_directory
from access.ports import UuidIds
from bot.auth import create_authentication
from bot.composition import build_chats, build_delivery, compose
from dialogs.i18n import Translator


async def test_every_part_reads_the_one_directory_clock_and_ids(
    db_url: str, engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    settings = make_settings(db_url)
    clock, ids = FixedClock(), UuidIds()
    services = await compose(settings, session_factory, clock=clock, ids=ids)
    translator = Translator.load()
    chats = build_chats(services, storage=MemoryStorage(), translator=translator)
    notifier = build_delivery(
        services,
        engine=engine,
        adapter=CloudAdapter(create_authentication(settings)),
        translator=translator,
        approvals=chats.approvals,
    )

    # An imported version comes into force: everyone sees it at once.
    started = services.directory()
    [area] = [a for a in started.areas.values() if a.code == "pohjoinen-keski-suomi"]
    changed = replace(
        started, areas={**started.areas, area.code: replace(area, default_locale="en")}
    )
    services.directory.current = changed
    readers = {
        "access": services.access.directory,
        "authority": services.authority.directory,
        "reviews": services.reviews.directory,
        "misuse": services.misuse.directory,
        "automation": services.automation.directory,
        "notifier": notifier.directory,
        "router": current_directory(chats.bot.directory),
    }
    assert {name: d is changed for name, d in readers.items()} == dict.fromkeys(readers, True)

    # One clock and id source; each service built once and shared.
    for service in (services.access, services.reviews, services.misuse, services.automation):
        assert service.runner.clock is clock and service.runner.ids is ids
    assert services.automation.reviews is services.reviews
    assert services.automation.access is services.access.jobs
    assert services.reviews.access is services.access.requests
    assert services.authority.access is services.access
    assert chats.review.reviews is services.reviews
    assert chats.misuse.reports is services.misuse and chats.misuse.service is services.access
    assert chats.authority.authority is services.authority
    assert chats.approvals.service is services.access
    assert chats.bot.service is services.access and chats.bot.approvals is chats.approvals
    assert chats.bot.manager is not None
    assert chats.bot.manager.deps.acknowledgements is services.acknowledgements
    assert notifier.refs is services.refs is chats.authority.refs
