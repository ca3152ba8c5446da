"""Persistence: SQLAlchemy 2 (async) tables, repositories, Alembic migrations; SQL only."""
