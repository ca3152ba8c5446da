"""The approver's side in chat: ``Action.Execute`` invokes and the pending list.

Teams sends a click on an approver card (and a ``refresh`` when the card is shown)
as an ``invoke`` named ``adaptiveCard/action``. :meth:`ApprovalHandler.on_invoke`
answers, within the invoke's ~10 s budget, with the current card
(``application/vnd.microsoft.card.adaptive``), which Teams puts in place of the old
one:

* ``atmt.refresh`` / ``atmt.open``: the card as the clicking user may see it
  (decide, or read-only), rebuilt from the database;
* ``atmt.approve`` / ``atmt.reject`` / ``atmt.return``: the command through
  :class:`access.service.AccessService` with the card's ``version`` as
  ``expected_version`` and an idempotency key made of the request, the version, the
  verb and the user, so a retried invoke or a double click returns the first result.
  The loser of a race gets the decided card with "already decided by X at T"; a
  card older than the request gets the current card and a note; a missing reason
  gets the card back with the form open and the error shown.
* ``atmt.list``: the pending list (the same as the typed command ``approvals``).
* ``atmt.stop`` / ``atmt.stop.confirm``: an approver stops an approved request KEHA
  has not confirmed (:meth:`access.requests.RequestService.stop`): the form's reason
  and note come back as a confirmation, whose button stops it. A card older than the
  request, a request already stopped or past stopping, and someone who may not stop it
  get the current card with a line saying so.

Every answer is a card: nothing a user can put in the invoke value leads to a 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue

from access import authz
from access.directory import Directory
from access.errors import (
    AccessDenied,
    AccessError,
    AlreadyDecided,
    IllegalTransition,
    NotFound,
    PolicyViolations,
    StaleRequest,
)
from access.model import (
    AREA_NOTE_REQUIRED,
    AREA_STOP_REASONS,
    STOPPABLE_STATES,
    AccessRequest,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    RevokeReason,
    Worker,
)
from access.policy import DECISION_TEXT_MAX, check_text
from access.ports import ConversationRefs
from access.service import AccessService
from dialogs import activity_fields as fields
from dialogs.cards.approval import (
    VERB_APPROVE,
    VERB_LIST,
    VERB_REJECT,
    VERB_RETURN,
    VERB_STOP,
    VERB_STOP_CONFIRM,
    VERBS,
    ApprovalView,
    Change,
    approval_card,
    approvals_list_card,
    message_card,
    request_person,
)
from dialogs.cards.base import Card
from dialogs.cards.grants import AREA_REVOKE_REASONS
from dialogs.i18n import Messages
from dialogs.people import display_names
from dialogs.turn import caller_of, messages_of
from dialogs.violations import violation_text

__all__ = ["CARD_CONTENT_TYPE", "ApprovalHandler", "changes_between", "grant_changes"]

log = logging.getLogger(__name__)

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
INVOKE_BUDGET_SECONDS = 8.0  # Teams gives up after about 10 s
CHANGE_FIELDS = (
    "worker_name",
    "worker_job_title",
    "service_areas",
    "level",
    "start",
    "end",
    "justification",
    "confirmations",
)
SNAPSHOT_ONLY = frozenset({"justification", "confirmations"})
"""Parameters only submissions made by this version carry: compared when both have them."""
GRANT_FIELDS = ("worker_name", "worker_job_title", "service_areas", "level", "end")
"""What a change request can change of its grant."""
STOP_REASONS: tuple[RevokeReason, ...] = tuple(
    r for r in map(RevokeReason, AREA_REVOKE_REASONS) if r in AREA_STOP_REASONS
)
"""The area's stop reasons, in the order of the area's removal form."""


def changes_between(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """Fields whose notification parameters differ between two snapshots."""
    found: list[Change] = []
    for name in CHANGE_FIELDS:
        if name in SNAPSHOT_ONLY and (name not in old or name not in new):
            continue
        before, after = str(old.get(name, "")), str(new.get(name, ""))
        if name in ("service_areas", "confirmations"):
            if set(before.split(",")) - {""} == set(after.split(",")) - {""}:
                continue
        elif before == after:
            continue
        found.append(Change(name, before, after))
    return tuple(found)


def grant_changes(grant: Grant, request: AccessRequest) -> tuple[Change, ...]:
    """What a change request asks to change of its grant: each field before -> after."""

    def fields(worker: Worker, areas: Sequence[str], level: str, end: date | None) -> list[str]:
        return [
            worker.name,
            worker.job_title,
            ",".join(areas),
            level,
            end.isoformat() if end else "",
        ]

    now = fields(grant.worker, grant.service_areas, grant.level, grant.end)
    asked = fields(request.worker, request.service_areas, request.level, request.end)
    found: list[Change] = []
    for name, before, after in zip(GRANT_FIELDS, now, asked, strict=True):
        same = (
            set(before.split(",")) == set(after.split(","))
            if name == "service_areas"
            else before == after
        )
        if not same:
            found.append(Change(name, before, after))
    return tuple(found)


class ApprovalHandler:
    def __init__(
        self,
        service: AccessService,
        refs: ConversationRefs,
        *,
        budget: float = INVOKE_BUDGET_SECONDS,
    ) -> None:
        self.service = service
        self.refs = refs
        self.budget = budget

    @property
    def directory(self) -> Directory:
        return self.service.directory

    # -------------------------------------------------------------- views

    async def user_ids(self, request: AccessRequest) -> tuple[str, ...]:
        """Teams user ids of the request's deciders who have talked to the bot."""
        area = self.directory.area(request.area)
        with_deputies = area.notify_deputies if area is not None else True
        ids: list[str] = []
        for email in self.directory.approvers_of(request.area, with_deputies=with_deputies):
            stored = await self.refs.get_by_email(email)
            user = stored.reference.get("user") if stored is not None else None
            user_id = user.get("id") if isinstance(user, dict) else None
            if isinstance(user_id, str) and user_id and user_id not in ids:
                ids.append(user_id)
        return tuple(ids)

    async def changes_of(self, actor: str, request: AccessRequest) -> tuple[Change, ...]:
        """What the resubmit that made ``request``'s version changed, as ``actor`` may see."""
        snapshots = await self.service.queries.submission_snapshots(actor, request.id)
        current = snapshots.get(request.version)
        earlier = [v for v in snapshots if v < request.version]
        if current is None or not earlier:
            return ()
        return changes_between(snapshots[max(earlier)], current)

    def may_stop(self, actor: str, request: AccessRequest) -> str | None:
        """Why ``actor`` may not stop ``request`` as an approver of its area (None: may)."""
        return authz.may_revoke_for_area(
            self.service.roles_of(actor), actor, request.area, request.worker.email
        )

    @staticmethod
    def stoppable(request: AccessRequest) -> bool:
        """Approved and not yet confirmed by KEHA (a grant or a change)."""
        return request.state in STOPPABLE_STATES and request.kind is not RequestKind.REVOKE

    async def view(
        self,
        actor: str,
        request_id: str,
        *,
        notice: str | None = None,
        notice_is_error: bool = False,
        input_error: str | None = None,
        stop_values: tuple[str, str] = ("", ""),
        confirm_stop: bool = False,
    ) -> ApprovalView:
        """The card's content for ``actor`` (raises AccessDenied / NotFound)."""
        found = await self.service.queries.get_request(actor, request_id)
        request = found.request
        denial = authz.may_decide(self.service.roles_of(actor), actor, request)
        may_stop = self.stoppable(request) and self.may_stop(actor, request) is None
        grants = await self.service.queries.list_grants_for(actor, states=tuple(GrantState))
        earlier = tuple(
            g
            for g in grants
            if g.worker.email == request.worker.email and g.origin_request_id != request.id
        )
        question: str | None = None
        answer: str | None = None
        changes: tuple[Change, ...] = ()
        if request.state is RequestState.PENDING and request.version > 1:
            changes = await self.changes_of(actor, request)
            returned = [d for d in found.decisions if d.outcome.value == "returned"]
            question = returned[-1].text if returned else None
            answer = request.answer or None
        # Before -> after of a change while it is on its way (done: the grant has it).
        asked = (
            grant_changes(found.grant, request)
            if request.kind is RequestKind.CHANGE and found.grant is not None and request.is_open
            else ()
        )
        deciders = [d.actor for d in found.decisions[-1:]]
        names = await display_names(self.refs, [request.requester, *deciders])
        return ApprovalView(
            request=request,
            decision=found.last_decision,
            earlier_grants=earlier,
            changes=changes,
            question=question,
            answer=answer,
            grant_changes=asked,
            can_decide=denial is None,
            readonly_reason=denial,
            notice=notice,
            notice_is_error=notice_is_error,
            input_error=input_error,
            user_ids=await self.user_ids(request),
            stop_reasons=tuple(r.value for r in STOP_REASONS) if may_stop else (),
            stop_values=stop_values,
            confirm_stop=confirm_stop and may_stop,
            names=names,
        )

    async def card_for(self, m: Messages, actor: str, request_id: str, **kwargs: Any) -> Card:
        return approval_card(m, self.directory, await self.view(actor, request_id, **kwargs))

    async def pending_for(self, actor: str) -> list[AccessRequest] | None:
        """Pending requests of the areas where ``actor`` decides; None: not a decider."""
        roles = self.service.roles_of(actor)
        if not roles.decides_in:
            return None
        found = await self.service.queries.list_requests_for(actor, states=[RequestState.PENDING])
        return [r for r in found if r.area in roles.decides_in]

    # ----------------------------------------------------------- commands

    async def send_list(self, turn_context: TurnContext) -> None:
        """The typed command ``approvals``."""
        m = messages_of(turn_context)
        identity = caller_of(turn_context)
        if identity is None or identity.email is None:
            await turn_context.send_activity(m.t("approval.error.no_email"))
            return
        pending = await self.pending_for(identity.email)
        if pending is None:
            await turn_context.send_activity(m.t("approval.list.not_approver"))
            return
        card = approvals_list_card(m, self.directory, pending)
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))

    # ------------------------------------------------------------- invoke

    async def on_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        m = messages_of(turn_context)
        action = invoke_value.action if isinstance(invoke_value.action, dict) else {}
        verb = action.get("verb")
        data = action.get("data")
        data = data if isinstance(data, dict) else {}
        activity = turn_context.activity
        try:
            async with asyncio.timeout(self.budget):
                card = await self._answer(turn_context, m, verb, data)
        except TimeoutError:
            log.warning("approval invoke too slow", extra={"event": "invoke_timeout"})
            card = message_card(m, m.t("approval.error.busy"))
        except AccessError as error:  # anything the service refuses that we did not expect
            log.info(
                "approval invoke refused",
                extra={
                    "event": "invoke_refused",
                    "reason": error.code,
                    "activity_id": fields.activity_id(activity),
                },
            )
            card = message_card(m, m.t("approval.error.refused"))
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)

    async def _answer(
        self, turn_context: TurnContext, m: Messages, verb: object, data: Mapping[str, Any]
    ) -> Card:
        if not isinstance(verb, str) or verb not in VERBS:
            return message_card(m, m.t("approval.error.bad_card"))
        identity = caller_of(turn_context)
        if identity is None or identity.email is None:
            return message_card(m, m.t("approval.error.no_email"))
        actor = identity.email
        if verb == VERB_LIST:
            pending = await self.pending_for(actor)
            if pending is None:
                return message_card(m, m.t("approval.list.not_approver"))
            return approvals_list_card(m, self.directory, pending)
        request_id = data.get("request_id")
        version = data.get("version")
        if (
            not isinstance(request_id, str)
            or not 0 < len(request_id) <= 64
            or not isinstance(version, int)
            or isinstance(version, bool)
        ):
            return message_card(m, m.t("approval.error.bad_card"))
        try:
            if verb in (VERB_APPROVE, VERB_REJECT, VERB_RETURN):
                return await self._decide(m, actor, verb, request_id, version, data)
            if verb in (VERB_STOP, VERB_STOP_CONFIRM):
                return await self._stop(m, actor, verb, request_id, version, data)
            return await self.card_for(m, actor, request_id)
        except NotFound:
            return message_card(m, m.t("approval.error.not_found"))
        except AccessDenied:
            return message_card(m, m.t("approval.error.denied"))

    async def _decide(
        self,
        m: Messages,
        actor: str,
        verb: str,
        request_id: str,
        version: int,
        data: Mapping[str, Any],
    ) -> Card:
        key = f"card:{request_id}:{version}:{verb}:{actor}"
        if len(key) > 200:  # the key column holds 255 characters; e-mails can be long
            key = "card:" + hashlib.sha256(key.encode()).hexdigest()
        field = {VERB_REJECT: "reason", VERB_RETURN: "question"}.get(verb)
        typed = data.get(field) if field else None
        if field is not None and (not isinstance(typed, str) or not typed.strip()):
            return await self.card_for(
                m,
                actor,
                request_id,
                notice=m.t(f"approval.field.{field}.error"),
                notice_is_error=True,
                input_error=field,
            )
        try:
            if verb == VERB_APPROVE:
                await self.service.requests.approve(
                    actor, request_id, idempotency_key=key, expected_version=version
                )
            elif verb == VERB_REJECT:
                await self.service.requests.reject(
                    actor, request_id, str(typed), idempotency_key=key, expected_version=version
                )
            else:
                await self.service.requests.return_with_question(
                    actor, request_id, str(typed), idempotency_key=key, expected_version=version
                )
        except AlreadyDecided as lost:
            outcome_key = f"approval.outcome_word.{lost.outcome}"
            request = (await self.service.queries.get_request(actor, request_id)).request
            names = await display_names(self.refs, [lost.decided_by])
            notice = m.t(
                "approval.already_decided",
                who=request_person(m, self.directory, request, lost.decided_by, names),
                when=m.format_datetime(lost.decided_at),
                outcome=m.t(outcome_key) if m.has(outcome_key) else str(lost.outcome),
            )
            return await self.card_for(m, actor, request_id, notice=notice, notice_is_error=True)
        except StaleRequest:
            return await self.card_for(
                m, actor, request_id, notice=m.t("approval.stale"), notice_is_error=True
            )
        except PolicyViolations as error:
            lines = [violation_text(m, self.directory, v) for v in error.violations]
            return await self.card_for(
                m,
                actor,
                request_id,
                notice=" ".join(lines),
                notice_is_error=True,
                input_error=field,
            )
        except IllegalTransition:
            return await self.card_for(
                m, actor, request_id, notice=m.t("approval.not_pending"), notice_is_error=True
            )
        log.info(
            "approval decided",
            extra={"event": "approval_decided", "request_id": request_id, "verb": verb},
        )
        return await self.card_for(m, actor, request_id, notice=m.t(f"approval.saved.{verb[5:]}"))

    # --------------------------------------------------------------- stop

    async def _stop(
        self,
        m: Messages,
        actor: str,
        verb: str,
        request_id: str,
        version: int,
        data: Mapping[str, Any],
    ) -> Card:
        """The stop form (``atmt.stop``: show the confirmation) or its confirmation
        (``atmt.stop.confirm``: stop it), each checked against the request as it is."""
        request = (await self.service.queries.get_request(actor, request_id)).request
        refused = await self._stop_refused(m, actor, request, version)
        if refused is not None:
            return refused
        raw_reason, raw_note = data.get("stop_reason"), data.get("stop_note", "")
        note = raw_note.strip() if isinstance(raw_note, str) else ""
        values = (raw_reason if isinstance(raw_reason, str) else "", note)
        reason = next((r for r in STOP_REASONS if r.value == raw_reason), None)
        if reason is None:
            return await self.card_for(
                m,
                actor,
                request_id,
                notice=m.t("approval.stop.reason.error"),
                notice_is_error=True,
                input_error="stop_reason",
                stop_values=values,
            )
        problems = check_text(
            "note", note, max_length=DECISION_TEXT_MAX, required=reason in AREA_NOTE_REQUIRED
        )
        if problems:
            return await self._stop_problems(m, actor, request_id, problems, values)
        if verb == VERB_STOP:
            return await self.card_for(m, actor, request_id, stop_values=values, confirm_stop=True)
        key = f"card:{request_id}:{version}:stop:{actor}"
        if len(key) > 200:
            key = "card:" + hashlib.sha256(key.encode()).hexdigest()
        try:
            stopped = await self.service.requests.stop(
                actor, request_id, reason, note, idempotency_key=key, expected_version=version
            )
        except PolicyViolations as error:
            return await self._stop_problems(m, actor, request_id, error.violations, values)
        except (AlreadyDecided, IllegalTransition, StaleRequest):
            # Someone else stopped or changed it, or KEHA confirmed it, a moment before.
            fresh = (await self.service.queries.get_request(actor, request_id)).request
            return await self._stop_refused(m, actor, fresh, version) or (
                await self.card_for(m, actor, request_id)
            )
        log.info(
            "approved request stopped",
            extra={"event": "approval_stopped", "request_id": request_id},
        )
        done = (
            "approval.stop.saved.stopping"
            if stopped.state is RequestState.STOPPING
            else "approval.stop.saved.stopped"
        )
        return await self.card_for(m, actor, request_id, notice=m.t(done, number=stopped.number))

    async def _stop_refused(
        self, m: Messages, actor: str, request: AccessRequest, version: int
    ) -> Card | None:
        """The current card with the reason ``actor`` cannot stop ``request`` from a card
        of ``version`` now; None: they can."""
        denial = self.may_stop(actor, request)
        key: str | None = None
        if request.state in (RequestState.STOPPING, RequestState.STOPPED):
            key = "approval.stop.already"
        elif denial is not None:
            key = f"approval.stop.denied.{denial}"
            if not m.has(key):
                key = "approval.stop.denied.not_approver_in_area"
        elif not self.stoppable(request):
            key = "approval.stop.not_stoppable"
        elif version != request.version:
            key = "approval.stop.stale"
        if key is None:
            return None
        return await self.card_for(m, actor, request.id, notice=m.t(key), notice_is_error=True)

    async def _stop_problems(
        self,
        m: Messages,
        actor: str,
        request_id: str,
        problems: Sequence[Any],
        values: tuple[str, str],
    ) -> Card:
        lines = [
            m.t("manager.error.note_required_area")
            if p.code == "text.required" and p.field == "note"
            else violation_text(m, self.directory, p)
            for p in problems
        ]
        return await self.card_for(
            m,
            actor,
            request_id,
            notice=" ".join(lines),
            notice_is_error=True,
            input_error="note",
            stop_values=values,
        )
