"""Several bot processes share one PostgreSQL: each notification is claimed by exactly one.

Two real OS processes run the dispatcher's claim (``OutboxQueue.claim``, ``FOR UPDATE SKIP
LOCKED``) against the same 2 000 due rows at the same time; every row must be taken once,
never by both, so no user sees a notification twice because two processes sent it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from storage.db import create_engine
from storage.domain_tables import OUTBOX

ROWS = 2000
ROOT = Path(__file__).resolve().parents[2]

CLAIMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from datetime import UTC, datetime, timedelta
    from storage.outbox_queue import OutboxQueue
    from storage.db import create_engine

    async def main(url: str, start_at: float) -> None:
        engine = create_engine(url)
        queue = OutboxQueue(engine)
        await asyncio.sleep(max(0.0, start_at - time.time()))  # start together
        taken: list[str] = []
        try:
            while True:
                batch = await queue.claim(
                    datetime.now(UTC), limit=25, lease=timedelta(minutes=10)
                )
                if not batch:
                    break
                taken.extend(item.id for item in batch)
        finally:
            await engine.dispose()
        print(json.dumps(taken))

    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
    """
)


async def _seed(url: str) -> set[str]:
    engine = create_engine(url)
    now = datetime.now(UTC) - timedelta(seconds=1)
    ids = [uuid.uuid4().hex for _ in range(ROWS)]
    rows = [
        {
            "id": row_id,
            "request_id": None,
            "template": "request.submitted",
            "audience": "approver",
            "recipient": f"approver{i % 7}@pks-area.example.fi",
            "params": {"number": f"2026-{i:06d}"},
            "idempotency_key": f"bench:{row_id}",
            "created_at": now,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": None,
        }
        for i, row_id in enumerate(ids)
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(OUTBOX), rows)
    finally:
        await engine.dispose()
    return set(ids)


@pytest.mark.postgres
async def test_two_processes_never_claim_the_same_notification(pg_url: str) -> None:
    seeded = await _seed(pg_url)
    start_at = f"{time.time() + 2.0:.3f}"  # both processes begin claiming at this moment
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLAIMER,
            pg_url,
            start_at,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    first, second = (json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs)
    assert len(first) == len(set(first)) and len(second) == len(set(second))
    assert not set(first) & set(second), "a notification was claimed by both processes"
    assert set(first) | set(second) == seeded, "a notification was never claimed"
    # Both processes really worked in parallel (otherwise the test proves nothing).
    assert first and second
