"""What the manager dialogs share: who is asking, the request form and its summary.

The form flow (used by new request, change and the answer to a returned request):

1. the form card is sent (or updated in place) with the values so far;
2. its ``Action.Submit`` (``atmt_card=request_form``) is parsed: values not offered
   (a municipality the requester may not act for, an unknown service area or level),
   malformed dates, forbidden characters in a name and overlong texts are caught here,
   then every rule of :func:`access.policy.check_request`; any problem -> the SAME card
   again, updated in place, values kept and each problem under its input;
3. otherwise the card becomes the summary (Confirm / Edit / Cancel);
4. Confirm calls the service with the idempotency key ``<mode>:<instance>:<revision>``
   (the card instance), so a double click makes one request; the summary becomes the
   receipt with the number and state. The service's ``PolicyViolations`` (e.g. a
   duplicate found at submit) bring the form back with the problems.

Everything the flow needs between turns is plain JSON in the dialog state
(ConversationState on SQL storage), so a restart mid-dialog loses nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from botbuilder.core import (
    CardFactory,
    ConversationState,
    MessageFactory,
    StatePropertyAccessor,
    TurnContext,
)
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult
from botbuilder.schema import Activity

from access.acknowledgements import Acknowledgements
from access.addresses import EMAIL_MAX
from access.directory import Directory
from access.errors import AccessDenied, AccessError, NotFound, PolicyViolations
from access.model import AccessRequest, RequestDraft, RequestKind, RequestState
from access.policy import (
    DECISION_TEXT_MAX,
    JOB_TITLE_MAX,
    JUSTIFICATION_MAX,
    NAME_MAX,
    PolicyContext,
    Violation,
    check_name,
    check_request,
)
from access.ports import ConversationRefs
from access.service import AccessService
from dialogs import activity_fields as fields
from dialogs.cards.approval import outcome_line
from dialogs.cards.request_form import (
    CONFIRM_PREFIX,
    FORM_CARD,
    SUMMARY_CARD,
    FieldError,
    FormOptions,
    form_closed_card,
    request_form_card,
    request_sent_card,
    request_summary_card,
)
from dialogs.cards.status import live_refresh
from dialogs.connector_errors import connector_failure
from dialogs.i18n import Messages
from dialogs.people import display_names
from dialogs.turn import caller_of, messages_of
from dialogs.violations import code_name, violation_text

__all__ = [
    "CHANGE_REQUEST_DIALOG",
    "RECEIPT_CARD",
    "VERB_RECEIPT",
    "DoneCards",
    "FlowDeps",
    "Requester",
    "card_activity",
    "close_open_card",
    "draft_from_values",
    "form_errors",
    "new_instance",
    "parse_form",
    "put_card",
    "receipt_card",
    "receipt_refresh",
    "requester_state",
    "resolve_requester",
    "summary_facts",
]

log = logging.getLogger(__name__)

DialogTurnResultWaiting: DialogTurnResult = Dialog.end_of_turn

TEXT_LIMITS = {
    "worker_name": NAME_MAX,
    "worker_email": EMAIL_MAX,
    "worker_job_title": JOB_TITLE_MAX,
    "justification": JUSTIFICATION_MAX,
    "answer": DECISION_TEXT_MAX,
}
NAME_FIELDS = ("worker_name", "worker_job_title")
DONE_LIMIT = 50
RECEIPT_CARD = "request_receipt"
VERB_RECEIPT = "atmt.receipt"
CHANGE_REQUEST_DIALOG = "manager.change_request"
"""The change dialog's id (the new-request form hands over to it)."""


@dataclass(frozen=True)
class Requester:
    user_key: str
    email: str
    municipalities: tuple[str, ...]


@dataclass(frozen=True)
class FlowDeps:
    """What the manager dialogs use; one instance per bot."""

    service: AccessService
    done: DoneCards
    acknowledgements: Acknowledgements
    # Where the Teams display names of the people a card names are read (None: by e-mail).
    refs: ConversationRefs | None = None

    @property
    def directory(self) -> Directory:
        return self.service.directory

    def today(self) -> date:
        return self.service.clock.today()


