"""The authority's commands of ``atmt-bot``.

    atmt-bot keha list --as ADMIN                      approved, not yet sent; batches
    atmt-bot keha batch --as ADMIN --area AREA         create a batch (freezes its rows)
    atmt-bot keha file BATCH --as ADMIN --format xlsx --out FILE [--lang fi]
    atmt-bot keha sent BATCH --as ADMIN                mark the batch handed to KEHA
    atmt-bot keha confirm BATCH --as ADMIN [--row ROW ...] [--note TEXT]
    atmt-bot report --area AREA --from 2026-01 --to 2026-12 --format csv --out FILE
    atmt-bot audit export --format jsonl|csv [--since DATE] [--until DATE] [--area AREA]
    atmt-bot audit verify [--checkpoint FILE|TEXT ...] exit 1 and the first broken row
    atmt-bot audit checkpoint                          print, record and send a checkpoint
    atmt-bot directory import FILE [--dry-run]         show the difference, apply it
    atmt-bot directory agreement-end MUNICIPALITY DATE|none
    atmt-bot retention run                             pseudonymise what is due

KEHA commands act as the admin named by ``--as`` (the service checks that the admin
belongs to the batch's area, exactly as in chat). Exit codes: 0 fine, 1 failed or
refused, 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import yaml

from access.audit import CHECKPOINT_PREFIX, Checkpoint, parse_checkpoints
from access.authority import AuthorityService
from access.directory import DirectoryError, directory_warnings, load_directory_file
from access.errors import AccessDenied, AccessError
from access.keha import table_csv
from access.locales import DEFAULT_LOCALE, LOCALES
from access.model import SYSTEM_ACTOR
from access.reports import month_end
from bot.config import ConfigError, Settings, load_settings
from bot.startup import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from dialogs.i18n import Translator

__all__ = ["add_directory_actions", "register"]

T = TypeVar("T")


def _settings() -> Settings | int:
    try:
        return load_settings()
    except ConfigError as error:
        for line in error.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG


async def _with_services(settings: Settings, work: Callable[[AuthorityService], Awaitable[T]]) -> T:
    from bot.composition import compose
    from storage.db import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        services = await compose(settings, create_session_factory(engine))
        return await work(services.authority)
    finally:
        await engine.dispose()


def _run(work: Callable[[AuthorityService], Awaitable[int]]) -> int:
    settings = _settings()
    if isinstance(settings, int):
        return settings
    try:
        return asyncio.run(_with_services(settings, work))
    except DirectoryError as error:
        for problem in error.problems:
            print(f"directory: {problem}", file=sys.stderr)
        return EXIT_FAILED
    except AccessDenied as error:
        print(f"refused: {error.reason}", file=sys.stderr)
        return EXIT_FAILED
    except AccessError as error:
        print(f"failed: {error.code}: {error}", file=sys.stderr)
        return EXIT_FAILED


def _write(out: Path | None, data: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        print(f"wrote {out} ({len(data)} bytes)", file=sys.stderr)


def _key(args: argparse.Namespace) -> str:
    return str(getattr(args, "key", None) or f"cli:{uuid.uuid4().hex}")


# ------------------------------------------------------------------------ KEHA


def cmd_keha_list(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        areas = [args.area] if args.area else a.admin_areas(args.actor)
        if not areas:
            print("refused: not an authority admin", file=sys.stderr)
            return EXIT_FAILED
        for area in areas:
            pending = await a.pending_handoff(args.actor, area)
            print(f"{area}: {len(pending)} approved, not sent")
            for r in pending:
                mark = "URGENT " if r.urgent else ""
                print(f"  {mark}{r.number} {r.kind.value} {r.municipality} {r.id}")
            for b in await a.batches(args.actor, area):
                print(
                    f"  batch {b.id} {b.created_at:%Y-%m-%d %H:%M} rows={b.rows} "
                    f"urgent={b.urgent} confirmed={b.confirmed} state={b.state}"
                )
        return EXIT_OK

    return _run(work)


def cmd_keha_batch(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        batch = await a.create_batch(args.actor, args.area, idempotency_key=_key(args))
        print(f"batch {batch.id}: {len(batch.rows)} rows")
        return EXIT_OK

    return _run(work)


def cmd_keha_file(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        from dialogs.authority import keha_labels

        labels = keha_labels(Translator.load().get(args.lang))
        _write(args.out, await a.batch_file(args.actor, args.batch, args.format, labels))
        return EXIT_OK

    return _run(work)


def cmd_keha_sent(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        batch = await a.mark_sent(args.actor, args.batch, idempotency_key=_key(args))
        print(f"batch {batch.id}: sent, {len(batch.rows)} rows")
        return EXIT_OK

    return _run(work)


def cmd_keha_confirm(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        key = _key(args)
        if args.row:
            batch = await a.batch(args.actor, args.batch)
            known = {r.id for r in batch.rows}
            unknown = [r for r in args.row if r not in known]
            if unknown:
                print(f"not rows of the batch: {', '.join(unknown)}", file=sys.stderr)
                return EXIT_FAILED
            for row in args.row:
                await a.confirm_row(args.actor, row, idempotency_key=f"{key}:{row}", note=args.note)
            print(f"confirmed {len(args.row)} rows")
        else:
            done = await a.confirm_batch(
                args.actor, args.batch, idempotency_key=key, note=args.note
            )
            print(f"confirmed {len(done)} rows")
        return EXIT_OK

    return _run(work)


# --------------------------------------------------------------------- reports


def _month(text: str) -> date:
    return date.fromisoformat(text + "-01" if len(text) == 7 else text)


def cmd_report(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        from dialogs.authority import report_labels

        first = _month(args.first)
        last = (month_end(_month(args.last).strftime("%Y-%m")).date()).replace(day=1)
        last = date.fromordinal(last.toordinal() - 1)
        report = await a.report(None, args.area, first, last)
        labels = report_labels(Translator.load().get(args.lang))
        _write(args.out, report.csv(labels) if args.format == "csv" else report.xlsx(labels))
        return EXIT_OK

    return _run(work)


# ----------------------------------------------------------------------- audit


def _day(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)


def cmd_audit_export(args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        records = await a.audit_records(
            since=_day(args.since), until=_day(args.until), area=args.area
        )
        if args.format == "jsonl":
            data = "".join(
                json.dumps(r.as_json(), ensure_ascii=False, sort_keys=True) + "\n" for r in records
            ).encode("utf-8")
        else:
            columns = ["seq", "at", "actor", "actor_email", "action", "request_id", "area",
                       "details", "prev_hash", "hash"]  # fmt: skip
            rows = [
                [
                    json.dumps(row[c], ensure_ascii=False, sort_keys=True)
                    if c == "details"
                    else ("" if row[c] is None else str(row[c]))
                    for c in columns
                ]
                for row in (record.as_json() for record in records)
            ]
            data = table_csv(columns, rows)  # the KEHA file's format and cell escaping
        _write(args.out, data)
        print(f"{len(records)} audit rows", file=sys.stderr)
        return EXIT_OK

    return _run(work)


def _checkpoints(sources: list[str]) -> list[Checkpoint] | str:
    """The checkpoints of each ``--checkpoint``: a checkpoint's text, ``-`` (standard
    input) or a file holding one or more (a saved message, a log export)."""
    found: list[Checkpoint] = []
    for source in sources:
        if source.strip().startswith(CHECKPOINT_PREFIX):
            text = source
        elif source == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(source).read_text(encoding="utf-8", errors="replace")
            except OSError as error:
                return f"cannot read checkpoint file {source}: {error.strerror}"
        parsed = parse_checkpoints(text)
        if not parsed:
            return f"no checkpoint (atmt-checkpoint:v1:...) in {source[:80]!r}"
        found.extend(parsed)
    return found


def cmd_audit_verify(args: argparse.Namespace) -> int:
    checkpoints = _checkpoints(list(getattr(args, "checkpoint", None) or []))
    if isinstance(checkpoints, str):
        print(checkpoints, file=sys.stderr)
        return EXIT_CONFIG

    async def work(a: AuthorityService) -> int:
        result = await a.verify_audit(checkpoints)
        if result.ok:
            print(f"audit chain OK: {result.checked} rows (audit key {result.key_id})")
            for note in result.notes:
                print(f"  {note}")
            return EXIT_OK
        where = f" at row {result.first_bad_position}" if result.first_bad_position else ""
        print(f"audit chain BROKEN{where}: {result.reason}")
        print("  see docs/operations.md, 'A failed audit verify'")
        return EXIT_FAILED

    return _run(work)


def cmd_audit_checkpoint(_args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        checkpoint = await a.audit_checkpoint()
        if checkpoint is None:
            print("the audit trail is empty: nothing to anchor yet", file=sys.stderr)
            return EXIT_FAILED
        print(checkpoint.text)
        print(
            f"row {checkpoint.seq} at {checkpoint.when}; recorded in the trail and queued "
            "to the authority admins. Keep it outside the database.",
            file=sys.stderr,
        )
        return EXIT_OK

    return _run(work)


# ------------------------------------------------------------------- directory


def cmd_directory_import(args: argparse.Namespace) -> int:
    try:
        new = load_directory_file(args.file)
        content: Any = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
    except DirectoryError as error:
        for problem in error.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return EXIT_FAILED

    async def work(a: AuthorityService) -> int:
        from access.authority import directory_diff

        changes = directory_diff(a.directory, new)
        for change in changes:
            print(change)
        for warning in directory_warnings(new):
            print(f"{args.file}: warning: {warning}")
        if args.dry_run:
            print(f"{len(changes)} changes (dry run, nothing stored)")
            return EXIT_OK
        version, changes = await a.import_directory(SYSTEM_ACTOR, content, source=str(args.file))
        if version is None:
            print("no changes: nothing stored")
        else:
            print(f"{len(changes)} changes: directory version {version.version} is now in use")
        return EXIT_OK

    return _run(work)


def cmd_directory_agreement_end(args: argparse.Namespace) -> int:
    ends = None if args.date == "none" else date.fromisoformat(args.date)

    async def work(a: AuthorityService) -> int:
        version, changes = await a.set_agreement_end(SYSTEM_ACTOR, args.municipality, ends)
        for change in changes:
            print(change)
        print("no changes" if version is None else f"directory version {version.version}")
        return EXIT_OK

    return _run(work)


# ------------------------------------------------------------------- retention


def cmd_retention_run(_args: argparse.Namespace) -> int:
    async def work(a: AuthorityService) -> int:
        result = await a.run_retention()
        print(
            f"retention: {result.grants} grants and {result.requests} requests pseudonymised, "
            f"{result.people_forgotten} people forgotten"
        )
        return EXIT_OK

    return _run(work)


# ---------------------------------------------------------------------- parser


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", required=True, help="the admin's work e-mail")
    parser.add_argument("--key", help="idempotency key (a retry with it changes nothing)")


def add_directory_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``directory import`` and ``directory agreement-end`` (called by ``bot.cli``)."""
    imp = actions.add_parser("import", help="show the difference and apply a directory file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="only show the difference")
    imp.set_defaults(func=cmd_directory_import)
    end = actions.add_parser("agreement-end", help="give a municipality's agreement an end date")
    end.add_argument("municipality")
    end.add_argument("date", help="YYYY-MM-DD, or none to remove the end date")
    end.set_defaults(func=cmd_directory_agreement_end)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keha = sub.add_parser("keha", help="hand approved changes to KEHA")
    actions = keha.add_subparsers(dest="keha_command", required=True)
    p = actions.add_parser("list", help="approved changes not yet sent, and batches")
    _actor(p)
    p.add_argument("--area")
    p.set_defaults(func=cmd_keha_list)
    p = actions.add_parser("batch", help="create a batch of the area's approved changes")
    _actor(p)
    p.add_argument("--area", required=True)
    p.set_defaults(func=cmd_keha_batch)
    p = actions.add_parser("file", help="write the batch's hand-off file")
    _actor(p)
    p.add_argument("batch")
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    p.add_argument("--lang", choices=LOCALES, default=DEFAULT_LOCALE)
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_keha_file)
    p = actions.add_parser("sent", help="mark the batch handed to KEHA")
    _actor(p)
    p.add_argument("batch")
    p.set_defaults(func=cmd_keha_sent)
    p = actions.add_parser("confirm", help="record KEHA's confirmation (rows or whole batch)")
    _actor(p)
    p.add_argument("batch")
    p.add_argument("--row", action="append", default=[], help="a row id (repeatable)")
    p.add_argument("--note", default="", help="what KEHA did differently")
    p.set_defaults(func=cmd_keha_confirm)

    report = sub.add_parser("report", help="aggregate report of an area (counts only)")
    report.add_argument("--area", required=True)
    report.add_argument("--from", dest="first", required=True, help="YYYY-MM")
    report.add_argument("--to", dest="last", required=True, help="YYYY-MM")
    report.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    report.add_argument("--lang", choices=LOCALES, default=DEFAULT_LOCALE)
    report.add_argument("--out", type=Path)
    report.set_defaults(func=cmd_report)

    audit = sub.add_parser("audit", help="export, verify or checkpoint the audit chain")
    audit_actions = audit.add_subparsers(dest="audit_command", required=True)
    p = audit_actions.add_parser("export", help="rows of a period and area")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--since", help="YYYY-MM-DD (inclusive)")
    p.add_argument("--until", help="YYYY-MM-DD (exclusive)")
    p.add_argument("--area")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_audit_export)
    p = audit_actions.add_parser("verify", help="check the keyed chain and people mapping")
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="FILE|TEXT",
        help="a checkpoint (its text, a file with one or more, or - for stdin) the trail "
        "must still contain unchanged; repeatable",
    )
    p.set_defaults(func=cmd_audit_verify)
    p = audit_actions.add_parser(
        "checkpoint", help="sign the chain head now, record it and send it to the admins"
    )
    p.set_defaults(func=cmd_audit_checkpoint)

    retention = sub.add_parser("retention", help="pseudonymise personal data that is due")
    retention_actions = retention.add_subparsers(dest="retention_command", required=True)
    p = retention_actions.add_parser("run", help="run retention now")
    p.set_defaults(func=cmd_retention_run)
