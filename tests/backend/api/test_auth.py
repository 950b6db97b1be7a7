"""With RUNBOARD_API_TOKEN set (auth `writes`), every mutating route needs a token;
reading stays open, but for the users, which only admins see.

Routes are enumerated from the app itself, so a route added later is checked too.
Users, roles, sessions and RUNBOARD_AUTH=all: test_users.py and test_sessions.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.sse import EventSourceResponse
from fastapi.testclient import TestClient

from backend.app.api.deps import run_for_ingest
from backend.app.core.config import Settings
from backend.app.main import create_app
from tests.backend.api.helpers import (
    app_engine,
    create_run,
    db_dump,
    ingest_token,
    post_events,
    worker_events,
)
from tests.backend.conftest import RecordingDispatcher

TOKEN = "s3cret-api-token"
GOOD = {"Authorization": f"Bearer {TOKEN}"}
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}
INGEST_PATH = "/api/runs/{run_id}/events"
SESSION_PATH = "/api/session"  # signing in and out: what takes the token (test_sessions.py)
ADMIN_PREFIX = "/api/users"  # admins only, reading too
REQUIRED_QUERY = {  # routes that need a query to succeed
    "/api/compare": "?ids={run_id}",
    "/api/compare/classes": "?ids=1,2",  # make_ids: the run, then the group's run
    "/api/groups/{group_id}/difference": "?baseline={group_id}",
}
# Statistics of runs that have not finished: past the token check, refused with a 409.
NEED_FINISHED_RUNS = {"/api/compare/classes", "/api/groups/{group_id}/difference"}


@pytest.fixture
def auth_client(settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    secured = Settings(**{**settings.model_dump(), "api_token": TOKEN})
    with TestClient(create_app(secured, dispatcher)) as client:
        yield client


def routes(app: FastAPI) -> list[tuple[str, set[str], Any]]:
    """(full path, methods, route) of every route, nested routers included."""
    found = []
    for context in iter_route_contexts(app.routes):
        if context.path is not None and context.methods:
            found.append((context.path, set(context.methods), context.original_route))
    return found


def uses(dependant: Dependant | None, call: Any) -> bool:
    if dependant is None:
        return False
    return any(d.call is call or uses(d, call) for d in dependant.dependencies)


def fill(path: str, ids: dict[str, int]) -> str:
    """The path with each {parameter} replaced by an existing id (1 when unknown)."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(ids.get(m.group(1), 1)), path)


def mutating_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    found = [
        (path, method, route)
        for path, methods, route in routes(app)
        for method in sorted(methods & MUTATING)
        if path not in (INGEST_PATH, SESSION_PATH)
    ]
    return found


def make_ids(client: TestClient) -> dict[str, int]:
    """A queued run and a group to aim the path parameters at (created with the token)."""
    run = client.post("/api/runs", json={"preset": "2"}, headers=GOOD)
    group = client.post("/api/groups", json={"name": "g", "runs": [{"preset": "2"}]}, headers=GOOD)
    assert run.status_code == group.status_code == 201
    return {"run_id": run.json()["id"], "group_id": group.json()["id"]}


def test_route_enumeration_finds_every_mutating_operation_of_the_openapi_schema(
    auth_client: TestClient,
) -> None:
    app: FastAPI = auth_client.app  # type: ignore[assignment]
    documented = {
        (path, method.upper())
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in MUTATING
    }
    enumerated = {(path, method) for path, method, _ in mutating_routes(app)}

    signing_in = {(SESSION_PATH, "POST"), (SESSION_PATH, "DELETE")}
    assert documented - {(INGEST_PATH, "POST")} - signing_in <= enumerated
    assert signing_in <= documented
    assert {
        ("/api/runs", "POST"),
        ("/api/runs/{run_id}", "PATCH"),
        ("/api/runs/{run_id}", "DELETE"),
        ("/api/runs/{run_id}/cancel", "POST"),
        ("/api/runs/{run_id}/clone", "POST"),
        ("/api/groups", "POST"),
        ("/api/users", "POST"),
        ("/api/users/{name}/tokens", "POST"),
        ("/api/users/{name}/revoke", "POST"),
    } <= enumerated


