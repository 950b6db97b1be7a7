"""The database fixtures of tests/backend (SQLite and PostgreSQL), for the API benchmark."""

from __future__ import annotations

from tests.backend.conftest import database_url, postgres_server

__all__ = ["database_url", "postgres_server"]
