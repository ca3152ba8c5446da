"""Scheduled jobs: reminders, escalation, expiry, agreement end.

Two layers:

* **Rules** -- pure functions of (the state, today) that say which reminder of a
  subject is due. Each answers with the *latest* stage whose time has come, so a run
  after downtime sends one reminder, never a backlog of now pointless ones (a grant
  with three days left gets the 7-day reminder, not the 30-day one as well), and
  nothing once the subject has moved on (the grant ended, the request was decided).
* :class:`AutomationService` -- the scheduled use cases on the same unit-of-work
  ports and command runner as :class:`access.service.AccessService`. Every reminder
  has a unique key (``ReminderLog.claim``); it is claimed in the transaction that
  writes its outbox rows, so two processes (or a rerun) create it exactly once.

Notifications go through the outbox like every other message: one row per recipient,
from the template registry (:data:`access.notifications.TEMPLATES`), whose parameter
names the notifier renders.
"""

from __future__ import annotations

import calendar as _monthcal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from access.audit import Checkpoint, KeyedAuditLog
from access.calendar import add_working_days
from access.checkpoints import issue_checkpoint, log_checkpoint
from access.directory import Directory, DirectorySource
from access.errors import ConcurrentModification, IllegalTransition
from access.model import (
    SYSTEM_ACTOR,
    AccessRequest,
    GrantState,
    KehaRow,
    KehaRowState,
    RequestState,
)
from access.notifications import BatchNotice, MunicipalityNotice
from access.ports import HELSINKI, Clock, GrantQuery, IdSource, KehaRowQuery, RequestQuery
from access.ports import UnitOfWork as _UnitOfWork
from access.runner import CommandRunner

__all__ = [
    "AgreementStage",
    "AutomationService",
    "AutomationUnitOfWork",
    "PendingStage",
    "ReminderLog",
    "RunReport",
    "agreement_notice_key",
    "agreement_stage",
    "expiry_reminder_due",
    "keha_reminder_due",
    "months_after",
    "months_before",
    "pending_stage",
]

_ATTEMPTS = 5


# ------------------------------------------------------------------------------- rules


class PendingStage:
    REMINDER = "reminder"
    ESCALATION = "escalation"


class AgreementStage:
    NOTICE = "notice"
    FINAL = "final"


def local_date(moment: datetime) -> date:
    """The Finnish date of a timezone-aware moment."""
    return moment.astimezone(HELSINKI).date()


def months_before(day: date, months: int) -> date:
    """``day`` minus whole months, clamped to the month's last day (31.5. - 3 = 28.2.)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = _monthcal.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_after(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (30.11. + 3 = 28.2.)."""
    return months_before(day, -months)


def agreement_notice_key(municipality: str, ends: date) -> str:
    """The reminder key of the start of an agreement's notice period (one per end date)."""
    return f"agreement:{municipality}:{ends.isoformat()}:{AgreementStage.NOTICE}"


def expiry_reminder_due(
    end: date, today: date, offsets: Sequence[int], *, since: date | None = None
) -> int | None:
    """The expiry reminder due for a grant ending ``end``: the smallest offset (days
    before the end) whose day has come; None when none has or the end has passed.

    Offsets whose day was before ``since`` (the grant was made or last changed after
    it) are skipped: nobody needs a "30 days left" message about a grant they just
    set to end in 20 days.
    """
    if today > end:
        return None
    due = [
        k
        for k in offsets
        if end - timedelta(days=k) <= today and (since is None or end - timedelta(days=k) >= since)
    ]
    return min(due) if due else None


def pending_stage(
    entered: date, today: date, *, reminder_working_days: int, escalation_working_days: int
) -> str | None:
    """What a request pending since ``entered`` needs today: escalation to the deputies
    (which makes a not yet sent reminder pointless), a reminder, or nothing.
    Weekends and Finnish public holidays do not count (``access.calendar``)."""
    if today >= add_working_days(entered, escalation_working_days):
        return PendingStage.ESCALATION
    if today >= add_working_days(entered, reminder_working_days):
        return PendingStage.REMINDER
    return None


