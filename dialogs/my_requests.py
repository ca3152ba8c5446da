"""The manager's requests ("omat hakemukset" / "mina ansökningar" / "my requests" /
"status").

The list shows the recent requests of the manager's municipalities with a state
badge; a row opens the details with the history (submitted, decisions, current
state). A pending or returned request can be cancelled, an approved one not yet
confirmed by KEHA stopped (withdrawn); a returned one can be
answered: the request form opens prefilled, with the approver's question and a
required answer field under it, and Confirm resubmits it with the answer (same
validation and summary as a new request). A change request's form offers what a change
can change (its worker's name and job title, not the e-mail or the start).
A notification's button opens the dialog on its request (``atmt_open``): the details,
or (``atmt_answer``) the form to answer the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from access.errors import AccessDenied, AccessError, PolicyViolations
from access.model import (
    AWAITING_DECISION,
    STOPPABLE_STATES,
    AccessRequest,
    RequestChanges,
    RequestDraft,
    RequestKind,
    RequestState,
)
from access.policy import Violation, check_answer
from access.queries import RequestView
from dialogs import activity_fields as fields
from dialogs.cards.approval import request_person
from dialogs.cards.request_form import CONFIRM_PREFIX, FormOptions
from dialogs.cards.requests_list import (
    DETAILS_CARD,
    LIST_CARD,
    RequestRow,
    request_details_card,
    requests_list_card,
)
from dialogs.i18n import Messages
from dialogs.new_request import requester_options
from dialogs.people import display_names
from dialogs.request_flow import (
    FlowDeps,
    FormDialogMixin,
    check_draft,
    draft_from_values,
    new_instance,
    put_card,
    requester_state,
    resolve_requester,
    same_user,
    state_label,
)
from dialogs.turn import messages_of
from dialogs.violations import code_name

__all__ = ["LIST_LIMIT", "MyRequestsDialog"]

LIST_LIMIT = 15


class MyRequestsDialog(FormDialogMixin, Dialog):  # type: ignore[misc]
    ID = "manager.my_requests"
    mode = "resubmit"

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(self.ID)
        self.deps = deps

    # ------------------------------------------------------------- the form

    def form_options(self, m: Messages, state: Mapping[str, Any]) -> FormOptions:
        request = state["request"]
        base = requester_options(m, self.deps, (request["municipality"],), mode="resubmit")
        municipality = self.deps.directory.municipality(request["municipality"])
        fixed = [
            (m.t("manager.fact.number"), request["number"]),
            (m.t("manager.field.worker_email"), request["worker_email"]),
            (
                m.t("manager.field.municipality"),
                municipality.name if municipality else request["municipality"],
            ),
        ]
        change = request["kind"] == RequestKind.CHANGE.value
        return FormOptions(
            mode="resubmit",
            service_areas=base.service_areas,
            levels=base.levels,
            confirmations=base.confirmations,
            fixed=fixed,
            question=request.get("question") or None,
            editable_worker=True,  # a grant request's worker, or a change's correction
            worker_email_input=False,
            municipality_input=False,
            answer_input=True,
            start_input=not change,
            identity_note=change,
        )

    def make_draft(
        self, values: Mapping[str, str], state: Mapping[str, Any], options: FormOptions
    ) -> RequestDraft:
        request = state["request"]
        draft = draft_from_values(
            values,
            kind=RequestKind(request["kind"]),
            confirmations=options.confirmations,
            municipality=request["municipality"],
            worker_email=request["worker_email"],
            grant_id=request.get("grant_id"),
        )
        if draft.kind is RequestKind.CHANGE and request.get("start"):
            # A change cannot move the start: it keeps the one it was sent with.
            draft = replace(draft, start=date.fromisoformat(request["start"]))
        return draft

    async def precheck(self, draft: RequestDraft, state: Mapping[str, Any]) -> list[Violation]:
        answer = check_answer(str(state.get("values", {}).get("answer", "")))
        grant = None
        if draft.kind is RequestKind.CHANGE:
            try:
                view = await self.deps.service.queries.get_request(
                    state["email"], state["request"]["id"]
                )
                grant = view.grant
            except AccessError:
                grant = None
        return answer + check_draft(self.deps, draft, grant=grant, exclude=state["request"]["id"])

    async def send(self, draft: RequestDraft, state: Mapping[str, Any], key: str) -> AccessRequest:
        changes = RequestChanges(
            worker_name=draft.worker_name,
            worker_job_title=draft.worker_job_title,
            service_areas=draft.service_areas,
            level=draft.level,
            start=draft.start,
            end=draft.end,
            justification=draft.justification,
            confirmations=draft.confirmations,
            answer=str(state["values"].get("answer", "")),
        )
        return await self.deps.service.requests.resubmit(
            state["email"], state["request"]["id"], changes, idempotency_key=key
        )

    # ------------------------------------------------------------- the list

    async def _rows(self, m: Messages, state: Mapping[str, Any]) -> list[RequestRow]:
        email = state["email"]
        mine = set(state["municipalities"])
        requests = await self.deps.service.queries.list_requests_for(email, limit=100)
        rows: list[RequestRow] = []
        for request in requests:
            if request.municipality not in mine and request.requester != email:
                continue
            municipality = self.deps.directory.municipality(request.municipality)
            rows.append(
                RequestRow(
                    request_id=request.id,
                    number=request.number,
                    kind_label=m.t(f"manager.kind.{request.kind.value}"),
                    worker_name=request.worker.name,
                    municipality_name=municipality.name if municipality else request.municipality,
                    state=request.state.value,
                    state_label=state_label(m, request.state),
                    when=m.format_date(request.updated_at.date()),
                )
            )
            if len(rows) >= LIST_LIMIT:
                break
        return rows

    async def _show_list(
        self, dc: DialogContext, state: dict[str, Any], card_id: str | None = None
    ) -> int:
        m = messages_of(dc.context)
        rows = await self._rows(m, state)
        if not rows:
            return 0
        state["card_id"] = await put_card(
            dc.context, requests_list_card(m, rows, instance=state["instance"]), card_id
        )
        state["step"] = "list"
        return len(rows)

    async def _history(self, m: Messages, view: RequestView) -> list[tuple[str, str, str]]:
        request = view.request
        directory = self.deps.directory
        names = await display_names(
            self.deps.refs, [request.created_by, *(d.actor for d in view.decisions)]
        )

        def who(email: str) -> str:
            return request_person(m, directory, request, email, names)

        history = [
            (
                m.format_datetime(request.created_at),
                m.t("manager.history.submitted", who=who(request.created_by)),
                "",
            )
        ]
        for decision in view.decisions:
            history.append(
                (
                    m.format_datetime(decision.at),
                    m.t(f"manager.history.{decision.outcome.value}", who=who(decision.actor)),
                    decision.text,
                )
            )
        if request.state in (RequestState.CANCELLED, RequestState.EXPIRED) or (
            request.state is RequestState.PENDING and view.decisions
        ):
            history.append(
                (
                    m.format_datetime(request.updated_at),
                    m.t("manager.history.now", state=state_label(m, request.state)),
                    "",
                )
            )
        return history

    async def _show_details(
        self, dc: DialogContext, state: dict[str, Any], view: RequestView, card_id: str | None
    ) -> None:
        m = messages_of(dc.context)
        request = view.request
        directory = self.deps.directory
        municipality = directory.municipality(request.municipality)
        facts: list[tuple[str, str]] = [
            (m.t("manager.field.worker_name"), request.worker.name),
            (m.t("manager.field.worker_email"), request.worker.email),
            (
                m.t("manager.field.municipality"),
                municipality.name if municipality else request.municipality,
            ),
        ]
        if request.kind is not RequestKind.REVOKE:
            facts.append(
                (
                    m.t("manager.field.service_areas"),
                    ", ".join(
                        code_name(m, directory, "service_area", c) for c in request.service_areas
                    ),
                )
            )
            facts.append(
                (m.t("manager.field.level"), code_name(m, directory, "level", request.level))
            )
        if request.start is not None:
            facts.append((m.t("manager.field.start"), m.format_date(request.start)))
        if request.end is not None:
            facts.append((m.t("manager.field.end"), m.format_date(request.end)))
        if request.justification:
            facts.append((m.t("manager.field.justification"), request.justification))
        details = request_details_card(
            m,
            heading=m.t(
                "manager.details.title",
                kind=m.t(f"manager.kind.{request.kind.value}"),
                number=request.number,
            ),
            state=request.state.value,
            state_label=state_label(m, request.state),
            facts=facts,
            history=await self._history(m, view),
            question=request.question if request.state is RequestState.RETURNED else None,
            # Approved and not yet confirmed by KEHA it can still be stopped (withdrawn).
            can_cancel=request.state in AWAITING_DECISION | STOPPABLE_STATES
            and request.kind is not RequestKind.REVOKE,
            can_answer=request.state is RequestState.RETURNED,
            instance=state["instance"],
            request_id=request.id,
            version=request.version,
        )
        state["card_id"] = await put_card(dc.context, details, card_id)
        state["step"] = "details"

    # ------------------------------------------------------------- turns

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        requester = await resolve_requester(context, self.deps)
        if requester is None:
            return await dialog_context.end_dialog()
        state = dialog_context.active_dialog.state
        state.update(requester_state(requester, {}))
        opened = options.get("atmt_open") if isinstance(options, Mapping) else None
        if isinstance(opened, str):  # a notification's button: that request first
            assert isinstance(options, Mapping)
            return await self._open(dialog_context, state, opened, options.get("atmt_answer"))
        if await self._show_list(dialog_context, state) == 0:
            await context.send_activity(messages_of(context).t("manager.requests.none"))
            return await dialog_context.end_dialog()
        return Dialog.end_of_turn

    async def _open(
        self, dc: DialogContext, state: dict[str, Any], request_id: str, answer: object
    ) -> DialogTurnResult:
        """The request a notification is about: its details, or with ``answer`` the form
        to answer its question while it is still returned."""
        context = dc.context
        m = messages_of(context)
        if not 0 < len(request_id) <= 64:
            await context.send_activity(m.t("manager.card.old"))
            return await dc.end_dialog()
        try:
            view = await self.deps.service.queries.get_request(state["email"], request_id)
        except AccessDenied:
            await context.send_activity(m.t("manager.error.denied"))
            return await dc.end_dialog()
        except AccessError:
            await context.send_activity(m.t("manager.error.not_found"))
            return await dc.end_dialog()
        request = view.request
        if answer is True and request.state is RequestState.RETURNED:
            state["request"] = _snapshot(request)
            state["values"] = _values_of(request)
            await self.show_form(context, state)
            return Dialog.end_of_turn
        await self._show_details(dc, state, view, None)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        m = messages_of(context)
        if not fields.is_message(context.activity):
            return Dialog.end_of_turn
        state = dialog_context.active_dialog.state
        value = fields.value(context.activity)
        kind = value.get("atmt_card") if isinstance(value, dict) else None
        if kind in (LIST_CARD, DETAILS_CARD):
            assert isinstance(value, dict)
            if not same_user(context, state):
                await context.send_activity(m.t("manager.error.other_user"))
                return Dialog.end_of_turn
            if value.get("atmt_instance") != state.get("instance"):
                await context.send_activity(m.t("manager.card.old"))
                return Dialog.end_of_turn
            return await self._on_browse(dialog_context, state, value)
        if "request" in state:
            result = await self.continue_form(dialog_context, state)
            if result is not None:
                return result
        await context.send_activity(m.t("manager.card.reprompt"))
        return Dialog.end_of_turn

    async def _on_browse(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        card_id = fields.card_message_id(context.activity) or state.get("card_id")
        action = value.get("atmt_action")
        if action == "close":
            await context.send_activity(m.t("manager.requests.closed"))
            return await dc.end_dialog()
        if action == "back":
            if await self._show_list(dc, state, card_id) == 0:
                await context.send_activity(m.t("manager.requests.none"))
                return await dc.end_dialog()
            return Dialog.end_of_turn
        request_id = value.get("request_id")
        if not isinstance(request_id, str) or len(request_id) > 64:
            await context.send_activity(m.t("manager.card.old"))
            return Dialog.end_of_turn
        try:
            view = await self.deps.service.queries.get_request(state["email"], request_id)
        except AccessDenied:
            await context.send_activity(m.t("manager.error.denied"))
            return Dialog.end_of_turn
        except AccessError:
            await context.send_activity(m.t("manager.error.not_found"))
            return Dialog.end_of_turn
        request = view.request
        if action == "details":
            await self._show_details(dc, state, view, card_id)
            return Dialog.end_of_turn
        if value.get("version") != request.version:
            await context.send_activity(m.t("manager.error.changed_since"))
            await self._show_details(dc, state, view, card_id)
            return Dialog.end_of_turn
        if action == "cancel_request":
            return await self._cancel_request(dc, state, view, card_id)
        if action == "answer" and request.state is RequestState.RETURNED:
            state["request"] = _snapshot(request)
            state["values"] = _values_of(request)
            state["instance"] = new_instance()  # the form is a new card instance
            await self.show_form(context, state, card_id=card_id)
            return Dialog.end_of_turn
        await context.send_activity(m.t("manager.error.changed_since"))
        return Dialog.end_of_turn

    async def _cancel_request(
        self, dc: DialogContext, state: dict[str, Any], view: RequestView, card_id: str | None
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        request = view.request
        try:
            cancelled = await self.deps.service.requests.cancel(
                state["email"],
                request.id,
                idempotency_key=f"cancel:{request.id}:{request.version}",
            )
        except AccessDenied:
            await context.send_activity(m.t("manager.error.denied"))
            return Dialog.end_of_turn
        except (PolicyViolations, AccessError):
            await context.send_activity(m.t("manager.error.changed_since"))
            return Dialog.end_of_turn
        fresh = await self.deps.service.queries.get_request(state["email"], cancelled.id)
        await self._show_details(dc, state, fresh, card_id)
        done = {
            RequestState.STOPPED: "manager.requests.stopped",
            RequestState.STOPPING: "manager.requests.stopping",
        }.get(cancelled.state, "manager.requests.cancelled")
        await context.send_activity(m.t(done, number=cancelled.number))
        return Dialog.end_of_turn


def _snapshot(request: AccessRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "number": request.number,
        "kind": request.kind.value,
        "municipality": request.municipality,
        "worker_name": request.worker.name,
        "worker_email": request.worker.email,
        "worker_job_title": request.worker.job_title,
        "grant_id": request.grant_id,
        "question": request.question or "",
        "start": request.start.isoformat() if request.start else "",
    }


def _values_of(request: AccessRequest) -> dict[str, str]:
    values = {
        "worker_name": request.worker.name,
        "worker_job_title": request.worker.job_title,
        "service_areas": ",".join(request.service_areas),
        "level": request.level,
        "start": request.start.isoformat() if request.start else "",
        "end": request.end.isoformat() if request.end else "",
        "justification": request.justification,
    }
    for code in request.confirmations:
        values[f"{CONFIRM_PREFIX}{code}"] = "true"
    return values
