"""The request form (new, change, answer to a question), its summary and its receipt.

Pure builders: the dialog (``dialogs.request_flow``) gathers the options from the
directory and the values the user entered, and passes the problems found as
``FieldError`` s; each problem is shown in the attention colour under its input, the
ones without an input at the top. Values typed by the user are put back into the
inputs as they were (inputs do not render Markdown) and shown elsewhere only through
:func:`dialogs.cards.markup.plain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from access.addresses import EMAIL_MAX
from access.policy import (
    DECISION_TEXT_MAX,
    JOB_TITLE_MAX,
    JUSTIFICATION_MAX,
    NAME_MAX,
    NAME_PATTERN,
)
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import plain
from dialogs.cards.status import badge, error_line
from dialogs.i18n import Messages

__all__ = [
    "CONFIRM_PREFIX",
    "FORM_CARD",
    "NAME_PATTERN",
    "SUMMARY_CARD",
    "FieldError",
    "FormOptions",
    "attention",
    "form_closed_card",
    "request_form_card",
    "request_sent_card",
    "request_summary_card",
]

FORM_CARD = "request_form"
SUMMARY_CARD = "request_summary"
CONFIRM_PREFIX = "confirm_"

# A name or title (NAME_PATTERN, the domain's name rule): letters, digits, spaces and
# ordinary punctuation; no Markdown or HTML control characters (client side; the
# server repeats the check).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

# Inputs in the order they appear; errors of other fields go to the top.
FIELDS: tuple[str, ...] = (
    "answer",
    "worker_name",
    "worker_email",
    "worker_job_title",
    "municipality",
    "service_areas",
    "level",
    "start",
    "end",
    "justification",
    "confirmations",
)


@dataclass(frozen=True)
class FieldError:
    """One problem, already in the user's language; ``field`` None = the whole form."""

    field: str | None
    text: str


@dataclass(frozen=True)
class FormOptions:
    """What the form offers. ``mode``: ``new``, ``change`` or ``resubmit``."""

    mode: str
    municipalities: Sequence[tuple[str, str]] = ()  # (code, name)
    service_areas: Sequence[tuple[str, str]] = ()  # (code, localized name)
    levels: Sequence[tuple[str, str]] = ()
    confirmations: Sequence[str] = ()  # requirement codes
    fixed: Sequence[tuple[str, str]] = ()  # facts shown read-only (change, resubmit)
    question: str | None = None  # the approver's question (resubmit)
    editable_worker: bool = True  # name and title are inputs
    worker_email_input: bool = True
    municipality_input: bool = True
    answer_input: bool = False  # the answer to ``question`` (required)
    start_input: bool = True  # a change cannot move the grant's start
    identity_note: bool = False  # the e-mail is the identity: a new person, a new request
    extra: Mapping[str, str] = field(default_factory=dict)


def attention(value: str) -> dict[str, Any]:
    """A problem under its field (:func:`dialogs.cards.status.error_line`)."""
    return error_line(value)


def _errors_for(errors: Sequence[FieldError], name: str) -> list[dict[str, Any]]:
    return [attention(e.text) for e in errors if e.field == name]


def _text_input(
    m: Messages,
    name: str,
    value: str,
    *,
    max_length: int,
    regex: str | None = None,
    multiline: bool = False,
    style: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.Text",
        "id": name,
        "label": m.t(f"manager.field.{name}"),
        "isRequired": True,
        "errorMessage": m.t(f"manager.field.{name}.error"),
        "maxLength": max_length,
        "value": value,
    }
    placeholder_key = f"manager.field.{name}.placeholder"
    if m.has(placeholder_key):
        element["placeholder"] = m.t(placeholder_key)
    if regex:
        element["regex"] = regex
    if multiline:
        element["isMultiline"] = True
    if style:
        element["style"] = style
    return element


