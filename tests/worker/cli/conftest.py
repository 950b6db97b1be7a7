"""The live-server fixtures of tests/backend, for CLI tests that talk to a real API."""

from __future__ import annotations

from tests.backend.conftest import (
    database_url,
    live_server,
    postgres_server,
    shared_server,
    start_server,
)

__all__ = ["database_url", "live_server", "postgres_server", "shared_server", "start_server"]