class DoneCards:
    """Card instances whose action is finished, so a second click can be answered
    with the result ("already sent as 2026-000012") instead of doing it again."""

    def __init__(self, conversation_state: ConversationState) -> None:
        self._property: StatePropertyAccessor = conversation_state.create_property(
            "ManagerDoneCards"
        )

    async def remember(self, context: TurnContext, instance: str, result: dict[str, str]) -> None:
        done: dict[str, Any] = await self._property.get(context, dict)
        done[instance] = result
        while len(done) > DONE_LIMIT:
            done.pop(next(iter(done)))
        await self._property.set(context, done)

    async def get(self, context: TurnContext, instance: object) -> dict[str, str] | None:
        if not isinstance(instance, str):
            return None
        done: dict[str, Any] = await self._property.get(context, dict)
        found = done.get(instance)
        return found if isinstance(found, dict) else None


def new_instance() -> str:
    return uuid.uuid4().hex


async def resolve_requester(
    context: TurnContext, deps: FlowDeps, *, need_role: bool = True
) -> Requester | None:
    """The e-mail and municipalities of the sender; tells the user when unknown."""
    m = messages_of(context)
    identity = caller_of(context)
    if identity is None or identity.email is None:
        await context.send_activity(m.t("manager.error.no_email"))
        return None
    roles = deps.directory.roles_of(identity.email)
    municipalities = tuple(
        sorted(
            roles.requester_for,
            key=lambda code: (getattr(deps.directory.municipality(code), "name", code), code),
        )
    )
    if need_role and not municipalities:
        await context.send_activity(m.t("manager.error.not_requester"))
        return None
    return Requester(identity.user_key, identity.email, municipalities)


def requester_state(requester: Requester, values: Mapping[str, str]) -> dict[str, Any]:
    """The state every manager dialog starts from: who, where, and a fresh card instance
    (its id makes the idempotency key of what the card submits)."""
    return {
        "user_key": requester.user_key,
        "email": requester.email,
        "municipalities": list(requester.municipalities),
        "instance": new_instance(),
        "revision": 0,
        "values": dict(values),
    }


def same_user(context: TurnContext, state: Mapping[str, Any]) -> bool:
    caller = caller_of(context)
    return caller is not None and caller.user_key == state.get("user_key")


def card_activity(card: dict[str, Any]) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


async def put_card(context: TurnContext, card: dict[str, Any], card_id: str | None) -> str | None:
    """Replace the card ``card_id`` in place; send a new one when that is impossible.
    Returns the id of the card now showing."""
    if card_id:
        update = card_activity(card)
        update.id = card_id
        try:
            await context.update_activity(update)
            return card_id
        except Exception as error:  # the old card stays; the user gets a new one
            log.warning(
                "could not update a card",
                extra={"event": "card_update_failed", "error_type": type(error).__name__}
                | connector_failure(error).log_fields(),
            )
    response = await context.send_activity(card_activity(card))
    return getattr(response, "id", None)


# ----------------------------------------------------------------------- the form


def _options_codes(choices: Sequence[tuple[str, str]]) -> set[str]:
    return {code for code, _ in choices}


