"""Liveness, the dashboard at home and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.app.core.config import Settings


def test_health_names_the_database_and_home_is_the_dashboard(
    client: TestClient, settings: Settings
) -> None:
    health = client.get("/api/health")
    home = client.get("/", follow_redirects=False)  # the dashboard (tests/frontend for more)
    schema = client.get("/openapi.json")

    assert health.status_code == 200
    expected = "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"
    assert health.json() == {"status": "ok", "database": expected}
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert schema.status_code == 200
    assert {"/api/runs", "/api/runs/{run_id}/events", "/api/compare"} <= set(schema.json()["paths"])
