"""Backend fixtures: every API test runs on SQLite and on PostgreSQL (a fresh database each).

PostgreSQL is the one at RUNBOARD_TEST_POSTGRES (default 127.0.0.1:5432, trust auth);
`.ci/run` starts it when it is down. A test that cannot reach it fails: it never skips.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend.app.core.config import Settings
from backend.app.main import create_app
from tests.support.live import ServerProcess, run_server

POSTGRES = os.environ.get("RUNBOARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class RecordingDispatcher:
    """Implements the Dispatcher interface by remembering what was enqueued."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[int, dict[str, Any], str]] = []

    def enqueue(self, run_id: int, config: dict[str, Any], ingest_token: str) -> None:
        self.enqueued.append((run_id, config, ingest_token))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(POSTGRES, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES}: {exc}")
    return POSTGRES


def _fresh_postgres_database(server: str) -> Iterator[str]:
    name = f"runboard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runboard.db'}"
    else:
        yield from _fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, heartbeat_check_s=0.2, sse_keepalive_s=1.0)


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def client(settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    with TestClient(create_app(settings, dispatcher)) as test_client:
        yield test_client


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts real `runboard serve` processes on this test's database, RUNBOARD_* settings
    given as keyword arguments; each is stopped (SIGTERM, then SIGKILL) after the test."""
    with contextlib.ExitStack() as stack:

        def start(**env: str) -> ServerProcess:
            return stack.enter_context(run_server(database_url, tmp_path / "server", env))

        yield start


@pytest.fixture
def live_server(start_server: Callable[..., ServerProcess]) -> str:
    """The base URL of a real `runboard serve` on this test's database (SQLite, PostgreSQL),
    with 0.5 s keep-alives on idle streams."""
    return start_server().url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real server per test module and dialect, same settings as `live_server`, for
    tests that each make their own runs and assume nothing about the database's other rows:
    a module of such tests then pays for one server start, not one per test."""
    workdir = tmp_path_factory.mktemp("server")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{workdir / 'runboard.db'}"
        else:
            fresh = contextlib.contextmanager(_fresh_postgres_database)
            url = stack.enter_context(fresh(request.getfixturevalue("postgres_server")))
        yield stack.enter_context(run_server(url, workdir))
