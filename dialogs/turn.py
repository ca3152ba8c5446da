"""What the host tells every conversation about the current turn.

Before any dialog runs, the router puts two things into ``turn_context.turn_state``:

* the caller (:class:`Caller`): who is speaking, resolved by the host from the
  activity and the Bot Connector (see ``bot.identity``);
* the caller's texts (:class:`dialogs.i18n.Messages`) in the caller's language.

It first loads the turn's bot states, through the host's :class:`StateLoader` when it
has one (several states in one storage read).

Conversations read them with :func:`caller_of` and :func:`messages_of`; they never ask
the host how it found them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botbuilder.core import BotState, TurnContext

from dialogs.i18n import Messages

__all__ = [
    "CALLER_KEY",
    "MESSAGES_KEY",
    "Caller",
    "CallerSource",
    "Claims",
    "LocalClaims",
    "StateLoader",
    "caller_email",
    "caller_of",
    "messages_of",
    "set_caller",
    "set_messages",
]

MESSAGES_KEY = "atmt.messages"
CALLER_KEY = "atmt.identity"


@dataclass(frozen=True)
class Caller:
    """Who is speaking: a stable user key, the tenant and, once known, the work e-mail."""

    user_key: str
    aad_object_id: str | None
    tenant_id: str | None
    email: str | None


class CallerSource(Protocol):
    """The host's way of knowing who speaks (``bot.identity.IdentityResolver``)."""

    async def remember(
        self,
        turn_context: TurnContext,
        *,
        locale: str | None = None,
        email: str | None = None,
        chosen_locale: str | None = None,
    ) -> None:
        """Keep this turn's conversation for later messages, with the Teams client's
        ``locale`` and the language the user chose with the bot (``chosen_locale``)."""
        ...

    async def resolve(self, turn_context: TurnContext) -> Caller | None: ...

    async def remember_installation(self, turn_context: TurnContext) -> bool:
        """The bot was installed in this conversation: keep the people it reaches
        reachable before they write (False: the host could not tell yet)."""
        ...

    async def remember_members(self, turn_context: TurnContext, members: Sequence[Any]) -> None:
        """``members`` (other than the bot) were added to this conversation: keep them
        reachable before they write."""
        ...


class Claims(Protocol):
    """The host's way of doing a thing once, whichever process or turn gets there
    first (the welcome of a conversation: Teams sends two install events at once)."""

    async def claim(self, key: str) -> bool:
        """True for the first claim of ``key`` only (until it is released)."""
        ...

    async def release(self, key: str) -> None:
        """Forget the claim of ``key`` (unknown keys are ignored)."""
        ...


class LocalClaims:
    """:class:`Claims` held in this object only: for one process with in-memory state."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    async def claim(self, key: str) -> bool:
        if key in self._held:
            return False
        self._held.add(key)
        return True

    async def release(self, key: str) -> None:
        self._held.discard(key)


class StateLoader(Protocol):
    """The host's way of reading a turn's states at once (``bot.patches.OneReadStateLoader``).

    Puts each state into the turn as ``BotState.load`` would; a state it leaves out is
    loaded by botbuilder when first used.
    """

    async def load(self, turn_context: TurnContext, states: Sequence[BotState]) -> None: ...


def messages_of(turn_context: TurnContext) -> Messages:
    """The :class:`Messages` of the current turn (set by the router)."""
    messages = turn_context.turn_state.get(MESSAGES_KEY)
    if not isinstance(messages, Messages):
        raise RuntimeError("the router did not set the turn's messages")
    return messages


def set_messages(turn_context: TurnContext, messages: Messages) -> None:
    turn_context.turn_state[MESSAGES_KEY] = messages


def caller_of(turn_context: TurnContext) -> Caller | None:
    """The caller of the current turn, ``None`` when the activity names nobody."""
    caller = turn_context.turn_state.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else None


def caller_email(turn_context: TurnContext) -> str | None:
    """The caller's work e-mail, ``None`` when it could not be found."""
    caller = caller_of(turn_context)
    return caller.email if caller is not None else None


def set_caller(turn_context: TurnContext, caller: Caller) -> None:
    turn_context.turn_state[CALLER_KEY] = caller
