"""Fixtures for the bot tests: a fake connector and the real app on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from fakes.botapp import EXAMPLE_DIRECTORY
from fakes.connector import FakeConnector

from access.directory import Directory, load_directory_file
from bot.app import create_app
from bot.config import Settings

StartBot = Callable[..., Awaitable[TestServer]]


@pytest.fixture(scope="session")
def directory() -> Directory:
    return load_directory_file(EXAMPLE_DIRECTORY)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


@pytest.fixture
async def start_bot(directory: Directory) -> AsyncIterator[StartBot]:
    """``await start_bot(settings, **create_app_kwargs)`` -> a running TestServer.

    Servers still running at the end of the test are closed (app clean-up included).
    """
    servers: list[TestServer] = []

    async def start(settings: Settings, **kwargs: Any) -> TestServer:
        kwargs.setdefault("directory", directory)
        server = TestServer(create_app(settings, **kwargs), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
