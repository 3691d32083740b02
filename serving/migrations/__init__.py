"""Alembic migrations for the serving store; run by `choujian db upgrade` and on app start."""
