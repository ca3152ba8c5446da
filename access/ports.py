"""What the service needs from the outside world, as Protocols.

``storage/`` implements them on SQLAlchemy (``storage.repositories``); the domain's
tests use that on SQLite. The service never commits by itself: it asks the unit of
work to ``commit()`` once a command has written its state, audit row(s) and outbox
rows, so all of it lands in one transaction or none of it does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self
from zoneinfo import ZoneInfo

from access.audit import ChainHead
from access.model import (
    AccessRequest,
    AuditDraft,
    AuditEntry,
    Decision,
    Grant,
    GrantEvent,
    GrantState,
    IdempotencyRecord,
    KehaBatch,
    KehaRow,
    KehaRowState,
    MisuseMatter,
    Notification,
    RequestKind,
    RequestState,
)

# ------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class RequestQuery:
    """Filter for requests; every given field must match (``None``: any)."""

    ids: Sequence[str] | None = None
    municipalities: Sequence[str] | None = None
    areas: Sequence[str] | None = None
    states: Sequence[RequestState] | None = None
    kinds: Sequence[RequestKind] | None = None
    worker_email: str | None = None
    requester: str | None = None  # requester or created_by
    grant_id: str | None = None
    updated_before: datetime | None = None
    limit: int | None = None  # newest first


@dataclass(frozen=True)
class GrantQuery:
    ids: Sequence[str] | None = None
    municipalities: Sequence[str] | None = None
    areas: Sequence[str] | None = None
    states: Sequence[GrantState] | None = None
    worker_email: str | None = None
    end_before: date | None = None
    limit: int | None = None


@dataclass(frozen=True)
class KehaRowQuery:
    batch_id: str | None = None
    request_id: str | None = None
    areas: Sequence[str] | None = None
    states: Sequence[KehaRowState] | None = None


# --------------------------------------------------------------------------- repositories


class RequestRepository(Protocol):
    async def get(self, request_id: str) -> AccessRequest | None: ...

    async def add(self, request: AccessRequest) -> None: ...

    async def update(self, request: AccessRequest, *, expected_version: int) -> bool:
        """Store ``request`` if the stored version is ``expected_version``; False if not."""
        ...

    async def find(self, query: RequestQuery) -> list[AccessRequest]: ...

    async def next_number(self, year: int) -> int:
        """1, 2, 3 ... per year, never the same twice (also under concurrency)."""
        ...


class GrantRepository(Protocol):
    async def get(self, grant_id: str) -> Grant | None:
        """The grant with its history, oldest event first."""
        ...

    async def add(self, grant: Grant) -> None:
        """Insert the grant and every event of its history."""
        ...

    async def update(self, grant: Grant, *, expected_version: int) -> bool:
        """Compare-and-set the grant's fields (not its history)."""
        ...

    async def add_event(self, grant_id: str, event: GrantEvent) -> None: ...

    async def find(self, query: GrantQuery) -> list[Grant]: ...


class DecisionRepository(Protocol):
    async def add(self, decision: Decision) -> None: ...

    async def for_request(self, request_id: str) -> list[Decision]:
        """Oldest first."""
        ...

    async def by_actor(self, actor: str) -> list[Decision]: ...


class KehaRepository(Protocol):
    async def add_batch(self, batch: KehaBatch) -> None:
        """Insert the batch and its rows."""
        ...

    async def get_batch(self, batch_id: str) -> KehaBatch | None:
        """The batch with its rows."""
        ...

    async def update_batch(self, batch: KehaBatch) -> None: ...

    async def get_row(self, row_id: str) -> KehaRow | None: ...

    async def update_row(self, row: KehaRow, *, expected_version: int) -> bool: ...

    async def add_row(self, row: KehaRow) -> None:
        """Insert a row into an existing batch (a cancellation row)."""
        ...

    async def remove_row(self, row: KehaRow) -> bool:
        """Take a queued row out of its batch (not yet sent); False if it is no longer
        queued at that version."""
        ...

    async def find_rows(self, query: KehaRowQuery) -> list[KehaRow]: ...


