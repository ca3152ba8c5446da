"""The router: every turn of every conversation starts here.

Every turn: load the states, have the host remember the conversation and say who is
speaking (:class:`dialogs.turn.CallerSource`), work out the caller's language
(UserState choice > Teams locale > the area's default > ``ATMT_DEFAULT_LOCALE``), route
the turn (welcome, help, hint, a typed command or a card's button to its feature, the
dialog in progress), then save ConversationState and UserState. The welcome, help and
hint offer what the caller's roles allow (``dialogs.menus``).

One welcome per installation, in the person's language: Teams sends
``installationUpdate`` and ``conversationUpdate`` (the bot added) at the same moment,
and only the first carries the client's locale. The welcome goes with an install event
that says the language (its locale, or a language the person chose before), and is
claimed first (:class:`dialogs.turn.Claims`, shared by every process), so two events
arriving together greet once. The host remembers the
language the user chose with the conversation (again at the end of the turn that
chose it), so notifications use it too.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import (
    ActivityHandler,
    CardFactory,
    ConversationState,
    MessageFactory,
    TurnContext,
    UserState,
)
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import DialogSet
from botbuilder.schema import (
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ChannelAccount,
)
from botbuilder.schema.teams import TeamInfo

from access.acknowledgements import Acknowledgements
from access.directory import DirectorySource, current_directory
from access.ports import ConversationRefs
from access.service import AccessService
from dialogs import activity_fields as fields
from dialogs.approvals import ApprovalHandler
from dialogs.authority import HANDLED as AUTHORITY_COMMANDS
from dialogs.authority import AuthorityChat
from dialogs.cards import help_card, hint_card, welcome_card
from dialogs.commands import Command, CommandRecognizer
from dialogs.i18n import Messages, Translator, normalize_locale
from dialogs.input_limits import refusal_for, text_without_mention
from dialogs.language import PREFERENCES_LOCALE, LanguageDialog
from dialogs.manager import ManagerDialogs
from dialogs.menus import Menu, menu_for
from dialogs.misuse import MisuseChat
from dialogs.request_flow import VERB_RECEIPT, close_open_card
from dialogs.review import ReviewChat
from dialogs.turn import (
    Caller,
    CallerSource,
    Claims,
    LocalClaims,
    StateLoader,
    caller_of,
    messages_of,
    set_caller,
    set_messages,
)

__all__ = ["AccessBot"]

log = logging.getLogger(__name__)


def _welcome_key(turn_context: TurnContext) -> str | None:
    """The key of a conversation's welcome (one per installation)."""
    conversation = fields.conversation_id(turn_context.activity)
    if conversation is None:
        return None
    return f"welcome/{fields.channel_id(turn_context.activity) or ''}/{conversation}"


def _card(card: dict[str, Any]) -> Any:
    return MessageFactory.attachment(CardFactory.adaptive_card(card))


def _opening(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a notification's button asks the conversation to open first (a request,
    its question to answer), from the button's data."""
    if value is None or not isinstance(value.get("atmt_open"), str):
        return None
    return {"atmt_open": value["atmt_open"], "atmt_answer": value.get("atmt_answer") is True}


