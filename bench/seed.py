"""Fill a migrated database with a large, valid data set, fast.

    python -m bench.seed DATABASE_URL [--grants 100000] [--audit 1000000]

Writes ``grants`` finished grant requests (``access_requests`` in state ``done``)
with their active ``grants`` spread over every contracted municipality of the
directory, and ``audit`` audit rows forming a valid hash chain (``verify_audit``
passes) with the chain head set to its last row. PostgreSQL: ``COPY`` through
asyncpg (``copy_records_to_table``), then ``ANALYZE``; SQLite: ``executemany`` in
chunks. Seeded request numbers use the year 2000 (``2000-000001`` ...), so the
numbers the bot hands out later never collide. Names are invented
("Testi Työntekijä 17"), addresses are ``@example.fi``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from access.audit import GENESIS_HASH, content_hash
from access.directory import Directory, load_directory_file
from access.model import JsonValue
from storage.db import create_engine
from storage.domain_tables import AUDIT, AUDIT_HEAD, COUNTERS, GRANTS, REQUESTS, JsonText
from storage.migrations_runner import upgrade_to_head

__all__ = ["SeedResult", "seed", "seed_connection"]

ROOT = Path(__file__).resolve().parents[1]
SEED_YEAR = 2000
CHUNK = 20_000


class SeedResult(dict[str, Any]):
    """Counts and seconds: ``grants``, ``audit``, ``seconds``."""


def _municipalities(directory: Directory) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(municipality, area, requester, service areas) for contracted municipalities."""
    out = []
    for municipality in directory.municipalities():
        area = directory.area_of(municipality.code)
        if not municipality.contracted or area is None:
            continue
        requesters = sorted(municipality.requesters)
        requester = requesters[0] if requesters else f"manager@{municipality.code}.example.fi"
        out.append((municipality.code, area.code, requester, tuple(area.service_areas)))
    if not out:
        raise ValueError("the directory has no contracted municipality")
    return out


def _request_and_grant(
    n: int, places: Sequence[tuple[str, str, str, tuple[str, ...]]], now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    municipality, area, requester, service_areas = places[n % len(places)]
    created = now - timedelta(days=400) + timedelta(seconds=n)
    start = created.date()
    end = start + timedelta(days=365 + n % 200)
    name = f"Testi Työntekijä {n}"
    email = f"worker{n}@{municipality}.example.fi"
    request_id = f"seed-r-{n:08d}"
    request = {
        "id": request_id,
        "number": f"{SEED_YEAR}-{n:06d}",
        "kind": "grant",
        "state": "done",
        "version": 5,
        "worker_name": name,
        "worker_email": email,
        "worker_job_title": "Työvalmentaja",
        "municipality": municipality,
        "area": area,
        "service_areas": list(service_areas[: 1 + n % 3]),
        "level": "view",
        "start_date": start,
        "end_date": end,
        "justification": "Asiakastyö kunnan työllisyyspalveluissa.",
        "confirmations": [],
        "requester": requester,
        "created_by": requester,
        "grant_id": None,
        "revoke_reason": None,
        "urgent": False,
        "question": None,
        "created_at": created,
        "updated_at": created,
    }
    grant = {
        "id": f"seed-g-{n:08d}",
        "worker_name": name,
        "worker_email": email,
        "worker_job_title": "Työvalmentaja",
        "municipality": municipality,
        "area": area,
        "service_areas": request["service_areas"],
        "level": "view",
        "start_date": start,
        "end_date": end,
        "state": "active",
        "version": 1,
        "origin_request_id": request_id,
        "requested_by": requester,
        "created_at": created,
        "updated_at": created,
    }
    return request, grant


def _audit_rows(count: int, grants: int, now: datetime) -> Iterator[dict[str, Any]]:
    prev = GENESIS_HASH
    start = now - timedelta(days=400)
    actions = ("request.submitted", "request.approved", "keha.queued", "keha.sent", "keha.done")
    for seq in range(1, count + 1):
        n = (seq - 1) // len(actions)
        request_id = f"seed-r-{n % max(grants, 1):08d}" if grants else None
        at = start + timedelta(milliseconds=seq)
        actor = "contact@pks-area.example.fi" if seq % 2 else "manager@laukaa.example.fi"
        action = actions[(seq - 1) % len(actions)]
        details: dict[str, JsonValue] = {
            "number": f"{SEED_YEAR}-{n:06d}",
            "kind": "grant",
            "version": 1,
        }
        digest = content_hash(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            request_id=request_id,
            details=details,
            prev_hash=prev,
        )
        yield {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "request_id": request_id,
            "details": details,
            "prev_hash": prev,
            "hash": digest,
        }
        prev = digest


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _copy_value(table: Table, column: str, value: Any) -> Any:
    """What asyncpg's COPY wants: JSON columns as text, UTC datetimes aware."""
    if isinstance(table.c[column].type, JsonText):
        return JsonText().process_bind_param(value, None)  # type: ignore[arg-type]
    return value


async def _write(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        columns = list(rows[0])
        records = [tuple(_copy_value(table, c, row[c]) for c in columns) for row in rows]
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    else:
        await conn.execute(insert(table), rows)


async def seed_connection(
    conn: AsyncConnection, directory: Directory, *, grants: int, audit: int
) -> None:
    """Seed inside an open transaction of ``conn`` (the caller commits)."""
    now = datetime.now(UTC).replace(microsecond=0)
    places = _municipalities(directory)
    for chunk_start in range(0, grants, CHUNK):
        pairs = [
            _request_and_grant(n, places, now)
            for n in range(chunk_start, min(grants, chunk_start + CHUNK))
        ]
        await _write(conn, REQUESTS, [r for r, _ in pairs])
        await _write(conn, GRANTS, [g for _, g in pairs])
    if grants:
        await conn.execute(delete(COUNTERS).where(COUNTERS.c.year == SEED_YEAR))
        await conn.execute(insert(COUNTERS).values(year=SEED_YEAR, value=grants))
    last: dict[str, Any] | None = None
    for chunk in _chunks(_audit_rows(audit, grants, now), CHUNK):
        await _write(conn, AUDIT, chunk)
        last = chunk[-1]
    if last is not None:
        # Replace the chain head (a tool may have emptied the table; an UPDATE of a
        # missing row would leave the chain without its head).
        await conn.execute(delete(AUDIT_HEAD))
        await conn.execute(insert(AUDIT_HEAD).values(id=1, seq=last["seq"], hash=last["hash"]))


async def seed(
    database_url: str,
    *,
    grants: int,
    audit: int,
    directory: Directory | None = None,
    migrate: bool = True,
) -> SeedResult:
    """Migrate (optionally) and seed an empty database; ``ANALYZE`` on PostgreSQL."""
    directory = directory or load_directory_file(ROOT / "examples" / "directory.yaml")
    engine = create_engine(database_url)
    started = time.perf_counter()
    try:
        if migrate:
            await upgrade_to_head(engine)
        async with engine.begin() as conn:
            await seed_connection(conn, directory, grants=grants, audit=audit)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return SeedResult(grants=grants, audit=audit, seconds=time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seed", description="Seed a database with a large data set."
    )
    parser.add_argument("database_url")
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    result = asyncio.run(seed(args.database_url, grants=args.grants, audit=args.audit))
    print(
        f"seeded {result['grants']} grants and {result['audit']} audit rows "
        f"in {result['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