def agreement_stage(ends: date, today: date, *, notice_months: int, final_days: int) -> str | None:
    """Notice to the municipality's contacts of an ending agreement: from the start of
    the notice period, then again ``final_days`` before the end; the latest stage only,
    and nothing from the end date on (then the grants end: ``end_due_grants``)."""
    if today >= ends:
        return None
    if today >= ends - timedelta(days=final_days):
        return AgreementStage.FINAL
    if today >= months_before(ends, notice_months):
        return AgreementStage.NOTICE
    return None


def keha_reminder_due(sent_on: date, today: date, days: int) -> bool:
    """A row sent to KEHA on ``sent_on`` and still unconfirmed ``days`` later."""
    return today >= sent_on + timedelta(days=days)


# ------------------------------------------------------------------------------ ports


class ReminderLog(Protocol):
    async def claim(self, key: str, kind: str, subject: str, at: datetime) -> bool:
        """Record reminder ``key`` in this transaction: True the first time ever; False
        if it exists (also when another transaction committed it concurrently)."""
        ...

    async def keys_for(self, subject: str) -> list[str]:
        """Keys recorded for a subject (grant, request, batch or municipality id)."""
        ...


class AutomationUnitOfWork(_UnitOfWork, Protocol):
    @property
    def reminders(self) -> ReminderLog: ...


AutomationUnitOfWorkFactory = Callable[[], AutomationUnitOfWork]


# ---------------------------------------------------------------------------- service


@dataclass
class RunReport:
    """What one run of every job did (counts of reminders, ids of moved requests)."""

    expiry_reminders: int = 0
    pending_reminders: int = 0
    escalations: int = 0
    keha_reminders: int = 0
    agreement_notices: int = 0
    reviews_started: int = 0
    review_reminders: int = 0
    review_overdue: int = 0
    expired: list[str] = field(default_factory=list)  # request ids
    revoked: list[str] = field(default_factory=list)  # revoke request ids
    audit_checkpoint: str | None = None  # the day's checkpoint, when this run issued it

    @property
    def reminders(self) -> int:
        return (
            self.expiry_reminders
            + self.pending_reminders
            + self.escalations
            + self.keha_reminders
            + self.agreement_notices
            + self.review_reminders
            + self.review_overdue
        )


class _ReviewCounts(Protocol):
    @property
    def started(self) -> int: ...

    @property
    def reminders(self) -> int: ...

    @property
    def overdue(self) -> int: ...


class _Reviews(Protocol):
    async def run_due(self) -> _ReviewCounts: ...


class _Expirer(Protocol):
    async def expire(self, *, idempotency_key: str) -> list[AccessRequest]: ...

    async def end_due_grants(self, *, idempotency_key: str) -> list[AccessRequest]: ...