class AccessBot(TeamsActivityHandler):  # type: ignore[misc]
    def __init__(
        self,
        *,
        conversation_state: ConversationState,
        user_state: UserState,
        translator: Translator,
        identities: CallerSource,
        directory: DirectorySource | None = None,
        service: AccessService | None = None,
        acknowledgements: Acknowledgements | None = None,
        approvals: ApprovalHandler | None = None,
        authority: AuthorityChat | None = None,
        review: ReviewChat | None = None,
        misuse: MisuseChat | None = None,
        state_loader: StateLoader | None = None,
        claims: Claims | None = None,
        refs: ConversationRefs | None = None,
    ) -> None:
        super().__init__()
        # What is done once per conversation across processes (the welcome).
        self.claims: Claims = claims if claims is not None else LocalClaims()
        self.state_loader = state_loader
        self.review = review
        self.misuse = misuse
        self.approvals = approvals
        self.conversation_state = conversation_state
        self.user_state = user_state
        self.translator = translator
        self.identities = identities
        self.directory = directory
        self.service = service
        self.commands = CommandRecognizer(translator)
        self.preferences = user_state.create_property("Preferences")
        self.welcome_state = conversation_state.create_property("Welcome")
        self.dialogs = DialogSet(conversation_state.create_property("DialogState"))
        self.dialogs.add(LanguageDialog(self.preferences, translator))
        self.authority = authority
        self.manager: ManagerDialogs | None = None
        if service is not None:
            if acknowledgements is None:
                raise ValueError("the manager dialogs need the acknowledgements service")
            # ``refs``: the Teams names of the people the request cards name.
            self.manager = ManagerDialogs(
                self.dialogs, service, conversation_state, acknowledgements, refs
            )

    # ------------------------------------------------------------------ turn

    async def on_turn(self, turn_context: TurnContext) -> None:
        if self.state_loader is not None:  # else botbuilder loads each state on first use
            await self.state_loader.load(turn_context, (self.conversation_state, self.user_state))
        chosen = await self._chosen_locale(turn_context)
        # Remember first: the host's e-mail cache needs the row.
        await self.identities.remember(
            turn_context, locale=fields.locale(turn_context.activity), chosen_locale=chosen
        )
        if fields.is_message(turn_context.activity) or fields.is_invoke(turn_context.activity):
            # Who is speaking, with the e-mail (cached; one member lookup per user), so
            # that conversations can read it and notifications find this conversation.
            await self._caller(turn_context)
        set_messages(turn_context, await self.messages_for(turn_context))
        await super().on_turn(turn_context)
        await self.conversation_state.save_changes(turn_context)
        await self.user_state.save_changes(turn_context)
        chosen_now = await self._chosen_locale(turn_context)
        if chosen_now != chosen:  # chosen in this turn: notifications use it from now on
            await self.identities.remember(
                turn_context, locale=fields.locale(turn_context.activity), chosen_locale=chosen_now
            )

    async def _chosen_locale(self, turn_context: TurnContext) -> str | None:
        """The language the user chose with the language command, if any."""
        preferences = await self.preferences.get(turn_context)
        chosen = preferences.get(PREFERENCES_LOCALE) if isinstance(preferences, dict) else None
        return normalize_locale(chosen) if isinstance(chosen, str) else None

    async def _caller(self, turn_context: TurnContext) -> Caller | None:
        """The caller of this turn, asked of the host once and kept in the turn."""
        caller = caller_of(turn_context)
        if caller is None:
            caller = await self.identities.resolve(turn_context)
            if caller is not None:
                set_caller(turn_context, caller)
        return caller

    async def messages_for(self, turn_context: TurnContext) -> Messages:
        """The catalog of the user's language for this turn."""
        preferences: dict[str, Any] = await self.preferences.get(turn_context, dict)
        chosen = preferences.get(PREFERENCES_LOCALE)
        activity = turn_context.activity
        candidates = [chosen if isinstance(chosen, str) else None, fields.locale(activity)]
        candidates.extend(fields.client_info_locales(activity))
        for candidate in candidates:
            locale = normalize_locale(candidate)
            if locale is not None:
                return self.translator.get(locale)
        # Not a language we support: the area's default, else ATMT_DEFAULT_LOCALE.
        return self.translator.get(await self._area_default(turn_context))

    async def _area_default(self, turn_context: TurnContext) -> str | None:
        if self.directory is None:
            return None
        directory = current_directory(self.directory)  # the one in force, imports included
        identity = await self._caller(turn_context)
        if identity is None or identity.email is None:
            return None
        roles = directory.roles_of(identity.email)
        area_codes = set(roles.approver_in | roles.deputy_in | roles.admin_in)
        for municipality_code in roles.requester_for:
            area = directory.area_of(municipality_code)
            if area is not None:
                area_codes.add(area.code)
        for code in sorted(area_codes):
            area = directory.area(code)
            if area is not None:
                return area.default_locale
        return None

    # --------------------------------------------------------------- install

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Teams' dispatch reads ``channelData.team`` and fails on an activity without
        channel data (a malformed or forged one): such an update is handled as any
        channel's, by its members alone."""
        if not fields.has_channel_data(turn_context.activity):
            await ActivityHandler.on_conversation_update_activity(self, turn_context)
            return
        await super().on_conversation_update_activity(turn_context)

    async def on_teams_members_added_dispatch(
        self,
        members_added: list[ChannelAccount],
        team_info: TeamInfo,
        turn_context: TurnContext,
    ) -> None:
        # Replaces botbuilder's version, which looks every added member up on the
        # connector (and fails the turn if that fails); the host looks the people up
        # itself (``remember_members``), a failure costing nothing but their e-mail.
        await self.on_members_added_activity(members_added, turn_context)

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        bot_id = fields.recipient_id(turn_context.activity)
        added = [m for m in members_added or [] if m is not None]  # junk lists happen
        if bot_id is not None and any(m.id == bot_id for m in added):
            await self._installed(turn_context)
        others = [m for m in added if m.id != bot_id]
        if others:  # people joined a conversation the bot is in: reachable from now on
            await self.identities.remember_members(turn_context, others)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._installed(turn_context)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        # Uninstalled: a new installation is greeted again.
        key = _welcome_key(turn_context)
        if key is not None:
            await self.claims.release(key)
        await self.welcome_state.set(turn_context, {})

    async def _installed(self, turn_context: TurnContext) -> None:
        # Teams sends both installationUpdate and conversationUpdate on install, at the
        # same moment: greet once per installation (the event that knows the language,
        # claimed first), then have the host keep the people the installation reaches
        # (the installer; a team's or group chat's roster), so that notifications reach
        # them before they write. A roster the connector could not give is asked for
        # again on the other install event.
        state: dict[str, Any] = dict(await self.welcome_state.get(turn_context, dict))
        key = _welcome_key(turn_context)
        if (
            key is not None
            and not state.get("sent")  # greeted before claims were kept
            and await self._language_known(turn_context)
            and await self.claims.claim(key)
        ):
            menu = (
                await self.menu_of(turn_context)
                if fields.is_personal(turn_context.activity)
                else None  # a team or group chat: nobody's roles in particular
            )
            try:
                await turn_context.send_activity(
                    _card(welcome_card(messages_of(turn_context), menu))
                )
            except Exception:
                await self.claims.release(key)  # not greeted: the next event may
                raise
        if not state.get("people") and await self.identities.remember_installation(turn_context):
            state["people"] = True
            await self.welcome_state.set(turn_context, state)

    async def _language_known(self, turn_context: TurnContext) -> bool:
        """Whether this turn says the person's language: a language they chose with
        the bot, or the Teams client's locale (``conversationUpdate`` has none)."""
        activity = turn_context.activity
        said = [fields.locale(activity), *fields.client_info_locales(activity)]
        return await self._chosen_locale(turn_context) is not None or any(said)

    # ----------------------------------------------------------------- menus

    async def menu_of(self, turn_context: TurnContext) -> Menu | None:
        """What the caller is offered by role; ``None`` when they cannot be identified
        (their e-mail could not be found) or there is no directory."""
        if self.directory is None:
            return None
        caller = await self._caller(turn_context)
        if caller is None or caller.email is None:
            return None
        directory = current_directory(self.directory)
        worker = (
            await self.service.queries.is_named_worker(caller.email)
            if self.service is not None
            else False
        )
        return menu_for(
            directory,
            directory.roles_of(caller.email),
            worker=worker,
            locale=messages_of(turn_context).locale,
        )

    # -------------------------------------------------------------- messages

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        value = fields.card_value(activity)
        refusal = refusal_for(fields.text(activity), fields.value(activity))
        if refusal is not None:
            await turn_context.send_activity(messages_of(turn_context).t(refusal[0], **refusal[1]))
            return
        text = text_without_mention(activity)
        command = CommandRecognizer.from_value(value) or self.commands.recognize(text)
        messages = messages_of(turn_context)
        dialog_context = await self.dialogs.create_context(turn_context)

        if command is Command.CANCEL:
            if dialog_context.active_dialog is not None:
                await close_open_card(
                    turn_context, dialog_context.active_dialog.state, "cancelled", clicked=False
                )
                await dialog_context.cancel_all_dialogs()
                await turn_context.send_activity(messages.t("cancel.done"))
            else:
                await turn_context.send_activity(messages.t("cancel.nothing"))
            return
        if command is Command.HELP:
            # Help does not end what the user is doing.
            menu = await self.menu_of(turn_context)
            await turn_context.send_activity(_card(help_card(messages, menu)))
            return
        if dialog_context.active_dialog is not None:
            if command is None:
                await dialog_context.continue_dialog()
                return
            # Another command interrupts: the form left behind says it is closed.
            await close_open_card(
                turn_context, dialog_context.active_dialog.state, "interrupted", clicked=False
            )
            await dialog_context.cancel_all_dialogs()

        if self.authority is not None:
            if command in AUTHORITY_COMMANDS:
                await self.authority.run(turn_context, command)
                return
            if (
                command is None
                and value is not None
                and await self.authority.answer_card(turn_context, value)
            ):
                return
        if command is Command.REVIEW and self.review is not None:
            await self.review.run(turn_context)
            return
        if command is Command.MISUSE and self.misuse is not None:
            await self.misuse.run(turn_context)
            return
        if command is None and value is not None:
            for chat in (self.review, self.misuse):
                if chat is not None and await chat.answer_card(turn_context, value):
                    return
        manager_dialog = self.manager.dialog_for(command) if self.manager is not None else None
        if command is Command.LANGUAGE:
            await dialog_context.begin_dialog(LanguageDialog.ID)
        elif command is Command.APPROVALS and self.approvals is not None:
            await self.approvals.send_list(turn_context)
        elif manager_dialog is not None:
            await dialog_context.begin_dialog(manager_dialog, _opening(value))
        elif value is not None and "atmt_card" in value:
            if self.manager is None or not await self.manager.answer_card(turn_context, value):
                await turn_context.send_activity(messages.t("card.expired"))
        else:
            menu = await self.menu_of(turn_context)
            await turn_context.send_activity(_card(hint_card(messages, menu)))

    # ----------------------------------------------------------- invokes

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        """``Action.Execute``: the refresh of a receipt (the manager's cards), approver
        cards; others get the protocol's 501."""
        action = invoke_value.action if isinstance(invoke_value.action, dict) else {}
        if self.manager is not None and action.get("verb") == VERB_RECEIPT:
            return await self.manager.on_invoke(turn_context, action)
        if self.approvals is None:
            return await super().on_adaptive_card_invoke(turn_context, invoke_value)
        return await self.approvals.on_invoke(turn_context, invoke_value)
