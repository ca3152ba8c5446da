"""``make bench``: ratios measured side by side in one run; ``bench/results.json``.

    python -m bench.run [--quick] [--postgres-server URL] [--output PATH]

What runs (every bot under test is a separate process started with
:mod:`bench.server`, i.e. :func:`bot.serve.run_workers`; this process is the load
generator and the Bot Connector, :class:`bench.connector.BenchConnector`):

* ``turn_vs_echo_sqlite`` / ``turn_vs_echo_postgres``: turns per second of the full
  new-request flow (:func:`bench.load.request_conversation`) ÷ turns per second of
  the bare botbuilder echo bot (:mod:`bench.echo`) on the same adapter, both at
  ``--concurrency`` conversations. Echo and request runs alternate
  (echo, request, echo, request ...) so machine noise hits both alike.
* ``p99_vs_echo`` (and p50 in the table): turn latency percentiles of those runs on
  PostgreSQL ÷ the echo bot's.
* ``submit_100k_vs_1k``: median latency of ``AccessService.requests.submit`` on a PostgreSQL
  database seeded with 100 000 grants and 1 000 000 audit rows ÷ on one with 1 000
  grants and 10 000 audit rows (batches alternate between the two).
* ``notifier_vs_limit``, ``notifier_lost``, ``notifier_duplicates``: see
  :mod:`bench.notify`.
* ``two_vs_one_process``: request-flow turns per second with ``serve --workers 2`` ÷
  ``--workers 1`` on PostgreSQL (alternating runs).
* ``rss_mb_per_1000_dialogs``: growth of the worker's resident memory while 1 000
  conversations open the new-request dialog and leave it open, per 1 000.

PostgreSQL databases are created on ``--postgres-server`` (default
``$BENCH_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``) as
``atmt_bench_<random>`` and dropped afterwards. ``--quick`` is the smoke run of
``make test``: tiny sizes, fractions of a second per run, same code paths.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.connector import BenchConnector
from bench.load import (
    RunStats,
    activity,
    echo_conversation,
    percentile,
    request_conversation,
    run_load,
)
from bench.seed import seed
from storage.db import normalize_url

__all__ = ["KEYS", "Options", "main", "run_bench", "write_results"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

KEYS = (
    "turn_vs_echo_sqlite",
    "turn_vs_echo_postgres",
    "p99_vs_echo",
    "submit_100k_vs_1k",
    "notifier_vs_limit",
    "notifier_lost",
    "notifier_duplicates",
    "two_vs_one_process",
    "rss_mb_per_1000_dialogs",
)


@dataclass(frozen=True)
class Options:
    postgres_server: str = DEFAULT_SERVER
    concurrency: int = 50
    run_seconds: float = 6.0
    rounds: int = 3
    big_grants: int = 100_000
    big_audit: int = 1_000_000
    small_grants: int = 1_000
    small_audit: int = 10_000
    submits: int = 300
    dialogs: int = 1_000
    notifications: int = 3_000
    notify_conversations: int = 100

    @classmethod
    def quick(cls, postgres_server: str = DEFAULT_SERVER) -> Options:
        return cls(
            postgres_server=postgres_server,
            concurrency=4,
            run_seconds=0.6,
            rounds=1,
            big_grants=300,
            big_audit=3_000,
            small_grants=30,
            small_audit=300,
            submits=10,
            dialogs=20,
            notifications=40,
            notify_conversations=4,
        )


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- databases


@contextlib.asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A fresh database ``atmt_bench_<random>`` on the server; dropped afterwards."""
    name = f"atmt_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(
        normalize_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        await admin.dispose()


# --------------------------------------------------------------------- servers


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    pids: list[int]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def server(database_url: str, *, workers: int = 1, echo: bool = False) -> Iterator[Server]:
    """``python -m bench.server`` in a child process until the block ends."""
    command = [sys.executable, "-m", "bench.server", "--database-url", database_url]
    command += ["--workers", str(workers)] + (["--echo"] if echo else [])
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError(f"bench server did not start: {line!r}")
        host, port, *pids = line[1:]
        running = Server(process, f"http://{host}:{port}", [int(p) for p in pids])
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux ``/proc``), MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# ------------------------------------------------------------------- measuring


