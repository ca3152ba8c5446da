"""The composition root: every service of a bot process, built once, in one place.

Everything that runs the domain gets it from here: the web app (:mod:`bot.app`), the
command line (:mod:`bot.cli_authority`), the scheduler, the notifier and the
benchmarks. Nothing else constructs a domain service, so no two parts of a process
can disagree about the directory, the clock or the id source.

* :func:`load_directory`: the directory in force is a :class:`DirectoryProvider`:
  the newest version imported into the database (``atmt-bot directory import``),
  else the ``ATMT_DIRECTORY`` file. Every consumer asks it on each use;
  :class:`DirectoryRefresher` re-reads the database every minute so that every bot
  process picks up an import.
* :func:`build_services` -> :class:`Services`: the domain services on one session
  factory, directory provider, clock and id source; :func:`compose` does both steps.
* :func:`build_chats` -> :class:`Chats`: the conversations the web app routes to, on
  those services.
* :func:`build_delivery`: the outbox dispatcher on those services and chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botbuilder.core import BotAdapter, ConversationState, Storage, UserState
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.acknowledgements import Acknowledgements
from access.authority import AuthorityService, DirectoryProvider
from access.automation import AutomationService
from access.directory import Directory, load_directory_file
from access.misuse import MisuseReports
from access.ports import Clock, IdSource, SystemClock, UuidIds
from access.review import ReviewService
from access.service import AccessService
from bot.config import Settings
from bot.downloads import DownloadSigner
from bot.identity import IdentityResolver
from bot.notifier import Notifier, build_notifier
from bot.patches import OneReadStateLoader
from bot.state_storage import StateStorage, StoredClaims
from dialogs.approvals import ApprovalHandler
from dialogs.authority import AuthorityChat
from dialogs.i18n import Translator
from dialogs.misuse import MisuseChat
from dialogs.review import ReviewChat
from dialogs.router import AccessBot
from dialogs.turn import Claims, LocalClaims
from storage.audit_keys import bind_audit_key
from storage.authority import authority_unit_of_work_factory
from storage.automation import automation_unit_of_work_factory
from storage.conversation_refs import ConversationRefRepository
from storage.download_links import SqlUsedLinks
from storage.outbox_queue import OutboxQueue
from storage.repositories import unit_of_work_factory

__all__ = [
    "REFRESH_SECONDS",
    "Chats",
    "DirectoryRefresher",
    "Services",
    "build_chats",
    "build_delivery",
    "build_services",
    "compose",
    "load_directory",
]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0


# ------------------------------------------------------------------ directory


def _file_content(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


async def load_directory(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    file_directory: Directory | None = None,
) -> DirectoryProvider:
    """The directory in force: the newest imported version, else the file's.

    ``file_directory``: the ``ATMT_DIRECTORY`` file already read (default: read it
    here; raises ``DirectoryError``). A database that cannot be read yet (not
    migrated, unreachable) leaves the file in force until the next refresh.
    """
    if file_directory is None:
        file_directory = load_directory_file(settings.directory_path)
    provider = DirectoryProvider(file_directory, _file_content(Path(settings.directory_path)))
    try:
        await provider.refresh(authority_unit_of_work_factory(sessions))
    except Exception as error:
        log.warning(
            "directory versions not readable",
            extra={"event": "directory_refresh_failed", "error_type": type(error).__name__},
        )
    return provider


class DirectoryRefresher:
    """Re-reads the directory in force every :data:`REFRESH_SECONDS` (a task)."""

    def __init__(
        self, provider: DirectoryProvider, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self._provider = provider
        self._factory = authority_unit_of_work_factory(sessions)
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read the newest imported version now."""
        await self._provider.refresh(self._factory)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="atmt-directory-refresher"
            )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception as error:
                log.warning(
                    "directory refresh failed",
                    extra={"event": "directory_refresh_failed", "error_type": type(error).__name__},
                )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# ------------------------------------------------------------------- services


