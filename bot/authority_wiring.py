"""Wiring of the authority's tools into the app (issue 7), kept out of ``bot.app``.

* :func:`load_provider`: the directory in use is the newest version imported into the
  database (``atmt-bot directory import``), else the ``ATMT_DIRECTORY`` file; a
  :class:`DirectoryRefresher` re-reads it every minute so that every bot process
  picks up an import.
* :func:`build_authority_chat`: the chat side with its download signer.
* :func:`downloads_handler`: ``GET /downloads/{token}`` for the running app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.authority import AuthorityService, DirectoryProvider
from access.directory import Directory
from access.service import AccessService
from bot.config import Settings
from bot.downloads import DownloadSigner, download_route
from dialogs.authority import AuthorityChat
from dialogs.i18n import Translator
from storage.authority import authority_unit_of_work_factory
from storage.conversation_refs import ConversationRefRepository
from storage.download_links import SqlUsedLinks

__all__ = [
    "DirectoryRefresher",
    "build_authority_chat",
    "downloads_handler",
    "load_provider",
]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0


def _file_content(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


async def load_provider(
    settings: Settings, directory: Directory, sessions: async_sessionmaker[AsyncSession]
) -> DirectoryProvider:
    provider = DirectoryProvider(directory, _file_content(Path(settings.directory_path)))
    try:
        await provider.refresh(authority_unit_of_work_factory(sessions))
    except Exception as error:  # not migrated yet, unreachable: the file is used
        log.warning(
            "directory versions not readable",
            extra={"event": "directory_refresh_failed", "error_type": type(error).__name__},
        )
    return provider


class DirectoryRefresher:
    def __init__(
        self, provider: DirectoryProvider, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self._provider = provider
        self._factory = authority_unit_of_work_factory(sessions)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self._provider.refresh(self._factory)
            except Exception as error:
                log.warning(
                    "directory refresh failed",
                    extra={"event": "directory_refresh_failed", "error_type": type(error).__name__},
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def build_authority_chat(
    settings: Settings,
    service: AccessService,
    provider: DirectoryProvider,
    sessions: async_sessionmaker[AsyncSession],
    translator: Translator,
    signer: DownloadSigner | None = None,
) -> AuthorityChat:
    authority = AuthorityService(service, authority_unit_of_work_factory(sessions), provider)
    return AuthorityChat(
        authority,
        translator,
        signer or DownloadSigner.from_settings(settings, SqlUsedLinks(sessions)),  # used once
        refs=ConversationRefRepository(sessions),
    )


def downloads_handler(
    chat: Callable[[], AuthorityChat | None],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    def signer() -> DownloadSigner | None:
        current = chat()
        return current.signer if current is not None else None  # type: ignore[return-value]

    def email_of() -> Callable[[str], Awaitable[str | None]] | None:
        current = chat()
        return current.email_of if current is not None else None

    def producer() -> Any:
        current = chat()
        return current.produce if current is not None else None

    return download_route(signer, email_of, producer)