async def warm_up(url: str, connector: BenchConnector, driver: Any, options: Options) -> None:
    await run_load(
        url,
        connector,
        driver,
        concurrency=options.concurrency,
        duration=max(0.3, options.run_seconds / 3),
        first_conversation=10_000_000,
    )


async def alternate(
    runs: dict[str, tuple[str, Any]], connector: BenchConnector, options: Options
) -> dict[str, RunStats]:
    """Each named (url, driver) in turn, ``rounds`` times; stats summed per name."""
    totals = {name: RunStats() for name in runs}
    for url, driver in runs.values():
        await warm_up(url, connector, driver, options)
    for round_number in range(options.rounds):
        order = list(runs.items())
        if round_number % 2:
            order.reverse()  # ABBA: neither side always goes first
        for name, (url, driver) in order:
            stats = await run_load(
                url,
                connector,
                driver,
                concurrency=options.concurrency,
                duration=options.run_seconds,
            )
            connector.last_card.clear()
            totals[name].merge(stats)
            log(
                f"  {name}: {stats.throughput:.0f} turns/s, p50 "
                f"{percentile(stats.latencies, 50) * 1000:.1f} ms, errors {stats.errors}"
            )
    return totals


async def measure_submits(small_url: str, big_url: str, options: Options) -> dict[str, float]:
    """Median ``AccessService.requests.submit`` latency on the small and the big database."""
    from access.directory import load_directory_file
    from access.model import RequestDraft, RequestKind
    from bench.server import bench_settings
    from bot.composition import compose
    from storage.db import create_engine, create_session_factory

    directory = load_directory_file(ROOT / "examples" / "directory.yaml")
    engines = {"small": create_engine(small_url), "big": create_engine(big_url)}
    services = {
        name: (
            await compose(
                bench_settings(url), create_session_factory(engines[name]), file_directory=directory
            )
        ).access
        for name, url in (("small", small_url), ("big", big_url))
    }
    timings: dict[str, list[float]] = {"small": [], "big": []}
    today = datetime.now(UTC).date()
    counter = 0
    area = directory.area_of("kuopio")
    assert area is not None

    async def one(name: str) -> None:
        nonlocal counter
        counter += 1
        draft = RequestDraft(
            kind=RequestKind.GRANT,
            municipality="kuopio",
            worker_name=f"Testi Työntekijä {counter}",
            worker_email=f"submit{counter}@kuopio.example.fi",
            worker_job_title="Työvalmentaja",
            service_areas=(area.service_areas[0],),
            level=area.access_levels[0],
            start=today,
            end=today + timedelta(days=180),
            justification="Asiakastyö kunnan työllisyyspalveluissa.",
            confirmations=frozenset(area.requires),
        )
        started = time.perf_counter()
        await services[name].requests.submit(
            "manager@kuopio.example.fi", draft, idempotency_key=f"bench-submit-{counter}"
        )
        timings[name].append(time.perf_counter() - started)

    try:
        for _ in range(5):  # warm both pools and caches
            await one("small")
            await one("big")
        timings = {"small": [], "big": []}
        batch = max(1, min(50, options.submits // 6))
        done = 0
        while done < options.submits:
            order = ("small", "big") if (done // batch) % 2 == 0 else ("big", "small")
            for name in order:
                for _ in range(batch):
                    await one(name)
            done += batch
    finally:
        for engine in engines.values():
            await engine.dispose()
    return {name: statistics.median(values) for name, values in timings.items()}


async def measure_rss(database_url: str, connector: BenchConnector, options: Options) -> float:
    """MiB of worker RSS per 1 000 conversations left inside the new-request dialog."""
    with server(database_url) as bot:
        [pid] = bot.pids
        url = bot.url + "/api/messages"
        semaphore = asyncio.Semaphore(options.concurrency)

        async with aiohttp.ClientSession() as http:

            async def open_dialog(index: int) -> None:
                async with semaphore:
                    body = activity(connector.service_url, index, text="uusi", prefix="rss")
                    async with http.post(url, json=body) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"HTTP {response.status}")

            # Warm up (imports, caches, pools) with conversations not counted.
            await asyncio.gather(*(open_dialog(2_000_000 + i) for i in range(100)))
            connector.last_card.clear()
            before = rss_mb(pid)
            await asyncio.gather(*(open_dialog(i) for i in range(options.dialogs)))
            connector.last_card.clear()
            after = rss_mb(pid)
    return (after - before) * 1000 / options.dialogs


# ----------------------------------------------------------------------- table


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def format_table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("measure", "value", "goal", "detail")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


async def run_bench(options: Options) -> tuple[dict[str, Any], str]:
    """Every measurement; returns (results with :data:`KEYS`, the printed table)."""
    from bench.notify import measure_notifier

    results: dict[str, Any] = {}
    rows: list[tuple[str, str, str, str]] = []
    details: dict[str, Any] = {}

    async with BenchConnector() as connector, contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="atmt-bench-"))
        sqlite_url = f"sqlite:///{tmp}/bench.sqlite3"
        pg_url = await stack.enter_async_context(postgres_database(options.postgres_server))

        # -- echo vs request turn, SQLite then PostgreSQL
        echo = stack.enter_context(server(sqlite_url, echo=True))
        for kind, url in (("sqlite", sqlite_url), ("postgres", pg_url)):
            log(f"turns vs echo on {kind}")
            with server(url) as bot:
                totals = await alternate(
                    {
                        "echo": (echo.url, echo_conversation),
                        "request": (bot.url, request_conversation),
                    },
                    connector,
                    options,
                )
            e, r = totals["echo"], totals["request"]
            results[f"turn_vs_echo_{kind}"] = ratio(r.throughput, e.throughput)
            p50 = ratio(percentile(r.latencies, 50), percentile(e.latencies, 50))
            p99 = ratio(percentile(r.latencies, 99), percentile(e.latencies, 99))
            details[kind] = {
                "echo_turns_per_s": round(e.throughput, 1),
                "request_turns_per_s": round(r.throughput, 1),
                "request_flows": r.flows,
                "errors": e.errors + r.errors,
                "echo_p50_ms": round(percentile(e.latencies, 50) * 1000, 2),
                "echo_p99_ms": round(percentile(e.latencies, 99) * 1000, 2),
                "request_p50_ms": round(percentile(r.latencies, 50) * 1000, 2),
                "request_p99_ms": round(percentile(r.latencies, 99) * 1000, 2),
                "p50_vs_echo": p50,
                "p99_vs_echo": p99,
            }
            d = details[kind]
            rows.append(
                (
                    f"turn_vs_echo_{kind}",
                    _fmt(results[f"turn_vs_echo_{kind}"]),
                    ">= 0.6",
                    f"{d['request_turns_per_s']} / {d['echo_turns_per_s']} turns/s, "
                    f"{d['request_flows']} requests, {d['errors']} errors",
                )
            )
            rows.append(
                (
                    f"p50_vs_echo ({kind})",
                    _fmt(p50),
                    "",
                    f"{d['request_p50_ms']} / {d['echo_p50_ms']} ms",
                )
            )
            rows.append(
                (
                    f"p99_vs_echo ({kind})",
                    _fmt(p99),
                    "<= 3",
                    f"{d['request_p99_ms']} / {d['echo_p99_ms']} ms",
                )
            )
            if kind == "postgres":
                results["p99_vs_echo"] = p99

        # -- two processes vs one, PostgreSQL
        log("two processes vs one on postgres")
        with server(pg_url, workers=1) as one, server(pg_url, workers=2) as two:
            totals = await alternate(
                {
                    "1 process": (one.url, request_conversation),
                    "2 processes": (two.url, request_conversation),
                },
                connector,
                options,
            )
        t1, t2 = totals["1 process"], totals["2 processes"]
        results["two_vs_one_process"] = ratio(t2.throughput, t1.throughput)
        rows.append(
            (
                "two_vs_one_process",
                _fmt(results["two_vs_one_process"]),
                ">= 1.7",
                f"{t2.throughput:.0f} / {t1.throughput:.0f} turns/s (postgres, "
                f"{os.cpu_count()} cores incl. load generator)",
            )
        )

        # -- memory per open dialog
        log(f"resident memory for {options.dialogs} open dialogs")
        rss = await measure_rss(pg_url, connector, options)
        results["rss_mb_per_1000_dialogs"] = round(rss, 2)
        rows.append(
            ("rss_mb_per_1000_dialogs", _fmt(rss), "", "worker RSS growth, dialog state in SQL")
        )

        # -- notifier against the limits
        log("notifier against a connector enforcing the Teams limits")
        notify_url = await stack.enter_async_context(postgres_database(options.postgres_server))
        notifier = await measure_notifier(notify_url, options)
        results.update(
            notifier_vs_limit=notifier["ratio"],
            notifier_lost=notifier["lost"],
            notifier_duplicates=notifier["duplicates"],
        )
        rows.append(
            (
                "notifier_vs_limit",
                _fmt(notifier["ratio"]),
                ">= 0.9",
                str(notifier["detail"]),
            )
        )
        rows.append(("notifier_lost", str(notifier["lost"]), "0", ""))
        rows.append(("notifier_duplicates", str(notifier["duplicates"]), "0", ""))

        # -- submit on a big database vs a small one
        log(
            f"seeding {options.big_grants} grants / {options.big_audit} audit rows "
            f"and {options.small_grants} / {options.small_audit}"
        )
        small_url = await stack.enter_async_context(postgres_database(options.postgres_server))
        big_url = await stack.enter_async_context(postgres_database(options.postgres_server))
        small_seed = await seed(small_url, grants=options.small_grants, audit=options.small_audit)
        big_seed = await seed(big_url, grants=options.big_grants, audit=options.big_audit)
        medians = await measure_submits(small_url, big_url, options)
        results["submit_100k_vs_1k"] = ratio(medians["big"], medians["small"])
        rows.append(
            (
                "submit_100k_vs_1k",
                _fmt(results["submit_100k_vs_1k"]),
                "<= 1.5",
                f"median {medians['big'] * 1000:.2f} / {medians['small'] * 1000:.2f} ms "
                f"(postgres; seeded in {big_seed['seconds']:.0f} s / "
                f"{small_seed['seconds']:.1f} s)",
            )
        )

    ordered = {key: results.get(key) for key in KEYS}
    table = format_table(rows)
    details["machine"] = machine()
    return ordered | {"_details": details}, table


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny, seconds")
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="PostgreSQL server URL; the benchmark creates and drops its databases there",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from bot import patches

    patches.apply()  # as the bot's entry points do; the servers are separate processes
    options = (
        Options.quick(args.postgres_server)
        if args.quick
        else Options(postgres_server=args.postgres_server)
    )
    results, table = asyncio.run(run_bench(options))
    details = results.pop("_details")
    print(table)
    print(f"machine: {details['machine']}")
    write_results(args.output, results, details)
    print(f"wrote {args.output}")
    return 0


def write_results(path: Path, results: dict[str, Any], details: dict[str, Any]) -> None:
    """``results.json`` with exactly :data:`KEYS` (``null`` for a figure not measured)
    and ``results.details.json`` beside it with the absolute numbers and the machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {key: results.get(key) for key in KEYS}
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    path.with_name(path.stem + ".details.json").write_text(
        json.dumps(details, indent=2, default=str) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    sys.exit(main())
