"""The access review (seed 001 §12 asks for a yearly review).

Every ``review_interval_months`` (area setting, 12 by default; 0: no reviews) each
contracted municipality with active grants gets a review: the list of its active
grants at that moment. The municipality's requesters answer Keep or Revoke per
worker; a Revoke is the municipality's revoke (``RequestService.revoke_by_municipality``,
reason ``other``). Every answer is an audit row ``review.answered`` on the grant's
original request. Unanswered after ``review_reminder_days`` the requesters get a
reminder; after twice that the area's approvers are told as well. A review closes
when every grant on it is answered or no longer active. Admins and approvers of the
area see the progress as counts.

The first review of a municipality starts one interval after its first grant ever
(grants last a year at most, so the oldest *active* one would rarely qualify), when it
has active grants; each next one an interval after the previous one started.
Starting is claimed by a reminder key per cycle, so two processes start it once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from access import authz
from access.addresses import normalize_email
from access.automation import AutomationUnitOfWork, local_date, months_before
from access.directory import Area, Directory, DirectorySource, Municipality
from access.errors import NotFound
from access.model import (
    SYSTEM_ACTOR,
    AuditDraft,
    Grant,
    GrantState,
    Revocation,
    RevokeReason,
)
from access.notifications import MunicipalityNotice
from access.ports import Clock, GrantQuery, IdSource
from access.runner import CommandRunner

__all__ = [
    "Review",
    "ReviewAnswer",
    "ReviewItem",
    "ReviewProgress",
    "ReviewService",
    "ReviewStore",
    "ReviewUnitOfWork",
]


class ReviewAnswer(enum.StrEnum):
    KEEP = "keep"
    REVOKE = "revoke"


@dataclass(frozen=True)
class Review:
    id: str
    municipality: str
    area: str
    started_at: datetime
    started_on: date  # Finnish date
    closed_at: datetime | None = None


@dataclass(frozen=True)
class ReviewItem:
    review_id: str
    grant_id: str
    answer: ReviewAnswer | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class ReviewProgress:
    """Counts only (no names): what an admin sees of a review."""

    review_id: str
    municipality: str
    started_on: date
    closed: bool
    total: int
    kept: int
    revoked: int
    ended_otherwise: int  # the grant ended before anyone answered
    open: int


class ReviewStore(Protocol):
    async def add(self, review: Review, grant_ids: Sequence[str]) -> None: ...

    async def get(self, review_id: str) -> Review | None: ...

    async def latest(self, municipality: str) -> Review | None: ...

    async def open_reviews(self) -> list[Review]: ...

    async def for_area(self, area: str) -> list[Review]:
        """Newest first."""
        ...

    async def items(self, review_id: str) -> list[ReviewItem]: ...

    async def answer(self, item: ReviewItem) -> bool:
        """Store the answer if the item is still unanswered; False if it was answered."""
        ...

    async def close(self, review_id: str, at: datetime) -> None: ...


class ReviewUnitOfWork(AutomationUnitOfWork, Protocol):
    @property
    def reviews(self) -> ReviewStore: ...


class _Revoker(Protocol):
    async def revoke_by_municipality(
        self,
        actor: str,
        grant_id: str,
        reason: RevokeReason,
        note: str = "",
        *,
        effective: date | None = None,
        idempotency_key: str,
    ) -> Revocation: ...


@dataclass(frozen=True)
class ReviewCounts:
    started: int = 0
    reminders: int = 0
    overdue: int = 0
    closed: int = 0


class ReviewService:
    def __init__(
        self,
        uow_factory: Callable[[], ReviewUnitOfWork],
        directory: DirectorySource,
        clock: Clock,
        ids: IdSource,
        access: _Revoker,
    ) -> None:
        self.runner: CommandRunner[ReviewUnitOfWork] = CommandRunner(
            uow_factory, directory, clock, ids
        )
        self._uow_factory = uow_factory
        self.clock = clock
        self.ids = ids
        self.access = access

    @property
    def directory(self) -> Directory:
        return self.runner.directory

    # ------------------------------------------------------------ scheduled

    async def run_due(self) -> ReviewCounts:
        """Start due reviews, remind, tell the approvers, close finished ones."""
        today = self.clock.today()
        started = reminders = overdue = closed = 0
        async with self._uow_factory() as uow:
            for area in self.directory.areas.values():
                interval = area.automation.review_interval_months
                if interval <= 0:
                    continue
                for municipality in area.municipalities:
                    if not municipality.contracted or (
                        municipality.agreement_ends is not None
                        and municipality.agreement_ends <= today
                    ):
                        continue
                    started += await self._maybe_start(uow, area, municipality, interval, today)
            for review in await uow.reviews.open_reviews():
                area_or_none = self.directory.area(review.area)
                municipality_or_none = self.directory.municipality(review.municipality)
                if area_or_none is None or municipality_or_none is None:
                    continue
                area, municipality = area_or_none, municipality_or_none
                waiting = await self._unanswered(uow, review)
                if not waiting:
                    await uow.reviews.close(review.id, self.clock.now())
                    closed += 1
                    continue
                age = (today - review.started_on).days
                days = area.automation.review_reminder_days
                notice = _notice(area, municipality, review)
                if age >= 2 * days:
                    overdue += await self._emit(
                        uow, f"review-overdue:{review.id}", review, "review.overdue", notice
                    )
                elif age >= days:
                    reminders += await self._emit(
                        uow, f"review-reminder:{review.id}", review, "review.reminder", notice
                    )
            await uow.commit()
        return ReviewCounts(started, reminders, overdue, closed)

    async def _maybe_start(
        self,
        uow: ReviewUnitOfWork,
        area: Area,
        municipality: Municipality,
        interval: int,
        today: date,
    ) -> int:
        grants = await uow.grants.find(
            GrantQuery(municipalities=[municipality.code], states=[GrantState.ACTIVE])
        )
        if not grants:
            return 0
        latest = await uow.reviews.latest(municipality.code)
        if latest is not None:
            basis = latest.started_on
        else:  # the first grant the municipality ever had (grants last a year at most)
            every = await uow.grants.find(GrantQuery(municipalities=[municipality.code]))
            basis = min(local_date(g.created_at) for g in every)
        if basis > months_before(today, interval):
            return 0
        cycle = latest.id if latest is not None else "first"
        key = f"review-start:{municipality.code}:{cycle}"
        now = self.clock.now()
        if not await uow.reminders.claim(key, "review", municipality.code, now):
            return 0
        review = Review(
            id=self.ids.new_id(),
            municipality=municipality.code,
            area=area.code,
            started_at=now,
            started_on=today,
        )
        await uow.reviews.add(review, sorted(g.id for g in grants))
        await uow.audit.append(
            AuditDraft(
                at=now,
                actor=SYSTEM_ACTOR,
                action="review.started",
                request_id=None,
                details={
                    "review_id": review.id,
                    "municipality": municipality.code,
                    "grants": len(grants),
                },
            )
        )
        await self._write(uow, key, "review.requested", _notice(area, municipality, review))
        return 1

    async def _emit(
        self,
        uow: ReviewUnitOfWork,
        key: str,
        review: Review,
        template: str,
        notice: MunicipalityNotice,
    ) -> int:
        if not await uow.reminders.claim(key, "review", review.id, self.clock.now()):
            return 0
        await self._write(uow, key, template, notice)
        return 1

    async def _write(
        self, uow: ReviewUnitOfWork, key: str, template: str, notice: MunicipalityNotice
    ) -> None:
        await self.runner.emit(
            uow,
            template,
            notice,
            key=f"{key}:{template}",
            actor=SYSTEM_ACTOR,
            at=self.clock.now(),
            request_id=None,
        )

    @staticmethod
    async def _unanswered(uow: ReviewUnitOfWork, review: Review) -> list[Grant]:
        waiting: list[Grant] = []
        for item in await uow.reviews.items(review.id):
            if item.answer is not None:
                continue
            grant = await uow.grants.get(item.grant_id)
            if grant is not None and grant.state is GrantState.ACTIVE:
                waiting.append(grant)
        return waiting

    # -------------------------------------------------------------- people

    async def open_for(self, actor: str) -> list[tuple[Review, list[tuple[Grant, ReviewItem]]]]:
        """The open reviews of the actor's municipalities, each with its grants (active
        ones; answered ones too, so the card can show the answers)."""
        actor = normalize_email(actor)
        municipalities = self.directory.roles_of(actor).requester_for
        out: list[tuple[Review, list[tuple[Grant, ReviewItem]]]] = []
        async with self._uow_factory() as uow:
            for review in await uow.reviews.open_reviews():
                if review.municipality not in municipalities:
                    continue
                rows: list[tuple[Grant, ReviewItem]] = []
                for item in await uow.reviews.items(review.id):
                    grant = await uow.grants.get(item.grant_id)
                    if grant is not None and (
                        grant.state is GrantState.ACTIVE or item.answer is not None
                    ):
                        rows.append((grant, item))
                rows.sort(key=lambda r: (r[0].worker.name.casefold(), r[0].id))
                out.append((review, rows))
        return out

    async def answer(
        self, actor: str, review_id: str, grant_id: str, answer: ReviewAnswer
    ) -> tuple[ReviewItem, bool]:
        """A requester of the review's municipality answers for one worker. Returns the
        item and whether this call answered it (False: it was answered before, the
        first answer stands). A Revoke revokes the grant (municipality's revoke)."""
        actor = normalize_email(actor)
        async with self._uow_factory() as uow:
            review = await uow.reviews.get(review_id)
            if review is None:
                raise NotFound("review", review_id)
            items = {i.grant_id: i for i in await uow.reviews.items(review_id)}
        await self.runner.authorize(
            authz.may_answer_review(self.directory.roles_of(actor), review.municipality),
            actor,
            "review",
            target=review_id,
        )
        item = items.get(grant_id)
        if item is None:
            raise NotFound("review_item", grant_id)
        if item.answer is not None or review.closed_at is not None:
            return item, False
        if answer is ReviewAnswer.REVOKE:
            # Its own idempotency key: a retry after a crash returns the same revoke.
            await self.access.revoke_by_municipality(
                actor,
                grant_id,
                RevokeReason.OTHER,
                "",
                idempotency_key=f"review:{review_id}:{grant_id}",
            )
        now = self.clock.now()
        done = ReviewItem(review_id, grant_id, answer, actor, now)
        async with self._uow_factory() as uow:
            await uow.lock(f"review:{review_id}:{grant_id}")
            if not await uow.reviews.answer(done):
                current = {i.grant_id: i for i in await uow.reviews.items(review_id)}
                return current[grant_id], False
            grant = await uow.grants.get(grant_id)
            await uow.audit.append(
                AuditDraft(
                    at=now,
                    actor=actor,
                    action="review.answered",
                    request_id=grant.origin_request_id if grant is not None else None,
                    details={"review_id": review_id, "grant_id": grant_id, "answer": answer.value},
                )
            )
            await uow.commit()
        return done, True

    async def progress(self, actor: str, area: str) -> list[ReviewProgress]:
        """Counts of the area's reviews, newest first: for its admins and approvers."""
        actor = normalize_email(actor)
        await self.runner.authorize(
            authz.may_follow_reviews(self.directory.roles_of(actor), area),
            actor,
            "review",
            target=area,
        )
        out: list[ReviewProgress] = []
        async with self._uow_factory() as uow:
            for review in await uow.reviews.for_area(area):
                items = await uow.reviews.items(review.id)
                kept = sum(i.answer is ReviewAnswer.KEEP for i in items)
                revoked = sum(i.answer is ReviewAnswer.REVOKE for i in items)
                unanswered = [i for i in items if i.answer is None]
                still_open = 0
                for item in unanswered:
                    grant = await uow.grants.get(item.grant_id)
                    still_open += grant is not None and grant.state is GrantState.ACTIVE
                out.append(
                    ReviewProgress(
                        review_id=review.id,
                        municipality=review.municipality,
                        started_on=review.started_on,
                        closed=review.closed_at is not None,
                        total=len(items),
                        kept=kept,
                        revoked=revoked,
                        ended_otherwise=len(unanswered) - still_open,
                        open=still_open,
                    )
                )
        return out


def _notice(area: Area, municipality: Municipality, review: Review) -> MunicipalityNotice:
    """A review's notifications: when it started and by when to answer."""
    due = review.started_on + timedelta(days=area.automation.review_reminder_days)
    return MunicipalityNotice(area, municipality, start=review.started_on, end=due)
