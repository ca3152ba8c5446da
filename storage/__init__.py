"""Persistence: SQLAlchemy 2 (async) tables, Alembic migrations and botbuilder storage."""
