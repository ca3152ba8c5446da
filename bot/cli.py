"""``atmt-bot``: the command line of the access-request bot.

    atmt-bot run                     migrate the database, start the bot
    atmt-bot migrate                 migrate the database to the head revision
    atmt-bot directory check FILE    validate a directory file, list every problem

Exit codes: 0 fine, 1 the command failed (problems found, database unreachable),
2 invalid configuration or usage. Later commands (keha, audit, manifest) add
themselves to :data:`SUBCOMMANDS`: a function that registers a subparser and sets
``func`` (``args -> int``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from access.directory import (
    Directory,
    DirectoryError,
    directory_warnings,
    load_directory_file,
)
from bot.cli_authority import add_directory_actions as _add_directory_actions
from bot.cli_authority import register as _add_authority
from bot.config import Settings
from bot.manifest_build import register as _add_manifest
from bot.outbox_cli import register as _add_outbox
from bot.serve import register as _add_serve
from bot.startup import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    banner,
    listening_settings_or_exit,
    migrate_or_report,
    print_directory_problems,
    redacted,
    settings_or_exit,
    summary,
)

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# ----------------------------------------------------------------- commands


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = settings_or_exit(sys.stderr)
    if isinstance(settings, int):
        return settings
    revision = migrate_or_report(settings, sys.stderr)
    if revision is None:
        return EXIT_FAILED
    print(f"database {redacted(settings.database_url)} is at revision {revision}")
    return EXIT_OK


def cmd_directory_check(args: argparse.Namespace) -> int:
    source = str(args.file)
    try:
        directory = load_directory_file(args.file)
    except DirectoryError as error:
        print_directory_problems(error, source, sys.stdout)
        return EXIT_FAILED
    print(f"{source}: OK – {summary(directory)}")
    for warning in directory_warnings(directory):
        print(f"{source}: warning: {warning}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    settings = listening_settings_or_exit(args.host, args.port, sys.stderr)
    if isinstance(settings, int):
        return settings

    from bot.logging_setup import configure_logging

    configure_logging(settings.log_level)
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
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, directory, revision))
    except _ListenError as error:
        print(f"cannot listen on {settings.host}:{settings.port}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


class _ListenError(Exception):
    """The server socket could not be opened (port in use, bad address)."""


async def _serve(settings: Settings, directory: Directory, revision: str) -> None:
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings, directory=directory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as error:
            raise _ListenError(error.strerror or str(error)) from None
        host, port = runner.addresses[0][:2]
        print(banner(settings, directory, revision, str(host), int(port)), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not everywhere
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("stopping", flush=True)
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------- parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="migrate the database and start the bot")
    run.add_argument("--host", help="listen address (default: HOST)")
    run.add_argument("--port", type=int, help="listen port (default: PORT)")
    run.set_defaults(func=cmd_run)


def _add_migrate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = sub.add_parser("migrate", help="migrate the database to the head revision")
    migrate.set_defaults(func=cmd_migrate)


def _add_directory(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = sub.add_parser("directory", help="work with directory files")
    actions = directory.add_subparsers(dest="directory_command", required=True)
    check = actions.add_parser("check", help="validate a directory file")
    check.add_argument("file", type=Path, help="the YAML file to check")
    check.set_defaults(func=cmd_directory_check)
    _add_directory_actions(actions)  # import, agreement-end


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_run,
    _add_migrate,
    _add_directory,
    _add_authority,
    _add_manifest,
    _add_outbox,
    _add_serve,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atmt-bot", description="Teams bot for A-TMT access requests."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from bot import patches

    patches.apply()  # checks the framework versions first
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
