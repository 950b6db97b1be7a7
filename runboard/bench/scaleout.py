"""`runboard bench api`'s two-process figures: two API processes on one PostgreSQL database.

- live latency across processes: a run's events are POSTed to process A while an SSE
  client follows the run's stream on process B (and, for comparison, on A itself); each
  POST carries one batch-loss point, and the latency is from sending the POST to the
  client having read that point's `metrics` event: commit, NOTIFY, wake-up and delivery,
  plus the request's own time (an upper bound on commit-to-client). p50 and p95 (nearest
  rank) over `events` POSTs, one every PACE_S seconds.
- ingest: two clients at once, one per process, each POSTing `ingest_batch`-point
  batches to its own run; points/s = all points / the wall time until both are done.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlmodel import col

from backend.app.core.db import make_engine, migrate
from backend.app.models import Run
from runboard.bench.server import serving
from runboard.bench.stats import percentile
from worker.schema.errors import UserError
from worker.schema.events import Steps, metric_points
from worker.schema.messages import envelope

PACE_S = 0.02  # between two timed POSTs of the latency figure
STREAM_WAIT_S = 20.0  # for the last events to reach the client


def _new_run(client: httpx.Client, engine: Engine, steps: int) -> tuple[str, dict[str, str]]:
    """A running run (status and started sent); its events URL and ingest headers."""
    run_id = client.post("/api/runs", json={"preset": "2"}).raise_for_status().json()["id"]
    with engine.connect() as connection:
        query = select(col(Run.ingest_token)).where(col(Run.id) == run_id)
        token = connection.execute(query).scalar_one()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = {"start_epoch": 1, "epochs": 1, "steps_per_epoch": steps, "device": "cuda",
               "device_name": "bench", "precision": "bf16", "parameters": 1,
               "dataset": "synthetic"}  # fmt: skip
    now = time.time()
    first = [{"seq": 1, "time": now, "kind": "status", "data": {"status": "running"}},
             {"seq": 2, "time": now, "kind": "started", "data": started}]  # fmt: skip
    url = f"/api/runs/{run_id}/events"
    client.post(url, json={"events": first}, headers=headers).raise_for_status()
    return url, headers


def _body(seq: int, steps: range) -> bytes:
    now = time.time()
    columns = Steps.model_construct(
        epoch=[1] * len(steps), step=list(steps), global_step=list(steps),
        loss=[1.0] * len(steps), time=[now] * len(steps),
    )  # fmt: skip
    return json.dumps({"events": [envelope(seq, now, columns)]}).encode()


def _follow(url: str, received: dict[int, float], ready: threading.Event) -> None:
    """Reads the stream, noting when each batch-loss step arrived (perf_counter), until
    the server goes away at the end of the measurement."""
    with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=None) as response:
        ready.set()
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = json.loads(line[5:])
            if not isinstance(data, dict) or "series" not in data:
                continue
            now = time.perf_counter()
            for point in metric_points(data):
                if point["name"] == "batch_loss":
                    received.setdefault(int(point["step"]), now)
            if received.get(-1) is not None:  # told to stop
                return


def _latency(writer: str, reader: str, engine: Engine, events: int) -> dict[str, Any]:
    with httpx.Client(base_url=writer, timeout=60) as client:
        url, headers = _new_run(client, engine, events)
        run_id = url.split("/")[3]
        received: dict[int, float] = {}
        ready = threading.Event()
        stream = f"{reader}/api/runs/{run_id}/stream"
        thread = threading.Thread(target=_follow, args=(stream, received, ready), daemon=True)
        thread.start()
        if not ready.wait(30):
            raise UserError("bench api: the stream did not open")
        sent: dict[int, float] = {}
        for step in range(1, events + 1):
            body = _body(step + 2, range(step, step + 1))
            sent[step] = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            time.sleep(PACE_S)
        deadline = time.monotonic() + STREAM_WAIT_S
        while len([s for s in sent if s in received]) < events and time.monotonic() < deadline:
            time.sleep(0.05)
    missing = [step for step in sent if step not in received]
    if missing:
        raise UserError(f"bench api: {len(missing)} events never reached the stream")
    latencies = sorted((received[step] - sent[step]) * 1000 for step in sent)
    return {"events": events, "median_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95)}  # fmt: skip


def _ingest(bases: list[str], engine: Engine, points: int, batch: int) -> dict[str, Any]:
    clients = [httpx.Client(base_url=base, timeout=60) for base in bases]
    try:
        runs = [_new_run(client, engine, points) for client in clients]
        bodies = [
            _body(index // batch + 3, range(index + 1, min(index + batch, points) + 1))
            for index in range(0, points, batch)
        ]
        errors: list[BaseException] = []

        def post_all(client: httpx.Client, url: str, headers: dict[str, str]) -> None:
            try:
                for body in bodies:
                    client.post(url, content=body, headers=headers).raise_for_status()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=post_all, args=(client, url, headers))
            for client, (url, headers) in zip(clients, runs, strict=True)
        ]
        clock = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - clock
    finally:
        for client in clients:
            client.close()
    if errors:
        raise UserError(f"bench api: ingest failed: {errors[0]}")
    total = points * len(bases)
    return {"processes": len(bases), "points": total, "seconds": seconds,
            "points_per_second": total / seconds}  # fmt: skip


def measure_two_processes(
    url: str, engine: Engine, events: int, points: int, batch: int
) -> dict[str, Any]:
    """The figures above on the (empty, migrated) PostgreSQL database at `url`."""
    if engine.dialect.name != "postgresql":
        raise UserError("bench api: the two-process figures need a PostgreSQL database")
    with serving(url) as (first, _), serving(url) as (second, _):
        return {
            "live_same_process": _latency(first, first, engine, events),
            "live_across_processes": _latency(first, second, engine, events),
            "ingest_one_process": _ingest([first], engine, points, batch),
            "ingest_two_processes": _ingest([first, second], engine, points, batch),
        }


def two_process_figures(url: str, events: int, points: int, batch: int) -> dict[str, Any]:
    """Measured and printed, for `runboard bench api --scaleout-url`."""
    engine = make_engine(url)
    try:
        migrate(engine)
        figures = measure_two_processes(url, engine, events, points, batch)
    finally:
        engine.dispose()
    for name in ("live_same_process", "live_across_processes"):
        row = figures[name]
        print(f"{name:<22} median {row['median_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms")
    for name in ("ingest_one_process", "ingest_two_processes"):
        print(f"{name:<22} {figures[name]['points_per_second']:>10,.0f} points/s (PostgreSQL)")
    return figures
