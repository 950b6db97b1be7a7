"""`runboard bench api`: read latency of the dashboard's endpoints and worker ingest speed.

A fresh database gets `Scale.runs` runs (presets, statuses, tags, summaries, configs and
confusion-matrix results as real runs have them), `epochs` x 6 epoch metrics and
`batch_points` batch_loss points per run, by bulk SQL inserts (not through the API). A real
server (`runboard serve --no-worker`, its own process) then answers one keep-alive httpx
client, and we time, in turns so that drift in the machine's speed hits all three alike:
- list: GET /api/runs, the default page (50 newest runs and the total);
- metrics: GET /api/runs/{id}/metrics?max_points=1000 for a random run: every series, with
  the cap the frontend sends (at 200 batch points a run it downsamples nothing);
- compare: GET /api/compare?ids=<10 random runs>;
each one's median and p95 (nearest rank) wall time, from sending the request to having read
the body, over `requests` requests after WARMUP untimed ones.
- ingest: a run created by POST /api/runs gets POSTs of 1,000 batch-loss points each, in
  the worker reporter's wire format (one `batches` event of columns per POST, consecutive
  seq) with its ingest token; points/s = points / wall time of all the POSTs, each of
  which validates, stores and commits. Bodies are encoded before the clock.
  The server's CPU time for them is reported too (Linux): it varies less than wall time
  on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, text
from sqlmodel import Session, col

from backend.app.core.db import make_engine, migrate
from backend.app.crud.points import PointRow, insert_points
from backend.app.models import MetricPoint, Run
from runboard.bench.record import banner, describe, save
from runboard.bench.scaleout import two_process_figures
from runboard.bench.server import cpu_seconds, serving
from runboard.bench.stats import percentile
from worker.schema.errors import InvalidInputError, UserError
from worker.schema.events import Steps
from worker.schema.messages import envelope
from worker.schema.presets import all_presets

# figure -> (statistic, limit): p95 below the limit in ms, or points/s at least the limit.
TARGETS = {
    "list": ("p95_ms", 100.0),
    "metrics": ("p95_ms", 50.0),
    "compare": ("p95_ms", 100.0),
    "ingest": ("points_per_second", 50_000.0),
}
EPOCH_NAMES = (
    "train_loss", "train_acc", "test_loss", "test_acc", "epoch_seconds", "images_per_second",
)  # fmt: skip
STATUSES = ("succeeded",) * 15 + ("failed", "failed", "cancelled", "cancelled", "running")
TAGS = ("baseline", "lr-sweep", "seeds", "ablation", "report", "gpu-a", "gpu-b", "overnight")
STEPS_PER_EPOCH = 196
WARMUP = 10
KEYS = ("run_id", "seq", "epoch", "step", "name", "value", "time")  # a metric point's columns


@dataclass(frozen=True)
class Scale:
    runs: int = 1000
    epochs: int = 20
    batch_points: int = 200  # batch_loss points per run; epochs x 196: every step (3.9M)
    compare_runs: int = 10
    ingest_points: int = 100_000
    ingest_batch: int = 1000


def _result(rng: random.Random, accuracy: float) -> dict[str, Any]:
    """A finished run's `result` as the trainer sends it: 100x100 confusion matrix and all."""
    confusion = [[0] * 100 for _ in range(100)]
    for true, row in enumerate(confusion):
        row[true] = round(100 * accuracy)
        for predicted in rng.choices(range(100), k=100 - row[true]):
            row[predicted] += 1
    coarse = [[sum(confusion[i][j] for i in range(a, a + 5) for j in range(b, b + 5))
               for b in range(0, 100, 5)] for a in range(0, 100, 5)]  # fmt: skip
    return {"per_class_accuracy": [row[i] / 100 for i, row in enumerate(confusion)],
            "confusion": confusion, "confusion_coarse": coarse, "dataset": "cifar100",
            "classes": [f"class {i}" for i in range(100)], "precision": "bf16",
            "coarse_classes": [f"superclass {i}" for i in range(20)], "epochs_completed": 20,
            "device_name": "NVIDIA GeForce RTX 3090", "versions": {"torch": "2.14.1"}}  # fmt: skip


