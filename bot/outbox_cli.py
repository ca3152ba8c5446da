"""``atmt-bot outbox``: the authority admin's view of notifications that failed for good.

    atmt-bot outbox dead            list the dead letters (oldest first)
    atmt-bot outbox retry ID...     put dead letters back in the queue
    atmt-bot outbox retry --all     every dead letter

A running bot's dispatcher picks a re-queued row up within ``ATMT_NOTIFIER_INTERVAL``.
Exit codes as in :mod:`bot.cli`: 0 fine, 1 failed (unknown id, database), 2 config.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TextIO

from access.ports import NotificationQueue, OutboxItem
from bot.config import ConfigError, Settings, load_settings

__all__ = ["register"]


def _settings(err: TextIO) -> Settings | int:
    try:
        return load_settings()
    except ConfigError as error:
        for line in error.lines():
            print(line, file=err)
        return 2


def _line(item: OutboxItem) -> str:
    created = item.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    error = (item.last_error or "").replace("\n", " ")
    return (
        f"{item.id}  {created}  {item.catalog_key:<32} {item.recipient:<40} "
        f"attempts={item.attempts}  {error}"
    )


@asynccontextmanager
async def _queue(settings: Settings) -> AsyncIterator[NotificationQueue]:
    """The outbox queue on the configured database (the engine is disposed after)."""
    from storage.db import create_engine
    from storage.outbox_queue import OutboxQueue

    engine = create_engine(settings.database_url)
    try:
        yield OutboxQueue(engine)
    finally:
        await engine.dispose()


async def _dead(settings: Settings, out: TextIO) -> int:
    async with _queue(settings) as queue:
        items = await queue.dead()
    for item in items:
        print(_line(item), file=out)
    print(f"{len(items)} dead letter{'s' if len(items) != 1 else ''}", file=out)
    return 0


async def _retry(settings: Settings, ids: list[str], every: bool, out: TextIO) -> int:
    failed = 0
    async with _queue(settings) as queue:
        if every:
            ids = [item.id for item in await queue.dead(limit=100_000)]
        now = datetime.now(UTC)
        for item_id in ids:
            if await queue.retry(item_id, now):
                print(f"{item_id}: queued again", file=out)
            else:
                print(f"{item_id}: not a dead letter", file=out)
                failed += 1
    return 1 if failed else 0


def cmd_dead(_args: argparse.Namespace) -> int:
    settings = _settings(sys.stderr)
    if isinstance(settings, int):
        return settings
    try:
        return asyncio.run(_dead(settings, sys.stdout))
    except Exception as error:
        print(f"database error: {type(error).__name__}", file=sys.stderr)
        return 1


def cmd_retry(args: argparse.Namespace) -> int:
    settings = _settings(sys.stderr)
    if isinstance(settings, int):
        return settings
    if not args.ids and not args.all:
        print("give one or more ids, or --all", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_retry(settings, list(args.ids), bool(args.all), sys.stdout))
    except Exception as error:
        print(f"database error: {type(error).__name__}", file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = sub.add_parser("outbox", help="notifications that could not be delivered")
    actions = outbox.add_subparsers(dest="outbox_command", required=True)
    dead = actions.add_parser("dead", help="list the dead letters")
    dead.set_defaults(func=cmd_dead)
    retry = actions.add_parser("retry", help="put dead letters back in the queue")
    retry.add_argument("ids", nargs="*", metavar="ID", help="outbox row ids")
    retry.add_argument("--all", action="store_true", help="every dead letter")
    retry.set_defaults(func=cmd_retry)
