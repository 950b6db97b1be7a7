"""Helpers for the API tests: launching runs, playing a worker's event stream, dumping the DB.

A worker authenticates with its run's ingest token, which the public API never returns, so
`ingest_token` reads it from the database behind the app.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

from backend.app.models import Run
from worker.schema.events import EPOCH_METRICS

RawEvent = tuple[str, dict[str, Any]]  # (kind, data) before a seq and time are attached

ALL_EPOCH_METRICS = EPOCH_METRICS  # the names a worker reports once per epoch


# ---- runs ----------------------------------------------------------------------------------


def create_run(client: TestClient, preset: str = "2", **fields: Any) -> dict[str, Any]:
    """POST /api/runs and return the created run (asserting 201)."""
    response = client.post("/api/runs", json={"preset": preset, **fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def get_run(client: TestClient, run_id: int) -> dict[str, Any]:
    response = client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def ingest_token(client: TestClient, run_id: int) -> str:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.ingest_token


# ---- worker events -------------------------------------------------------------------------


def started(
    start_epoch: int = 1, epochs: int = 3, steps_per_epoch: int = 4, parameters: int = 1000
) -> RawEvent:
    return (
        "started",
        {
            "start_epoch": start_epoch,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "device": "cpu",
            "device_name": "Test CPU",
            "precision": "fp32",
            "parameters": parameters,
            "dataset": "synthetic",
            "train_size": 64,
            "test_size": 16,
        },
    )


def batch(epoch: int, step: int, global_step: int, loss: float) -> RawEvent:
    return ("batch", {"epoch": epoch, "step": step, "global_step": global_step, "loss": loss})


def recovered_batches(steps_per_epoch: int, global_steps: list[int], loss0: float) -> RawEvent:
    """Steps of checkpointed epochs as a resumed attempt sends them again (columns)."""
    return (
        "recovered_batches",
        {
            "epoch": [1 + (g - 1) // steps_per_epoch for g in global_steps],
            "step": [1 + (g - 1) % steps_per_epoch for g in global_steps],
            "global_step": global_steps,
            "loss": [loss0 - 0.01 * g for g in global_steps],
            "time": [1.7e9 + g for g in global_steps],
        },
    )


def epoch_end(epoch: int, **metrics: float) -> RawEvent:
    """An epoch event; metrics not given get plausible values derived from the epoch."""
    defaults = {
        "train_loss": 4.0 - epoch * 0.5,
        "train_acc": 0.1 * epoch,
        "test_loss": 4.2 - epoch * 0.4,
        "test_acc": 0.05 * epoch,
        "epoch_seconds": 1.5,
        "images_per_second": 1000.0 + epoch,
        "lr": 1e-4,
    }
    return ("epoch", {"epoch": epoch, "metrics": {**defaults, **metrics}})


def finished(status: str = "succeeded", **result: Any) -> RawEvent:
    return ("finished", {"status": status, "result": {"total_seconds": 12.5, **result}})


def failed(error: str = "CUDA out of memory", traceback: str | None = "Traceback ...") -> RawEvent:
    return ("failed", {"error": error, "traceback": traceback})


def heartbeat() -> RawEvent:
    return ("heartbeat", {})


def status_running(worker_host: str = "gpu-box-1") -> RawEvent:
    return ("status", {"status": "running", "worker_host": worker_host})


def training(
    epochs: int = 2, steps_per_epoch: int = 3, start_epoch: int = 1, loss0: float = 4.5
) -> list[RawEvent]:
    """What a trainer emits for epochs start_epoch..epochs: started, batches, epoch ends."""
    events = [started(start_epoch, epochs, steps_per_epoch)]
    for epoch in range(start_epoch, epochs + 1):
        for step in range(1, steps_per_epoch + 1):
            global_step = (epoch - 1) * steps_per_epoch + step
            events.append(batch(epoch, step, global_step, loss0 - 0.01 * global_step))
        events.append(epoch_end(epoch))
    return events


def number(events: list[RawEvent], first_seq: int = 1) -> list[dict[str, Any]]:
    """Attach consecutive sequence numbers (from `first_seq`) and a time to each event."""
    now = time.time()
    return [
        {"seq": first_seq + index, "time": now + index * 0.001, "kind": kind, "data": data}
        for index, (kind, data) in enumerate(events)
    ]


def worker_events(
    epochs: int = 2, steps_per_epoch: int = 3, finish: str | None = None, first_seq: int = 1
) -> list[dict[str, Any]]:
    """A numbered worker stream: status, a whole training run and optionally its end."""
    raw = [status_running(), *training(epochs, steps_per_epoch)]
    if finish is not None:
        raw.append(finished(finish))
    return number(raw, first_seq)


def post_events(
    client: TestClient, run_id: int, events: list[dict[str, Any]], token: str | None
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.post(f"/api/runs/{run_id}/events", json={"events": events}, headers=headers)


def post_events_with_nan(
    client: TestClient, run_id: int, events: list[dict[str, Any]], token: str
) -> httpx.Response:
    """Like post_events, but NaN and infinity go out as Python's encoder (and a worker)
    writes them: bare NaN / Infinity, which strict JSON encoders refuse to produce."""
    return client.post(
        f"/api/runs/{run_id}/events",
        content=json.dumps({"events": events}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


class Worker:
    """Plays one run's worker: numbers events consecutively and posts them with its token."""

    def __init__(self, client: TestClient, run_id: int) -> None:
        self.client = client
        self.run_id = run_id
        self.token = ingest_token(client, run_id)
        self.seq = 0

    def send(self, *events: RawEvent) -> httpx.Response:
        numbered = number(list(events), self.seq + 1)
        response = post_events(self.client, self.run_id, numbered, self.token)
        if response.status_code == 200:
            self.seq = response.json()["accepted_through"]
        return response

    def ok(self, *events: RawEvent) -> dict[str, Any]:
        response = self.send(*events)
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply


def running_run(client: TestClient, preset: str = "2", **fields: Any) -> tuple[int, Worker]:
    """A run that a worker has picked up and started (status running)."""
    run_id = create_run(client, preset, **fields)["id"]
    worker = Worker(client, run_id)
    reply = worker.ok(status_running(), started())
    assert reply["status"] == "running"
    return run_id, worker


def finished_run(
    client: TestClient, preset: str = "2", epochs: int = 2, **fields: Any
) -> tuple[int, Worker]:
    """A run that trained `epochs` epochs (3 steps each) and succeeded."""
    run_id = create_run(client, preset, **fields)["id"]
    worker = Worker(client, run_id)
    reply = worker.ok(status_running(), *training(epochs, 3), finished())
    assert reply["status"] == "succeeded"
    return run_id, worker


# ---- database ------------------------------------------------------------------------------


def db_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the app's schema, ordered by primary key."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            dump[table.name] = [tuple(row) for row in connection.execute(query)]
    return dump


def app_engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine
