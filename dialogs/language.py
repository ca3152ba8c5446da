"""Choose the language the bot uses with you ("kieli" / "språk" / "language").

Turn 1: the bot sends a card with an ``Input.ChoiceSet`` (fi, sv, en) and waits.
Turn 2: the ``Action.Submit`` arrives as a message whose ``value`` holds
``{"language": "sv", "atmt_card": "language"}`` (a typed "svenska" or "sv" works too).
The choice is stored in UserState (``Preferences.locale``) and used from then on; the
answered card is replaced by a read-only one so it cannot be submitted twice.
The dialog's state lives in ConversationState, so it survives a restart.
"""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, StatePropertyAccessor, TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from dialogs import activity_fields as fields
from dialogs.cards.language import (
    LANGUAGE_CARD,
    LANGUAGE_INPUT,
    language_card,
    language_chosen_card,
)
from dialogs.connector_errors import connector_failure
from dialogs.i18n import LOCALES, Translator, normalize_locale
from dialogs.turn import messages_of, set_messages

log = logging.getLogger(__name__)

PREFERENCES_LOCALE = "locale"


class LanguageDialog(Dialog):  # type: ignore[misc]
    """Two-turn dialog: show the language card, then store the submitted choice."""

    ID = "language"

    def __init__(self, preferences: StatePropertyAccessor, translator: Translator) -> None:
        super().__init__(self.ID)
        self._preferences = preferences
        self._translator = translator
        self._typed: dict[str, str] = {}
        for messages in translator.all():
            for locale in LOCALES:
                self._typed[messages.language_name(locale).casefold()] = locale

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        context = dialog_context.context
        messages = messages_of(context)
        card = language_card(messages, messages.locale)
        response = await context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(card))
        )
        state = dialog_context.active_dialog.state
        state["card_activity_id"] = getattr(response, "id", None)
        return Dialog.end_of_turn

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        if not fields.is_message(context.activity):
            return Dialog.end_of_turn
        choice = self._choice(context)
        if choice is None:
            await context.send_activity(messages_of(context).t("language.reprompt"))
            return Dialog.end_of_turn

        preferences: dict[str, Any] = await self._preferences.get(context, dict)
        preferences[PREFERENCES_LOCALE] = choice
        await self._preferences.set(context, preferences)
        messages = self._translator.get(choice)
        set_messages(context, messages)

        state = dialog_context.active_dialog.state
        card_id = fields.card_message_id(context.activity) or state.get("card_activity_id")
        await self._replace_card(context, card_id, choice)
        await context.send_activity(messages.t("language.changed"))
        return await dialog_context.end_dialog(choice)

    def _choice(self, context: TurnContext) -> str | None:
        value = fields.value(context.activity)
        if isinstance(value, dict):
            if value.get("atmt_card") not in (None, LANGUAGE_CARD):
                return None
            raw = value.get(LANGUAGE_INPUT)
            return normalize_locale(raw) if isinstance(raw, str) and len(raw) <= 16 else None
        text = (fields.text(context.activity) or "").strip().casefold()
        if text in LOCALES:
            return text
        return self._typed.get(text)

    async def _replace_card(self, context: TurnContext, card_id: str | None, choice: str) -> None:
        if not card_id:
            return
        update = MessageFactory.attachment(
            CardFactory.adaptive_card(language_chosen_card(self._translator.get(choice), choice))
        )
        update.id = card_id
        try:
            await context.update_activity(update)
        except Exception as error:  # best effort: the choice is stored either way
            log.warning(
                "could not update the language card",
                extra={"event": "card_update_failed", "error_type": type(error).__name__}
                | connector_failure(error).log_fields(),
            )
