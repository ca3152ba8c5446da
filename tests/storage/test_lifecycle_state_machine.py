"""Random command sequences by random actors against the real service and database.

A hypothesis ``RuleBasedStateMachine`` drives the service (SQL unit of work, SQLite and
PostgreSQL) with every command, issued by requesters of their own and of other
municipalities, approvers, a deputy, admins of this and of another area, workers and
a stranger. After every step it compares a raw snapshot of the tables with the one
before and checks, with oracles written here independently of the service:

* authorisation: a command is denied exactly when the directory's roles say so, and a
  denied command changed nothing but one ``access.denied`` audit row;
* a failed command (rules, illegal transition) changed nothing at all;
* every request transition is legal and has exactly one audit row, and there is no
  other audit row;
* the outbox gained exactly the notifications each transition implies;
* grants change only with the request transition that implies it;
* a done change carries its corrected name and job title to the grant (the e-mail, the
  worker's identity, never changes), and KEHA's row has them;
* the audit chain verifies; no live grant without a done grant request; at most one
  live grant or open grant request per worker and area; KEHA rows follow requests;
* replaying a command with its idempotency key returns the first result and changes
  nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from lifecycle_support import (
    ADMIN,
    APPROVER,
    DEPUTY,
    KINNULA_MANAGER,
    KUOPIO_ADMIN,
    KUOPIO_APPROVER,
    MANAGER,
    MANAGER2,
    STRANGER,
    VIITASAARI_MANAGER,
    FixedClock,
    draft,
    example_directory,
    person_email,
    snapshot,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from access.agreements import Dissolution
from access.audit import ChainHead, verify_chain
from access.directory import Directory
from access.errors import AccessDenied, AccessError
from access.model import (
    AuditEntry,
    RequestChanges,
    RequestDraft,
    RequestKind,
    Revocation,
    RevokeReason,
)
from access.service import AccessService
from storage.db import create_engine, create_session_factory
from storage.repositories import unit_of_work_factory

PKS = "pohjoinen-keski-suomi"
KUOPIO = "kuopio"
KUOPIO_MANAGER = "manager@kuopio.example.fi"
WORKERS = [
    ("Aino Esimerkki", "aino@laukaa.example.fi"),
    ("Eero Esimerkki", "eero@laukaa.example.fi"),
    ("Dora Deputy", DEPUTY),  # the deputy as a named worker: may not decide her own access
    ("Kalle Kokeilu", "kalle@kuopio.example.fi"),
]
ACTORS = [
    MANAGER,
    MANAGER2,
    VIITASAARI_MANAGER,
    KINNULA_MANAGER,
    KUOPIO_MANAGER,
    APPROVER,
    DEPUTY,
    ADMIN,
    KUOPIO_APPROVER,
    KUOPIO_ADMIN,
    "aino@laukaa.example.fi",
    STRANGER,
]
OPEN = {"pending", "returned", "approved", "queued_for_keha", "sent_to_keha", "stopping"}
LEGAL = {
    (None, "pending"),
    (None, "approved"),  # revokes need no approval
    ("pending", "approved"),
    ("pending", "rejected"),
    ("pending", "returned"),
    ("pending", "cancelled"),
    ("pending", "expired"),
    ("returned", "pending"),
    ("returned", "cancelled"),
    ("returned", "expired"),
    ("approved", "cancelled"),  # a change superseded by a revoke
    ("approved", "queued_for_keha"),
    ("queued_for_keha", "sent_to_keha"),
    ("sent_to_keha", "done"),
    # stop before open: approved, not yet confirmed by KEHA
    ("approved", "stopped"),  # withdrawn from the queue
    ("queued_for_keha", "stopped"),  # taken out of a batch not yet sent
    ("sent_to_keha", "stopping"),  # an urgent cancellation row for KEHA
    ("stopping", "stopped"),  # KEHA confirmed the cancellation
}
# Audit rows of a cancellation row queued or sent: the request stays "stopping".
CANCELLATION_ACTIONS = {"request.cancellation_queued", "request.cancellation_sent"}
AGREEMENT_ACTIONS = {"agreement.dissolved"}
R, W, AP, AD = "requester", "worker", "approver", "admin"
Snapshot = dict[str, list[dict[str, Any]]]


def actor_for(*likely: str) -> st.SearchStrategy[str]:
    """Mostly the people who may do it, otherwise anyone."""
    return st.one_of(st.sampled_from(likely), st.sampled_from(ACTORS))


def expected_notifications(
    prev: dict[str, Any] | None, row: dict[str, Any]
) -> tuple[str, list[str]]:
    """The oracle: which template and audiences a transition implies."""
    to, kind = row["state"], row["kind"]
    if prev is None:
        if kind == "revoke":
            reason = row["revoke_reason"]
            if reason == "misuse":
                return "revoke.misuse", [R, W, AD]
            if reason in ("grant_ended", "agreement_ended", "agreement_dissolved"):
                return "revoke.due", [R, W, AD]
            return "revoke.requested", [R, W, AP, AD]
        return "request.submitted", [R, W, AP]
    frm = prev["state"]
    if to == "cancelled":
        return "request.cancelled", [R, W, AP]
    if to == "expired":
        return "request.expired", [R, W]
    if to == "stopping":
        return "request.stopping", [R, W, AP, AD]
    if to == "stopped":
        if frm == "stopping":
            return "request.stop_confirmed", [R, AP]
        return "request.stopped", [R, W, AP, AD]
    table = {
        ("returned", "pending"): ("request.resubmitted", [R, AP]),
        ("pending", "returned"): ("request.returned", [R]),
        ("pending", "approved"): ("request.approved", [R, W, AD]),
        ("pending", "rejected"): ("request.rejected", [R, W]),
        ("approved", "queued_for_keha"): ("request.queued", []),
        ("queued_for_keha", "sent_to_keha"): ("request.sent_to_keha", []),
    }
    if (frm, to) == ("sent_to_keha", "done"):
        done = {"grant": "grant.opened", "change": "grant.changed", "revoke": "grant.removed"}
        return done[kind], [R, W]
    return table[(frm, to)]


class LifecycleMachine(RuleBasedStateMachine):
    runner: ClassVar[asyncio.Runner]
    factory: ClassVar[async_sessionmaker[AsyncSession]]
    directory: ClassVar[Directory]
    stats: ClassVar[Counter[str]]

    def __init__(self) -> None:
        super().__init__()
        self.run(_reset(self.factory))
        self.clock = FixedClock()
        self.service = AccessService(
            unit_of_work_factory(self.factory), self.directory, self.clock, SeqIds()
        )
        self.state: Snapshot = self.run(snapshot(self.factory))
        self.steps = 0
        self.done: list[tuple[Callable[[str], Awaitable[Any]], str, Any]] = []

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wrap() -> Any:
            return await awaitable

        return self.runner.run(wrap())

    # ------------------------------------------------------------------ oracles

    def roles(self, actor: str) -> Any:
        return self.directory.roles_of(actor)

    def recipients(self, audience: str, row: dict[str, Any]) -> list[str]:
        area = self.directory.areas[row["area"]]
        if audience == R:
            return [row["requester"]]
        if audience == W:
            return [row["worker_email"]]
        if audience == AP:
            return list(
                dict.fromkeys(area.approvers + (area.deputies if area.notify_deputies else ()))
            )
        return list(area.authority_admins)

    def may_decide(self, actor: str, row: dict[str, Any]) -> bool:
        return row["area"] in self.roles(actor).decides_in and actor not in (
            row["requester"],
            row["created_by"],
            row["worker_email"],
        )

    # ---------------------------------------------------------------- execution

    def execute(
        self,
        label: str,
        actor: str,
        denied: bool | None,
        make: Callable[[str], Awaitable[Any]],
        *,
        replayable: bool = True,
    ) -> None:
        self.steps += 1
        key = f"{label}-{self.steps}"
        before = self.state
        outcome = "ok"
        result: Any = None
        try:
            result = self.run(make(key))
        except AccessDenied:
            outcome = "denied"
        except AccessError as error:
            outcome = type(error).__name__
        after: Snapshot = self.run(snapshot(self.factory))
        self.stats[f"{label}:{outcome}"] += 1
        if denied is not None:
            assert (outcome == "denied") == denied, (label, actor, outcome)
        if outcome == "denied":
            self.check_denial(before, after, actor)
        elif outcome != "ok" and label == "queue" and after != before:
            # Queueing first stops, in a transaction of its own, what may no longer go
            # to KEHA (agreement ended, end date passed); those stops stay.
            transitions = self.check_transitions(before, after)
            assert {(p or {}).get("state") for p, _ in transitions} == {"approved"}
            assert {r["state"] for _, r in transitions} == {"stopped"}
            assert {r["revoke_reason"] for _, r in transitions} <= {
                "agreement_ended",
                "grant_ended",
            }
        elif outcome != "ok":
            assert after == before, (label, outcome)
        else:
            self.check_transitions(before, after)
            if replayable:
                self.done.append((make, key, result))
        self.state = after

    def check_denial(self, before: Snapshot, after: Snapshot, actor: str) -> None:
        for name in before:
            if name not in ("audit", "people"):
                assert after[name] == before[name], name
        assert after["audit"][: len(before["audit"])] == before["audit"]
        [row] = after["audit"][len(before["audit"]) :]
        # Audit rows name people by pseudonymous id only.
        assert row["action"] == "access.denied" and person_email(after, row["actor"]) == actor

    def check_transitions(
        self, before: Snapshot, after: Snapshot
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        old = {r["id"]: r for r in before["requests"]}
        transitions: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
        for row in after["requests"]:
            prev = old.get(row["id"])
            if prev is None or prev["state"] != row["state"]:
                transitions.append((prev, row))
            else:
                assert prev == row, "a request changed without a transition"
        assert len(after["requests"]) >= len(before["requests"])
        for prev, row in transitions:
            assert ((prev or {}).get("state"), row["state"]) in LEGAL
            self.stats[f"~ {(prev or {}).get('state')} -> {row['state']} ({row['kind']})"] += 1
            assert row["version"] == (prev["version"] + 1 if prev else 1)

        # Exactly one audit row per transition, append-only; besides them only the rows
        # of a cancellation row queued or sent (a stopping request, which stays so) and
        # of a dissolved agreement (no request).
        assert after["audit"][: len(before["audit"])] == before["audit"]
        new_audit = after["audit"][len(before["audit"]) :]
        stopping = {r["id"] for r in after["requests"] if r["state"] == "stopping"}
        for a in new_audit:
            if a["action"] in CANCELLATION_ACTIONS:
                assert a["request_id"] in stopping
                assert a["details"]["from"] == a["details"]["to"] == "stopping"
            elif a["action"] in AGREEMENT_ACTIONS:
                assert a["request_id"] is None
        new_audit = [
            a for a in new_audit if a["action"] not in CANCELLATION_ACTIONS | AGREEMENT_ACTIONS
        ]
        assert sorted(
            (a["request_id"], str(a["details"]["from"]), a["details"]["to"]) for a in new_audit
        ) == sorted(
            (row["id"], str((prev or {}).get("state")), row["state"]) for prev, row in transitions
        )

        # Exactly the implied notifications.
        old_outbox = {o["id"]: o for o in before["outbox"]}
        for o in after["outbox"]:
            if o["id"] in old_outbox:
                assert o == old_outbox[o["id"]]
        actual = Counter(
            (o["request_id"], o["template"], o["audience"], o["recipient"])
            for o in after["outbox"]
            if o["id"] not in old_outbox and o["template"] != "agreement.dissolved"
        )
        expected: Counter[tuple[str, str, str, str]] = Counter()
        for prev, row in transitions:
            template, audiences = expected_notifications(prev, row)
            for audience in audiences:
                for recipient in self.recipients(audience, row):
                    expected[(row["id"], template, audience, recipient)] += 1
        assert actual == expected

        # Grants change only with the transition that implies it.
        old_grants = {g["id"]: g for g in before["grants"]}
        new_grants = {g["id"]: g for g in after["grants"]}
        implied: set[tuple[str, str | None, str]] = set()
        for prev, row in transitions:
            if prev is None and row["kind"] == "revoke":
                implied.add((row["grant_id"], "active", "revoking"))
            elif row["state"] == "done":
                if row["kind"] == "grant":
                    implied.add((row["grant_id"], None, "active"))
                elif row["kind"] == "revoke":
                    implied.add((row["grant_id"], "revoking", "removed"))
                else:
                    implied.add((row["grant_id"], "changed", "changed"))
        seen: set[tuple[str, str | None, str]] = set()
        for gid, grant in new_grants.items():
            prev_grant = old_grants.get(gid)
            if prev_grant is None:
                seen.add((gid, None, grant["state"]))
            elif prev_grant["state"] != grant["state"]:
                seen.add((gid, prev_grant["state"], grant["state"]))
            elif prev_grant != grant:
                seen.add((gid, "changed", "changed"))
        assert seen == implied
        return transitions

    # -------------------------------------------------------------------- rules

    def requests(self, *states: str) -> list[dict[str, Any]]:
        return [r for r in self.state["requests"] if not states or r["state"] in states]

    @rule(
        actor=actor_for(MANAGER, MANAGER2, VIITASAARI_MANAGER, KUOPIO_MANAGER),
        worker=st.sampled_from(WORKERS),
        data=st.data(),
        days=st.integers(1, 120),
        broken=st.integers(0, 9),
    )
    def submit(
        self, actor: str, worker: tuple[str, str], data: st.DataObject, days: int, broken: int
    ) -> None:
        own = sorted(self.roles(actor).requester_for)
        municipality = data.draw(
            st.one_of(
                st.sampled_from(own or ["laukaa"]),
                st.sampled_from(["laukaa", "viitasaari", "kinnula", "kuopio"]),
            )
        )
        today = self.clock.today()
        d = draft(
            today,
            municipality=municipality,
            worker_name=worker[0],
            worker_email=worker[1],
            end=today + timedelta(days=days),
            service_areas=("youth",) if municipality != "kuopio" else ("complementary_training",),
            confirmations=frozenset(
                {"customer_consent_form", "worker_agreement"}
                if municipality != "kuopio"
                else {"valid_customer_relationship", "worker_agreement"}
            ),
        )
        if broken == 0:
            d = replace(d, service_areas=())
        denied = municipality not in self.roles(actor).requester_for
        self.execute(
            "submit",
            actor,
            denied,
            lambda key: self.service.requests.submit(actor, d, idempotency_key=key),
        )

    @precondition(lambda self: self.state["grants"])
    @rule(actor=actor_for(MANAGER, MANAGER2), data=st.data(), days=st.integers(1, 200))
    def submit_change(self, actor: str, data: st.DataObject, days: int) -> None:
        grant = data.draw(st.sampled_from(self.state["grants"]))
        today = self.clock.today()
        d = RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant["id"],
            service_areas=tuple(grant["service_areas"]),
            level="record" if grant["level"] == "view" else "view",
            start=today,
            end=today + timedelta(days=days),
            justification="Tehtävät muuttuivat",
            confirmations=frozenset(self.directory.areas[grant["area"]].requires),
        )
        denied = grant["municipality"] not in self.roles(actor).requester_for
        self.execute(
            "change",
            actor,
            denied,
            lambda key: self.service.requests.submit(actor, d, idempotency_key=key),
        )

    @precondition(lambda self: any(g["state"] == "active" for g in self.state["grants"]))
    @rule(actor=actor_for(MANAGER, MANAGER2), data=st.data())
    def submit_correction(self, actor: str, data: st.DataObject) -> None:
        """A correction: the same scope, a corrected name and/or job title."""
        active = [g for g in self.state["grants"] if g["state"] == "active"]
        grant = data.draw(st.sampled_from(active))
        d = self.correction(grant, data)
        denied = grant["municipality"] not in self.roles(actor).requester_for
        self.execute(
            "correct",
            actor,
            denied,
            lambda key: self.service.requests.submit(actor, d, idempotency_key=key),
        )

    def correction(self, grant: dict[str, Any], data: st.DataObject) -> RequestDraft:
        name, title = data.draw(
            st.sampled_from(
                [
                    (grant["worker_name"] + "-Virtanen", ""),
                    ("", "Erityisasiantuntija"),
                    ("Aino Virtanen", "Ohjaaja"),
                ]
            )
        )
        today = self.clock.today()
        return RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant["id"],
            worker_name=name,
            worker_job_title=title,
            service_areas=tuple(grant["service_areas"]),
            level=grant["level"],
            start=today,
            end=grant["end_date"],
            justification="Nimi korjattu",
            confirmations=frozenset(self.directory.areas[grant["area"]].requires),
        )

    @precondition(lambda self: self.state["requests"])
    @rule(actor=actor_for(MANAGER, MANAGER2), data=st.data())
    def cancel(self, actor: str, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.requests()))
        denied = row["municipality"] not in self.roles(actor).requester_for
        self.execute(
            "cancel",
            actor,
            denied,
            lambda key: self.service.requests.cancel(actor, row["id"], idempotency_key=key),
        )

    @precondition(lambda self: self.state["requests"])
    @rule(
        actor=actor_for(APPROVER, DEPUTY),
        data=st.data(),
        decision=st.sampled_from(["approve", "reject", "return"]),
    )
    def decide(self, actor: str, data: st.DataObject, decision: str) -> None:
        row = data.draw(st.sampled_from(self.requests()))
        denied = not self.may_decide(actor, row)

        def make(key: str) -> Awaitable[Any]:
            if decision == "approve":
                return self.service.requests.approve(actor, row["id"], idempotency_key=key)
            if decision == "reject":
                return self.service.requests.reject(
                    actor, row["id"], "Ei tarvetta", idempotency_key=key
                )
            return self.service.requests.return_with_question(
                actor, row["id"], "Mitkä tehtävät?", idempotency_key=key
            )

        self.execute(decision, actor, denied, make)

    @precondition(lambda self: self.state["requests"])
    @rule(actor=actor_for(MANAGER, MANAGER2), data=st.data())
    def resubmit(self, actor: str, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.requests()))
        denied = row["municipality"] not in self.roles(actor).requester_for
        changes = RequestChanges(
            level="record" if row["level"] == "view" else "view", answer="Tarkennettu"
        )
        self.execute(
            "resubmit",
            actor,
            denied,
            lambda key: self.service.requests.resubmit(
                actor, row["id"], changes, idempotency_key=key
            ),
        )

    @precondition(lambda self: self.state["grants"])
    @rule(
        actor=actor_for(MANAGER, MANAGER2, APPROVER, DEPUTY),
        data=st.data(),
        misuse=st.booleans(),
        reason=st.sampled_from(
            [RevokeReason.EMPLOYMENT_ENDED, RevokeReason.TASKS_CHANGED, RevokeReason.OTHER]
        ),
    )
    def revoke(self, actor: str, data: st.DataObject, misuse: bool, reason: RevokeReason) -> None:
        grant = data.draw(st.sampled_from(self.state["grants"]))
        if misuse:
            denied = grant["area"] not in self.roles(actor).decides_in or (
                actor == grant["worker_email"]
            )
            self.execute(
                "misuse",
                actor,
                denied,
                lambda key: self.service.requests.revoke_for_misuse(
                    actor, grant["id"], "Väärinkäyttö", idempotency_key=key
                ),
            )
        else:
            denied = grant["municipality"] not in self.roles(actor).requester_for
            self.execute(
                "revoke",
                actor,
                denied,
                lambda key: self.service.requests.revoke_by_municipality(
                    actor, grant["id"], reason, idempotency_key=key
                ),
            )

    def may_stop(self, actor: str, row: dict[str, Any]) -> bool:
        roles = self.roles(actor)
        return row["municipality"] in roles.requester_for or (
            row["area"] in roles.decides_in and actor != row["worker_email"]
        )

    @precondition(lambda self: self.state["requests"])
    @rule(
        actor=actor_for(MANAGER, MANAGER2, APPROVER, DEPUTY),
        data=st.data(),
        reason=st.sampled_from(
            [
                RevokeReason.EMPLOYMENT_ENDED,
                RevokeReason.TASKS_CHANGED,
                RevokeReason.WITHDRAWN,
                RevokeReason.MISUSE,
                RevokeReason.OTHER,
            ]
        ),
    )
    def stop(self, actor: str, data: st.DataObject, reason: RevokeReason) -> None:
        """Stop a request (mostly one approved and not yet confirmed by KEHA)."""
        waiting = self.requests("approved", "queued_for_keha", "sent_to_keha")
        row = data.draw(st.sampled_from(waiting or self.requests()))
        self.execute(
            "stop",
            actor,
            not self.may_stop(actor, row),
            lambda key: self.service.requests.stop(
                actor, row["id"], reason, "Tehtävä päättyi", idempotency_key=key
            ),
        )

    @precondition(lambda self: self.state["requests"])
    @rule(
        actor=actor_for(APPROVER, ADMIN, KUOPIO_ADMIN),
        municipality=st.sampled_from(["laukaa", "laukaa", "viitasaari", "kuopio"]),
        rare=st.integers(0, 4),
    )
    def dissolve(self, actor: str, municipality: str, rare: int) -> None:
        """The area dissolves a municipality's agreement for breach (002 §10); rarely,
        since it ends everything of the municipality."""
        if rare:
            return
        found = self.directory.municipality(municipality)
        assert found is not None
        roles = self.roles(actor)
        denied = found.area_code not in roles.admin_in | roles.decides_in
        self.execute(
            "dissolve",
            actor,
            denied,
            lambda key: self.service.agreements.dissolve(
                actor, municipality, "Sopimusehtoja rikottu", idempotency_key=key
            ),
        )
        if denied:
            return
        # Nothing of the municipality is left that KEHA would still open or keep open.
        for grant in self.state["grants"]:
            if grant["municipality"] == municipality:
                assert grant["state"] in ("revoking", "removed")
        for r in self.state["requests"]:
            if r["municipality"] == municipality and r["kind"] != "revoke":
                assert r["state"] not in (
                    "pending",
                    "returned",
                    "approved",
                    "queued_for_keha",
                    "sent_to_keha",
                )

    @precondition(lambda self: self.state["requests"])
    @rule(actor=actor_for(ADMIN, KUOPIO_ADMIN), area=st.sampled_from([PKS, PKS, KUOPIO]))
    def queue(self, actor: str, area: str) -> None:
        denied = area not in self.roles(actor).admin_in
        self.execute(
            "queue",
            actor,
            denied,
            lambda key: self.service.handoff.queue_for_keha(actor, area, idempotency_key=key),
        )

    @precondition(lambda self: self.state["batches"])
    @rule(actor=actor_for(ADMIN, KUOPIO_ADMIN), data=st.data())
    def mark_sent(self, actor: str, data: st.DataObject) -> None:
        batch = data.draw(st.sampled_from(self.state["batches"]))
        denied = batch["area"] not in self.roles(actor).admin_in
        self.execute(
            "mark_sent",
            actor,
            denied,
            lambda key: self.service.handoff.mark_sent(actor, batch["id"], idempotency_key=key),
        )

    @precondition(lambda self: self.state["keha_rows"])
    @rule(actor=actor_for(ADMIN, KUOPIO_ADMIN), data=st.data())
    def confirm(self, actor: str, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.state["keha_rows"]))
        denied = row["area"] not in self.roles(actor).admin_in
        self.execute(
            "confirm",
            actor,
            denied,
            lambda key: self.service.handoff.confirm_row(actor, row["id"], idempotency_key=key),
        )

    @precondition(lambda self: self.state["requests"])
    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """Move a random request one step along the happy path, by the right person."""
        active = [g for g in self.state["grants"] if g["state"] == "active"]
        candidates = self.requests(*OPEN)
        if active and (not candidates or data.draw(st.integers(0, 3)) == 0):
            self.act_on_grant(data.draw(st.sampled_from(active)), data)
            return
        if not candidates:
            return
        newest = max(candidates, key=lambda r: r["number"])
        row = newest if data.draw(st.booleans()) else data.draw(st.sampled_from(candidates))
        area = self.directory.areas[row["area"]]
        admin = area.authority_admins[0]
        if row["state"] == "pending":
            deciders = [a for a in area.approvers + area.deputies if self.may_decide(a, row)]
            if not deciders:
                return
            actor = deciders[0]
            choice = data.draw(
                st.sampled_from(["approve", "approve", "return", "reject", "cancel"])
            )
            if choice == "cancel":
                requester = row["requester"]
                self.execute(
                    "cancel",
                    requester,
                    False,
                    lambda key: self.service.requests.cancel(
                        requester, row["id"], idempotency_key=key
                    ),
                )
            elif choice == "return":
                self.execute(
                    "return",
                    actor,
                    False,
                    lambda key: self.service.requests.return_with_question(
                        actor, row["id"], "Mitkä tehtävät?", idempotency_key=key
                    ),
                )
            elif choice == "reject":
                self.execute(
                    "reject",
                    actor,
                    False,
                    lambda key: self.service.requests.reject(
                        actor, row["id"], "Ei", idempotency_key=key
                    ),
                )
            else:
                self.execute(
                    "approve",
                    actor,
                    False,
                    lambda key: self.service.requests.approve(
                        actor, row["id"], idempotency_key=key
                    ),
                )
        elif row["state"] == "returned":
            actor = row["requester"]
            self.execute(
                "resubmit",
                actor,
                None,
                lambda key: self.service.requests.resubmit(
                    actor, row["id"], RequestChanges(answer="Vastaus"), idempotency_key=key
                ),
            )
        elif (
            row["state"] in ("approved", "queued_for_keha", "sent_to_keha")
            and row["kind"] != "revoke"
            and data.draw(st.integers(0, 9)) == 0
        ):
            requester = row["requester"]
            self.execute(
                "stop",
                requester,
                False,
                lambda key: self.service.requests.cancel(requester, row["id"], idempotency_key=key),
            )
        elif row["state"] == "stopping":
            cancels = [
                k
                for k in self.state["keha_rows"]
                if k["request_id"] == row["id"] and k["cancels_row_id"]
            ]
            if not cancels:
                self.execute(
                    "queue",
                    admin,
                    False,
                    lambda key: self.service.handoff.queue_for_keha(
                        admin, row["area"], idempotency_key=key, request_ids=[row["id"]]
                    ),
                )
            elif cancels[0]["state"] == "queued":
                self.execute(
                    "mark_sent",
                    admin,
                    False,
                    lambda key: self.service.handoff.mark_sent(
                        admin, cancels[0]["batch_id"], idempotency_key=key
                    ),
                )
            else:
                self.execute(
                    "confirm",
                    admin,
                    False,
                    lambda key: self.service.handoff.confirm_row(
                        admin, cancels[0]["id"], idempotency_key=key
                    ),
                )
        elif row["state"] == "approved":
            self.execute(
                "queue",
                admin,
                False,
                lambda key: self.service.handoff.queue_for_keha(
                    admin, row["area"], idempotency_key=key, request_ids=[row["id"]]
                ),
            )
        elif row["state"] == "queued_for_keha":
            [keha] = [k for k in self.state["keha_rows"] if k["request_id"] == row["id"]]
            self.execute(
                "mark_sent",
                admin,
                False,
                lambda key: self.service.handoff.mark_sent(
                    admin, keha["batch_id"], idempotency_key=key
                ),
            )
        else:
            [keha] = [k for k in self.state["keha_rows"] if k["request_id"] == row["id"]]
            self.execute(
                "confirm",
                admin,
                False,
                lambda key: self.service.handoff.confirm_row(
                    admin, keha["id"], idempotency_key=key
                ),
            )

    def act_on_grant(self, grant: dict[str, Any], data: st.DataObject) -> None:
        """Change or revoke an active grant, by someone who may."""
        municipality = self.directory.municipality(grant["municipality"])
        area = self.directory.areas[grant["area"]]
        assert municipality is not None
        what = data.draw(st.sampled_from(["change", "correct", "revoke", "misuse"]))
        if what == "misuse":
            actor = area.approvers[0]
            self.execute(
                "misuse",
                actor,
                actor == grant["worker_email"],
                lambda key: self.service.requests.revoke_for_misuse(
                    actor, grant["id"], "Väärinkäyttö", idempotency_key=key
                ),
            )
            return
        if not municipality.requesters:
            return
        actor = municipality.requesters[0]
        if what == "revoke":
            self.execute(
                "revoke",
                actor,
                False,
                lambda key: self.service.requests.revoke_by_municipality(
                    actor, grant["id"], RevokeReason.EMPLOYMENT_ENDED, idempotency_key=key
                ),
            )
            return
        if what == "correct":
            d = self.correction(grant, data)
            self.execute(
                "correct",
                actor,
                False,
                lambda key: self.service.requests.submit(actor, d, idempotency_key=key),
            )
            return
        today = self.clock.today()
        d = RequestDraft(
            kind=RequestKind.CHANGE,
            grant_id=grant["id"],
            service_areas=tuple(grant["service_areas"]),
            level="record" if grant["level"] == "view" else "view",
            start=today,
            end=today + timedelta(days=30),
            justification="Tehtävät muuttuivat",
            confirmations=frozenset(area.requires),
        )
        self.execute(
            "change",
            actor,
            False,
            lambda key: self.service.requests.submit(actor, d, idempotency_key=key),
        )

    @precondition(lambda self: self.state["requests"])
    @rule(data=st.data())
    def progress_again(self, data: st.DataObject) -> None:
        """The happy path twice as often as any other rule, so runs get deep."""
        self.progress(data)

    @precondition(lambda self: self.state["requests"])
    @rule(days=st.integers(1, 40), sweep=st.sampled_from(["expire", "end_due_grants"]))
    def time_passes(self, days: int, sweep: str) -> None:
        self.clock.advance(days=days)
        if sweep == "expire":
            self.execute(
                "expire", "system", False, lambda key: self.service.jobs.expire(idempotency_key=key)
            )
        else:
            self.execute(
                "end_due",
                "system",
                False,
                lambda key: self.service.jobs.end_due_grants(idempotency_key=key),
            )

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        make, key, first = data.draw(st.sampled_from(self.done))
        before = self.state
        again = self.run(make(key))
        self.stats["replay:ok"] += 1
        assert _ids(again) == _ids(first)
        assert self.run(snapshot(self.factory)) == before

    @precondition(lambda self: self.state["requests"])
    @rule(actor=st.sampled_from(ACTORS + [w for _, w in WORKERS]), data=st.data())
    def view(self, actor: str, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.requests()))
        roles = self.roles(actor)
        visible = (
            row["municipality"] in roles.requester_for
            or row["area"] in roles.decides_in | roles.admin_in
            or actor in (row["worker_email"], row["requester"], row["created_by"])
        )
        self.execute(
            "view",
            actor,
            not visible,
            lambda key: self.service.queries.get_request(actor, row["id"]),
            replayable=False,
        )

    # --------------------------------------------------------------- invariants

    @invariant()
    def audit_chain_verifies(self) -> None:
        entries = [
            AuditEntry(
                seq=a["seq"],
                at=a["at"],
                actor=a["actor"],
                action=a["action"],
                request_id=a["request_id"],
                details=a["details"],
                prev_hash=a["prev_hash"],
                hash=a["hash"],
            )
            for a in self.state["audit"]
        ]
        head = self.run(_head(self.factory))
        result = verify_chain(entries, head=head)
        assert result.ok, result

    @invariant()
    def grants_have_a_confirmed_request(self) -> None:
        requests = {r["id"]: r for r in self.state["requests"]}
        for grant in self.state["grants"]:
            origin = requests[grant["origin_request_id"]]
            assert origin["kind"] == "grant" and origin["state"] == "done"
            assert origin["grant_id"] == grant["id"]
            revokes = [
                r
                for r in self.state["requests"]
                if r["kind"] == "revoke" and r["grant_id"] == grant["id"]
            ]
            if grant["state"] == "active":
                assert revokes == []
            elif grant["state"] == "revoking":
                assert len(revokes) == 1 and revokes[0]["state"] in OPEN
            else:
                assert len(revokes) == 1 and revokes[0]["state"] == "done"

    @invariant()
    def grants_carry_the_last_correction(self) -> None:
        """A grant's name and job title are those of its last done request (the grant
        request, then each done change: a correction); its e-mail never changes; the
        KEHA row of a change carries the corrected name and title."""
        requests = {r["id"]: r for r in self.state["requests"]}
        rows = {k["request_id"]: k for k in self.state["keha_rows"]}
        for grant in self.state["grants"]:
            origin = requests[grant["origin_request_id"]]
            assert grant["worker_email"] == origin["worker_email"]
            done = [
                r
                for r in self.state["requests"]
                if r["state"] == "done" and r["kind"] == "change" and r["grant_id"] == grant["id"]
            ]
            last = max(done, key=lambda r: (r["updated_at"], r["number"]), default=origin)
            assert (grant["worker_name"], grant["worker_job_title"]) == (
                last["worker_name"],
                last["worker_job_title"],
            )
            for change in done:
                assert change["worker_email"] == grant["worker_email"]
                row = rows[change["id"]]
                assert (row["worker_name"], row["worker_job_title"]) == (
                    change["worker_name"],
                    change["worker_job_title"],
                )

    @invariant()
    def one_live_grant_or_open_request_per_worker_and_area(self) -> None:
        live: Counter[tuple[str, str]] = Counter()
        for grant in self.state["grants"]:
            if grant["state"] in ("active", "revoking"):
                live[(grant["worker_email"], grant["area"])] += 1
        for r in self.state["requests"]:
            if r["kind"] == "grant" and r["state"] in OPEN:
                live[(r["worker_email"], r["area"])] += 1
        assert all(n <= 1 for n in live.values()), live

    @invariant()
    def approvals_and_keha_rows_follow_requests(self) -> None:
        decisions = Counter((d["request_id"], d["outcome"]) for d in self.state["decisions"])
        rows: dict[str, list[dict[str, Any]]] = {}
        cancels: dict[str, list[dict[str, Any]]] = {}
        for k in self.state["keha_rows"]:
            into = cancels if k["cancels_row_id"] else rows
            into.setdefault(k["request_id"], []).append(k)
        expected_row = {"queued_for_keha": "queued", "sent_to_keha": "sent", "done": "confirmed"}
        for r in self.state["requests"]:
            if r["state"] in ("approved", "queued_for_keha", "sent_to_keha", "done"):
                approved = decisions[(r["id"], "approved")]
                if r["kind"] == "revoke":
                    assert approved == (1 if r["revoke_reason"] == "misuse" else 0)
                else:
                    assert approved == 1
            own = [k["state"] for k in rows.get(r["id"], [])]
            cancel = [k["state"] for k in cancels.get(r["id"], [])]
            if r["state"] in expected_row:
                assert own == [expected_row[r["state"]]] and cancel == []
            elif r["state"] == "stopping":
                # KEHA has the opening (or change) and gets, or has, its cancellation.
                assert own == ["sent"] and cancel in ([], ["queued"], ["sent"])
                assert r["urgent"] and r["kind"] != "revoke"
            elif r["state"] == "stopped":
                # Stopped before it was sent (no row left), or KEHA confirmed the
                # cancellation of what it was sent: nothing of it is open or changed.
                assert (own, cancel) in (([], []), (["cancelled"], ["confirmed"]))
                assert r["revoke_reason"] and r["kind"] != "revoke"
                assert decisions[(r["id"], "approved")] == 1
            else:
                assert own == [] and cancel == []


class SeqIds:
    """Predictable ids, so the same steps give the same database (hypothesis replays
    draw from lists ordered by id)."""

    def __init__(self) -> None:
        self.n = 0

    def new_id(self) -> str:
        self.n += 1
        return f"id{self.n:08d}"


def _ids(result: Any) -> Any:
    if isinstance(result, Dissolution):
        return [r.id for r in result.requests]
    if isinstance(result, list):
        return [r.id for r in result]
    if isinstance(result, Revocation):
        return (result.grant.id, result.request.id if result.request else None)
    return result.id


async def _head(factory: async_sessionmaker[AsyncSession]) -> ChainHead | None:
    async with factory() as session:
        row = (await session.execute(text("SELECT seq, hash FROM audit_chain_head"))).first()
    return ChainHead(row.seq, row.hash) if row is not None and row.seq else None


async def _reset(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session:
        for table in (
            "grant_events",
            "keha_rows",
            "keha_batches",
            "decisions",
            "grants",
            "outbox",
            "audit_log",
            "idempotency_keys",
            "request_counters",
            "access_requests",
            "audit_chain_head",
        ):
            await session.execute(text(f"DELETE FROM {table}"))
        await session.execute(
            text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
        await session.commit()


def test_lifecycle_state_machine(db_url: str) -> None:
    with asyncio.Runner() as runner:
        engine: AsyncEngine = create_engine(db_url)
        LifecycleMachine.runner = runner
        LifecycleMachine.factory = create_session_factory(engine)
        LifecycleMachine.directory = example_directory()
        LifecycleMachine.stats = Counter()
        try:
            run_state_machine_as_test(
                LifecycleMachine,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=50,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
        finally:
            runner.run(engine.dispose())
        stats = LifecycleMachine.stats
        name = db_url.split(":")[0]
        print(f"\n[{name}] commands (command:outcome) and transitions (~ from -> to):")
        for label, count in sorted(stats.items()):
            print(f"  {label}: {count}")
        # The machine reached every part of the lifecycle.
        for reached in (
            "submit:ok",
            "submit:denied",
            "approve:ok",
            "queue:ok",
            "mark_sent:ok",
            "confirm:ok",
            "replay:ok",
        ):
            assert stats[reached] > 0, reached
        assert stats["revoke:ok"] + stats["misuse:ok"] > 0
        assert sum(n for label, n in stats.items() if label.startswith("correct:")) > 0
        assert stats["stop:ok"] > 0 and stats["dissolve:ok"] > 0