class AuditLog(Protocol):
    async def append(self, draft: AuditDraft) -> None:
        """Queue a row; it is chained (sequence, hashes) when the unit of work commits,
        under a lock that keeps the chain linear."""
        ...

    async def entries(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """Committed rows in sequence order."""
        ...

    async def for_request(self, request_id: str) -> list[AuditEntry]: ...

    async def head(self) -> ChainHead | None: ...


class Outbox(Protocol):
    async def add(self, notification: Notification) -> None: ...

    async def for_request(self, request_id: str) -> list[Notification]: ...

    async def for_recipient(self, recipient: str) -> list[Notification]: ...


class IdempotencyStore(Protocol):
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Reserve ``record.key`` in this transaction and return ``None``; or, if the key
        was already used (committed), return that record unchanged. A concurrent
        transaction holding the same key makes this wait until it ends."""
        ...

    async def complete(self, key: str, result: str) -> None: ...


class PeopleRegistry(Protocol):
    """Pseudonymous person ids (``person:<random>``) for work e-mails. The audit chain
    uses only these ids; retention forgets the e-mail behind an id."""

    async def refs_for(self, emails: Sequence[str]) -> dict[str, str]:
        """e-mail -> person reference, creating ids for new e-mails."""
        ...

    async def ref_of(self, email: str) -> str | None:
        """The person reference of an e-mail, or None (never creates one)."""
        ...

    async def emails_of(self, refs: Sequence[str]) -> dict[str, str]:
        """person reference -> e-mail, for the people not yet forgotten."""
        ...


class UnitOfWork(Protocol):
    """One transaction. ``async with`` opens it; leaving without ``commit()`` rolls back."""

    @property
    def requests(self) -> RequestRepository: ...

    @property
    def grants(self) -> GrantRepository: ...

    @property
    def decisions(self) -> DecisionRepository: ...

    @property
    def keha(self) -> KehaRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    @property
    def people(self) -> PeopleRegistry: ...

    @property
    def matters(self) -> MatterRepository: ...

    async def lock(self, key: str) -> None:
        """Serialise transactions that touch the same subject (held until the end)."""
        ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


# ------------------------------------------------------------------- notification queue


@dataclass(frozen=True)
class OutboxItem:
    """An outbox row as the dispatcher sees it: the notification and its delivery state.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``sending`` (claimed; the lease
    ends at ``next_attempt_at``), ``sent``, ``skipped`` or ``failed`` (a dead letter)."""

    id: str
    request_id: str | None
    template: str
    audience: str
    recipient: str
    params: dict[str, Any]
    idempotency_key: str
    attempts: int
    status: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

    @property
    def catalog_key(self) -> str:
        return f"{self.template}.{self.audience}"


class NotificationQueue(Protocol):
    """The dispatcher's side of the outbox: claim due rows under a lease, record how a
    delivery ended, and let an admin list and re-queue dead letters.

    Every ``mark_*`` / ``reschedule`` only changes a row still ``sending`` and answers
    whether it did; a row whose lease ended may have been claimed by another process."""

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Take up to ``limit`` due rows (pending, or sending with an ended lease) for
        ``lease``; each claim counts as an attempt. Oldest first; no row is claimed by two
        dispatchers at once."""
        ...

    async def mark_sent(self, item_id: str, now: datetime) -> bool: ...

    async def mark_skipped(self, item_id: str, now: datetime, why: str) -> bool: ...

    async def reschedule(self, item_id: str, at: datetime, error: str) -> bool:
        """Back to ``pending``, due at ``at``."""
        ...

    async def mark_dead(self, item_id: str, error: str) -> bool: ...

    async def dead(self, *, limit: int = 500) -> list[OutboxItem]:
        """Dead letters, oldest first."""
        ...

    async def retry(self, item_id: str, now: datetime) -> bool:
        """Put a dead letter back in the queue (its attempts start again); False when
        ``item_id`` is not a dead letter."""
        ...


# ---------------------------------------------------------------------------- time, ids


@dataclass(frozen=True)
class StoredConversationRef:
    """Where a person can be reached in Teams: the conversation reference of their last
    turn (a plain JSON document; a 1:1 chat's has their Teams display name), their tenant, the Teams
    client's locale (``locale``), the language they chose with the bot
    (``chosen_locale``) and, once known, e-mail.

    ``personal``: the reference is the person's 1:1 chat with the bot. Otherwise the
    row only says who the person is and where their tenant's Teams service is (the
    reference's ``user``, ``bot``, ``channelId`` and ``serviceUrl``, no conversation):
    they were seen in a team or group chat, or in a roster when the bot was installed
    there, and a 1:1 chat has to be opened before anything is sent to them."""

    user_key: str
    email: str | None
    tenant_id: str | None
    reference: dict[str, Any]
    locale: str | None
    updated_at: datetime
    chosen_locale: str | None = None
    personal: bool = True

    @property
    def display_name(self) -> str | None:
        """The person's name as Teams shows it: the reference's ``user.name``, which
        Teams sends with every turn of their 1:1 chat. A roster row keeps ids only
        (docs/decisions.md), so it names nobody."""
        user = self.reference.get("user")
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, str) or not name.strip():
            return None
        return " ".join(name.split())[:200]