def _choice_set(
    m: Messages,
    name: str,
    choices: Sequence[tuple[str, str]],
    value: str,
    *,
    multi: bool = False,
    expanded: bool = True,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": name,
        "label": m.t(f"manager.field.{name}"),
        "isRequired": True,
        "errorMessage": m.t(f"manager.field.{name}.error"),
        "style": "expanded" if expanded else "compact",
        "choices": [{"title": label, "value": code} for code, label in choices],
        "value": value,
    }
    if multi:
        element["isMultiSelect"] = True
    if not expanded:
        element["placeholder"] = m.t(f"manager.field.{name}.placeholder")
    return element


def request_form_card(
    m: Messages,
    options: FormOptions,
    values: Mapping[str, str],
    errors: Sequence[FieldError],
    *,
    instance: str,
    change_grant: str | None = None,
) -> Card:
    """The whole request on one card; ``values`` keyed by input id. ``change_grant``:
    the worker already has this active grant, so the card offers to change it
    instead."""
    body: list[dict[str, Any]] = [
        title(m.t(f"manager.form.title.{options.mode}")),
        text(m.t(f"manager.form.intro.{options.mode}"), subtle=True),
    ]
    if options.question is not None:
        body.append(text(m.t("manager.form.question", question=plain(options.question))))

    def add(element: dict[str, Any], name: str) -> None:
        body.append(element)
        body.extend(_errors_for(errors, name))

    get = values.get
    if options.answer_input:
        # The answer first, under the question: it is what the approver asked for.
        add(
            _text_input(
                m, "answer", get("answer", ""), max_length=DECISION_TEXT_MAX, multiline=True
            ),
            "answer",
        )
    if options.fixed:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": plain(v)} for label, v in options.fixed],
            }
        )
    if options.identity_note:
        body.append(text(m.t("manager.form.identity_note"), subtle=True))
    general = [e for e in errors if e.field not in FIELDS]
    if general:
        body.append(attention(m.t("manager.form.has_errors")))
        body.extend(attention(e.text) for e in general)
    elif errors:
        body.append(attention(m.t("manager.form.has_errors")))
    if change_grant is not None:
        body.append(text(m.t("manager.form.change_instead"), weight="Bolder"))
    if options.editable_worker:
        add(
            _text_input(
                m, "worker_name", get("worker_name", ""), max_length=NAME_MAX, regex=NAME_PATTERN
            ),
            "worker_name",
        )
    if options.worker_email_input:
        add(
            _text_input(
                m,
                "worker_email",
                get("worker_email", ""),
                max_length=EMAIL_MAX,
                regex=EMAIL_PATTERN,
                style="Email",
            ),
            "worker_email",
        )
    else:
        body.extend(_errors_for(errors, "worker_email"))
    if options.editable_worker:
        add(
            _text_input(
                m,
                "worker_job_title",
                get("worker_job_title", ""),
                max_length=JOB_TITLE_MAX,
                regex=NAME_PATTERN,
            ),
            "worker_job_title",
        )
    if options.municipality_input:
        add(
            _choice_set(
                m,
                "municipality",
                options.municipalities,
                get("municipality", ""),
                expanded=len(options.municipalities) <= 3,
            ),
            "municipality",
        )
    else:
        body.extend(_errors_for(errors, "municipality"))
    add(
        _choice_set(
            m, "service_areas", options.service_areas, get("service_areas", ""), multi=True
        ),
        "service_areas",
    )
    add(_choice_set(m, "level", options.levels, get("level", "")), "level")
    for name in ("start", "end") if options.start_input else ("end",):
        add(
            {
                "type": "Input.Date",
                "id": name,
                "label": m.t(f"manager.field.{name}"),
                "isRequired": True,
                "errorMessage": m.t(f"manager.field.{name}.error"),
                "value": get(name, ""),
            },
            name,
        )
    add(
        _text_input(
            m,
            "justification",
            get("justification", ""),
            max_length=JUSTIFICATION_MAX,
            multiline=True,
        ),
        "justification",
    )
    if options.confirmations:
        body.append(text(m.t("manager.form.confirmations"), weight="Bolder"))
    for code in options.confirmations:
        body.append(
            {
                "type": "Input.Toggle",
                "id": f"{CONFIRM_PREFIX}{code}",
                # Each toggle its own label: a screen reader says which confirmation.
                "label": m.t(
                    "manager.field.confirmation_of",
                    what=m.t(f"manager.requirement.{code}")
                    if m.has(f"manager.requirement.{code}")
                    else code,
                ),
                "title": m.t(f"manager.confirm.{code}"),
                "valueOn": "true",
                "valueOff": "false",
                "value": "true" if get(f"{CONFIRM_PREFIX}{code}") == "true" else "false",
                "isRequired": True,
                "errorMessage": m.t("manager.field.confirmation.error"),
                "wrap": True,
            }
        )
    body.extend(_errors_for(errors, "confirmations"))
    offer: list[dict[str, Any]] = []
    if change_grant is not None:
        offer.append(
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.change_existing"),
                "associatedInputs": "none",
                "data": {
                    "atmt_card": FORM_CARD,
                    "atmt_instance": instance,
                    "atmt_action": "change_grant",
                    "grant_id": change_grant,
                },
            }
        )
    return card(
        body,
        [
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.continue"),
                "style": "positive",
                "data": {
                    "atmt_card": FORM_CARD,
                    "atmt_instance": instance,
                    "atmt_action": "submit",
                },
            },
            *offer,
            {
                "type": "Action.Submit",
                "title": m.t("manager.action.cancel"),
                "associatedInputs": "none",
                "data": {
                    "atmt_card": FORM_CARD,
                    "atmt_instance": instance,
                    "atmt_action": "cancel",
                },
            },
        ],
    )