def test_every_mutating_route_refuses_a_missing_or_wrong_bearer_token_with_401(
    auth_client: TestClient,
) -> None:
    app: FastAPI = auth_client.app  # type: ignore[assignment]
    ids = make_ids(auth_client)
    before = db_dump(app_engine(auth_client))
    wrong_tokens = [
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ]

    checked = []
    for path, method, _ in mutating_routes(app):
        url = fill(path, ids)
        for headers in [{}, *wrong_tokens]:
            response = auth_client.request(method, url, json={}, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers.get("www-authenticate") == "Bearer"
        checked.append((method, path))

    assert len(checked) >= 6
    assert db_dump(app_engine(auth_client)) == before


def test_the_right_token_gets_every_mutating_route_past_authentication(
    auth_client: TestClient,
) -> None:
    app: FastAPI = auth_client.app  # type: ignore[assignment]
    created = auth_client.post("/api/runs", json={"preset": "2"}, headers=GOOD)
    run_id = created.json()["id"]

    patched = auth_client.patch(f"/api/runs/{run_id}", json={"name": "x"}, headers=GOOD)
    cloned = auth_client.post(f"/api/runs/{run_id}/clone", headers=GOOD)
    cancelled = auth_client.post(f"/api/runs/{run_id}/cancel", headers=GOOD)
    deleted = auth_client.delete(f"/api/runs/{run_id}", headers=GOOD)
    group = auth_client.post(
        "/api/groups", json={"name": "g", "runs": [{"preset": "3a"}]}, headers=GOOD
    )

    assert [r.status_code for r in (created, patched, cloned, cancelled, deleted, group)] == [
        201,
        200,
        201,
        200,
        204,
        201,
    ]
    assert auth_client.get(f"/api/runs/{run_id}").status_code == 404
    # And generically, so that a route added later is covered too.
    ids = make_ids(auth_client)
    for path, method, route in mutating_routes(app):
        if uses(getattr(route, "dependant", None), run_for_ingest):
            continue  # a worker route: it takes the run's own token (see the ingest test)
        response = auth_client.request(method, fill(path, ids), json={}, headers=GOOD)
        assert response.status_code != 401, (method, path, response.text)
        assert response.status_code < 500, (method, path, response.text)


def test_reading_routes_need_no_token(auth_client: TestClient) -> None:
    app: FastAPI = auth_client.app  # type: ignore[assignment]
    ids = make_ids(auth_client)
    checked = []

    for path, methods, route in routes(app):
        if "GET" not in methods:
            continue
        if getattr(route, "response_class", None) is EventSourceResponse:
            continue  # endless streams: tested in test_stream.py
        if path.startswith(ADMIN_PREFIX):
            assert auth_client.get(path).status_code == 401
            continue
        query = REQUIRED_QUERY.get(path, "").format(**ids)
        response = auth_client.get(fill(path, ids) + query, follow_redirects=False)
        expected = (409,) if path in NEED_FINISHED_RUNS else (200, 307)
        assert response.status_code in expected, (path, response.text)
        checked.append(path)

    assert {"/api/runs", "/api/runs/{run_id}", "/api/groups/{group_id}", "/api/health"} <= set(
        checked
    )


def test_ingest_takes_the_runs_token_and_not_the_api_token(auth_client: TestClient) -> None:
    run_id = make_ids(auth_client)["run_id"]
    events = worker_events(epochs=1, steps_per_epoch=1)

    with_api_token = post_events(auth_client, run_id, events, TOKEN)
    with_run_token = post_events(auth_client, run_id, events, ingest_token(auth_client, run_id))

    assert with_api_token.status_code == 401
    assert with_run_token.status_code == 200, with_run_token.text


def test_without_an_api_token_mutating_routes_are_open(client: TestClient) -> None:
    run = create_run(client)

    assert client.patch(f"/api/runs/{run['id']}", json={"name": "y"}).status_code == 200
    assert client.delete(f"/api/runs/{run['id']}").status_code == 204
