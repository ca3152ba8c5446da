"""SQLAlchemy 2 typed declarative base and the foundation tables.

All tables of the project hang off :data:`Base.metadata`, which carries a naming
convention so constraint names are stable across SQLite and PostgreSQL (and so
Alembic can name and drop them).  JSON documents are stored as ``Text`` to stay
portable; the code that owns a column (de)serializes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Index, MetaData, String, Text, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["NAMING_CONVENTION", "Base", "BotState", "ConversationRef", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BotState(Base):
    """One JSON state document of the bot (conversation/user/dialog state)."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    document: Mapped[str] = mapped_column(Text, nullable=False)
    etag: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )


class ConversationRef(Base):
    """Latest conversation reference of a user, for proactive messages."""

    __tablename__ = "conversation_refs"
    __table_args__ = (Index("ix_conversation_refs_email", "email"),)

    # "<tenant id>:<Entra object id>" (bot.identity.user_key_of; migration 0005).
    user_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)  # Teams client
    # The language chosen with the bot's language command, if any.
    chosen_locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    # True: ``reference`` is the person's 1:1 chat with the bot. False: the person was
    # met in a team or group chat (migration 0009); a 1:1 chat is opened when needed.
    personal: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )
