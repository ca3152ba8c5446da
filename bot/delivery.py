"""One proactive Teams message, sent through a stored conversation reference.

:class:`TeamsSender` calls ``adapter.continue_conversation`` with the bot's app id
(empty in local anonymous mode), waits for a token of the conversation's and the
tenant's rate limiters first (:mod:`bot.ratelimit`), bounds the call with a time-out
and turns every failure into a :class:`DeliveryError` that says whether a retry can
help and how long Teams asked us to wait (``Retry-After``), as read by
:func:`dialogs.connector_errors.connector_failure`:

* 429, 412, 408, 5xx, time-outs and connection errors -> retryable;
* 400, 401, 403 (bot blocked or uninstalled), 404 (conversation gone) -> permanent:
  the notifier falls back to e-mail at once.

The activity carries the notification's idempotency key in ``channelData``
(``atmtNotification``) and Teams' ``notification.alert`` so the message also shows in
the activity feed. Teams does not deduplicate by that key: see
``docs/decisions.md`` (approvals and notifications) for what "exactly once" means
here.

:func:`backoff` is the retry delay: exponential with jitter, never shorter than a
``Retry-After``.

:meth:`TeamsSender.open_personal_chat` creates the 1:1 chat of the bot and a person
(``adapter.create_conversation`` -> ``POST {serviceUrl}/v3/conversations``, the same
limits and error classes); Teams answers the same conversation id each time for the
same person, so opening it again is harmless.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)

from bot.ratelimit import RateLimiter
from dialogs import activity_fields as fields
from dialogs.connector_errors import connector_failure

__all__ = ["DeliveryError", "TeamsSender", "backoff"]

MAX_BACKOFF = 900.0


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable


def backoff(
    attempt: int,
    base: float,
    retry_after: float | None = None,
    *,
    cap: float = MAX_BACKOFF,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed).

    ``base * 2**(attempt-1)``, capped, times a random factor in [0.5, 1) ("equal
    jitter": retries of many rows spread out but never come at once); a
    ``Retry-After`` is a lower bound (plus a little jitter), even above the cap.
    """
    draw = (rng or random).uniform
    exponential = min(cap, base * (2 ** min(max(0, attempt - 1), 40)))
    delay: float = exponential * draw(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, retry_after + draw(0.0, max(0.01, base / 4)))
    return delay


def classify(error: BaseException) -> DeliveryError:
    """A :class:`DeliveryError` for whatever the connector client raised."""
    if isinstance(error, DeliveryError):
        return error
    if isinstance(error, TimeoutError):
        return DeliveryError("timed out", retryable=True)
    failure = connector_failure(error)
    if failure.status is None:
        # Connection refused/reset, DNS, a body that is not JSON ...
        return DeliveryError(type(error).__name__, retryable=True)
    return DeliveryError(
        f"connector answered {failure.status}",
        status=failure.status,
        retry_after=failure.retry_after,
        retryable=failure.retryable,
    )


class TeamsSender:
    def __init__(
        self,
        adapter: BotAdapter,
        app_id: str,
        *,
        conversation_limiter: RateLimiter,
        tenant_limiter: RateLimiter,
        timeout: float,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._conversations = conversation_limiter
        self._tenants = tenant_limiter
        self._timeout = timeout

    async def send(
        self,
        reference: Mapping[str, Any],
        activity: Activity,
        *,
        idempotency_key: str,
        tenant_id: str | None,
    ) -> str | None:
        """Send ``activity``; the id Teams gave it. Raises :class:`DeliveryError`."""
        try:
            conversation_reference = ConversationReference().deserialize(dict(reference))
        except Exception:
            raise DeliveryError("stored reference unreadable", retryable=False) from None
        conversation = conversation_reference.conversation
        if conversation is None or not conversation.id or not conversation_reference.service_url:
            raise DeliveryError("stored reference incomplete", retryable=False)
        activity.channel_data = {
            **(activity.channel_data if isinstance(activity.channel_data, dict) else {}),
            "atmtNotification": idempotency_key,
            "notification": {"alert": True},
        }
        await self._tenants.acquire(tenant_id or "-")
        await self._conversations.acquire(conversation.id)

        outcome: dict[str, Any] = {}

        async def logic(turn_context: TurnContext) -> None:
            # Never raise here: the adapter's on_turn_error would message the user.
            try:
                response = await turn_context.send_activity(activity)
                outcome["id"] = getattr(response, "id", None)
            except Exception as error:
                outcome["error"] = error

        try:
            async with asyncio.timeout(self._timeout):
                await self._adapter.continue_conversation(
                    conversation_reference, logic, self._app_id
                )
        except TimeoutError:
            raise DeliveryError("timed out", retryable=True) from None
        except Exception as error:  # creating the connector client, a token ...
            raise classify(error) from None
        if "error" in outcome:
            raise classify(outcome["error"])
        found = outcome.get("id")
        return found if isinstance(found, str) else None

    async def open_personal_chat(
        self,
        *,
        service_url: str,
        bot: Mapping[str, Any],
        member_id: str,
        tenant_id: str,
        channel_id: str = "msteams",
    ) -> str:
        """The id of the 1:1 chat of the bot (``bot``: its account in the tenant) and
        the member (``member_id``: their Teams user id or Entra object id), created
        when needed. Raises :class:`DeliveryError`."""
        bot_id = bot.get("id")
        if not isinstance(bot_id, str) or not bot_id:
            raise DeliveryError("no bot account for the tenant", retryable=False)
        bot_name = bot.get("name")
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id, name=bot_name if isinstance(bot_name, str) else None),
            members=[ChannelAccount(id=member_id)],
            tenant_id=tenant_id,
            # Teams reads the tenant from channelData (botbuilder spells the field
            # of the parameters "tenantID").
            channel_data={"tenant": {"id": tenant_id}},
        )
        await self._tenants.acquire(tenant_id or "-")
        outcome: dict[str, Any] = {}

        async def logic(turn_context: TurnContext) -> None:
            conversation = fields.conversation(turn_context.activity)
            outcome["id"] = conversation.id if conversation is not None else None

        try:
            async with asyncio.timeout(self._timeout):
                # CloudAdapter's signature (BotAdapter's names other arguments).
                await self._adapter.create_conversation(
                    bot_app_id=self._app_id,
                    callback=logic,
                    conversation_parameters=parameters,
                    channel_id=channel_id,
                    service_url=service_url,
                )
        except TimeoutError:
            raise DeliveryError("timed out", retryable=True) from None
        except Exception as error:  # the connector's answer, a token ...
            raise classify(error) from None
        found = outcome.get("id")
        if not isinstance(found, str) or not found:
            raise DeliveryError("no conversation id in the answer", retryable=True)
        return found
