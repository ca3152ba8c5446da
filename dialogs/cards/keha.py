"""Cards of the KEHA hand-off: the admin's overview and one batch with its rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from access.authority import BatchSummary
from access.directory import Directory
from access.model import AccessRequest, KehaBatch, KehaRowState, RequestState
from dialogs.cards.base import Card, card, text, title
from dialogs.cards.markup import literal, plain
from dialogs.i18n import Messages

__all__ = ["CARD", "batch_card", "keha_card"]

CARD = "authority"
SHOWN = 30


def _submit(label: str, op: str, **data: str) -> dict[str, Any]:
    return {"type": "Action.Submit", "title": label, "data": {"atmt_card": CARD, "op": op, **data}}


def _municipality(directory: Directory, code: str) -> str:
    found = directory.municipality(code)
    return found.name if found is not None else code


def _pending_action(request: AccessRequest) -> str:
    """A request stopped after it was sent waits for its cancellation row."""
    if request.state is RequestState.STOPPING:
        return "keha.action.cancel"
    return "keha.action." + request.kind.value


def keha_card(
    m: Messages,
    directory: Directory,
    area: str,
    pending: Sequence[AccessRequest],
    batches: Sequence[BatchSummary],
    links: Mapping[str, tuple[str, str]],
) -> Card:
    """``links``: batch id -> (XLSX url, CSV url), short-lived and signed."""
    info = directory.area(area)
    body: list[dict[str, Any]] = [
        title(m.t("keha.title")),
        text(info.name.get(m.locale) if info else area, subtle=True),
        text(m.t("keha.pending", count=len(pending)), weight="Bolder"),
    ]
    for request in pending[:SHOWN]:
        marker = m.t("keha.urgent") + " · " if request.urgent else ""
        body.append(
            text(
                f"{marker}{request.number} · {m.t(_pending_action(request))} · "
                f"{plain(request.worker.name, limit=200)} · "
                f"{plain(_municipality(directory, request.municipality))}"
            )
        )
    if len(pending) > SHOWN:
        body.append(text(m.n("keha.more", len(pending) - SHOWN), subtle=True))
    actions: list[dict[str, Any]] = []
    if pending:
        actions.append(_submit(m.t("keha.create"), "batch", area=area))
    body.append(text(m.t("keha.batches"), weight="Bolder"))
    if not batches:
        body.append(text(m.t("keha.no_batches"), subtle=True))
    for batch in batches[:5]:
        xlsx, csv = links.get(batch.id, ("", ""))
        buttons: list[dict[str, Any]] = []
        if xlsx:
            buttons.append(
                {"type": "Action.OpenUrl", "title": m.t("keha.download.xlsx"), "url": xlsx}
            )
        if csv:
            buttons.append(
                {"type": "Action.OpenUrl", "title": m.t("keha.download.csv"), "url": csv}
            )
        if batch.state == "queued":
            buttons.append(_submit(m.t("keha.mark_sent"), "sent", batch=batch.id))
        if batch.state != "queued":
            buttons.append(_submit(m.t("keha.open_batch"), "open", batch=batch.id))
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    {
                        "type": "FactSet",
                        "facts": [
                            {
                                "title": m.t("keha.batch.created"),
                                "value": m.format_datetime(batch.created_at),
                            },
                            {
                                "title": m.t("keha.batch.rows"),
                                "value": m.t(
                                    "keha.batch.rows_value", rows=batch.rows, urgent=batch.urgent
                                ),
                            },
                            {
                                "title": m.t("keha.batch.state"),
                                "value": m.t(
                                    "keha.state." + batch.state,
                                    confirmed=batch.confirmed,
                                    rows=batch.rows,
                                ),
                            },
                        ],
                    },
                    {"type": "ActionSet", "actions": buttons},
                ],
            }
        )
    body.append(text(m.t("keha.links_expire"), subtle=True))
    return card(body, actions)


def batch_card(
    m: Messages,
    directory: Directory,
    batch: KehaBatch,
    stopping: frozenset[str] = frozenset(),
) -> Card:
    """One sent batch: its rows, a choice of rows to confirm and an optional note.
    ``stopping``: ids of sent rows whose request was stopped after it was sent; they say
    that a cancellation is on its way and are not offered for confirming."""
    body: list[dict[str, Any]] = [
        title(m.t("keha.batch.title", created=m.format_datetime(batch.created_at))),
    ]
    choices: list[dict[str, str]] = []
    for row in batch.rows:
        being_stopped = row.id in stopping and row.state is KehaRowState.SENT
        state = m.t("keha.row.stopping" if being_stopped else "keha.row." + row.state.value)
        where = plain(_municipality(directory, row.municipality))
        action = "cancel" if row.is_cancellation else row.kind.value
        label = (
            f"{row.request_number} · {m.t('keha.action.' + action)} · "
            f"{plain(row.worker.name, limit=200)} · {where}"
        )
        body.append(text(f"{label} · {state}", subtle=row.state is KehaRowState.CONFIRMED))
        if row.state is KehaRowState.SENT and not being_stopped:
            choices.append(
                {
                    "title": f"{row.request_number} · {literal(row.worker.name, limit=200)}",
                    "value": row.id,
                }
            )
    actions: list[dict[str, Any]] = []
    if choices:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "rows",
                "label": m.t("keha.confirm.rows"),
                "isMultiSelect": True,
                "style": "expanded",
                "choices": choices,
                "isRequired": True,
                "errorMessage": m.t("keha.confirm.rows_required"),
            }
        )
        body.append(
            {
                "type": "Input.Text",
                "id": "note",
                "label": m.t("keha.confirm.note"),
                "isMultiline": True,
                "maxLength": 2000,
            }
        )
        actions.append(_submit(m.t("keha.confirm.selected"), "confirm", batch=batch.id))
        actions.append(
            {
                "type": "Action.Submit",
                "title": m.t("keha.confirm.all"),
                "associatedInputs": "none",
                "data": {"atmt_card": CARD, "op": "confirm_all", "batch": batch.id},
            }
        )
    elif any(r.id in stopping and r.state is KehaRowState.SENT for r in batch.rows):
        body.append(text(m.t("keha.confirm.only_stopping"), subtle=True))
    else:
        body.append(text(m.t("keha.confirm.done"), subtle=True))
    return card(body, actions)
