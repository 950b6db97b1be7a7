"""`runboard bench worker`: what tracking costs and how live it is, against a real API.

- tracking overhead: training images/s with reporting to the API on (every step) against
  off, measured alternately in this process on the same data and model;
- live latency: from the worker emitting a metric (its `time`) to an SSE client of the
  run's stream receiving it, for every batch and epoch point of the runs above;
- launch latency: `runboard serve` with its worker warm (data cached, torch loaded), from
  `POST /api/runs` to the run's first batch-loss point arriving on its stream.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from worker.client import ApiClient, iter_sse
from worker.job import worker_host
from worker.reporter import Reporter
from worker.schema.events import metric_points

# Preset 2 on the synthetic set: 16 steps an epoch at batch 256, a batch loss every 4 steps
# (5x the default rate, so that reporting is exercised harder than in normal use).
TINY = {
    "dataset": "synthetic", "train_subset": 4096, "test_subset": 256, "epochs": 4,
    "report_every": 4, "device": "cpu",
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_api(folder: Path, with_worker: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "RUNBOARD_DATABASE_URL": f"sqlite:///{folder / 'runboard.db'}",
        "RUNBOARD_BROKER_DB": str(folder / "broker.sqlite"),
        "RUNBOARD_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "RUNBOARD_API_URL": f"http://127.0.0.1:{port}",
    }
    command = [sys.executable, "-m", "worker.cli.main", "serve", "--port", str(port)]
    if not with_worker:
        command.append("--no-worker")
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API did not start")


class StreamWatcher(threading.Thread):
    """Reads a run's SSE stream and records when each metric point arrived."""

    def __init__(self, url: str, run_id: int) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id = url, run_id
        self.arrivals: list[tuple[str, float, float]] = []  # (name, emitted, received)
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.stream("GET", f"{self.url}/api/runs/{self.run_id}/stream", timeout=None) as r:
            for event in iter_sse(r):
                received = time.time()
                data = json.loads(event.data)
                if event.event == "metrics":
                    for point in metric_points(data):
                        self.arrivals.append((point["name"], point["time"], received))
                if event.event == "status" and data["status"] in ("succeeded", "failed"):
                    break
        self.done.set()


def _train_reported(
    url: str, database_url: str, config: Any, watchers: list[StreamWatcher]
) -> float:
    from worker.core.trainer import train

    run = httpx.post(f"{url}/api/runs", json={"preset": "2", "overrides": TINY}, timeout=30).json()
    token = _token(database_url, run["id"])
    with ApiClient(url, token) as api:
        claimed = api.claim(run["id"], worker_host())
    watcher = StreamWatcher(url, run["id"])
    watcher.start()
    watchers.append(watcher)
    reporter = Reporter(url, run["id"], token, claimed.next_seq, attempt=claimed.attempt)
    reporter.start()

    result = train(config, on_event=reporter.emit, should_stop=reporter.should_stop)
    reporter.close()
    watcher.done.wait(60)
    return statistics.mean(h["images_per_second"] or 0.0 for h in result.history)


def _token(database_url: str, run_id: int) -> str:
    """The run's ingest token, which the API never shows: read where the API stored it."""
    from sqlmodel import Session

    from backend.app.core.db import make_engine
    from backend.app.models import Run

    with Session(make_engine(database_url)) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.ingest_token


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"count": len(values), "median": statistics.median(ordered), "p95": p95,
            "max": ordered[-1]}  # fmt: skip


def run_worker_bench(args: argparse.Namespace) -> int:
    from worker.core.data import load_dataset
    from worker.core.trainer import train
    from worker.schema.presets import get_preset

    config = get_preset("2").config.with_overrides(TINY)
    load_dataset(config)  # cached: both ways start from loaded data
    report: dict[str, Any] = {"benchmark": "worker", "config": TINY}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database_url = f"sqlite:///{folder / 'runboard.db'}"
        api, url = _start_api(folder, with_worker=False)
        try:
            off: list[float] = []
            on: list[float] = []
            watchers: list[StreamWatcher] = []
            for round_index in range(args.rounds):
                off.append(
                    statistics.mean(h["images_per_second"] or 0.0 for h in train(config).history)
                )
                on.append(_train_reported(url, database_url, config, watchers))
                print(f"round {round_index + 1}: off {off[-1]:.0f} img/s, on {on[-1]:.0f} img/s")
            latencies = [(n, (r - e) * 1000) for w in watchers for n, e, r in w.arrivals]
            ratio = statistics.median(on) / statistics.median(off)
            report["tracking"] = {"off": off, "on": on, "ratio": ratio}
            report["live_latency_ms"] = {
                "all_points": _percentiles([ms for _, ms in latencies]),
                "epoch_points": _percentiles([ms for n, ms in latencies if n == "test_acc"]),
            }
        finally:
            api.terminate()
            api.wait(30)
        report["launch_latency_s"] = _launch_latency(folder / "serve", args.launches)
    _print_and_save(report, args.out)
    return 0


def _launch_latency(folder: Path, launches: int) -> dict[str, float]:
    folder.mkdir()
    serve, url = _start_api(folder, with_worker=True)
    seconds: list[float] = []
    try:
        for index in range(launches + 1):  # the first launch warms the worker up
            started = time.time()
            body = {"preset": "2", "overrides": {**TINY, "epochs": 1}}
            run = httpx.post(f"{url}/api/runs", json=body, timeout=30).json()
            watcher = StreamWatcher(url, run["id"])
            watcher.start()
            while not any(n == "batch_loss" for n, _, _ in watcher.arrivals):
                time.sleep(0.01)
            if index:
                seconds.append(time.time() - started)
            watcher.done.wait(300)
    finally:
        serve.terminate()
        serve.wait(90)
    return _percentiles(seconds)


def _print_and_save(report: dict[str, Any], out: str | None) -> None:
    tracking, live = report["tracking"], report["live_latency_ms"]
    launch = report["launch_latency_s"]
    print(f"tracking overhead: on/off = {tracking['ratio']:.3f} (target >= 0.98)")
    print(f"live latency: p95 {live['all_points']['p95']:.0f} ms over "
          f"{live['all_points']['count']} points, epoch points p95 "
          f"{live['epoch_points']['p95']:.0f} ms (target < 500 ms)")  # fmt: skip
    print(f"launch latency: median {launch['median']:.2f} s, max {launch['max']:.2f} s "
          f"(target < 5 s)")  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out) if out else Path("var/bench") / f"worker-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print(f"figures saved to {path}")