@dataclass(frozen=True)
class Services:
    """The domain services of one process, each built once on the same parts."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    directory: DirectoryProvider
    """The directory in force; call it (``services.directory()``) on every use."""
    clock: Clock
    ids: IdSource
    access: AccessService
    authority: AuthorityService
    reviews: ReviewService
    misuse: MisuseReports
    acknowledgements: Acknowledgements
    automation: AutomationService
    refs: ConversationRefRepository
    refresher: DirectoryRefresher
    """Keeps :attr:`directory` current; the web app starts and stops it."""


def build_services(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    directory: DirectoryProvider,
    *,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> Services:
    """Every domain service on ``sessions``, the directory in force, one clock and
    one id source (defaults: the system clock, random UUIDs)."""
    clock = clock or SystemClock()
    ids = ids or UuidIds()
    bind_audit_key(sessions, settings.audit_chain_key())  # the keyed audit chain
    uow_factory = unit_of_work_factory(sessions)
    automation_uow = automation_unit_of_work_factory(sessions)
    access = AccessService(uow_factory, directory, clock=clock, ids=ids)
    reviews = ReviewService(automation_uow, directory, clock, ids, access.requests)
    return Services(
        settings=settings,
        sessions=sessions,
        directory=directory,
        clock=clock,
        ids=ids,
        access=access,
        authority=AuthorityService(access, authority_unit_of_work_factory(sessions), directory),
        reviews=reviews,
        misuse=MisuseReports(automation_uow, directory, clock, ids),
        acknowledgements=access.acknowledgements,
        automation=AutomationService(automation_uow, directory, clock, ids, access.jobs, reviews),
        refs=ConversationRefRepository(sessions),
        refresher=DirectoryRefresher(directory, sessions),
    )


async def compose(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    file_directory: Directory | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> Services:
    """:func:`load_directory`, then :func:`build_services`."""
    directory = await load_directory(settings, sessions, file_directory)
    return build_services(settings, sessions, directory, clock=clock, ids=ids)


# ---------------------------------------------------------------------- chats


@dataclass(frozen=True)
class Chats:
    """The conversations of the web app and the router that leads to them."""

    approvals: ApprovalHandler
    authority: AuthorityChat
    review: ReviewChat
    misuse: MisuseChat
    bot: AccessBot


def build_chats(
    services: Services,
    *,
    storage: Storage,
    translator: Translator,
    signer: DownloadSigner | None = None,
) -> Chats:
    """The chats on ``services``; botbuilder's dialog and user state in ``storage``.

    ``signer``: signs the download links (default: from the settings).
    """
    approvals = ApprovalHandler(services.access, services.refs)
    authority = AuthorityChat(
        services.authority,
        translator,
        signer or DownloadSigner.from_settings(services.settings, SqlUsedLinks(services.sessions)),
        refs=services.refs,
        pages_url=services.settings.download_base_url,
    )
    review = ReviewChat(services.reviews)
    misuse = MisuseChat(services.misuse, services.access)
    claims: Claims = (
        StoredClaims(storage.documents) if isinstance(storage, StateStorage) else LocalClaims()
    )
    bot = AccessBot(
        conversation_state=ConversationState(storage),
        user_state=UserState(storage),
        translator=translator,
        identities=IdentityResolver(services.refs),
        directory=services.directory,
        service=services.access,
        acknowledgements=services.acknowledgements,
        approvals=approvals,
        authority=authority,
        review=review,
        misuse=misuse,
        state_loader=OneReadStateLoader(),
        claims=claims,
        refs=services.refs,
    )
    return Chats(approvals=approvals, authority=authority, review=review, misuse=misuse, bot=bot)


# ------------------------------------------------------------------- delivery


def build_delivery(
    services: Services,
    *,
    engine: AsyncEngine,
    adapter: BotAdapter,
    translator: Translator,
    approvals: ApprovalHandler | None,
) -> Notifier:
    """The outbox dispatcher: texts rendered with the directory in force, in the
    language each person chose (kept with their conversation reference), the approver
    card from ``approvals``."""
    return build_notifier(
        services.settings,
        queue=OutboxQueue(engine),
        adapter=adapter,
        refs=services.refs,
        approvals=approvals,
        translator=translator,
        directory=services.directory,
    )
