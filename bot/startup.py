"""What every command that starts or prepares the bot shares: the exit codes, reading
the settings, checking the directory file, migrating the database and the start-up
banner (``atmt-bot run`` in :mod:`bot.cli`, ``atmt-bot serve`` in :mod:`bot.serve`)."""

from __future__ import annotations

import asyncio
from typing import TextIO

from access.directory import Directory, DirectoryError
from bot.config import ConfigError, Settings, load_settings

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "PLAYGROUND_PACKAGE",
    "banner",
    "listen_problems_or_exit",
    "listening_settings_or_exit",
    "migrate",
    "migrate_or_report",
    "print_directory_problems",
    "redacted",
    "settings_or_exit",
    "summary",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

PLAYGROUND_PACKAGE = "@microsoft/m365agentsplayground"


def settings_or_exit(err: TextIO) -> Settings | int:
    try:
        return load_settings()
    except ConfigError as error:
        for line in error.lines():
            print(line, file=err)
        return EXIT_CONFIG


def listen_problems_or_exit(settings: Settings, err: TextIO) -> int | None:
    """EXIT_CONFIG (and one line per problem) when the bot must not listen like this:
    anonymous on a non-loopback address, download links without https."""
    problems = settings.listen_problems()
    if not problems:
        return None
    for line in ConfigError(problems).lines():
        print(line, file=err)
    return EXIT_CONFIG


def listening_settings_or_exit(host: str | None, port: int | None, err: TextIO) -> Settings | int:
    """The settings of a command that listens (``run``, ``serve``), with its ``--host``
    and ``--port`` over them; EXIT_CONFIG when they are invalid or must not listen."""
    settings = settings_or_exit(err)
    if isinstance(settings, int):
        return settings
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    refused = listen_problems_or_exit(settings, err)
    return refused if refused is not None else settings


def print_directory_problems(error: DirectoryError, source: str, err: TextIO) -> None:
    for problem in error.problems:
        print(f"{source}: {problem.path}: {problem.message}", file=err)
    count = len(error.problems)
    print(f"{source}: {count} problem{'s' if count != 1 else ''}", file=err)


def summary(directory: Directory) -> str:
    municipalities = directory.municipalities()
    contracted = sum(1 for m in municipalities if m.contracted)
    return (
        f"{len(directory.areas)} areas, {len(municipalities)} municipalities "
        f"({contracted} contracted), {len(directory.service_areas)} service areas, "
        f"{len(directory.access_levels)} access levels"
    )


def redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


async def migrate(settings: Settings) -> str:
    from storage.db import create_engine
    from storage.migrations_runner import current_revision, upgrade_to_head

    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        return await current_revision(engine) or "?"
    finally:
        await engine.dispose()


def migrate_or_report(settings: Settings, err: TextIO) -> str | None:
    try:
        return asyncio.run(migrate(settings))
    except Exception as error:  # unreachable server, bad credentials, locked file ...
        print(
            f"database error: cannot migrate {redacted(settings.database_url)} "
            f"({type(error).__name__}: {error})",
            file=err,
        )
        return None


def banner(settings: Settings, directory: Directory, revision: str, host: str, port: int) -> str:
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}"
    endpoint = f"{base}/api/messages"
    lines = [
        "A-TMT access-request bot is running.",
        f"  endpoint   {endpoint}",
        f"  health     {base}/healthz   {base}/readyz",
        f"  database   {redacted(settings.database_url)} (revision {revision})",
        f"  directory  {settings.directory_path} ({summary(directory)})",
    ]
    if settings.anonymous:
        lines += [
            "  mode       local anonymous: no MicrosoftAppId, so tokens are neither checked",
            "             nor sent. Only loopback serviceUrls (a local Playground) are",
            "             answered.",
            "",
            "Talk to it without Teams: `make run` also starts Microsoft 365 Agents",
            f"Playground ({PLAYGROUND_PACKAGE}) for each example user when Node.js is",
            'present; type "apua", "hjälp" or "help" in the chat.',
        ]
    else:
        lines += [
            f"  mode       Bot Framework auth, app {settings.app_id} ({settings.app_type})",
            "             point the Azure Bot's messaging endpoint at the endpoint above",
            "             (through HTTPS).",
        ]
    lines.append("Stop with Ctrl+C.")
    return "\n".join(lines)
