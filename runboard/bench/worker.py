"""`runboard bench worker`: what tracking costs and how live it is, against a real API.

- tracking overhead: training images/s with reporting to the API on (every step, resources
  sampled) against off, measured alternately in this process on the same data and model, in
  two layouts side by side each round:
  - `apart`, the figure the target is about: training on one CPU (one torch thread, with the
    reporter's thread beside it), the API server and the SSE client (a browser) pinned to the
    others, as when the API and the dashboard are on other machines;
  - `shared`: everything on all CPUs, as `make run` on one laptop; there the training also
    pays for the server storing every point and for the client reading them;
- live latency: from the worker emitting a metric (its `time`) to an SSE client of the
  run's stream receiving it, for every batch and epoch point of the runs above;
- launch latency: `runboard serve` with its worker warm (data cached, torch loaded), from
  `POST /api/runs` to the run's first batch-loss point arriving on its stream.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from runboard.bench.record import banner, describe, save
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
def _serving(folder: Path, with_worker: bool) -> Iterator[tuple[str, int]]:
    """`runboard serve` on a database, an embedded broker and checkpoints of its own."""
    settings: dict[str, str | None] = {
        "RUNBOARD_BROKER_URL": None,  # the embedded SQLite broker, which the worker consumes
        "RUNBOARD_BROKER_DB": str(folder / "broker.sqlite"),
        "RUNBOARD_CHECKPOINT_DIR": str(folder / "checkpoints"),
    }
    database_url = f"sqlite:///{folder / 'runboard.db'}"
    # serve stops its worker first, and the worker lets its run go at the next step.
    with serving(database_url, settings, with_worker, cwd=folder, stop_timeout_s=90) as served:
        yield served


Arrival = tuple[str, float, float]  # (metric name, emitted, received), seconds since the epoch


class StreamWatcher(threading.Thread):
    """Reads a run's SSE stream and records when each metric point arrived."""

    def __init__(self, url: str, run_id: int) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id = url, run_id
        self.arrivals: list[Arrival] = []
        self.connected = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.stream("GET", f"{self.url}/api/runs/{self.run_id}/stream", timeout=None) as r:
            self.connected.set()
            for event in iter_sse(r):
                received = time.time()
                data = json.loads(event.data)
                if event.event == "metrics":
                    for point in metric_points(data):
                        self.arrivals.append((point["name"], point["time"], received))
                if event.event == "status" and data["status"] in ("succeeded", "failed"):
                    break
        self.done.set()


def _watch_apart(
    url: str, run_id: int, cpus: set[int], connected: Any, out: multiprocessing.Queue[Any]
) -> None:
    """A child process's StreamWatcher on `cpus`: the browser, away from the training."""
    os.sched_setaffinity(0, cpus)
    watcher = StreamWatcher(url, run_id)
    watcher.start()
    watcher.connected.wait(60)
    connected.set()
    watcher.done.wait(600)
    out.put(watcher.arrivals)


def _train_reported(
    url: str, database_url: str, config: Any, elsewhere: set[int], arrivals: list[Arrival]
) -> float:
    """images/s of one reported run, its stream read by a client process on `elsewhere`."""
    from worker.core.trainer import train

    run = httpx.post(f"{url}/api/runs", json={"preset": "2", "overrides": TINY}, timeout=30).json()
    token = _token(database_url, run["id"])
    with ApiClient(url, token) as api:
        claimed = api.claim(run["id"], worker_host())
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
    connected, out = spawn.Event(), spawn.Queue()
    client = spawn.Process(target=_watch_apart, args=(url, run["id"], elsewhere, connected, out))
    client.start()
    connected.wait(60)  # before the first point: its latency is the live path's, not a replay
    reporter = Reporter(
        url, run["id"], token, claimed.next_seq, attempt=claimed.attempt, sample_resources=True
    )
    reporter.start()

    result = train(config, on_event=reporter.emit, should_stop=reporter.should_stop)
    reporter.close()
    with contextlib.suppress(queue.Empty):
        arrivals += out.get(timeout=60)
    client.join(10)
    return _images_per_second(result)


