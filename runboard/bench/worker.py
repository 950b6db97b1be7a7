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
import contextlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from runboard.bench.server import serving
from runboard.bench.stats import summary
from worker.client import ApiClient, iter_sse
from worker.job import worker_host
from worker.reporter import Reporter
from worker.schema.events import metric_points

# Preset 2 on the synthetic set: 16 steps an epoch at batch 256, every step's loss reported
# (the default) and, with tracking on, the worker's resources sampled as a worker does.
TINY = {
    "dataset": "synthetic", "train_subset": 4096, "test_subset": 256, "epochs": 4,
    "report_every": 1, "device": "cpu",
}  # fmt: skip


@contextlib.contextmanager
def _serving(folder: Path, with_worker: bool) -> Iterator[str]:
    """`runboard serve` on a database, an embedded broker and checkpoints of its own."""
    settings: dict[str, str | None] = {
        "RUNBOARD_BROKER_URL": None,  # the embedded SQLite broker, which the worker consumes
        "RUNBOARD_BROKER_DB": str(folder / "broker.sqlite"),
        "RUNBOARD_CHECKPOINT_DIR": str(folder / "checkpoints"),
    }
    database_url = f"sqlite:///{folder / 'runboard.db'}"
    # serve stops its worker first, and the worker lets its run go at the next step.
    with serving(database_url, settings, with_worker, cwd=folder, stop_timeout_s=90) as (url, _):
        yield url


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
                if not event.data:  # the stream's opening `retry:` line: no event for a browser
                    continue
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
    reporter = Reporter(
        url, run["id"], token, claimed.next_seq, attempt=claimed.attempt, sample_resources=True
    )
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
        with _serving(folder, with_worker=False) as url:
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
                "all_points": summary([ms for _, ms in latencies]),
                "epoch_points": summary([ms for n, ms in latencies if n == "test_acc"]),
            }
        report["launch_latency_s"] = _launch_latency(folder / "serve", args.launches)
    _print_and_save(report, args.out)
    return 0


def _launch_latency(folder: Path, launches: int) -> dict[str, float]:
    folder.mkdir()
    seconds: list[float] = []
    with _serving(folder, with_worker=True) as url:
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
    return summary(seconds)


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
