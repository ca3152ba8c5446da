"""``atmt-bot serve --workers N``: several bot processes on one port, one database.

Production scale-out on one machine. The parent process

1. validates the configuration and the directory, migrates the database once;
2. reserves the port: it binds (but never listens on) a socket with
   ``SO_REUSEPORT``, so ``PORT=0`` picks one free port that every worker shares;
3. starts N worker processes (``multiprocessing`` *spawn*: a fresh interpreter,
   no inherited event loop, engine or threads). Each worker builds its own app
   (:func:`bot.app.create_app`), its own connection pool, and listens on the same
   host and port with ``SO_REUSEPORT`` (``web.TCPSite(..., reuse_port=True)``):
   the Linux kernel spreads incoming connections over the listening workers;
4. prints one banner when every worker is ready, and on SIGINT/SIGTERM stops the
   workers (SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`). A worker that
   dies makes the parent stop the others and exit 1, so a supervisor (systemd,
   Kubernetes) restarts the whole unit instead of running short-handed silently.

The workers share nothing but PostgreSQL: dialog state is in ``bot_state`` (etag
per row), request state changes are compare-and-set transactions, the outbox
dispatcher and the scheduler claim rows with ``FOR UPDATE SKIP LOCKED``. The
per-user rate limit (``ATMT_USER_RATE_PER_MINUTE``) is per process, so with N
workers a user may get up to N times the limit. SQLite has a single writer: the
workers serialize on its write lock, so several workers only pay off on PostgreSQL.

``SO_REUSEPORT`` needs Linux (3.9+) or a BSD; elsewhere run one process per port
behind a load balancer (``atmt-bot run`` with different ``PORT`` values).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from typing import Any

from aiohttp import web

from bot.config import Settings
from bot.startup import (
    EXIT_CONFIG,
    EXIT_FAILED,
    banner,
    listening_settings_or_exit,
    migrate_or_report,
    print_directory_problems,
)

__all__ = [
    "DEFAULT_APP_FACTORY",
    "STOP_GRACE_SECONDS",
    "reserve_port",
    "run_workers",
]

DEFAULT_APP_FACTORY = "bot.app:create_app"
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0

AppFactory = Callable[..., web.Application]


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening socket with ``SO_REUSEPORT`` on ``host:port``.

    With ``port=0`` the kernel picks a free port; the workers then bind the same
    one. The socket never accepts connections; keep it open while the workers run.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("SO_REUSEPORT is not available on this platform")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _load_factory(path: str) -> AppFactory:
    module_name, _, attribute = path.partition(":")
    factory: AppFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def _worker_main(
    factory_path: str,
    settings_values: dict[str, Any],
    host: str,
    port: int,
    ready: multiprocessing.connection.Connection,
) -> None:
    """One worker process: its own app, pool and event loop on the shared port."""
    import asyncio

    from bot import patches
    from bot.logging_setup import configure_logging

    patches.apply()  # a spawned interpreter: the parent's patches are not here
    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    configure_logging(settings.log_level)
    factory = _load_factory(factory_path)

    async def serve() -> None:
        app = factory(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_port=True)
            await site.start()
            ready.send(os.getpid())
            ready.close()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def run_workers(
    settings: Settings,
    workers: int,
    *,
    app_factory: str = DEFAULT_APP_FACTORY,
    on_ready: Callable[[str, int, list[int]], None] | None = None,
) -> int:
    """Run ``workers`` processes on ``settings.host:settings.port`` until a signal.

    ``app_factory`` is ``"module:function"`` taking the settings (spawned workers
    import it). ``on_ready(host, port, pids)`` runs once every worker listens.
    Returns the exit code: 0 after a signal, 1 when a worker failed.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    placeholder = reserve_port(settings.host, settings.port)
    host, port = placeholder.getsockname()[:2]
    values = settings.model_dump()
    context = multiprocessing.get_context("spawn")
    processes: list[SpawnProcess] = []
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        pipes: list[multiprocessing.connection.Connection] = []
        for _ in range(workers):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(app_factory, values, host, port, send),
                daemon=True,
            )
            process.start()
            send.close()
            processes.append(process)
            pipes.append(receive)
        pids: list[int] = []
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for receive, process in zip(pipes, processes, strict=True):
            while not stopping and not receive.poll(0.1):
                if not process.is_alive() or time.monotonic() > deadline:
                    print(f"worker {process.pid} did not start", file=sys.stderr, flush=True)
                    return 1
            if stopping:
                return 0
            pids.append(int(receive.recv()))
            receive.close()
        if on_ready is not None:
            on_ready(str(host), int(port), pids)
        while not stopping:
            if any(not p.is_alive() for p in processes):
                print("a worker stopped unexpectedly; stopping", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        _stop(processes)
        placeholder.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(processes: list[SpawnProcess]) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


# ------------------------------------------------------------------ command line


def cmd_serve(args: Any) -> int:
    """``atmt-bot serve --workers N [--host H] [--port P]``."""
    settings = listening_settings_or_exit(args.host, args.port, sys.stderr)
    if isinstance(settings, int):
        return settings
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    from access.directory import DirectoryError, load_directory_file

    try:
        directory = load_directory_file(settings.directory_path)
    except DirectoryError as error:
        print(
            f"configuration error: ATMT_DIRECTORY: {settings.directory_path} is invalid:",
            file=sys.stderr,
        )
        print_directory_problems(error, str(settings.directory_path), sys.stderr)
        return EXIT_CONFIG
    revision = migrate_or_report(settings, sys.stderr)
    if revision is None:
        return EXIT_FAILED

    def ready(host: str, port: int, pids: list[int]) -> None:
        text = banner(settings, directory, revision, host, port)
        workers = ", ".join(str(pid) for pid in pids)
        print(f"{text}\n  workers    {len(pids)} processes ({workers})", flush=True)

    try:
        return run_workers(settings, args.workers, on_ready=ready)
    except OSError as error:
        print(
            f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_FAILED


def register(sub: Any) -> None:
    """Adds ``serve`` to ``atmt-bot`` (listed in :data:`bot.cli.SUBCOMMANDS`)."""
    serve = sub.add_parser(
        "serve", help="migrate the database, start N bot processes sharing one port"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs)",
    )
    serve.add_argument("--host", help="listen address (default: HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: PORT)")
    serve.set_defaults(func=cmd_serve)
