"""How the API serves the dashboard: `/` and its assets, Plotly from the installed package,
while /api/* and /docs answer as before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.app.core.config import Settings
from backend.app.frontend import find_plotly_js
from backend.app.main import create_app
from tests.backend.conftest import RecordingDispatcher

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
MAX_MODULE_LINES = 200  # small modules, each with one job


def client_for(tmp_path: Path, **settings: object) -> TestClient:
    config = Settings(database_url=f"sqlite:///{tmp_path / 'runboard.db'}", **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, RecordingDispatcher()))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as test_client:
        yield test_client


def test_home_is_the_dashboard_and_its_modules_styles_and_plotly_are_served(
    client: TestClient,
) -> None:
    home = client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/js/app.js">' in home.text
    assert '<script src="/vendor/plotly.min.js"' in home.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", home.text)  # no CDN
    app_js = client.get("/js/app.js")
    assert app_js.status_code == 200 and "javascript" in app_js.headers["content-type"]
    assert client.get("/js/views/run.js").status_code == 200
    assert client.get("/css/app.css").headers["content-type"].startswith("text/css")
    plotly = client.get("/vendor/plotly.min.js")
    path = find_plotly_js()
    assert plotly.status_code == 200 and path is not None
    assert plotly.content == path.read_bytes()
    assert "javascript" in plotly.headers["content-type"]


def test_the_api_and_its_documentation_still_answer_beside_the_dashboard(
    client: TestClient,
) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert "/" not in client.get("/openapi.json").json()["paths"]
    missing = client.get("/api/no-such-route")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert client.post("/api/no-such-route").status_code == 404  # no catch-all mount at /
    assert client.get("/js/no-such-module.js").status_code == 404


def test_without_a_frontend_folder_home_falls_back_to_the_api_docs(tmp_path: Path) -> None:
    with client_for(tmp_path, frontend_dir=tmp_path / "nowhere") as client:
        home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/docs"


def test_frontend_modules_stay_small_and_never_insert_markup_from_data() -> None:
    modules = sorted(FRONTEND.glob("js/**/*.js"))
    assert len(modules) >= 10
    for module in modules:
        text = module.read_text()
        assert len(text.splitlines()) <= MAX_MODULE_LINES, module
        # Text from the API goes in as text nodes: no HTML-parsing sinks anywhere.
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text, f"{module.name} uses {sink}"