def populate(engine: Engine, scale: Scale, seed: int = 0) -> list[int]:
    """Bulk-insert the runs and their metric points; returns the run ids."""
    rng = random.Random(seed)
    presets = list(all_presets().values())
    results = [_result(rng, a) for a in (0.26, 0.29, 0.34, 0.4, 0.52, 0.79)]  # shared: big
    start = datetime.now(UTC) - timedelta(days=60)
    runs, curves = [], []
    for index in range(scale.runs):
        preset, status = rng.choice(presets), rng.choice(STATUSES)
        lr, run_seed = rng.choice((1e-4, 3e-4, 1e-3)), rng.randrange(100)
        overrides = {"lr": lr, "seed": run_seed, "epochs": scale.epochs}
        ceiling = (preset.reference.final_accuracy or 30) / 100 * rng.uniform(0.9, 1.05)
        seconds = rng.uniform(15, 90)  # per epoch
        created = start + timedelta(minutes=index * 80 + rng.uniform(0, 60))
        finished = (
            None if status == "running" else created + timedelta(seconds=seconds * scale.epochs)
        )
        curves.append((ceiling, seconds))
        runs.append({
            "name": f"point {preset.id} lr={lr:g} seed {run_seed}", "preset": preset.id,
            "tags": rng.sample(TAGS, rng.randrange(4)), "notes": rng.choice(("", "rerun")),
            "config": preset.config.with_overrides(overrides).model_dump(mode="json"),
            "group_id": None, "status": status, "created_at": created, "finished_at": finished,
            "started_at": created + timedelta(seconds=5), "cancel_requested": False,
            "heartbeat_at": finished or datetime.now(UTC), "epoch": scale.epochs,
            "epochs": scale.epochs, "step": STEPS_PER_EPOCH, "steps_per_epoch": STEPS_PER_EPOCH,
            "worker_host": f"gpu-{index % 4}", "device": "NVIDIA GeForce RTX 3090 (cuda)",
            "error": None, "traceback": None, "final_test_acc": ceiling,
            "best_test_acc": ceiling * 1.01, "final_train_loss": 0.1 + rng.random(),
            "final_test_loss": 2.5 + rng.random(), "duration_s": seconds * scale.epochs,
            "images_per_second": 50_000 / seconds, "parameters": 17_791_076,
            "result": rng.choice(results) if status in ("succeeded", "cancelled") else None,
            "ingest_token": rng.randbytes(16).hex(), "last_seq": 0,
        })  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(Run), runs)
        ids = [int(i) for i in connection.execute(text("SELECT id FROM run ORDER BY id")).scalars()]
    per_epoch, chunk = max(1, scale.batch_points // scale.epochs), list[PointRow]()
    stride = max(1, STEPS_PER_EPOCH // per_epoch)  # 1: every step of the epoch stored
    for run_id, (ceiling, seconds) in zip(ids, curves, strict=True):
        seq, t = 0, 1.7e9 + run_id * 3600.0
        for epoch in range(1, scale.epochs + 1):
            for k in range(1, per_epoch + 1):
                seq, step = seq + 1, (epoch - 1) * STEPS_PER_EPOCH + k * stride
                loss = 4.6 * math.exp(-step / 1200) + 0.1 + rng.uniform(-0.05, 0.05)
                chunk.append((run_id, seq, epoch, step, "batch_loss", loss, t + seq))
            seq, acc = seq + 1, ceiling * (1 - math.exp(-epoch / 4))
            values = (4.6 * math.exp(-epoch / 6) + 0.1, min(0.99, acc * 1.3), 2.5 + epoch / 20, acc,
                      seconds, 50_000 / seconds)  # fmt: skip
            for name, value in zip(EPOCH_NAMES, values, strict=True):
                chunk.append((run_id, seq, epoch, epoch, name, value, t + seq))
        if len(chunk) >= 100_000 or run_id == ids[-1]:
            with Session(engine) as session:  # the driver's bulk path: COPY, executemany
                insert_points(session, chunk)
                session.commit()
            chunk = []
    return ids


def measure_reads(client: httpx.Client, ids: list[int], scale: Scale, n: int) -> dict[str, Any]:
    """Median and p95 ms of list, metrics and compare, taking turns; WARMUP untimed each."""
    rng = random.Random(1)
    samples: dict[str, list[float]] = {"list": [], "metrics": [], "compare": []}
    paths = {}
    for index in range(WARMUP + n):
        picked = rng.sample(ids, min(scale.compare_runs, len(ids)))
        paths = {
            "list": "/api/runs",
            "metrics": f"/api/runs/{picked[0]}/metrics?max_points=1000",
            "compare": f"/api/compare?ids={','.join(map(str, picked))}",
        }
        for name, path in paths.items():
            started = time.perf_counter()
            client.get(path).raise_for_status()
            if index >= WARMUP:
                samples[name].append((time.perf_counter() - started) * 1000)
    figures = {}
    for name, times in samples.items():
        figures[name] = {"example": paths[name], "requests": n,
                         "median_ms": statistics.median(times), "p95_ms": percentile(times, 95),
                         "max_ms": max(times)}  # fmt: skip
    return figures


def _batches_event(seq: int, steps: range, now: float) -> dict[str, Any]:
    """What a worker's reporter sends for these global steps: one `batches` event of columns
    (seq 1 and 2 are status and started). Built unvalidated: the API validates it."""
    within = [(step - 1) % STEPS_PER_EPOCH for step in steps]
    columns = Steps.model_construct(
        epoch=[(step - 1) // STEPS_PER_EPOCH + 1 for step in steps],
        step=[index + 1 for index in within],
        global_step=list(steps),
        loss=[4.6 * math.exp(-step / 5000) + 0.1 for step in steps],
        time=[now + step / 100 for step in steps],
    )
    return envelope(seq, now + steps[-1] / 100, columns)


def measure_ingest(client: httpx.Client, engine: Engine, scale: Scale, pid: int) -> dict[str, Any]:
    """Points/s of POST /api/runs/{id}/events, `ingest_batch` batch-loss points a POST."""
    token = os.environ.get("RUNBOARD_API_TOKEN")
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    reply = client.post("/api/runs", json={"preset": "2", "name": "bench ingest"}, headers=auth)
    run_id = reply.raise_for_status().json()["id"]
    with engine.connect() as connection:
        query = select(col(Run.ingest_token)).where(col(Run.id) == run_id)
        headers = {"Authorization": f"Bearer {connection.execute(query).scalar_one()}"}
    url, now = f"/api/runs/{run_id}/events", time.time()
    started = {"start_epoch": 1, "epochs": scale.ingest_points // STEPS_PER_EPOCH + 1,
               "steps_per_epoch": STEPS_PER_EPOCH, "device": "cuda", "device_name": "bench",
               "precision": "bf16", "parameters": 4_647_524, "dataset": "synthetic"}  # fmt: skip
    first = [{"seq": 1, "time": now, "kind": "status", "data": {"status": "running"}},
             {"seq": 2, "time": now, "kind": "started", "data": started}]  # fmt: skip
    client.post(url, json={"events": first}, headers=headers).raise_for_status()
    bodies: list[bytes] = []
    for offset in range(0, scale.ingest_points, scale.ingest_batch):
        steps = range(offset + 1, min(offset + scale.ingest_batch, scale.ingest_points) + 1)
        event = _batches_event(len(bodies) + 3, steps, now)
        bodies.append(json.dumps({"events": [event]}).encode())
    headers["Content-Type"] = "application/json"
    cpu_before, clock = cpu_seconds(pid), time.perf_counter()
    for body in bodies:
        client.post(url, content=body, headers=headers).raise_for_status()
    seconds, cpu_after = time.perf_counter() - clock, cpu_seconds(pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    with engine.connect() as connection:
        count = select(func.count()).where(col(MetricPoint.run_id) == run_id)
        stored = int(connection.execute(count).scalar_one())
    if stored != scale.ingest_points:
        raise UserError(f"ingest stored {stored} points, not {scale.ingest_points}")
    return {"points": stored, "batch": scale.ingest_batch, "requests": len(bodies),
            "seconds": seconds, "points_per_second": stored / seconds, "server_cpu_seconds": cpu,
            "points_per_server_cpu_second": stored / cpu if cpu else None}  # fmt: skip


def _print_table(figures: dict[str, Any]) -> dict[str, bool]:
    """Each figure against its target; returns which passed."""
    print(f"\n{'figure':<9} {'median':>10} {'p95':>10} {'target':>20}  result")
    passed = {}
    for name, (stat, limit) in TARGETS.items():
        row, ingest = figures[name], name == "ingest"
        passed[name] = row[stat] >= limit if ingest else row[stat] < limit
        cells = (
            f"{row[stat]:>21,.0f}"
            if ingest
            else f"{row['median_ms']:>7.1f} ms {row[stat]:>7.1f} ms"
        )
        target = f"points/s >= {limit:,.0f}" if ingest else f"p95 < {limit:g} ms"
        print(f"{name:<9} {cells} {target:>20}  {'pass' if passed[name] else 'MISS'}")
    return passed


EVERY_STEP = Scale(batch_points=20 * STEPS_PER_EPOCH)  # 1,000 runs x 20 x 196: 3.9M points


def run_api_bench(args: argparse.Namespace, scale: Scale = Scale()) -> int:
    if getattr(args, "every_step", False):
        scale = EVERY_STEP
    if args.requests < 1:
        raise InvalidInputError("bench api: --requests must be at least 1")
    machine = describe()
    print(banner(machine), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = None if args.database_url else Path(f"var/bench/api-{stamp}.db")
    url = args.database_url or f"sqlite:///{scratch}"
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(Run)).scalar_one():
            raise UserError("bench api: that database has runs already; give it an empty one")
        sqlite = engine.dialect.name == "sqlite"
        query = "SELECT sqlite_version()" if sqlite else "SHOW server_version"
        version = connection.execute(text(query)).scalar_one()
    clock = time.perf_counter()
    ids = populate(engine, scale)
    populated = time.perf_counter() - clock
    print(f"populated {len(ids)} runs ({engine.dialect.name}) in {populated:.1f} s", flush=True)
    try:
        with serving(url) as (base, pid), httpx.Client(base_url=base, timeout=60) as client:
            figures = measure_reads(client, ids, scale, args.requests)
            figures["ingest"] = measure_ingest(client, engine, scale, pid)
    finally:
        engine.dispose()
        if scratch is not None:  # the default database is a throwaway
            for end in ("", "-wal", "-shm"):
                Path(f"{scratch}{end}").unlink(missing_ok=True)
    passed = _print_table(figures)
    if getattr(args, "scaleout_url", None):  # two API processes on PostgreSQL
        points, batch = scale.ingest_points, scale.ingest_batch
        figures["two_processes"] = two_process_figures(
            args.scaleout_url, args.requests, points, batch
        )
    report = {
        "benchmark": "api", "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine,
        "database": {"dialect": engine.dialect.name, "version": version},
        "scale": asdict(scale), "requests": args.requests, "warmup": WARMUP,
        "populate_seconds": populated, "figures": figures, "passed": passed,
        "targets": {name: {"stat": stat, "limit": v} for name, (stat, v) in TARGETS.items()},
    }  # fmt: skip
    out = save(report, args.out, "api")
    cpu = figures["ingest"]["points_per_server_cpu_second"]
    if cpu:
        print(f"ingest per second of server CPU: {cpu:,.0f} points (wall time varies more)")
    print(f"ms per request over {args.requests} requests each; figures saved to {out}")
    return 0
