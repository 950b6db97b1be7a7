"""Workers say hello and heartbeat; GET /api/workers lists them (busy with a run, idle, or
lost once silent) beside the queue in the order workers take it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.app.models import Worker, utcnow
from tests.backend.api.helpers import app_engine, create_run


def hello(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "host": "gpu-box-1", "device": "cuda:0", "gpu_name": "NVIDIA A100",
        "gpu_memory_mb": 40960, "datasets": ["cifar100", "synthetic"], "weights": ["resnet18"],
        "version": "0.1.0", **fields,
    }  # fmt: skip


def listed(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/workers")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_workers_are_listed_idle_busy_or_lost_with_what_they_hold(client: TestClient) -> None:
    run = create_run(client)
    assert client.post("/api/workers", json=hello("w-idle")).status_code == 200
    reply = client.post("/api/workers", json=hello("w-busy", device="cpu", gpu_name=None))
    assert reply.status_code == 200 and reply.json()["state"] == "idle"
    # its heartbeat: the same hello again, now with the run it trains
    beat = hello("w-busy", run_id=run["id"], device="cpu", gpu_name=None)
    busy = client.post("/api/workers", json=beat)
    assert busy.json()["state"] == "busy" and busy.json()["run_id"] == run["id"]
    assert client.post("/api/workers", json=hello("w-lost")).status_code == 200
    with Session(app_engine(client)) as session:  # silent for ten minutes
        lost = session.exec(select(Worker).where(Worker.name == "w-lost")).one()
        lost.seen_at = utcnow() - timedelta(minutes=10)
        session.add(lost)
        session.commit()

    workers = {worker["name"]: worker for worker in listed(client)["workers"]}
    assert {name: worker["state"] for name, worker in workers.items()} == {
        "w-busy": "busy", "w-idle": "idle", "w-lost": "lost",
    }  # fmt: skip
    assert workers["w-idle"]["gpu_name"] == "NVIDIA A100"
    assert workers["w-idle"]["datasets"] == ["cifar100", "synthetic"]
    assert workers["w-busy"]["device"] == "cpu" and workers["w-busy"]["gpu_name"] is None


def test_the_queue_lists_queued_runs_oldest_first(client: TestClient) -> None:
    first, second, third = (create_run(client) for _ in range(3))
    assert client.post(f"/api/runs/{second['id']}/cancel").status_code == 200
    assert [run["id"] for run in listed(client)["queue"]] == [first["id"], third["id"]]


def test_a_bad_hello_is_refused_naming_the_field_and_stores_nothing(client: TestClient) -> None:
    reply = client.post("/api/workers", json=hello("w", gpu_memory_mb=-1))
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "gpu_memory_mb"]
    assert listed(client)["workers"] == []
