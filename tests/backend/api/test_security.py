"""Security properties beyond the API token (tests/backend/api/test_auth.py enumerates the
mutating routes): ingest tokens are per run and never shown, and nothing in a run config can
name a path, a module or code for the worker to read, import or run.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.app.api.deps import run_for_ingest
from backend.app.models import StreamEvent
from tests.backend.api.helpers import (
    Worker,
    app_engine,
    create_run,
    finished_run,
    running_run,
    worker_events,
)
from tests.backend.api.test_auth import routes, uses
from tests.backend.dbstate import unchanged
from worker import job
from worker.schema.errors import UserError
from worker.schema.runconfig import ConfigError, RunConfig, validate_config

README = Path(__file__).resolve().parents[3] / "README.md"

# ---- ingest tokens -------------------------------------------------------------------------


def ingest_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that authenticates with a run's ingest token."""
    return [
        (method, path)
        for path, methods, route in routes(app)
        for method in sorted(methods)
        if uses(getattr(route, "dependant", None), run_for_ingest)
    ]


def test_a_runs_ingest_token_cannot_write_to_any_other_run(client: TestClient) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    victim, _ = running_run(client)
    queued = create_run(client)["id"]
    done, _ = finished_run(client, epochs=1)
    attacker = Worker(client, create_run(client)["id"])
    found = ingest_routes(app)
    assert {("POST", "/api/runs/{run_id}/events"), ("POST", "/api/runs/{run_id}/claim")} <= set(
        found
    )
    bodies = {"events": {"events": worker_events(epochs=1, finish="succeeded")}}
    headers = {"Authorization": f"Bearer {attacker.token}"}

    with unchanged(app_engine(client), "cross-run writes"):
        for method, path in found:
            body = bodies.get(path.rsplit("/", 1)[-1], {"worker_host": "attacker"})
            for target in (victim, queued, done):
                url = path.replace("{run_id}", str(target))
                response = client.request(method, url, json=body, headers=headers)
                assert response.status_code == 401, (method, url, response.text)
                assert "token" in response.json()["detail"]

    assert attacker.ok(("heartbeat", {}))["accepted_through"] == 1  # its own run: fine


def test_ingest_tokens_are_unguessable_unique_and_never_shown_by_the_api(
    client: TestClient,
) -> None:
    ids = [create_run(client)["id"] for _ in range(20)]
    run, worker = running_run(client)
    tokens = [Worker(client, run_id).token for run_id in ids] + [worker.token]
    assert len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)  # 256 bits

    group = client.post("/api/groups", json={"name": "g", "runs": [{"preset": "2"}]}).json()
    shown = [
        client.get("/api/runs?limit=500").text,
        client.get(f"/api/runs/{run}").text,
        client.get(f"/api/runs/{run}/metrics").text,
        client.get(f"/api/runs/{run}/metrics.csv").text,
        client.get(f"/api/compare?ids={run},{ids[0]}").text,
        client.get(f"/api/groups/{group['id']}").text,
        client.post(f"/api/runs/{run}/clone").text,
        client.patch(f"/api/runs/{ids[0]}", json={"notes": "n"}).text,
    ]
    with Session(app_engine(client)) as session:  # what the SSE streams replay, verbatim
        shown += [str(event.data) for event in session.exec(select(StreamEvent))]
    for token in tokens:
        assert not any(token in text for text in shown)
    assert all("ingest_token" not in text for text in shown)


# ---- run configs ---------------------------------------------------------------------------

# Every config field's type: closed choices, numbers, flags, or the device pattern.
SAFE = re.compile(
    r"^(bool|int|float|(int|float) \| None|Literal\[.*\]|tuple\[(int|Literal\[.*\]), \.\.\.\])$"
)
FILESYSTEM_WORDS = re.compile(
    r"(^|_)(dir|path|root|file|url|weights|module|import|command|script|checkpoint)(_|$)"
)


def type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    return text.replace("NoneType", "None")


def test_no_config_field_can_name_a_path_a_module_or_code() -> None:
    free_text = []
    for name, info in RunConfig.model_fields.items():
        assert not FILESYSTEM_WORDS.search(name), name
        if not SAFE.match(type_name(info.annotation)):
            free_text.append(name)
    assert free_text == ["device"]  # a str, held to auto|cpu|cuda[:N]|mps by a validator
    assert RunConfig.model_config["extra"] == "forbid"  # no other key gets in


HOSTILE: list[dict[str, Any]] = [
    {"data_dir": "/etc"},
    {"root": "../../"},
    {"weights": "/tmp/evil.pt"},
    {"checkpoint_dir": "/"},
    {"__import__": "os"},
    {"__class__": "x"},
    {"model_config": {"extra": "allow"}},
    {"dataset": "/etc/passwd"},
    {"dataset": "../cifar100"},
    {"dataset": "file:///etc/passwd"},
    {"dataset": "torchvision.datasets.ImageFolder"},
    {"architecture": "os.system"},
    {"architecture": "__import__('os').system('id')"},
    {"activation": "eval"},
    {"optimizer": "torch.optim.SGD"},
    {"pipeline": "pickle"},
    {"precision": "../../fp32"},
    {"augmentations": ["../flip"]},
    {"device": "../../dev/sda"},
    {"device": "/dev/nvidia0"},
    {"device": "cuda:0; rm -rf /"},
    {"device": "cpu\n"},
    {"device": "cuda:0\nimport os"},
    {"device": "__import__('os')"},
    {"train_subset": "/etc/passwd"},
    {"widths": ["../", 1, 2, 3]},
]


@pytest.mark.parametrize("overrides", HOSTILE, ids=[str(h)[:40] for h in HOSTILE])
def test_hostile_config_values_are_refused_by_the_schema(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(overrides)
    assert caught.value.errors[0][0].split(".")[0] == next(iter(overrides))


def test_hostile_configs_get_422_from_the_api_and_store_nothing(client: TestClient) -> None:
    run, _ = finished_run(client, epochs=1)
    with unchanged(app_engine(client), "hostile configs"):
        for overrides in HOSTILE:
            created = client.post("/api/runs", json={"preset": "2", "overrides": overrides})
            cloned = client.post(f"/api/runs/{run}/clone", json={"overrides": overrides})
            for response in (created, cloned):
                assert response.status_code == 422, (overrides, response.text)
                assert response.json()["detail"][0]["loc"][:2] == ["body", "overrides"]


def test_the_worker_validates_a_config_again_before_torch_or_the_trainer_sees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A config that did not come through the API (a forged broker message) is refused."""
    trained = []
    trainer = types.ModuleType("worker.core.trainer")
    trainer.train = lambda *args, **kwargs: trained.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "worker.core.trainer", trainer)

    for overrides in HOSTILE:
        config = {**RunConfig().model_dump(mode="json"), **overrides}
        with pytest.raises(UserError, match="the stored config is invalid"):
            job._train(1, config, reporter=None)  # type: ignore[arg-type]
    assert trained == []


# ---- binding -------------------------------------------------------------------------------


def test_the_readme_says_how_to_expose_the_api_safely() -> None:
    text = README.read_text()
    section = text.split("### Exposing runboard", 1)[1].split("\n#", 1)[0]
    for words in ("127.0.0.1", "RUNBOARD_HOST", "RUNBOARD_API_TOKEN", "TLS", "reverse proxy"):
        assert words in section, words
