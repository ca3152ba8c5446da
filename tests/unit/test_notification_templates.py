"""Every notification template, listed in one place: what it is about, its audiences,
and a text for each ``template.audience`` in fi, sv and en.

Adding a notification is a row in ``access.notifications.TEMPLATES``, its texts in the
catalogs (``dialogs/locales/*/LC_MESSAGES/*.po``) and a line here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from domain_support import (
    APPROVER,
    DEPUTY,
    MANAGER,
    MANAGER2,
    NOW,
    PKS,
    TODAY,
    WORKER,
    example_directory,
)

from access.model import (
    AccessRequest,
    Audience,
    Grant,
    GrantState,
    MatterOutcome,
    MisuseMatter,
    Notification,
    RequestKind,
    RequestState,
    Worker,
)
from access.notifications import (
    TEMPLATES,
    BatchNotice,
    GrantEnding,
    MatterNotice,
    MunicipalityNotice,
)
from access.runner import CommandRunner
from dialogs.i18n import LOCALES, LOCALES_DIR, read_locale

R, W, AP, AD = Audience.REQUESTER, Audience.WORKER, Audience.APPROVER, Audience.ADMIN

EVERY_TEMPLATE: dict[str, tuple[str, tuple[Audience, ...]]] = {
    # the request lifecycle: about a request
    "request.submitted": ("request", (R, W, AP)),
    "request.resubmitted": ("request", (R, AP)),
    "request.cancelled": ("request", (R, W, AP)),
    "request.returned": ("request", (R,)),
    "request.approved": ("request", (R, W, AD)),
    "request.rejected": ("request", (R, W)),
    "request.expired": ("request", (R, W)),
    "request.queued": ("request", ()),  # internal steps: no one is sent a message
    "request.sent_to_keha": ("request", ()),
    "grant.opened": ("request", (R, W)),
    "grant.changed": ("request", (R, W)),
    "grant.removed": ("request", (R, W)),
    "revoke.requested": ("request", (R, W, AP, AD)),
    "revoke.misuse": ("request", (R, W, AD)),
    "revoke.area": ("request", (R, W, AD)),
    "revoke.due": ("request", (R, W, AD)),
    "request.stopped": ("request", (R, W, AP, AD)),
    "request.stopping": ("request", (R, W, AP, AD)),
    "request.stop_confirmed": ("request", (R, AP)),
    "revoke.scheduled": ("ending", (R, W, AP)),
    # the scheduler
    "request.reminder": ("request", (AP,)),
    "request.escalated": ("request", (AP,)),
    "grant.expiring": ("grant", (R, W)),
    "keha.unconfirmed": ("batch", (AD,)),
    "agreement.notice": ("municipality", (R, AP)),
    "agreement.ending": ("municipality", (R, AP)),
    # the agreement's life, recorded in chat
    "agreement.terminated": ("municipality", (R, AP, AD)),
    "agreement.dissolved": ("municipality", (R, AP, AD)),
    # the access review
    "review.requested": ("municipality", (R,)),
    "review.reminder": ("municipality", (R,)),
    "review.overdue": ("municipality", (R, AP)),
    # misuse matters
    "misuse.reported": ("grant", (R, AP, AD)),
    "misuse.closed": ("matter", (R, AD)),
}

CATALOGS = {loc: read_locale(LOCALES_DIR / loc / "LC_MESSAGES") for loc in LOCALES}
DIRECTORY = example_directory()
WORKER_ = Worker("Aino Esimerkki", WORKER, "Ohjaaja", "laukaa")
REQUEST = AccessRequest(
    id="r1",
    number="2026-000001",
    kind=RequestKind.GRANT,
    state=RequestState.PENDING,
    version=1,
    worker=WORKER_,
    municipality="laukaa",
    area=PKS,
    service_areas=("youth",),
    level="view",
    start=TODAY,
    end=date(2026, 8, 31),
    justification="x",
    confirmations=frozenset(),
    requester=MANAGER,
    created_by=MANAGER,
    created_at=NOW,
    updated_at=NOW,
)
GRANT = Grant(
    id="g1",
    worker=WORKER_,
    municipality="laukaa",
    area=PKS,
    service_areas=("youth",),
    level="view",
    start=TODAY,
    end=date(2026, 8, 31),
    state=GrantState.ACTIVE,
    version=1,
    origin_request_id="r1",
    requested_by=MANAGER,
    created_at=NOW,
    updated_at=NOW,
)
AREA = DIRECTORY.areas[PKS]
LAUKAA = DIRECTORY.municipality("laukaa")
assert LAUKAA is not None
SUBJECTS: dict[str, Any] = {
    "request": REQUEST,
    "grant": GRANT,
    "ending": GrantEnding(GRANT, MANAGER2),
    "batch": BatchNotice(AREA, "b1", TODAY),
    "municipality": MunicipalityNotice(AREA, LAUKAA, start=TODAY, end=date(2026, 6, 30)),
    # a matter reported by an approver: the reporter is reached as "requester"
    "matter": MatterNotice(
        MisuseMatter(
            "m1", "g1", PKS, "laukaa", APPROVER, NOW, "n", outcome=MatterOutcome.UNFOUNDED
        ),
        GRANT,
    ),
}


class _Outbox:
    def __init__(self) -> None:
        self.rows: list[Notification] = []

    async def add(self, notification: Notification) -> None:
        self.rows.append(notification)


class _Uow:
    def __init__(self) -> None:
        self.outbox = _Outbox()


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def new_id(self) -> str:
        self.n += 1
        return f"n{self.n}"


def test_the_registry_is_this_list() -> None:
    assert {name: t.audiences for name, t in TEMPLATES.items()} == {
        name: audiences for name, (_, audiences) in EVERY_TEMPLATE.items()
    }


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_has_a_text_for_each_audience(locale: str) -> None:
    missing = [
        f"{name}.{audience.value}"
        for name, (_, audiences) in EVERY_TEMPLATE.items()
        for audience in audiences
        if not CATALOGS[locale].get(f"{name}.{audience.value}", "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(EVERY_TEMPLATE))
async def test_every_template_reaches_each_audience_with_plain_parameters(name: str) -> None:
    kind, audiences = EVERY_TEMPLATE[name]
    uow = _Uow()
    runner = CommandRunner(lambda: uow, DIRECTORY, ids=_Ids())  # type: ignore[arg-type,return-value]
    at = NOW
    await runner.emit(
        uow,  # type: ignore[arg-type]
        name,
        SUBJECTS[kind],
        key=f"k:{name}",
        actor="system",
        at=at,
        request_id="r1",
        params={"note": "n"},
    )
    rows = uow.outbox.rows
    assert {n.audience for n in rows} == set(audiences)
    assert len({n.idempotency_key for n in rows}) == len(rows)
    for n in rows:
        assert n.template == name and n.created_at == at and "@" in n.recipient
        assert n.idempotency_key == f"k:{name}:{n.audience.value}:{n.recipient}"
        assert n.params["actor"] == "system" and n.params["note"] == "n"
        assert all(isinstance(v, str | int | bool) for v in n.params.values())


async def test_a_request_reaches_its_people_once_each() -> None:
    uow = _Uow()
    runner = CommandRunner(lambda: uow, DIRECTORY, ids=_Ids())  # type: ignore[arg-type,return-value]
    both = replace(REQUEST, requester=WORKER)  # the requester is also the worker
    await runner.emit(
        uow,  # type: ignore[arg-type]
        "request.submitted",
        both,
        key="r1:1:request.submitted",
        actor=MANAGER2,
        at=NOW,
        request_id=both.id,
    )
    assert {(n.audience, n.recipient) for n in uow.outbox.rows} == {
        (R, WORKER),
        (W, WORKER),
        (AP, APPROVER),
        (AP, DEPUTY),
    }
    assert [n.params["actor"] for n in uow.outbox.rows] == [MANAGER2] * 4
    assert {n.id for n in uow.outbox.rows} == {"n1", "n2", "n3", "n4"}
