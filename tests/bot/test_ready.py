"""/healthz is about the process; /readyz about the database and its migrations."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from conftest import StartBot
from fakes.botapp import make_settings

from storage.migrations_runner import head_revision


async def test_readyz_200_on_a_migrated_database(
    db_url: str, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(db_url))
    async with http.get(server.make_url("/readyz")) as response:
        assert response.status == 200
        body = await response.json()
    # Ready or not, nothing more: a revision tells a caller which release runs.
    assert body == {"status": "ok"}
    assert head_revision() not in json.dumps(body)


async def test_readyz_503_on_an_unmigrated_database(
    tmp_path: Path, start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    server = await start_bot(make_settings(f"sqlite:///{tmp_path / 'empty.db'}"))
    async with http.get(server.make_url("/healthz")) as response:
        assert response.status == 200
    async with http.get(server.make_url("/readyz")) as response:
        assert response.status == 503
        body = await response.json()
    assert body == {"status": "unavailable", "reason": "database not migrated"}
    assert head_revision() not in json.dumps(body)


async def test_readyz_503_when_the_database_is_unreachable(
    start_bot: StartBot, http: aiohttp.ClientSession
) -> None:
    # Port 9 (discard) on localhost: connection refused at once.
    server = await start_bot(make_settings("postgresql://nobody:secret@127.0.0.1:9/none"))
    async with http.get(server.make_url("/healthz")) as response:
        assert response.status == 200
    async with http.get(server.make_url("/readyz")) as response:
        assert response.status == 503
        body = await response.json()
    assert body == {"status": "unavailable", "reason": "database unreachable"}
    assert "secret" not in str(body)