class AutomationService:
    """The scheduled use cases. Holds no state; safe to run in several processes."""

    def __init__(
        self,
        uow_factory: AutomationUnitOfWorkFactory,
        directory: DirectorySource,
        clock: Clock,
        ids: IdSource,
        access: _Expirer,
        reviews: _Reviews | None = None,
    ) -> None:
        self.runner: CommandRunner[AutomationUnitOfWork] = CommandRunner(
            uow_factory, directory, clock, ids
        )
        self._uow_factory = uow_factory
        self.reviews = reviews
        self.clock = clock
        self.ids = ids
        self.access = access

    @property
    def directory(self) -> Directory:
        return self.runner.directory

    # ------------------------------------------------------------------ run

    async def run(self) -> RunReport:
        """Every job once, in an order where a later job sees the earlier ones' result:
        requests expire and grants end first, so no reminder is sent about them."""
        report = RunReport()
        report.expired = [r.id for r in await self._retrying(self.access.expire, "expire")]
        report.revoked = [
            r.id for r in await self._retrying(self.access.end_due_grants, "end_due_grants")
        ]
        report.expiry_reminders = await self.send_expiry_reminders()
        report.pending_reminders, report.escalations = await self.send_pending_reminders()
        report.keha_reminders = await self.send_keha_reminders()
        report.agreement_notices = await self.send_agreement_notices()
        if self.reviews is not None:
            counts = await self.reviews.run_due()
            report.reviews_started = counts.started
            report.review_reminders = counts.reminders
            report.review_overdue = counts.overdue
        checkpoint = await self.issue_daily_checkpoint()  # last: it covers this run too
        report.audit_checkpoint = checkpoint.text if checkpoint is not None else None
        return report

    # ------------------------------------------------------------ machinery

    async def _retrying(
        self, command: Callable[..., Awaitable[list[AccessRequest]]], name: str
    ) -> list[AccessRequest]:
        """Run a scheduled service command with a fresh key per attempt. Another
        process may move the same request first; the loser's transaction rolls back
        and the retry finds only what is left (nothing is done twice)."""
        attempt = 1
        while True:
            key = f"automation:{name}:{self.clock.now().isoformat()}:{self.ids.new_id()}"
            try:
                return await command(idempotency_key=key)
            except (IllegalTransition, ConcurrentModification):
                if attempt >= _ATTEMPTS:
                    raise
                attempt += 1

    async def _emit(
        self,
        uow: AutomationUnitOfWork,
        *,
        key: str,
        kind: str,
        subject: str,
        template: str,
        about: object,
        request_id: str | None,
    ) -> bool:
        """Claim reminder ``key`` and write the notification ``template`` about ``about``
        (False: the reminder was created before, nothing is written)."""
        now = self.clock.now()
        if not await uow.reminders.claim(key, kind, subject, now):
            return False
        await self.runner.emit(
            uow,
            template,
            about,
            key=f"reminder:{key}",
            actor=SYSTEM_ACTOR,
            at=now,
            request_id=request_id,
        )
        return True

    # ----------------------------------------------------------------- jobs

    async def issue_daily_checkpoint(self) -> Checkpoint | None:
        """The day's audit checkpoint (``access.checkpoints``) to the authority admins,
        once per Finnish day: the first run of the day issues it, under a lock, so two
        processes running at once make one."""
        now = self.clock.now()
        today = local_date(now)
        async with self._uow_factory() as uow:
            audit = uow.audit
            if not isinstance(audit, KeyedAuditLog):
                return None
            last = await audit.last_checkpoint_at()
            if last is not None and local_date(last) == today:
                return None
            await uow.lock("audit-checkpoint")
            last = await audit.last_checkpoint_at()  # again, under the lock
            if last is not None and local_date(last) == today:
                return None
            checkpoint = await issue_checkpoint(
                uow, self.directory, at=now, ids=self.ids, reason="daily"
            )
            if checkpoint is None:
                return None
            await uow.commit()
        log_checkpoint(checkpoint, "daily")
        return checkpoint

    async def send_expiry_reminders(self) -> int:
        """Requester and worker of an active grant, 30 and 7 days (per area) before its
        end date. The key names the end date, so an extended grant is reminded again."""
        today = self.clock.today()
        count = 0
        async with self._uow_factory() as uow:
            for area in self.directory.areas.values():
                offsets = area.automation.expiry_reminder_days
                if not offsets:
                    continue
                horizon = today + timedelta(days=max(offsets) + 1)
                grants = await uow.grants.find(
                    GrantQuery(areas=[area.code], states=[GrantState.ACTIVE], end_before=horizon)
                )
                for grant in sorted(grants, key=lambda g: g.id):
                    offset = expiry_reminder_due(
                        grant.end, today, offsets, since=local_date(grant.updated_at)
                    )
                    if offset is None:
                        continue
                    count += await self._emit(
                        uow,
                        key=f"expiry:{grant.id}:{grant.end.isoformat()}:{offset}",
                        kind="expiry",
                        subject=grant.id,
                        template="grant.expiring",
                        about=grant,
                        request_id=grant.origin_request_id,
                    )
            await uow.commit()
        return count

    async def send_pending_reminders(self) -> tuple[int, int]:
        """Approvers after one working day pending; deputies (and approvers) after
        three. Counted from the day the request last became pending (a resubmitted
        request starts again: the key names its version)."""
        today = self.clock.today()
        reminders = escalations = 0
        async with self._uow_factory() as uow:
            for area in self.directory.areas.values():
                settings = area.automation
                pending = await uow.requests.find(
                    RequestQuery(areas=[area.code], states=[RequestState.PENDING])
                )
                for request in sorted(pending, key=lambda r: r.number):
                    stage = pending_stage(
                        local_date(request.updated_at),
                        today,
                        reminder_working_days=settings.pending_reminder_working_days,
                        escalation_working_days=settings.escalation_working_days,
                    )
                    if stage is None:
                        continue
                    template = (
                        "request.escalated"
                        if stage == PendingStage.ESCALATION
                        else "request.reminder"
                    )
                    created = await self._emit(
                        uow,
                        key=f"pending:{request.id}:{request.version}:{stage}",
                        kind=stage,
                        subject=request.id,
                        template=template,
                        about=request,
                        request_id=request.id,
                    )
                    if created and stage == PendingStage.ESCALATION:
                        escalations += 1
                    elif created:
                        reminders += 1
            await uow.commit()
        return reminders, escalations

    async def send_keha_reminders(self) -> int:
        """Authority admins: a batch sent to KEHA still has unconfirmed rows N days
        (per area) after it was sent. Once per batch."""
        today = self.clock.today()
        count = 0
        async with self._uow_factory() as uow:
            for area in self.directory.areas.values():
                rows = await uow.keha.find_rows(
                    KehaRowQuery(areas=[area.code], states=[KehaRowState.SENT])
                )
                by_batch: dict[str, list[KehaRow]] = {}
                for row in rows:
                    by_batch.setdefault(row.batch_id, []).append(row)
                for batch_id, batch_rows in sorted(by_batch.items()):
                    sent = min((r.sent_at for r in batch_rows if r.sent_at), default=None)
                    if sent is None or not keha_reminder_due(
                        local_date(sent), today, area.automation.keha_confirm_reminder_days
                    ):
                        continue
                    count += await self._emit(
                        uow,
                        key=f"keha:{batch_id}",
                        kind="keha",
                        subject=batch_id,
                        template="keha.unconfirmed",
                        about=BatchNotice(area, batch_id, local_date(sent)),
                        request_id=None,
                    )
            await uow.commit()
        return count

    async def send_agreement_notices(self) -> int:
        """Requesters of the municipality and the area's approvers, when the notice
        period of an ending agreement begins and again a month before the end."""
        today = self.clock.today()
        count = 0
        async with self._uow_factory() as uow:
            for municipality in sorted(self.directory.municipalities(), key=lambda m: m.code):
                area = self.directory.area(municipality.area_code)
                if municipality.agreement_ends is None or area is None:
                    continue
                stage = agreement_stage(
                    municipality.agreement_ends,
                    today,
                    notice_months=area.termination_notice_months,
                    final_days=area.automation.agreement_final_reminder_days,
                )
                if stage is None:
                    continue
                ends = municipality.agreement_ends.isoformat()
                count += await self._emit(
                    uow,
                    key=f"agreement:{municipality.code}:{ends}:{stage}",  # agreement_notice_key
                    kind=f"agreement.{stage}",
                    subject=municipality.code,
                    template="agreement.notice"
                    if stage == AgreementStage.NOTICE
                    else "agreement.ending",
                    about=MunicipalityNotice(area, municipality, end=municipality.agreement_ends),
                    request_id=None,
                )
            await uow.commit()
        return count