def parse_form(
    m: Messages, value: Mapping[str, Any], options: FormOptions
) -> tuple[dict[str, str], list[FieldError]]:
    """The submitted inputs as kept values, and the problems the form itself shows."""
    values: dict[str, str] = {}
    errors: list[FieldError] = []

    def raw(name: str) -> str | None:
        item = value.get(name)
        if item is None:
            return ""
        if not isinstance(item, str):
            errors.append(FieldError(name, m.t("manager.error.invalid_value")))
            return None
        return item

    text_fields: list[str] = ["justification"]
    if options.answer_input:
        text_fields.append("answer")
    if options.editable_worker:
        text_fields += ["worker_name", "worker_job_title"]
    if options.worker_email_input:
        text_fields.append("worker_email")
    for name in text_fields:
        item = raw(name)
        if item is None:
            values[name] = ""
            continue
        limit = TEXT_LIMITS[name]
        stripped = item.strip()
        if len(stripped) > limit:
            errors.append(
                FieldError(
                    name,
                    m.t(
                        "violation.text.too_long",
                        max_length=limit,
                        length=len(stripped),
                        field=m.t(f"manager.field.{name}"),
                    ),
                )
            )
            stripped = stripped[:limit]
        if name in NAME_FIELDS:
            errors += [
                FieldError(name, m.t(f"violation.{v.code}", field=m.t(f"manager.field.{name}")))
                for v in check_name(name, stripped)
            ]
        values[name] = stripped

    if options.municipality_input:
        item = raw("municipality")
        if item:
            if item in _options_codes(options.municipalities):
                values["municipality"] = item
            else:
                errors.append(
                    FieldError("municipality", m.t("manager.error.municipality_not_offered"))
                )
        elif item == "":
            errors.append(FieldError("municipality", m.t("manager.field.municipality.error")))
    for name, choices in (("level", options.levels),):
        item = raw(name)
        if item:
            if item in _options_codes(choices):
                values[name] = item
            else:
                errors.append(FieldError(name, m.t("manager.error.level_not_offered")))
    item = raw("service_areas")
    if item:
        offered = _options_codes(options.service_areas)
        picked = [code.strip() for code in item.split(",") if code.strip()]
        kept = [code for code in dict.fromkeys(picked) if code in offered]
        if len(kept) != len(set(picked)):
            errors.append(
                FieldError("service_areas", m.t("manager.error.service_area_not_offered"))
            )
        values["service_areas"] = ",".join(kept)
    for name in ("start", "end") if options.start_input else ("end",):
        item = raw(name)
        if item:
            try:
                date.fromisoformat(item.strip()[:10] if len(item) <= 32 else "")
                values[name] = item.strip()[:10]
            except ValueError:
                errors.append(FieldError(name, m.t("manager.error.date_invalid")))
    for code in options.confirmations:
        item = raw(f"{CONFIRM_PREFIX}{code}")
        values[f"{CONFIRM_PREFIX}{code}"] = "true" if item == "true" else "false"
    return values, errors