def request_summary_card(
    m: Messages,
    mode: str,
    facts: Sequence[tuple[str, str]],
    *,
    instance: str,
    revision: int,
) -> Card:
    """Check before sending: Confirm / Edit / Cancel. ``facts`` are (label, raw value)."""

    def button(action: str, label: str, style: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "Action.Submit",
            "title": label,
            "data": {
                "atmt_card": SUMMARY_CARD,
                "atmt_instance": instance,
                "atmt_revision": revision,
                "atmt_action": action,
            },
        }
        if style:
            element["style"] = style
        return element

    return card(
        [
            title(m.t(f"manager.summary.title.{mode}")),
            text(m.t("manager.summary.intro"), subtle=True),
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": plain(value)} for label, value in facts],
            },
        ],
        [
            button("confirm", m.t("manager.action.confirm"), "positive"),
            button("edit", m.t("manager.action.edit")),
            button("cancel", m.t("manager.action.cancel")),
        ],
    )


def request_sent_card(
    m: Messages,
    mode: str,
    number: str,
    state_label: str,
    facts: Sequence[tuple[str, str]],
    *,
    state: str = "pending",
    outcome: str | None = None,
    refresh: dict[str, Any] | None = None,
) -> Card:
    """The receipt that replaces the summary: number, state and what happens next.

    With ``refresh`` (:func:`dialogs.cards.status.live_refresh`) Teams asks the bot for
    the present state whenever the requester sees the card, so a decided request's
    receipt says the decision (``outcome``) instead of "awaiting decision"."""
    result = card(
        [
            title(m.t(f"manager.sent.title.{mode}", number=number)),
            badge(state, state_label),
            {
                "type": "FactSet",
                "facts": [
                    {"title": m.t("manager.fact.number"), "value": number},
                    {"title": m.t("manager.fact.state"), "value": state_label},
                ]
                + [{"title": label, "value": plain(value)} for label, value in facts],
            },
            text(outcome if outcome is not None else m.t(f"manager.sent.next.{mode}")),
        ]
    )
    if refresh is not None:
        result["refresh"] = refresh
    return result


def form_closed_card(m: Messages, reason: str) -> Card:
    """What an open form becomes when it is cancelled or closed: read-only, saying so
    (``reason``: ``cancelled`` or ``interrupted``); nothing on it can be clicked."""
    return card(
        [
            title(m.t("manager.closed.title")),
            badge("cancelled", m.t("manager.closed.state")),
            text(m.t(f"manager.closed.{reason}")),
        ]
    )
