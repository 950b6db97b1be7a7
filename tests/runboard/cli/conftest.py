"""The live-server fixtures of tests/backend, for CLI tests that talk to a real API, and the
process stack of tests/worker, for `runboard serve` with its worker."""

from __future__ import annotations

from tests.backend.conftest import (
    database_url,
    live_server,
    postgres_server,
    shared_server,
    start_server,
)
from tests.worker.conftest import pytest_runtest_makereport, stack

__all__ = [
    "database_url",
    "live_server",
    "postgres_server",
    "pytest_runtest_makereport",
    "shared_server",
    "stack",
    "start_server",
]
