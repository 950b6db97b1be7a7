"""Load against a real `runboard serve` (SQLite, the hard case, and PostgreSQL):

- 200 clients POST /api/runs at the same moment: 200 runs stored and 200 tasks queued on
  the server's real (embedded SQLite) broker, none lost, none doubled;
- 4 workers ingest at once while users browse lists, metrics and comparisons: every
  response is 2xx and "database is locked" reaches no one (bodies and the server's log).

`-s` prints the figures that docs/reliability.md quotes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.live import ServerProcess, ingest_token
from tests.support.sse import SseReader

pytestmark = pytest.mark.timeout(180)
CLIENTS = 200
WORKERS, BATCHES, STEPS = 4, 150, 20  # per worker: batches of STEPS losses, an epoch every 10
BROWSERS = 4
LOCKED = "database is locked"


def dialect(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def queued_run_ids(broker: Path) -> list[int]:
    """run_id of every task waiting in the embedded broker (Kombu's SQLAlchemy tables)."""
    with sqlite3.connect(broker) as connection:
        rows = connection.execute(
            "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id "
            "WHERE q.name = 'runboard' AND m.visible"
        ).fetchall()
    ids = []
    for (payload,) in rows:
        message = json.loads(payload)
        body = base64.b64decode(message["body"])
        _args, kwargs, _ = json.loads(body)
        ids.append(kwargs["run_id"])
    return ids


def test_200_concurrent_launches_store_and_queue_200_runs_none_lost_or_doubled(
    start_server: Callable[..., ServerProcess], database_url: str
) -> None:
    server = start_server()
    ready = threading.Barrier(CLIENTS)

    def launch(index: int) -> tuple[int, Any, float, float]:
        with httpx.Client(base_url=server.url, timeout=60) as client:  # its own connection
            ready.wait(60)  # every client made (~50 ms of CPU each): all POSTs go out at once
            started = time.monotonic()
            response = client.post("/api/runs", json={"preset": "2", "name": f"load {index}"})
            ended = time.monotonic()
        body = response.json() if response.headers.get("content-type") == "application/json" else {}
        return response.status_code, body, started, ended

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(launch, range(CLIENTS)))
    wall = max(r[3] for r in results) - min(r[2] for r in results)

    assert [result[0] for result in results] == [201] * CLIENTS, results[:3]
    created = sorted(result[1]["id"] for result in results)
    names = {result[1]["name"] for result in results}
    assert len(set(created)) == CLIENTS and len(names) == CLIENTS
    listed = httpx.get(f"{server.url}/api/runs", params={"limit": 500}, timeout=30).json()
    assert listed["total"] == CLIENTS
    assert sorted(run["id"] for run in listed["items"]) == created
    assert all(run["status"] == "queued" for run in listed["items"])
    queued = queued_run_ids(server.log.parent / "broker.sqlite")
    assert sorted(queued) == created  # each run queued exactly once
    log = server.output()
    assert LOCKED not in log and "Traceback" not in log
    latencies = sorted(ended - started for _, _, started, ended in results)
    print(
        f"\nload launch {dialect(database_url)}: {CLIENTS} concurrent POST /api/runs -> "
        f"{len(created)} runs stored, {len(queued)} queued; all answered in {wall:.1f} s, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


def ingest_batches(run_id: int, index: int) -> list[dict[str, Any]]:
    """A worker's stream: status and started, then BATCHES batches of STEPS losses each
    (one `batches` event, as the reporter sends them), an epoch event every tenth batch."""
    now = time.time()
    started = {
        "start_epoch": 1, "epochs": BATCHES // 10, "steps_per_epoch": 10 * STEPS,
        "device": "cpu", "device_name": "load test", "precision": "fp32", "parameters": 1000,
        "dataset": "synthetic",
    }  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [
        ("status", {"status": "running", "worker_host": f"load-{index}"}),
        ("started", started),
    ]
    batches = [events]
    for number in range(BATCHES):
        epoch = number // 10 + 1
        first = number * STEPS + 1
        steps = list(range(first, first + STEPS))
        columns = {
            "epoch": [epoch] * STEPS, "step": [s - (epoch - 1) * 10 * STEPS for s in steps],
            "global_step": steps, "loss": [4.0 / s for s in steps], "time": [now] * STEPS,
        }  # fmt: skip
        batch: list[tuple[str, dict[str, Any]]] = [("batches", columns)]
        if number % 10 == 9:
            metrics = {"train_loss": 1.0, "test_loss": 1.2, "test_acc": 0.1 * epoch}
            batch.append(("epoch", {"epoch": epoch, "metrics": metrics}))
        batches.append(batch)
    numbered, seq = [], 0
    for batch in batches:
        out = []
        for kind, data in batch:
            seq += 1
            out.append({"seq": seq, "time": now, "kind": kind, "data": data})
        numbered.append({"events": out})
    return numbered


def test_four_workers_ingesting_while_users_browse_get_no_errors_and_no_locked_database(
    start_server: Callable[..., ServerProcess], database_url: str
) -> None:
    server = start_server()
    runs = [
        httpx.post(f"{server.url}/api/runs", json={"preset": "2"}, timeout=30).json()["id"]
        for _ in range(WORKERS)
    ]
    tokens = {run: ingest_token(database_url, run) for run in runs}
    done = threading.Event()
    failures: list[str] = []
    timings: dict[str, list[float]] = {"ingest": [], "browse": []}
    lock = threading.Lock()

    def record(kind: str, response: httpx.Response, elapsed: float) -> None:
        with lock:
            timings[kind].append(elapsed)
            if not 200 <= response.status_code < 300 or LOCKED in response.text:
                failures.append(
                    f"{response.request.url}: {response.status_code} {response.text[:200]}"
                )

    def work(index: int) -> None:
        run = runs[index]
        headers = {"Authorization": f"Bearer {tokens[run]}"}
        with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
            for body in ingest_batches(run, index):
                started = time.monotonic()
                response = client.post(f"/api/runs/{run}/events", json=body)
                record("ingest", response, time.monotonic() - started)

    def browse(index: int) -> None:
        pages = [
            "/api/runs", "/api/runs?status=running&sort=best_test_acc", f"/api/runs/{runs[index]}",
            f"/api/runs/{runs[index]}/metrics?max_points=500",
            f"/api/compare?ids={','.join(map(str, runs))}", f"/api/runs/{runs[index]}/metrics.csv",
        ]  # fmt: skip
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while not done.is_set():
                for page in pages:
                    started = time.monotonic()
                    response = client.get(page)
                    record("browse", response, time.monotonic() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS + BROWSERS) as pool:
        browsers = [pool.submit(browse, i) for i in range(BROWSERS)]
        workers = [pool.submit(work, i) for i in range(WORKERS)]
        for future in workers:
            future.result()
        done.set()
        for future in browsers:
            future.result()
    wall = time.monotonic() - started

    assert not failures, failures[:5]
    log = server.output()
    assert LOCKED not in log and "Traceback" not in log and " 500 " not in log
    for run in runs:
        detail = httpx.get(f"{server.url}/api/runs/{run}", timeout=30).json()
        assert detail["status"] == "running" and detail["epoch"] == BATCHES // 10
        metrics = httpx.get(f"{server.url}/api/runs/{run}/metrics", timeout=30).json()
        assert len(metrics["series"]["batch_loss"]) == BATCHES * STEPS  # every point, once
        assert len(metrics["series"]["test_acc"]) == BATCHES // 10
    points = WORKERS * BATCHES * STEPS
    ingest, browse_ms = sorted(timings["ingest"]), sorted(timings["browse"])
    print(
        f"\nload ingest {dialect(database_url)}: {WORKERS} workers x {BATCHES + 1} batches "
        f"({points} points) with {BROWSERS} browsers ({len(browse_ms)} GETs) in {wall:.1f} s: "
        f"0 errors; ingest p50 {statistics.median(ingest) * 1000:.0f} ms "
        f"p95 {ingest[int(len(ingest) * 0.95)] * 1000:.0f} ms, browse p50 "
        f"{statistics.median(browse_ms) * 1000:.0f} ms p95 "
        f"{browse_ms[int(len(browse_ms) * 0.95)] * 1000:.0f} ms"
    )


STREAMS = 40  # more than the SQLite pool's 15 connections and PostgreSQL's 30


def test_many_open_run_streams_hold_no_database_connection_so_requests_still_pass(
    start_server: Callable[..., ServerProcess],
) -> None:
    """Each run stream once kept its request's session, and so a pooled connection, for as
    long as it stayed open: with 15 streams on SQLite every other request waited 30 s for a
    connection and failed with 500."""
    server = start_server()
    run = httpx.post(f"{server.url}/api/runs", json={"preset": "2"}, timeout=30).json()["id"]
    with contextlib.ExitStack() as stack:
        readers = [
            stack.enter_context(SseReader(f"{server.url}/api/runs/{run}/stream"))
            for _ in range(STREAMS)
        ]
        for reader in readers:
            reader.take(1)  # the run's first status event: every stream is live
        started = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=20) as client:
            listed = client.get("/api/runs")
            created = client.post("/api/runs", json={"preset": "2"})
            read = client.get(f"/api/runs/{run}/metrics")
        elapsed = time.monotonic() - started
        assert all(reader.error is None for reader in readers)
    assert (listed.status_code, created.status_code, read.status_code) == (200, 201, 200)
    assert elapsed < 10, elapsed
    print(f"\nload streams: {STREAMS} open run streams; list + create + metrics in {elapsed:.2f} s")
