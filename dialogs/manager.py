"""The manager's and worker's dialogs, wired into the bot's DialogSet.

:class:`ManagerDialogs` adds the manager dialogs to the handler's ``DialogSet``,
maps their commands to dialog ids, and answers a click on one of their cards after
the dialog has ended: a second click on a confirmed summary is told the request that
was made ("already sent as 2026-000012"); anything else gets "this card is no
longer in use".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botbuilder.core import ConversationState, TurnContext
from botbuilder.dialogs import DialogSet
from botbuilder.schema import AdaptiveCardInvokeResponse

from access.acknowledgements import Acknowledgements
from access.errors import AccessError
from access.ports import ConversationRefs
from access.service import AccessService
from dialogs import activity_fields as fields
from dialogs.cards.approval import message_card
from dialogs.cards.request_form import FORM_CARD, SUMMARY_CARD
from dialogs.change_request import ChangeRequestDialog
from dialogs.commands import Command
from dialogs.my_access import ACK_CARD, MyAccessDialog, acknowledge_from_card
from dialogs.my_requests import MyRequestsDialog
from dialogs.new_request import NewRequestDialog
from dialogs.request_flow import DoneCards, FlowDeps, receipt_card, state_label
from dialogs.revoke_grant import RevokeGrantDialog
from dialogs.turn import caller_of, messages_of

__all__ = ["CARD_CONTENT_TYPE", "MANAGER_CARDS", "ManagerDialogs"]

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

MANAGER_CARDS = frozenset(
    {
        FORM_CARD,
        SUMMARY_CARD,
        ACK_CARD,
        "grant_pick",
        "revoke_form",
        "revoke_summary",
        "requests_list",
        "request_details",
    }
)


class ManagerDialogs:
    def __init__(
        self,
        dialogs: DialogSet,
        service: AccessService,
        conversation_state: ConversationState,
        acknowledgements: Acknowledgements,
        refs: ConversationRefs | None = None,
    ) -> None:
        self.deps = FlowDeps(service, DoneCards(conversation_state), acknowledgements, refs)
        self.routes: dict[Command, str] = {
            Command.NEW: NewRequestDialog.ID,
            Command.CHANGE: ChangeRequestDialog.ID,
            Command.REVOKE: RevokeGrantDialog.ID,
            Command.MY_REQUESTS: MyRequestsDialog.ID,
            Command.MY_ACCESS: MyAccessDialog.ID,
        }
        dialogs.add(NewRequestDialog(self.deps))
        dialogs.add(ChangeRequestDialog(self.deps))
        dialogs.add(RevokeGrantDialog(self.deps))
        dialogs.add(MyRequestsDialog(self.deps))
        dialogs.add(MyAccessDialog(self.deps))

    def dialog_for(self, command: Command | None) -> str | None:
        return self.routes.get(command) if command is not None else None

    async def on_invoke(
        self, context: TurnContext, action: Mapping[str, Any]
    ) -> AdaptiveCardInvokeResponse:
        """The refresh of a receipt: the card as the request is now. Any problem (not
        the requester's request any more, bad data) answers a short card, never a 500."""
        m = messages_of(context)
        identity = caller_of(context)
        data = action.get("data")
        card: dict[str, Any] | None = None
        if identity is not None and identity.email is not None and isinstance(data, dict):
            try:
                card = await receipt_card(
                    m, self.deps, identity.email, data, fields.sender_id(context.activity)
                )
            except AccessError:
                card = None
        if card is None:
            card = message_card(m, m.t("manager.card.expired"))
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)

    async def answer_card(self, context: TurnContext, value: Mapping[str, Any]) -> bool:
        """A click on one of our cards with no dialog running; True when answered."""
        if value.get("atmt_card") not in MANAGER_CARDS:
            return False
        m = messages_of(context)
        if value.get("atmt_card") == ACK_CARD:
            await acknowledge_from_card(context, self.deps, value)
            return True
        done = await self.deps.done.get(context, value.get("atmt_instance"))
        if done is None:
            await context.send_activity(m.t("manager.card.expired"))
            return True
        if done.get("text"):  # e.g. a removal dated in the future: no request number
            await context.send_activity(done["text"])
            return True
        number = done.get("number", "")
        state = ""
        identity = caller_of(context)
        if identity is not None and identity.email is not None and done.get("request_id"):
            try:
                view = await self.deps.service.queries.get_request(
                    identity.email, done["request_id"]
                )
                state = state_label(m, view.request.state)
            except AccessError:
                state = ""
        if state:
            await context.send_activity(
                m.t("manager.card.already_done", number=number, state=state)
            )
        else:
            await context.send_activity(m.t("manager.card.already_done_plain", number=number))
        return True
