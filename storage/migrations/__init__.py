"""Alembic migration environment shipped inside the package (see storage.migrations_runner)."""
