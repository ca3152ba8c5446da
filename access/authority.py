"""The employment authority's tools: KEHA hand-off, directory, reports, audit, retention
and the self-access export (GDPR art. 15).

:class:`AuthorityService` sits beside :class:`access.service.AccessService` and uses the
same unit of work, extended (:class:`AuthorityUnitOfWork`) by the imported directory
versions and the retention writer that only this service needs, on a command runner
of its own (same clock, ids and directory). Lifecycle commands (batch, sent, confirm)
go through ``AccessService.handoff``, so their rules, audit rows and notifications stay
in one place; this service adds the queries and files around them and authorises
every one of them (:mod:`access.authz`): an authority admin acts only in their own area.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from access import authz
from access.addresses import normalize_email
from access.agreements import Dissolution
from access.audit import (
    PERSON_PREFIX,
    BoundPeople,
    Checkpoint,
    KeyedAuditLog,
    VerifyResult,
    verify_chain,
    verify_trail,
)
from access.automation import ReminderLog, agreement_notice_key, months_after
from access.checkpoints import issue_checkpoint, log_checkpoint
from access.directory import Directory, Municipality, parse_directory
from access.errors import NotFound, PolicyViolations
from access.keha import handoff_csv, handoff_xlsx, local_time
from access.model import (
    SYSTEM_ACTOR,
    AccessRequest,
    AuditDraft,
    AuditEntry,
    Decision,
    IdempotencyRecord,
    JsonValue,
    KehaBatch,
    KehaRow,
    KehaRowState,
    MisuseMatter,
    RequestState,
)
from access.notifications import MunicipalityNotice
from access.policy import Violation, check_decision_text
from access.ports import GrantQuery, KehaRowQuery, RequestQuery, UnitOfWork
from access.reports import Report, build_report
from access.retention import RetentionResult, cutoff, ended_at, plan
from access.runner import CommandRunner, Transaction
from access.service import AccessService

__all__ = [
    "AuditRecord",
    "AuthorityService",
    "AuthorityUnitOfWork",
    "DirectoryChange",
    "DirectoryProvider",
    "DirectoryVersion",
    "directory_diff",
]


# ---------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class DirectoryVersion:
    version: int
    created_at: datetime
    created_by: str
    source: str
    sha256: str
    content: Mapping[str, Any]


class DirectoryVersions(Protocol):
    async def latest(self) -> DirectoryVersion | None: ...

    async def add(self, version: DirectoryVersion) -> None: ...


class RetentionStore(Protocol):
    async def pseudonymise(
        self, request_ids: Sequence[str], grant_ids: Sequence[str], *, at: datetime
    ) -> set[str]:
        """Replace names, e-mails, titles and free texts of these requests and grants
        (and their decisions, KEHA rows, notifications, misuse matters) by person
        references or empty text; return the e-mails that were replaced."""
        ...

    async def forget(self, emails: Sequence[str], *, keep: Sequence[str], at: datetime) -> int:
        """Forget each e-mail (not in ``keep``) that no remaining record mentions: its
        person id loses the e-mail, its conversation reference and bot state go.
        Returns how many people were forgotten."""
        ...


class AuthorityUnitOfWork(UnitOfWork, Protocol):
    @property
    def directories(self) -> DirectoryVersions: ...

    @property
    def retention(self) -> RetentionStore: ...

    @property
    def reminders(self) -> ReminderLog: ...


AuthorityUnitOfWorkFactory = Callable[[], AuthorityUnitOfWork]


# ------------------------------------------------------------------------- directory


def directory_sha256(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def jsonable(content: Any) -> Any:
    """YAML data (dates included) as JSON data: dates become ISO strings."""
    if isinstance(content, dict):
        return {str(k): jsonable(v) for k, v in content.items()}
    if isinstance(content, list):
        return [jsonable(v) for v in content]
    if isinstance(content, date):
        return content.isoformat()
    return content


class DirectoryProvider:
    """The directory in use: the newest imported version, else the file's.

    Callable (``AccessService`` asks it on every use); :meth:`refresh` reads the newest
    version from the database (the app does it on start-up and every minute, and the
    import does it at once).
    """

    def __init__(self, file_directory: Directory, file_content: Mapping[str, Any]) -> None:
        self.file_directory = file_directory
        self.file_content = jsonable(dict(file_content))
        self.current = file_directory
        self.content: Mapping[str, Any] = self.file_content
        self.version: int | None = None

    def __call__(self) -> Directory:
        return self.current

    def use(self, version: DirectoryVersion | None) -> None:
        if version is None:
            self.current, self.content, self.version = self.file_directory, self.file_content, None
        elif version.version != self.version:
            self.current = parse_directory(version.content)
            self.content = version.content
            self.version = version.version

    async def refresh(self, uow_factory: AuthorityUnitOfWorkFactory) -> None:
        async with uow_factory() as uow:
            self.use(await uow.directories.latest())


@dataclass(frozen=True)
class DirectoryChange:
    """One difference: ``op`` is ``added``, ``removed`` or ``changed``."""

    op: str
    what: str  # area | municipality | service_area | access_level | retention
    code: str
    field: str = ""
    old: str = ""
    new: str = ""

    def __str__(self) -> str:
        sign = {"added": "+", "removed": "-", "changed": "~"}[self.op]
        detail = f" {self.field}: {self.old} -> {self.new}" if self.op == "changed" else ""
        return f"{sign} {self.what} {self.code}{detail}"


def _text(value: Any) -> str:
    if isinstance(value, tuple | frozenset | set | list):
        return ", ".join(sorted(str(v) for v in value))
    return "" if value is None else str(value)


def directory_diff(old: Directory, new: Directory) -> list[DirectoryChange]:
    changes: list[DirectoryChange] = []

    def compare(what: str, code: str, a: Any, b: Any, names: Sequence[str]) -> None:
        for name in names:
            va, vb = _text(getattr(a, name)), _text(getattr(b, name))
            if va != vb:
                changes.append(DirectoryChange("changed", what, code, name, va, vb))

    for what, olds, news, names in (
        ("service_area", old.service_areas, new.service_areas, ("name",)),
        ("access_level", old.access_levels, new.access_levels, ("name",)),
        (
            "area",
            old.areas,
            new.areas,
            (
                "name",
                "requires",
                "municipality_requires",
                "service_areas",
                "access_levels",
                "max_grant_months",
                "start_grace_days",
                "pending_limit_days",
                "termination_notice_months",
                "default_locale",
                "approvers",
                "deputies",
                "notify_deputies",
                "authority_admins",
                "channel_id",
                "revoke_backdate_days",
            ),
        ),
    ):
        for code in sorted(set(olds) | set(news)):
            if code not in news:
                changes.append(DirectoryChange("removed", what, code))
            elif code not in olds:
                changes.append(DirectoryChange("added", what, code))
            else:
                compare(what, code, olds[code], news[code], names)
    old_m = {m.code: m for m in old.municipalities()}
    new_m = {m.code: m for m in new.municipalities()}
    for code in sorted(set(old_m) | set(new_m)):
        if code not in new_m:
            changes.append(DirectoryChange("removed", "municipality", code))
        elif code not in old_m:
            changes.append(DirectoryChange("added", "municipality", code))
        else:
            compare(
                "municipality",
                code,
                old_m[code],
                new_m[code],
                (
                    "name",
                    "area_code",
                    "contracted",
                    "agreement_ends",
                    "requesters",
                    "email_domains",
                    "processing_agreement",
                ),
            )
    if old.retention_years != new.retention_years:
        changes.append(
            DirectoryChange(
                "changed",
                "retention",
                "personal_data_years_after_grant_end",
                "years",
                str(old.retention_years),
                str(new.retention_years),
            )
        )
    return changes


# ----------------------------------------------------------------------------- views


@dataclass(frozen=True)
class BatchSummary:
    id: str
    area: str
    created_at: datetime
    sent_at: datetime | None
    rows: int
    urgent: int
    confirmed: int

    @property
    def state(self) -> str:
        if self.sent_at is None:
            return "queued"
        return "confirmed" if self.confirmed == self.rows else "sent"


@dataclass(frozen=True)
class AuditRecord:
    """An audit row for export; ``actor_email`` is resolved for people not forgotten
    (it is not part of the hashed content)."""

    entry: AuditEntry
    area: str | None
    actor_email: str | None

    def as_json(self) -> dict[str, JsonValue]:
        e = self.entry
        return {
            "seq": e.seq,
            "at": e.at.astimezone(UTC).isoformat(),
            "actor": e.actor,
            "actor_email": self.actor_email,
            "action": e.action,
            "request_id": e.request_id,
            "area": self.area,
            "details": dict(e.details),
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }


@dataclass(frozen=True)
class MyDataExport:
    """What the service holds about one person, as plain JSON data."""

    email: str
    document: dict[str, JsonValue] = field(default_factory=dict)


def _codes(values: Any) -> list[JsonValue]:
    return [str(v) for v in sorted(values)]


def _matter_json(mm: MisuseMatter) -> dict[str, JsonValue]:
    """What a misuse matter shows anyone it concerns: no reporter, no texts."""
    return {
        "id": mm.id,
        "grant_id": mm.grant_id,
        "municipality": mm.municipality,
        "area": mm.area,
        "reported_at": local_time(mm.reported_at),
        "outcome": mm.outcome.value if mm.outcome else None,
        "closed_at": local_time(mm.closed_at) if mm.closed_at else None,
    }


def _request_json(r: AccessRequest) -> dict[str, JsonValue]:
    return {
        "number": r.number,
        "kind": r.kind.value,
        "state": r.state.value,
        "worker_name": r.worker.name,
        "worker_email": r.worker.email,
        "worker_job_title": r.worker.job_title,
        "municipality": r.municipality,
        "area": r.area,
        "service_areas": list(r.service_areas),
        "level": r.level,
        "start": r.start.isoformat() if r.start else None,
        "end": r.end.isoformat() if r.end else None,
        "justification": r.justification,
        "requester": r.requester,
        "created_at": local_time(r.created_at),
        "updated_at": local_time(r.updated_at),
    }


# --------------------------------------------------------------------------- service


class AuthorityService:
    def __init__(
        self,
        access: AccessService,
        uow_factory: AuthorityUnitOfWorkFactory,
        provider: DirectoryProvider | None = None,
    ) -> None:
        self.access = access
        self._uow_factory = uow_factory
        self.provider = provider
        self.runner: CommandRunner[AuthorityUnitOfWork] = CommandRunner(
            uow_factory, access.runner.directory_source, access.clock, access.ids
        )

    @property
    def directory(self) -> Directory:
        return self.access.directory

    async def _admin(self, actor: str, area: str, command: str) -> str:
        actor = normalize_email(actor)
        await self.runner.authorize(
            authz.may_administer(self.access.roles_of(actor), area), actor, command, target=area
        )
        return actor

    # ------------------------------------------------------------------ KEHA

    def admin_areas(self, actor: str) -> list[str]:
        return sorted(self.access.roles_of(normalize_email(actor)).admin_in)

    async def pending_handoff(self, actor: str, area: str) -> list[AccessRequest]:
        """Approved and not yet in a batch, and stopped after they were sent with no
        cancellation row yet: urgent ones (removals, cancellations) first, then by
        number."""
        await self._admin(actor, area, "list_keha_pending")
        async with self._uow_factory() as uow:
            found = await uow.requests.find(
                RequestQuery(areas=[area], states=[RequestState.APPROVED])
            )
            for request in await uow.requests.find(
                RequestQuery(areas=[area], states=[RequestState.STOPPING])
            ):
                rows = await uow.keha.find_rows(KehaRowQuery(request_id=request.id))
                if not any(r.is_cancellation for r in rows):
                    found.append(request)
        return sorted(
            found,
            key=lambda r: (
                not r.urgent,
                r.state is not RequestState.STOPPING,
                r.kind.value != "revoke",
                r.number,
            ),
        )

    async def create_batch(
        self,
        actor: str,
        area: str,
        *,
        idempotency_key: str,
        request_ids: Sequence[str] | None = None,
    ) -> KehaBatch:
        return await self.access.handoff.queue_for_keha(
            actor, area, idempotency_key=idempotency_key, request_ids=request_ids
        )

    async def batches(self, actor: str, area: str) -> list[BatchSummary]:
        """The area's batches, newest first."""
        await self._admin(actor, area, "list_keha_batches")
        async with self._uow_factory() as uow:
            rows = await uow.keha.find_rows(KehaRowQuery(areas=[area]))
            ids = list(dict.fromkeys(r.batch_id for r in rows))
            batches = [b for b in [await uow.keha.get_batch(i) for i in ids] if b is not None]
        out = [
            BatchSummary(
                id=b.id,
                area=b.area,
                created_at=b.created_at,
                sent_at=b.sent_at,
                rows=len(b.rows),
                urgent=sum(1 for r in b.rows if r.urgent),
                confirmed=sum(
                    1
                    for r in b.rows
                    if r.state in (KehaRowState.CONFIRMED, KehaRowState.CANCELLED)
                ),
            )
            for b in batches
        ]
        return sorted(out, key=lambda b: b.created_at, reverse=True)

    async def batch(self, actor: str, batch_id: str) -> KehaBatch:
        """A batch with its rows, for an admin of its area (others: AccessDenied)."""
        actor = normalize_email(actor)
        async with self._uow_factory() as uow:
            batch = await uow.keha.get_batch(batch_id)
        if batch is None:
            await self.runner.authorize(
                authz.may_administer_anywhere(self.access.roles_of(actor)),
                actor,
                "view_keha_batch",
                target=batch_id,
            )
            raise NotFound("batch", batch_id)
        await self._admin(actor, batch.area, "view_keha_batch")
        return batch

    async def rows_being_stopped(self, actor: str, batch: KehaBatch) -> frozenset[str]:
        """Ids of the batch's sent rows whose request was stopped after it was sent
        (``stopping``): KEHA must not carry them out, their cancellation row settles
        them, so they are not for confirming."""
        await self._admin(actor, batch.area, "view_keha_batch")
        sent = [r for r in batch.rows if r.state is KehaRowState.SENT and not r.is_cancellation]
        if not sent:
            return frozenset()
        async with self._uow_factory() as uow:
            found = {r.id: await uow.requests.get(r.request_id) for r in sent}
        return frozenset(
            row_id
            for row_id, request in found.items()
            if request is not None and request.state is RequestState.STOPPING
        )

    async def batch_file(
        self, actor: str, batch_id: str, fmt: str, labels: Mapping[str, str] | None = None
    ) -> bytes:
        """The hand-off file (``xlsx`` or ``csv``); ``labels`` title the columns."""
        batch = await self.batch(actor, batch_id)
        rows = list(batch.rows)
        if fmt == "csv":
            return handoff_csv(rows, self.directory, labels)
        if fmt == "xlsx":
            return handoff_xlsx(rows, self.directory, labels)
        raise ValueError(f"unknown format {fmt!r}")

    async def mark_sent(self, actor: str, batch_id: str, *, idempotency_key: str) -> KehaBatch:
        return await self.access.handoff.mark_sent(actor, batch_id, idempotency_key=idempotency_key)

    async def confirm_row(
        self, actor: str, row_id: str, *, idempotency_key: str, note: str = ""
    ) -> AccessRequest:
        return await self.access.handoff.confirm_row(
            actor, row_id, idempotency_key=idempotency_key, note=note
        )

    async def confirm_batch(
        self, actor: str, batch_id: str, *, idempotency_key: str, note: str = ""
    ) -> list[AccessRequest]:
        """Confirm every sent row of the batch (each row its own transaction and
        idempotency key ``<key>:<row id>``, so a retry finishes what was left)."""
        batch = await self.batch(actor, batch_id)
        done: list[AccessRequest] = []
        for row in batch.rows:
            if row.state is KehaRowState.SENT and not row.is_cancellation:
                request = await self._request(row)
                if request.state is not RequestState.SENT_TO_KEHA:
                    continue  # stopped after it was sent: its cancellation row settles it
            if row.state is KehaRowState.SENT or row.state is KehaRowState.CONFIRMED:
                done.append(
                    await self.access.handoff.confirm_row(
                        actor, row.id, idempotency_key=f"{idempotency_key}:{row.id}", note=note
                    )
                    if row.state is KehaRowState.SENT
                    else await self._request(row)
                )
        return done

    async def _request(self, row: KehaRow) -> AccessRequest:
        async with self._uow_factory() as uow:
            found = await uow.requests.get(row.request_id)
        if found is None:
            raise NotFound("request", row.request_id)
        return found

    # --------------------------------------------------------------- reports

    def report_areas(self, actor: str) -> list[str]:
        roles = self.access.roles_of(normalize_email(actor))
        return sorted(roles.admin_in | roles.decides_in)

    async def report(self, actor: str | None, area: str, first: date, last: date) -> Report:
        """Aggregates of the area for the months ``first``..``last``; for its admins
        and approvers (``actor`` None: the operator's command line)."""
        if actor is not None:
            actor = normalize_email(actor)
            await self.runner.authorize(
                authz.may_report(self.access.roles_of(actor), area), actor, "report", target=area
            )
        if last < first:
            raise PolicyViolations(
                [Violation("dates.end_before_start", "end", {"start": first.isoformat()})]
            )
        async with self._uow_factory() as uow:
            requests = await uow.requests.find(RequestQuery(areas=[area]))
            decisions: dict[str, list[Decision]] = {}
            for request in requests:
                decisions[request.id] = await uow.decisions.for_request(request.id)
            rows = await uow.keha.find_rows(KehaRowQuery(areas=[area]))
            grants = await uow.grants.find(GrantQuery(areas=[area]))
        return build_report(
            self.directory,
            area,
            first,
            last,
            requests=requests,
            decisions=decisions,
            keha_rows=rows,
            grants=grants,
        )

    # ----------------------------------------------------------------- audit

    async def verify_audit(self, checkpoints: Sequence[Checkpoint] = ()) -> VerifyResult:
        """The whole trail (operator command line; admins use AccessService): the keyed
        chain, each given checkpoint (still contained and extended) and the people
        mapping the chain names (no e-mail swapped, none blanked outside retention)."""
        async with self._uow_factory() as uow:
            entries = await uow.audit.entries()
            head = await uow.audit.head()
            audit, people = uow.audit, uow.people
            if not isinstance(audit, KeyedAuditLog):
                return verify_chain(entries, head=head, checkpoints=checkpoints)
            bindings = await people.bindings() if isinstance(people, BoundPeople) else None
            return verify_trail(
                entries, head=head, key=audit.key, people=bindings, checkpoints=checkpoints
            )

    async def audit_checkpoint(self) -> Checkpoint | None:
        """Sign the current head now, record it in the trail and send it to every
        authority admin (the operator's ``atmt-bot audit checkpoint``); None: the trail
        is empty."""
        now = self.access.clock.now()
        async with self._uow_factory() as uow:
            checkpoint = await issue_checkpoint(
                uow, self.directory, at=now, ids=self.access.ids, reason="on demand"
            )
            if checkpoint is None:
                return None
            await uow.commit()
        log_checkpoint(checkpoint, "on demand")
        return checkpoint

    async def audit_records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        area: str | None = None,
    ) -> list[AuditRecord]:
        """Audit rows of a period (``since`` <= at < ``until``) and, if given, an area
        (rows of its requests and batches, and its directory/denial rows that name it)."""
        async with self._uow_factory() as uow:
            entries = [
                e
                for e in await uow.audit.entries()
                if (since is None or e.at >= since) and (until is None or e.at < until)
            ]
            request_ids = sorted({e.request_id for e in entries if e.request_id})
            areas: dict[str, str] = {}
            for start in range(0, len(request_ids), 500):
                chunk = request_ids[start : start + 500]
                for request in await uow.requests.find(RequestQuery(ids=chunk)):
                    areas[request.id] = request.area
            for entry in entries:
                ident = entry.details.get("batch_id") or entry.details.get("target")
                if (
                    entry.request_id is None
                    and isinstance(ident, str)
                    and ident not in self.directory.areas
                    and ident not in areas
                ):
                    batch = await uow.keha.get_batch(ident)
                    if batch is not None:
                        areas[ident] = batch.area
            actors = sorted({e.actor for e in entries if e.actor.startswith(PERSON_PREFIX)})
            emails = await uow.people.emails_of(actors)
        out: list[AuditRecord] = []
        for entry in entries:
            where = areas.get(entry.request_id or "")
            if where is None:
                target = entry.details.get("target") or entry.details.get("area")
                if isinstance(target, str):
                    where = target if target in self.directory.areas else areas.get(target)
            if area is not None and where != area:
                continue
            out.append(AuditRecord(entry, where, emails.get(entry.actor)))
        return out

    # ------------------------------------------------------------- directory

    async def import_directory(
        self, actor: str, content: Mapping[str, Any], *, source: str
    ) -> tuple[DirectoryVersion | None, list[DirectoryChange]]:
        """Validate ``content`` (raises DirectoryError), store it as the newest version
        and audit it, in one transaction. No change: nothing is stored (None)."""
        data = jsonable(dict(content))
        new = parse_directory(data)
        current = self.directory
        changes = directory_diff(current, new)
        if not changes and self.provider is not None and self.provider.version is not None:
            return None, changes
        actor = actor if actor == SYSTEM_ACTOR else normalize_email(actor)
        now = self.runner.clock.now()
        async with self._uow_factory() as uow:
            await uow.lock("directory")
            latest = await uow.directories.latest()
            version = DirectoryVersion(
                version=(latest.version if latest else 0) + 1,
                created_at=now,
                created_by=actor,
                source=source[-500:],
                sha256=directory_sha256(data),
                content=data,
            )
            await uow.directories.add(version)
            await uow.audit.append(
                AuditDraft(
                    at=now,
                    actor=actor,
                    action="directory.imported",
                    request_id=None,
                    details={
                        "version": version.version,
                        "sha256": version.sha256,
                        "changes": len(changes),
                        "areas": _codes(new.areas),
                    },
                )
            )
            await uow.commit()
        if self.provider is not None:
            self.provider.use(version)
        return version, changes

    async def set_agreement_end(
        self, actor: str, municipality: str, ends: date | None, *, source: str = "agreement-end"
    ) -> tuple[DirectoryVersion | None, list[DirectoryChange]]:
        """A new directory version where ``municipality``'s agreement ends on ``ends``
        (None: the end date is removed)."""
        if self.provider is None:
            raise RuntimeError("no directory provider")
        if self.directory.municipality(municipality) is None:
            raise NotFound("municipality", municipality)
        content = json.loads(json.dumps(self.provider.content))
        for area in content.get("areas", []):
            for entry in area.get("municipalities", []):
                if entry.get("code") == municipality:
                    if ends is None:
                        entry.pop("agreement_ends", None)
                    else:
                        entry["agreement_ends"] = ends.isoformat()
        return await self.import_directory(actor, content, source=source)

    # ------------------------------------------------------ the agreement's life

    async def _agreement_manager(self, actor: str, municipality: str, command: str) -> Municipality:
        """The municipality, if the actor is an authority admin or approver of its area."""
        roles = self.access.roles_of(actor)
        found = self.directory.municipality(municipality)
        if found is None:
            await self.runner.authorize(
                None if roles.admin_in or roles.decides_in else "not_admin_in_area",
                actor,
                command,
                target=municipality,
            )
            raise NotFound("municipality", municipality)
        await self.runner.authorize(
            authz.may_manage_agreement(roles, found.area_code), actor, command, target=found.code
        )
        return found

    async def record_termination(
        self,
        actor: str,
        municipality: str,
        reason: str,
        *,
        idempotency_key: str,
        given: date | None = None,
    ) -> date:
        """A notice of termination of the municipality's agreement (002 §9; 001 §12), given
        on ``given`` (default today): the agreement ends the area's
        ``termination_notice_months`` later (a new directory version), and the
        municipality's requesters, the area's contacts and admins are told, with the
        reason. Returns the end date; from it every grant ends (``end_due_grants``)."""
        actor = normalize_email(actor)
        reason = reason.strip()
        found = await self._agreement_manager(actor, municipality, "terminate_agreement")
        violations = check_decision_text("reason", reason)
        if violations:
            raise PolicyViolations(violations)
        area = self.directory.area(found.area_code)
        assert area is not None
        given = given or self.runner.clock.today()
        ends = months_after(given, area.termination_notice_months)
        await self.set_agreement_end(actor, found.code, ends, source="agreement-notice")

        async def work(tx: Transaction[AuthorityUnitOfWork]) -> tuple[date, str]:
            await tx.uow.audit.append(
                AuditDraft(
                    at=tx.now,
                    actor=actor,
                    action="agreement.terminated",
                    request_id=None,
                    details={
                        "municipality": found.code,
                        "area": area.code,
                        "given": given.isoformat(),
                        "ends": ends.isoformat(),
                        "notice_months": area.termination_notice_months,
                        "reason": reason,
                    },
                )
            )
            current = tx.directory.municipality(found.code) or found
            await tx.emit(
                "agreement.terminated",
                MunicipalityNotice(area, current, start=given, end=ends),
                key=f"agreement-terminated:{found.code}:{ends.isoformat()}",
                request_id=None,
                params={"reason": reason},
            )
            # This message says what the scheduler's "notice period began" would say.
            await tx.uow.reminders.claim(
                agreement_notice_key(found.code, ends), "agreement.notice", found.code, tx.now
            )
            return ends, f"date:{ends.isoformat()}"

        async def load(uow: AuthorityUnitOfWork, prior: IdempotencyRecord) -> date:
            return date.fromisoformat((prior.result or "date:").partition(":")[2])

        return await self.runner.run(actor, "terminate_agreement", idempotency_key, work, load)

    async def dissolve_agreement(
        self, actor: str, municipality: str, reason: str, *, idempotency_key: str
    ) -> Dissolution:
        """The area dissolves the municipality's agreement for breach (002 §10): it ends
        today (a new directory version) and every right is removed at once
        (:meth:`access.agreements.AgreementService.dissolve`)."""
        actor = normalize_email(actor)
        found = await self._agreement_manager(actor, municipality, "dissolve_agreement")
        violations = check_decision_text("reason", reason.strip())
        if violations:
            raise PolicyViolations(violations)
        await self.set_agreement_end(
            actor, found.code, self.runner.clock.today(), source="agreement-dissolved"
        )
        return await self.access.agreements.dissolve(
            actor, found.code, reason, idempotency_key=idempotency_key
        )

    # ------------------------------------------------------------- retention

    async def run_retention(self) -> RetentionResult:
        """Pseudonymise what is older than the directory's retention period, except the
        records of a grant with an open misuse matter; one transaction, one audit row
        (counts only)."""
        now = self.runner.clock.now()
        before = cutoff(now, self.directory.retention_years)
        async with self._uow_factory() as uow:
            await uow.lock("retention")
            grants = await uow.grants.find(GrantQuery())
            requests = await uow.requests.find(RequestQuery())
            pending = await uow.matters.open_grant_ids()
            due = plan(grants, requests, before=before, held=pending)
            held = len([g for g in grants if g.id in pending and (e := ended_at(g)) and e < before])
            forgotten = 0
            if not due.empty:
                emails = await uow.retention.pseudonymise(due.request_ids, due.grant_ids, at=now)
                keep = sorted(self._directory_people())
                forgotten = await uow.retention.forget(sorted(emails), keep=keep, at=now)
            await uow.audit.append(
                AuditDraft(
                    at=now,
                    actor=SYSTEM_ACTOR,
                    action="retention.run",
                    request_id=None,
                    details={
                        "before": before.astimezone(UTC).date().isoformat(),
                        "grants": len(due.grant_ids),
                        "requests": len(due.request_ids),
                        "people_forgotten": forgotten,
                        "held_for_matters": held,
                    },
                )
            )
            await uow.commit()
        return RetentionResult(len(due.grant_ids), len(due.request_ids), forgotten, held)

    def _directory_people(self) -> set[str]:
        people: set[str] = set()
        for area in self.directory.areas.values():
            people |= set(area.approvers) | set(area.deputies) | set(area.authority_admins)
            for m in area.municipalities:
                people |= set(m.requesters)
        return people

    # -------------------------------------------------------------- self-access

    async def my_data_export(self, actor: str) -> MyDataExport:
        """Everything held about the actor (GDPR art. 15) as JSON data. A person reads
        it: times are Helsinki local time to the minute (``"2026-03-02 11:00"``)."""
        actor = normalize_email(actor)
        data = await self.access.queries.my_data(actor)
        async with self._uow_factory() as uow:
            ref = await uow.people.ref_of(actor)
            audit = [e for e in await uow.audit.entries() if ref is not None and e.actor == ref]
        roles = self.access.roles_of(actor)
        document: dict[str, JsonValue] = {
            "email": actor,
            "time_zone": "Europe/Helsinki",
            "person_id": ref,
            "roles": {
                "requester_for": _codes(roles.requester_for),
                "approver_in": _codes(roles.approver_in),
                "deputy_in": _codes(roles.deputy_in),
                "admin_in": _codes(roles.admin_in),
            },
            "requests_about_me": [_request_json(r) for r in data.requests_about_me],
            "grants_about_me": [
                {
                    "id": g.id,
                    "state": g.state.value,
                    "worker_name": g.worker.name,
                    "worker_email": g.worker.email,
                    "worker_job_title": g.worker.job_title,
                    "municipality": g.municipality,
                    "area": g.area,
                    "service_areas": list(g.service_areas),
                    "level": g.level,
                    "start": g.start.isoformat(),
                    "end": g.end.isoformat(),
                }
                for g in data.grants_about_me
            ],
            "requests_made_by_me": [_request_json(r) for r in data.requests_made_by_me],
            "decisions_by_me": [
                {
                    "request_id": d.request_id,
                    "outcome": d.outcome.value,
                    "at": local_time(d.at),
                    "text": d.text,
                }
                for d in data.decisions_by_me
            ],
            "notifications_to_me": [
                {
                    "template": n.template,
                    "audience": n.audience.value,
                    "created_at": local_time(n.created_at),
                }
                for n in data.notifications_to_me
            ],
            "audit_rows_by_me": [
                {"seq": e.seq, "at": local_time(e.at), "action": e.action} for e in audit
            ],
            # Suspected misuse of the person's access: that it was reported and how it
            # ended, not who reported it or what they wrote (third parties' words; the
            # area, as controller, decides on those when asked).
            "misuse_matters_about_me": [_matter_json(mm) for mm in data.matters_about_me],
            # Reports the person made or closed, with what they themselves wrote.
            "misuse_matters_by_me": [
                _matter_json(mm)
                | {
                    "reported_by_me": mm.reported_by == actor,
                    "note": mm.note if mm.reported_by == actor else None,
                    "closed_by_me": mm.closed_by == actor,
                    "closing_note": mm.closing_note if mm.closed_by == actor else None,
                }
                for mm in data.matters_by_me
            ],
        }
        return MyDataExport(actor, document)
