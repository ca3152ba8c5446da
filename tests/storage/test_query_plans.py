"""The queries a turn runs use indexes on PostgreSQL when the tables are large.

The database is seeded with :func:`bench.seed.seed_connection` (20 000 finished
requests with their grants, 50 000 audit rows) plus as many rows of bot state,
conversation references, idempotency keys and sent outbox rows, then ANALYZEd.
The real code runs (a submit, the manager's lists, a request view, the bot's state
and conversation-reference reads and writes, one outbox claim); every SELECT,
UPDATE and DELETE it sent is captured and EXPLAINed with its own parameters, and
no plan may read one of the large tables sequentially.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from access.directory import Directory, load_directory_file
from access.model import RequestDraft, RequestKind
from access.service import AccessService
from storage.bot_state import DocumentWrite, StateDocumentStore
from storage.conversation_refs import ConversationRefRepository
from storage.db import create_engine, create_session_factory
from storage.domain_tables import IDEMPOTENCY, OUTBOX
from storage.models import BotState, ConversationRef
from storage.outbox_queue import OutboxQueue
from storage.repositories import unit_of_work_factory

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))
from bench.seed import seed_connection  # noqa: E402

pytestmark = pytest.mark.postgres

ROWS = 20_000
LARGE_TABLES = (
    "access_requests",
    "grants",
    "audit_log",
    "bot_state",
    "conversation_refs",
    "idempotency_keys",
    "outbox",
)
MANAGER = "manager@kuopio.example.fi"


def load_example_directory() -> Directory:
    return load_directory_file(ROOT / "examples" / "directory.yaml")


async def _seed(engine: AsyncEngine) -> None:
    directory = load_example_directory()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await seed_connection(conn, directory, grants=ROWS, audit=50_000)
        await conn.execute(
            insert(BotState.__table__),
            [
                {"key": f"msteams/conversations/a:seed-{n}", "document": "{}", "etag": "1"}
                for n in range(ROWS)
            ],
        )
        await conn.execute(
            insert(ConversationRef.__table__),
            [
                {
                    "user_key": f"aad-seed-{n}",
                    "email": f"seed{n}@example.fi",
                    "tenant_id": "t",
                    "reference": "{}",
                    "locale": "fi-FI",
                }
                for n in range(ROWS)
            ],
        )
        await conn.execute(
            insert(IDEMPOTENCY),
            [
                {
                    "key": f"seed-key-{n}",
                    "actor": MANAGER,
                    "command": "submit",
                    "created_at": now,
                    "result": "request:x",
                }
                for n in range(ROWS)
            ],
        )
        await conn.execute(
            insert(OUTBOX),
            [
                {
                    "id": f"seed-o-{n}",
                    "request_id": f"seed-r-{n:08d}",
                    "template": "request.approved",
                    "audience": "requester",
                    "recipient": f"seed{n}@example.fi",
                    "params": {},
                    "idempotency_key": f"seed-o-{n}",
                    "created_at": now - timedelta(days=30),
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": None,
                    "sent_at": now - timedelta(days=30),
                }
                for n in range(ROWS)
            ],
        )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))


@contextmanager
def _captured(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if not many and verb in ("SELECT", "UPDATE", "DELETE", "WITH"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _sequential_scans(plan: list[str]) -> set[str]:
    found = set()
    for line in plan:
        match = re.search(r"Seq Scan on (\w+)", line)
        if match and match.group(1) in LARGE_TABLES:
            found.add(match.group(1))
    return found


async def test_turn_queries_use_indexes_on_a_large_database(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        await _seed(engine)
        sessions = create_session_factory(engine)
        directory = load_example_directory()
        service = AccessService(unit_of_work_factory(sessions), directory)
        refs = ConversationRefRepository(sessions)
        documents = StateDocumentStore(engine)
        area = directory.area_of("kuopio")
        assert area is not None
        today = datetime.now(UTC).date()
        draft = RequestDraft(
            kind=RequestKind.GRANT,
            municipality="kuopio",
            worker_name="Testi Työntekijä",
            worker_email="new.worker@kuopio.example.fi",
            worker_job_title="Työvalmentaja",
            service_areas=(area.service_areas[0],),
            level=area.access_levels[0],
            start=today,
            end=today + timedelta(days=90),
            justification="Asiakastyö.",
            confirmations=frozenset(area.requires),
        )

        with _captured(engine) as statements:
            # What a turn of the new-request flow does around the service call ...
            await refs.save(user_key="aad-plan", reference={"a": 1}, locale="fi-FI")
            await refs.get("aad-plan")
            await refs.get_by_email("seed17@example.fi")
            state = await documents.read(["msteams/conversations/a:seed-5", "msteams/users/x"])
            stored = state.get("msteams/conversations/a:seed-5")
            await documents.write(
                [
                    DocumentWrite(
                        "msteams/conversations/a:seed-5",
                        (stored.document if stored else {}) | {"step": "form"},
                        stored.etag if stored else None,
                    )
                ]
            )
            # ... the submit itself, the lists and views a manager opens ...
            request = await service.requests.submit(MANAGER, draft, idempotency_key="plan-1")
            await service.queries.get_request(MANAGER, request.id)
            await service.queries.list_requests_for(MANAGER)
            await service.queries.list_grants_for(MANAGER)
            # ... and the dispatcher's claim of due notifications.
            await OutboxQueue(engine).claim(
                datetime.now(UTC), limit=100, lease=timedelta(minutes=5)
            )

        assert len(statements) >= 10, statements
        problems: dict[str, set[str]] = {}
        async with engine.connect() as conn:
            for statement, parameters in statements:
                result = await conn.exec_driver_sql(
                    "EXPLAIN " + statement, parameters if parameters else ()
                )
                plan = [row[0] for row in result]
                scans = _sequential_scans(plan)
                if scans:
                    problems[statement.split("WHERE")[0][:80] + " ..."] = scans
            await conn.rollback()
        assert problems == {}, json.dumps({k: sorted(v) for k, v in problems.items()}, indent=1)
    finally:
        await engine.dispose()
