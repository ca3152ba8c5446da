"""Start the bot (or the echo baseline) as ``--workers`` processes for the harness.

    python -m bench.server --database-url URL [--echo] [--workers N]

Migrates the database, starts the workers with :func:`bot.serve.run_workers`
(``SO_REUSEPORT``, port picked by the kernel) and prints one line
``READY <host> <port> <pid> [<pid> ...]`` when every worker listens. Per-user rate
limiting is off (the harness is one tenant sending as fast as it can); the
directory is ``examples/directory.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from bot.serve import run_workers
from storage.db import create_engine
from storage.migrations_runner import upgrade_to_head

ROOT = Path(__file__).resolve().parents[1]
DIRECTORY = ROOT / "examples" / "directory.yaml"


def bench_settings(database_url: str, *, port: int = 0) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        directory_path=DIRECTORY,
        app_id="",
        app_password="",
        app_tenant_id="",
        host="127.0.0.1",
        port=port,
        user_rate_per_minute=0,
        log_level="ERROR",
        default_locale="fi",
    )


async def migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--echo", action="store_true", help="the bare echo bot instead")
    args = parser.parse_args(argv)
    asyncio.run(migrate(args.database_url))
    factory = "bench.echo:create_echo_app" if args.echo else "bot.app:create_app"

    def ready(host: str, port: int, pids: list[int]) -> None:
        print("READY", host, port, *pids, flush=True)

    return run_workers(
        bench_settings(args.database_url), args.workers, app_factory=factory, on_ready=ready
    )


if __name__ == "__main__":
    sys.exit(main())