def _date_or_none(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def draft_from_values(
    values: Mapping[str, str],
    *,
    kind: RequestKind,
    confirmations: Sequence[str],
    municipality: str | None = None,
    worker_email: str | None = None,
    grant_id: str | None = None,
) -> RequestDraft:
    return RequestDraft(
        kind=kind,
        municipality=municipality if municipality is not None else values.get("municipality", ""),
        worker_name=values.get("worker_name", ""),
        worker_email=worker_email if worker_email is not None else values.get("worker_email", ""),
        worker_job_title=values.get("worker_job_title", ""),
        service_areas=tuple(s for s in values.get("service_areas", "").split(",") if s),
        level=values.get("level", ""),
        start=_date_or_none(values.get("start")),
        end=_date_or_none(values.get("end")),
        justification=values.get("justification", ""),
        confirmations=frozenset(
            code for code in confirmations if values.get(f"{CONFIRM_PREFIX}{code}") == "true"
        ),
        grant_id=grant_id,
    )


def form_errors(
    m: Messages,
    directory: Directory,
    violations: Sequence[Violation],
    parsed: Sequence[FieldError] = (),
) -> list[FieldError]:
    """Parse problems first, then the policy's, one per field and text."""
    out = list(parsed)
    taken = {e.field for e in parsed}
    seen = {(e.field, e.text) for e in out}
    for violation in violations:
        if violation.field in taken and violation.field is not None:
            continue  # the form's own message about this input says it better
        error = FieldError(violation.field, violation_text(m, directory, violation))
        if (error.field, error.text) not in seen:
            seen.add((error.field, error.text))
            out.append(error)
    return out


def check_draft(
    deps: FlowDeps, draft: RequestDraft, *, grant: Any = None, exclude: str | None = None
) -> list[Violation]:
    return check_request(
        draft,
        deps.directory,
        PolicyContext(today=deps.today(), grant=grant, exclude_request_id=exclude),
    )


def summary_facts(
    m: Messages,
    directory: Directory,
    draft: RequestDraft,
    options: FormOptions,
    *,
    answer: str | None = None,
) -> list[tuple[str, str]]:
    """What the summary lists; ``answer`` (to the approver's question) comes first."""
    facts: list[tuple[str, str]] = []
    if answer is not None:
        facts.append((m.t("manager.field.answer"), answer))
    facts += list(options.fixed)
    if options.editable_worker:
        facts.append((m.t("manager.field.worker_name"), draft.worker_name))
    if options.worker_email_input:
        facts.append((m.t("manager.field.worker_email"), draft.worker_email))
    if options.editable_worker:
        facts.append((m.t("manager.field.worker_job_title"), draft.worker_job_title))
    if options.municipality_input:
        municipality = directory.municipality(draft.municipality)
        facts.append((m.t("manager.field.municipality"), municipality.name if municipality else ""))
    facts.append(
        (
            m.t("manager.field.service_areas"),
            ", ".join(code_name(m, directory, "service_area", c) for c in draft.service_areas),
        )
    )
    facts.append((m.t("manager.field.level"), code_name(m, directory, "level", draft.level)))
    if draft.start is not None and options.start_input:
        facts.append((m.t("manager.field.start"), m.format_date(draft.start)))
    if draft.end is not None:
        facts.append((m.t("manager.field.end"), m.format_date(draft.end)))
    facts.append((m.t("manager.field.justification"), draft.justification))
    if options.confirmations:
        facts.append(
            (
                m.t("manager.field.confirmation"),
                ", ".join(
                    code_name(m, directory, "requirement", c)
                    for c in options.confirmations
                    if c in draft.confirmations
                ),
            )
        )
    return facts


class FormDialogMixin:
    """Form, summary and confirm steps for a botbuilder ``Dialog`` subclass.

    The subclass provides :meth:`form_options`, :meth:`make_draft`, :meth:`precheck`
    and :meth:`send`; its state dict holds ``user_key``, ``email``, ``instance``,
    ``revision``, ``card_id``, ``step`` and ``values``.
    """

    deps: FlowDeps
    mode: str

    # -- provided by the subclass
    def form_options(self, m: Messages, state: Mapping[str, Any]) -> FormOptions:
        raise NotImplementedError

    def make_draft(
        self, values: Mapping[str, str], state: Mapping[str, Any], options: FormOptions
    ) -> RequestDraft:
        raise NotImplementedError

    async def precheck(self, draft: RequestDraft, state: Mapping[str, Any]) -> list[Violation]:
        return check_draft(self.deps, draft)

    async def send(self, draft: RequestDraft, state: Mapping[str, Any], key: str) -> AccessRequest:
        raise NotImplementedError

    # -- steps
    async def show_form(
        self,
        context: TurnContext,
        state: dict[str, Any],
        errors: Sequence[FieldError] = (),
        *,
        card_id: str | None = None,
    ) -> None:
        m = messages_of(context)
        options = self.form_options(m, state)
        form = request_form_card(
            m,
            options,
            state["values"],
            errors,
            instance=state["instance"],
            change_grant=state.get("offer_change"),
        )
        state["card_id"] = await put_card(context, form, card_id)
        state["step"] = "form"

    async def on_form(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        if value.get("atmt_action") == "cancel":
            return await self.cancel_flow(dc, state)
        if value.get("atmt_action") == "change_grant":
            return await self.change_instead(dc, state, value)
        options = self.form_options(m, state)
        values, parsed = parse_form(m, value, options)
        state["values"] = values
        draft = self.make_draft(values, state, options)
        violations = await self.precheck(draft, state)
        state["offer_change"] = offer_change(violations)
        errors = form_errors(m, self.deps.directory, violations, parsed)
        card_id = fields.card_message_id(context.activity) or state.get("card_id")
        if errors:
            await self.show_form(context, state, errors, card_id=card_id)
            return DialogTurnResultWaiting
        state["revision"] = int(state.get("revision", 0)) + 1
        summary = request_summary_card(
            m,
            self.mode,
            summary_facts(
                m,
                self.deps.directory,
                draft,
                options,
                answer=values.get("answer", "") if options.answer_input else None,
            ),
            instance=state["instance"],
            revision=state["revision"],
        )
        state["card_id"] = await put_card(context, summary, card_id)
        state["step"] = "summary"
        return DialogTurnResultWaiting

    async def on_summary(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        context = dc.context
        m = messages_of(context)
        card_id = fields.card_message_id(context.activity) or state.get("card_id")
        action = value.get("atmt_action")
        if action == "cancel":
            return await self.cancel_flow(dc, state)
        if action == "edit":
            await self.show_form(context, state, card_id=card_id)
            return DialogTurnResultWaiting
        if action != "confirm":
            await context.send_activity(m.t("manager.card.use_buttons"))
            return DialogTurnResultWaiting
        options = self.form_options(m, state)
        draft = self.make_draft(state["values"], state, options)
        key = f"{self.mode}:{state['instance']}:{state['revision']}"
        try:
            request = await self.send(draft, state, key)
        except PolicyViolations as problem:
            state["offer_change"] = offer_change(problem.violations)
            errors = form_errors(m, self.deps.directory, problem.violations)
            await self.show_form(context, state, errors, card_id=card_id)
            return DialogTurnResultWaiting
        except AccessDenied:
            await context.send_activity(m.t("manager.error.denied"))
            return await dc.end_dialog()
        except (NotFound, AccessError):
            await context.send_activity(m.t("manager.error.changed"))
            return await dc.end_dialog()
        receipt = request_sent_card(
            m,
            self.mode,
            request.number,
            state_label(m, request.state),
            summary_facts(m, self.deps.directory, draft, options)[:3],
            state=request.state.value,
            refresh=receipt_refresh(m, request.id, self.mode, fields.sender_id(context.activity)),
        )
        await put_card(context, receipt, card_id)
        await self.deps.done.remember(
            context, state["instance"], {"number": request.number, "request_id": request.id}
        )
        log.info(
            "request sent from a card",
            extra={"event": f"manager_{self.mode}_sent", "request_id": request.id},
        )
        return await dc.end_dialog(request.id)

    async def change_instead(
        self, dc: DialogContext, state: dict[str, Any], value: Mapping[str, Any]
    ) -> DialogTurnResult:
        """The form offered to change the worker's existing grant and the user chose it:
        the change dialog takes over with that grant (it checks the grant again)."""
        grant_id = state.get("offer_change")
        if not grant_id or value.get("grant_id") != grant_id:
            await dc.context.send_activity(messages_of(dc.context).t("manager.card.old"))
            return DialogTurnResultWaiting
        return await dc.replace_dialog(CHANGE_REQUEST_DIALOG, {"grant_id": grant_id})

    async def cancel_flow(self, dc: DialogContext, state: dict[str, Any]) -> DialogTurnResult:
        await close_open_card(dc.context, state, "cancelled")
        await dc.context.send_activity(messages_of(dc.context).t("cancel.done"))
        return await dc.end_dialog()

    async def continue_form(
        self, dc: DialogContext, state: dict[str, Any]
    ) -> DialogTurnResult | None:
        """Handles form and summary cards; ``None`` when the activity is not one."""
        context = dc.context
        m = messages_of(context)
        value = fields.value(context.activity)
        if not isinstance(value, dict) or value.get("atmt_card") not in (FORM_CARD, SUMMARY_CARD):
            return None
        if not same_user(context, state):
            await context.send_activity(m.t("manager.error.other_user"))
            return DialogTurnResultWaiting
        if value.get("atmt_instance") != state.get("instance"):
            await context.send_activity(m.t("manager.card.old"))
            return DialogTurnResultWaiting
        if value.get("atmt_card") == FORM_CARD:
            return await self.on_form(dc, state, value)
        if value.get("atmt_revision") != state.get("revision") or state.get("step") != "summary":
            await context.send_activity(m.t("manager.card.old"))
            return DialogTurnResultWaiting
        return await self.on_summary(dc, state, value)


def offer_change(violations: Sequence[Violation]) -> str | None:
    """The worker's active grant a duplicate points at: the form offers to change it."""
    for v in violations:
        if (
            v.code == "grant.duplicate"
            and v.params.get("existing_kind") == "grant"
            and v.params.get("state") == "active"
        ):
            return str(v.params["existing"])
    return None


def state_label(m: Messages, state: RequestState) -> str:
    return m.t(f"manager.state.{state.value}")


# ------------------------------------------------------------- cards that stay current


async def close_open_card(
    context: TurnContext, state: Mapping[str, Any], reason: str, *, clicked: bool = True
) -> None:
    """Turn the dialog's open form or summary into a read-only "closed" card, so that
    nothing is left to click on a form that is gone (``reason``: ``cancelled`` when the
    user cancelled, ``interrupted`` when another command ended the dialog).
    ``clicked``: the turn is a click on that card (else the click, if any, was on
    another card, and only the card the dialog remembers is closed)."""
    clicked_id = fields.card_message_id(context.activity) if clicked else None
    card_id = clicked_id or state.get("card_id")
    if isinstance(card_id, str) and card_id and state.get("step") in ("form", "summary", "pick"):
        closed = form_closed_card(messages_of(context), reason)
        update = card_activity(closed)
        update.id = card_id
        try:
            await context.update_activity(update)
        except Exception as error:  # the old card stays; the user was told in text
            log.warning(
                "could not close a card",
                extra={"event": "card_close_failed", "error_type": type(error).__name__}
                | connector_failure(error).log_fields(),
            )


def receipt_refresh(
    m: Messages, request_id: str, mode: str, user_id: str | None
) -> dict[str, Any] | None:
    """The receipt's ``refresh`` for the requester who sent it (None: no Teams id)."""
    if not user_id:
        return None
    data = {"atmt_card": RECEIPT_CARD, "request_id": request_id, "mode": mode}
    return live_refresh(VERB_RECEIPT, data, [user_id], title=m.t("manager.receipt.refresh"))


async def receipt_card(
    m: Messages, deps: FlowDeps, actor: str, data: Mapping[str, Any], user_id: str | None
) -> dict[str, Any] | None:
    """The receipt as it is now (the answer to its refresh); None: not a receipt's data.
    Raises ``AccessDenied`` / ``NotFound`` for a request the caller may not see."""
    request_id, mode = data.get("request_id"), data.get("mode")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
        return None
    if mode not in ("new", "change", "resubmit"):
        mode = "new"
    found = await deps.service.queries.get_request(actor, request_id)
    request = found.request
    facts = [
        (m.t("manager.field.worker_name"), request.worker.name),
        (m.t("manager.field.worker_email"), request.worker.email),
        (m.t("manager.field.worker_job_title"), request.worker.job_title),
    ]
    outcome: str | None = None
    if request.state is not RequestState.PENDING:
        decision = found.last_decision
        names = await display_names(deps.refs, [decision.actor] if decision else [])
        outcome = outcome_line(m, deps.directory, request, decision, names)
    return request_sent_card(
        m,
        str(mode),
        request.number,
        state_label(m, request.state),
        facts,
        state=request.state.value,
        outcome=outcome,
        refresh=receipt_refresh(m, request.id, str(mode), user_id),
    )
