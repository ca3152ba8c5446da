"""Storage of the authority's tools: imported directory versions and the retention writer.

:class:`SqlAuthorityUnitOfWork` is the lifecycle's :class:`SqlUnitOfWork` plus
``directories`` and ``retention`` (the ports of :mod:`access.authority`), so an import
or a retention run writes its data and its audit row in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Self, cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from access.audit import is_email
from access.authority import AuthorityUnitOfWork, AuthorityUnitOfWorkFactory, DirectoryVersion
from storage.automation import SqlReminderLog
from storage.domain_tables import (
    BATCHES,
    DECISIONS,
    DIRECTORY_VERSIONS,
    GRANTS,
    IDEMPOTENCY,
    KEHA_ROWS,
    MATTERS,
    OUTBOX,
    PEOPLE,
    REQUESTS,
)
from storage.models import BotState, ConversationRef
from storage.repositories import SqlPeople, SqlUnitOfWork

__all__ = [
    "SqlAuthorityUnitOfWork",
    "SqlDirectoryVersions",
    "SqlRetention",
    "authority_unit_of_work_factory",
]

BOT_STATE = cast(Table, BotState.__table__)
CONVERSATION_REFS = cast(Table, ConversationRef.__table__)

PERSONAL_PARAMS = frozenset(
    {
        "worker_name",
        "worker_job_title",
        "note",
        "reason",
        "question",
        "justification",
        "answer",
    }
)
"""Notification parameters that hold names or free text (emptied by retention)."""


class SqlDirectoryVersions:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest(self) -> DirectoryVersion | None:
        rows = (
            await self._session.execute(
                select(DIRECTORY_VERSIONS).order_by(DIRECTORY_VERSIONS.c.version.desc()).limit(1)
            )
        ).all()
        if not rows:
            return None
        m = rows[0]._mapping
        return DirectoryVersion(
            version=m["version"],
            created_at=m["created_at"],
            created_by=m["created_by"],
            source=m["source"],
            sha256=m["sha256"],
            content=m["content"],
        )

    async def add(self, version: DirectoryVersion) -> None:
        await self._session.execute(
            DIRECTORY_VERSIONS.insert().values(
                version=version.version,
                created_at=version.created_at,
                created_by=version.created_by,
                source=version.source,
                sha256=version.sha256,
                content=dict(version.content),
            )
        )


def _emails(values: Iterable[Any]) -> set[str]:
    return {v.strip().lower() for v in values if is_email(v)}


class SqlRetention:
    """Pseudonymises the rows of given requests and grants, then forgets people."""

    def __init__(self, session: AsyncSession, people: SqlPeople) -> None:
        self._session = session
        self._people = people
        self._names: dict[str, set[str]] = {}

    async def _all(self, statement: Any) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in (await self._session.execute(statement)).all()]

    async def pseudonymise(
        self, request_ids: Sequence[str], grant_ids: Sequence[str], *, at: datetime
    ) -> set[str]:
        request_ids, grant_ids = list(request_ids), list(grant_ids)
        requests = await self._all(select(REQUESTS).where(REQUESTS.c.id.in_(request_ids)))
        grants = await self._all(select(GRANTS).where(GRANTS.c.id.in_(grant_ids)))
        decisions = await self._all(
            select(DECISIONS).where(DECISIONS.c.request_id.in_(request_ids))
        )
        keha = await self._all(select(KEHA_ROWS).where(KEHA_ROWS.c.request_id.in_(request_ids)))
        outbox = await self._all(select(OUTBOX).where(OUTBOX.c.request_id.in_(request_ids)))
        matters = await self._all(select(MATTERS).where(MATTERS.c.grant_id.in_(grant_ids)))

        emails: set[str] = set()
        for r in requests:
            emails |= _emails([r["worker_email"], r["requester"], r["created_by"]])
            self._names.setdefault(r["worker_email"].strip().lower(), set()).add(r["worker_name"])
        for g in grants:
            emails |= _emails([g["worker_email"], g["requested_by"]])
            self._names.setdefault(g["worker_email"].strip().lower(), set()).add(g["worker_name"])
        for d in decisions:
            emails |= _emails([d["actor"]])
        for k in keha:
            emails |= _emails([k["worker_email"], k["approved_by"], k["confirmed_by"]])
        for n in outbox:
            emails |= _emails([n["recipient"], *n["params"].values()])
        for m in matters:
            emails |= _emails([m["reported_by"], m["closed_by"]])
        refs = await self._people.refs_for(sorted(emails))

        def ref(value: str | None) -> str | None:
            if value is None or not is_email(value):
                return value
            return refs[value.strip().lower()]

        for r in requests:
            await self._session.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == r["id"])
                .values(
                    worker_name="",
                    worker_email=ref(r["worker_email"]),
                    worker_job_title="",
                    justification="",
                    question=None,
                    answer=None,
                    requester=ref(r["requester"]),
                    created_by=ref(r["created_by"]),
                )
            )
        for g in grants:
            await self._session.execute(
                update(GRANTS)
                .where(GRANTS.c.id == g["id"])
                .values(
                    worker_name="",
                    worker_email=ref(g["worker_email"]),
                    worker_job_title="",
                    requested_by=ref(g["requested_by"]),
                    end_note=None,
                )
            )
        for d in decisions:
            await self._session.execute(
                update(DECISIONS)
                .where(DECISIONS.c.id == d["id"])
                .values(actor=ref(d["actor"]), text="")
            )
        for m in matters:
            await self._session.execute(
                update(MATTERS)
                .where(MATTERS.c.id == m["id"])
                .values(
                    reported_by=ref(m["reported_by"]),
                    note="",
                    closed_by=ref(m["closed_by"]),
                    closing_note="",
                )
            )
        for k in keha:
            await self._session.execute(
                update(KEHA_ROWS)
                .where(KEHA_ROWS.c.id == k["id"])
                .values(
                    worker_name="",
                    worker_email=ref(k["worker_email"]),
                    worker_job_title="",
                    approved_by=ref(k["approved_by"]),
                    confirmed_by=ref(k["confirmed_by"]),
                    confirm_note=None,
                )
            )
        for n in outbox:
            params = {
                key: (
                    ""
                    if key in PERSONAL_PARAMS
                    else ref(value)
                    if isinstance(value, str)
                    else value
                )
                for key, value in n["params"].items()
            }
            idempotency_key = n["idempotency_key"]
            for email, person in refs.items():
                idempotency_key = idempotency_key.replace(email, person)
            values: dict[str, Any] = {
                "recipient": ref(n["recipient"]),
                "params": params,
                "idempotency_key": idempotency_key,
            }
            if n["status"] == "pending":
                values.update(status="failed", last_error="retention")
            await self._session.execute(
                update(OUTBOX).where(OUTBOX.c.id == n["id"]).values(**values)
            )
        # Batches whose every row is purged lose their admins' e-mails too.
        batch_ids = sorted({k["batch_id"] for k in keha})
        if batch_ids:
            remaining = {
                row[0]
                for row in (
                    await self._session.execute(
                        select(KEHA_ROWS.c.batch_id).where(
                            KEHA_ROWS.c.batch_id.in_(batch_ids),
                            KEHA_ROWS.c.request_id.not_in(request_ids),
                        )
                    )
                ).all()
            }
            for batch in await self._all(select(BATCHES).where(BATCHES.c.id.in_(batch_ids))):
                if batch["id"] in remaining:
                    continue
                more = _emails([batch["created_by"], batch["sent_by"]])
                refs.update(await self._people.refs_for(sorted(more)))
                emails |= more
                await self._session.execute(
                    update(BATCHES)
                    .where(BATCHES.c.id == batch["id"])
                    .values(created_by=ref(batch["created_by"]), sent_by=ref(batch["sent_by"]))
                )
        # Idempotency records of these requests (their result names the request).
        purged = set(request_ids)
        for row in await self._all(select(IDEMPOTENCY.c.key, IDEMPOTENCY.c.result)):
            result = row["result"] or ""
            _, _, ids = result.partition(":")
            if purged & set(ids.split(",")):
                await self._session.execute(
                    delete(IDEMPOTENCY).where(IDEMPOTENCY.c.key == row["key"])
                )
        return emails

    async def _mentioned(self, email: str) -> bool:
        checks: list[Any] = [
            select(func.count())
            .select_from(REQUESTS)
            .where(
                or_(
                    REQUESTS.c.worker_email == email,
                    REQUESTS.c.requester == email,
                    REQUESTS.c.created_by == email,
                )
            ),
            select(func.count())
            .select_from(GRANTS)
            .where(or_(GRANTS.c.worker_email == email, GRANTS.c.requested_by == email)),
            select(func.count()).select_from(DECISIONS).where(DECISIONS.c.actor == email),
            select(func.count())
            .select_from(KEHA_ROWS)
            .where(
                or_(
                    KEHA_ROWS.c.worker_email == email,
                    KEHA_ROWS.c.approved_by == email,
                    KEHA_ROWS.c.confirmed_by == email,
                )
            ),
            select(func.count())
            .select_from(BATCHES)
            .where(or_(BATCHES.c.created_by == email, BATCHES.c.sent_by == email)),
            select(func.count()).select_from(OUTBOX).where(OUTBOX.c.recipient == email),
            select(func.count())
            .select_from(MATTERS)
            .where(or_(MATTERS.c.reported_by == email, MATTERS.c.closed_by == email)),
        ]
        for check in checks:
            if (await self._session.execute(check)).scalar_one():
                return True
        return False

    async def forget(self, emails: Sequence[str], *, keep: Sequence[str], at: datetime) -> int:
        kept = {k.strip().lower() for k in keep}
        forgotten = 0
        for email in sorted({e.strip().lower() for e in emails} - kept):
            if await self._mentioned(email):
                continue
            # The keyed tombstone: "forgotten by retention", which verify accepts in
            # place of the binding to the e-mail (a blanked e-mail without it fails).
            key = self._people.key
            found = await self._session.execute(
                select(PEOPLE.c.person_id).where(PEOPLE.c.email == email)
            )
            for person_id in found.scalars().all():
                await self._session.execute(
                    update(PEOPLE)
                    .where(PEOPLE.c.person_id == person_id)
                    .values(email=None, purged_at=at, binding=key.forgotten_binding(person_id))
                )
            await self._session.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.actor == email))
            needles = [email, *(n for n in self._names.get(email, ()) if len(n.strip()) >= 3)]
            for needle in needles:
                lowered = needle.lower()
                await self._session.execute(
                    delete(BOT_STATE).where(
                        func.lower(BOT_STATE.c.document).contains(lowered, autoescape=True)
                    )
                )
                await self._session.execute(
                    delete(CONVERSATION_REFS).where(
                        or_(
                            func.lower(func.coalesce(CONVERSATION_REFS.c.email, "")) == lowered,
                            func.lower(CONVERSATION_REFS.c.reference).contains(
                                lowered, autoescape=True
                            ),
                        )
                    )
                )
            forgotten += 1
        return forgotten


class SqlAuthorityUnitOfWork(SqlUnitOfWork):
    """:class:`SqlUnitOfWork` with the directory versions and the retention writer."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.directories = SqlDirectoryVersions(self.session)
        self.retention = SqlRetention(self.session, self.people)
        self.reminders = SqlReminderLog(self.session)
        return self


def authority_unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
) -> AuthorityUnitOfWorkFactory:
    def make() -> AuthorityUnitOfWork:
        return SqlAuthorityUnitOfWork(session_factory)

    return make
