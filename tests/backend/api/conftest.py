"""API test fixtures on top of tests/backend/conftest.py (database_url, settings, client)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.app.core.config import Settings
from backend.app.main import create_app
from tests.backend.conftest import RecordingDispatcher

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[MakeClient]:
    """Builds a started TestClient on the test's database with some settings changed."""
    with contextlib.ExitStack() as stack:

        def make(**changes: Any) -> TestClient:
            custom = Settings(**{**settings.model_dump(), **changes})
            return stack.enter_context(TestClient(create_app(custom, dispatcher)))

        yield make
