"""A small run of the benchmark harness (``make bench`` itself is not part of the tests).

The same code paths as the benchmark, tiny and in one process: the connector that
enforces the Teams limits, the echo baseline and the full new-request flow driven
over HTTP, the seeding command, the results writer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from access.directory import load_directory_file
from access.service import AccessService
from storage.db import create_engine, create_session_factory
from storage.domain_tables import AUDIT, GRANTS, REQUESTS
from storage.repositories import unit_of_work_factory

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))
from bench.connector import BenchConnector  # noqa: E402
from bench.echo import create_echo_app  # noqa: E402
from bench.load import (  # noqa: E402
    echo_conversation,
    percentile,
    request_conversation,
    run_load,
)
from bench.run import KEYS, format_table, write_results  # noqa: E402
from bench.seed import seed  # noqa: E402
from bench.server import bench_settings  # noqa: E402
from bot.app import create_app  # noqa: E402

ADMIN = "admin@kuopio-area.example.fi"


@asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, object]) -> int:
    async with http.post(url, json=body) as response:
        return response.status


async def test_connector_refuses_over_the_teams_limits_and_counts_duplicates() -> None:
    now = [100.0]
    async with BenchConnector(limits=True, clock=lambda: now[0]) as connector:
        base = connector.service_url + "v3/conversations/"

        def message(n: int, key: str) -> dict[str, object]:
            return {
                "type": "message",
                "text": f"viesti {n}",
                "conversation": {"id": "x", "tenantId": "tenant-1"},
                "channelData": {"atmtNotification": key},
            }

        async with aiohttp.ClientSession() as http:
            statuses = [
                await _post(http, base + "a:one/activities", message(n, f"k{n}")) for n in range(8)
            ]
            assert statuses == [200] * 7 + [429]
            # 50 per tenant: 43 more in other conversations fit, the next does not.
            for n in range(43):
                status = await _post(http, base + f"a:c{n}/activities", message(n, f"t{n}"))
                assert status == 200
            async with http.post(base + "a:last/activities", json=message(0, "late")) as refused:
                assert refused.status == 429
                assert int(refused.headers["Retry-After"]) >= 1
            now[0] += 1.01  # the window has passed
            assert await _post(http, base + "a:one/activities", message(0, "k0")) == 200
    assert connector.refused == 2
    assert connector.total_sent == 51
    assert connector.duplicates == 1  # "k0" delivered twice


async def test_request_flow_and_echo_are_driven_over_http(db_url: str) -> None:
    settings = bench_settings(db_url)
    engine = create_engine(db_url)
    try:
        async with (
            BenchConnector() as connector,
            running(create_app(settings, engine=engine)) as bot_url,
            running(create_echo_app(settings)) as echo_url,
        ):
            echo = await run_load(
                echo_url, connector, echo_conversation, concurrency=3, duration=0.4
            )
            flows = await run_load(
                bot_url, connector, request_conversation, concurrency=3, duration=1.0
            )
        assert echo.errors == 0 and echo.turns >= 3
        assert flows.errors == 0 and flows.flows >= 1
        assert flows.turns == 3 * flows.flows  # "uusi", the form, Confirm
        assert percentile(flows.latencies, 99) >= percentile(flows.latencies, 50) > 0
        async with engine.connect() as conn:
            pending = (
                await conn.execute(
                    select(func.count())
                    .select_from(REQUESTS)
                    .where(REQUESTS.c.state == "pending", REQUESTS.c.municipality == "kuopio")
                )
            ).scalar_one()
        assert pending == flows.flows  # every confirmed card is one request, no more
    finally:
        await engine.dispose()


async def test_seeded_database_has_a_valid_audit_chain_that_continues(db_url: str) -> None:
    result = await seed(db_url, grants=40, audit=120, migrate=False)
    assert result["grants"] == 40
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            counts = [
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (GRANTS, REQUESTS, AUDIT)
            ]
        assert counts == [40, 40, 120]
        directory = load_directory_file(ROOT / "examples" / "directory.yaml")
        service = AccessService(unit_of_work_factory(create_session_factory(engine)), directory)
        verdict = await service.queries.verify_audit(ADMIN)
        assert verdict.ok and verdict.checked == 120
    finally:
        await engine.dispose()


def test_results_file_has_exactly_the_agreed_keys(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(path, {"turn_vs_echo_sqlite": 0.5, "unexpected": 1}, {"machine": {}})
    figures = json.loads(path.read_text(encoding="utf-8"))
    assert list(figures) == list(KEYS)
    assert figures["turn_vs_echo_sqlite"] == 0.5
    assert figures["notifier_lost"] is None
    assert (tmp_path / "results.details.json").exists()
    table = format_table([("turn_vs_echo_sqlite", "0.50", ">= 0.6", "")])
    assert "turn_vs_echo_sqlite" in table.splitlines()[2]