def _images_per_second(result: Any) -> float:
    """The mean of a run's per-epoch training throughput (worker.core's RunResult)."""
    return statistics.mean(h["images_per_second"] or 0.0 for h in result.history)


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` and of its children onto `cpus` (new threads inherit it)."""
    root = psutil.Process(pid)
    for process in (root, *root.children(recursive=True)):
        for thread in process.threads():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(thread.id, cpus)


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
    import torch

    from worker.core.data import load_dataset
    from worker.core.trainer import train
    from worker.schema.presets import get_preset

    config = get_preset("2").config.with_overrides(TINY)
    load_dataset(config)  # cached: both ways start from loaded data
    every_cpu, threads = os.sched_getaffinity(0), torch.get_num_threads()
    train_cpu = min(every_cpu)
    # layout -> (CPUs of the training thread, torch threads, CPUs of the server and client)
    layouts = {"shared": (every_cpu, threads, every_cpu)}
    if len(every_cpu) > 1:
        layouts["apart"] = ({train_cpu}, 1, every_cpu - {train_cpu})
    machine = describe()
    print(banner(machine), flush=True)
    report: dict[str, Any] = {"benchmark": "worker", "machine": machine, "config": TINY}
    report["cpus"] = sorted(every_cpu)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        database_url = f"sqlite:///{folder / 'runboard.db'}"
        with _serving(folder, with_worker=False) as (url, server_pid):
            figures: dict[str, dict[str, list[float]]] = {
                name: {"off": [], "on": []} for name in layouts
            }
            arrivals: list[Arrival] = []
            for round_index in range(args.rounds):
                for name, (cpus, torch_threads, elsewhere) in layouts.items():
                    os.sched_setaffinity(0, cpus)  # this thread; the reporter's inherits it
                    torch.set_num_threads(torch_threads)
                    _pin(server_pid, elsewhere)
                    off, on = figures[name]["off"], figures[name]["on"]
                    off.append(_images_per_second(train(config)))
                    on.append(_train_reported(url, database_url, config, elsewhere, arrivals))
                    print(f"round {round_index + 1}, {name}: off {off[-1]:.0f} img/s, "
                          f"on {on[-1]:.0f} img/s")  # fmt: skip
            os.sched_setaffinity(0, every_cpu)
            torch.set_num_threads(threads)
            report["tracking"] = {
                name: {
                    **figures[name],
                    "ratio": statistics.median(figures[name]["on"])
                    / statistics.median(figures[name]["off"]),
                    "train_cpus": sorted(cpus),
                    "torch_threads": torch_threads,
                    "server_and_client_cpus": sorted(elsewhere),
                }
                for name, (cpus, torch_threads, elsewhere) in layouts.items()
            }
            late_ms = [(name, (received - emitted) * 1000) for name, emitted, received in arrivals]
            report["live_latency_ms"] = {
                "all_points": summary([ms for _, ms in late_ms]),
                "epoch_points": summary([ms for name, ms in late_ms if name == "test_acc"]),
            }
        report["launch_latency_s"] = _launch_latency(folder / "serve", args.launches)
    _print_and_save(report, args.out)
    return 0


def _launch_latency(folder: Path, launches: int) -> dict[str, float]:
    folder.mkdir()
    seconds: list[float] = []
    with _serving(folder, with_worker=True) as (url, _):
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
    if "apart" in tracking:
        print(f"tracking overhead, API and client apart: on/off = "
              f"{tracking['apart']['ratio']:.3f} (target >= 0.98)")  # fmt: skip
    print(f"tracking overhead, all on this machine's {len(report['cpus'])} CPUs: on/off = "
          f"{tracking['shared']['ratio']:.3f} (server and client share its CPUs)")  # fmt: skip
    print(f"live latency: p95 {live['all_points']['p95']:.0f} ms over "
          f"{live['all_points']['count']} points, epoch points p95 "
          f"{live['epoch_points']['p95']:.0f} ms (target < 500 ms)")  # fmt: skip
    print(f"launch latency: median {launch['median']:.2f} s, max {launch['max']:.2f} s "
          f"(target < 5 s)")  # fmt: skip
    print(f"figures saved to {save(report, out, 'worker')}")