class ConversationRefs(Protocol):
    """The conversation references of the people the bot met, one per user.

    ``save`` is an upsert of a person's 1:1 chat that keeps a stored e-mail, tenant,
    locale and chosen locale when given ``None``; ``save_member`` records a person
    seen outside a 1:1 chat and never replaces a stored 1:1 reference. E-mail
    addresses are compared lower-cased; ``get_by_email`` prefers a 1:1 reference."""

    async def save(
        self,
        *,
        user_key: str,
        reference: Mapping[str, Any],
        tenant_id: str | None = None,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None: ...

    async def set_email(self, user_key: str, email: str) -> bool: ...

    async def get(self, user_key: str) -> StoredConversationRef | None: ...

    async def get_by_email(self, email: str) -> StoredConversationRef | None: ...

    async def save_member(
        self,
        *,
        user_key: str,
        reference: Mapping[str, Any],
        tenant_id: str | None = None,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None:
        """Record a person met outside a 1:1 chat (``reference`` without a
        conversation); a stored 1:1 reference is kept, ``None`` keeps stored values."""
        ...

    async def newest_in_tenant(self, tenant_id: str) -> StoredConversationRef | None:
        """The most recently updated reference of anyone in ``tenant_id``: where that
        tenant's Teams service is (``serviceUrl``) and the bot's account there."""
        ...


class UsedLinks(Protocol):
    """Download links already redeemed, so that each works once, in every process.

    ``use`` records the link id and answers whether this was its first use; entries
    are kept until the link expires (``expires_at``), and expired ones are removed."""

    async def use(self, link_id: str, expires_at: datetime, now: datetime) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware current time."""
        ...

    def today(self) -> date:
        """Today's date where the service operates (Finland)."""
        ...


class IdSource(Protocol):
    def new_id(self) -> str: ...


HELSINKI = ZoneInfo("Europe/Helsinki")


class SystemClock:
    """The real clock; dates are Finnish dates."""

    def __init__(self, tz: ZoneInfo = HELSINKI) -> None:
        self._tz = tz

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(self._tz).date()


class UuidIds:
    def new_id(self) -> str:
        return uuid.uuid4().hex


# -------------------------------------------------------------------- misuse matters


class MatterRepository(Protocol):
    """Misuse matters (``access.model.MisuseMatter``)."""

    async def add(self, matter: MisuseMatter) -> None: ...

    async def get(self, matter_id: str) -> MisuseMatter | None: ...

    async def update(self, matter: MisuseMatter, *, expected_version: int) -> bool:
        """Compare-and-set: store ``matter`` if the stored version is ``expected_version``."""
        ...

    async def find(
        self,
        *,
        areas: Sequence[str] | None = None,
        open_only: bool = False,
        grant_ids: Sequence[str] | None = None,
        person: str | None = None,
    ) -> list[MisuseMatter]:
        """Oldest report first; ``person``: matters they reported or closed."""
        ...

    async def open_grant_ids(self) -> set[str]:
        """The grants that have an open matter (retention holds their records)."""
        ...
